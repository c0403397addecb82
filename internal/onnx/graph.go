package onnx

import (
	"fmt"
	"strconv"
)

// val is a tensor of the graph being built: its name and, for a matrix
// [N × w], its width w (0 where it is not tracked).
type val struct {
	name string
	w    int
}

// builder accumulates the nodes and initializers of a graph. The first error
// is kept in err and every later call is a no-op, so the model walks read
// as straight-line code and check err once.
type builder struct {
	g       graphProto
	err     error
	n       int
	params  map[string]param
	used    map[string]bool
	reserve map[string]bool // input and output names
	consts  map[string]string
}

// param is a weight of the model: dense [rows × cols] or an embedding table.
type param struct {
	rows, cols int
	w          []float32
}

func (b *builder) fail(format string, a ...any) {
	if b.err == nil {
		b.err = fmt.Errorf(format, a...)
	}
}

// fresh returns a new internal value name.
func (b *builder) fresh(op string) string {
	b.n++
	return "_" + op + "_" + strconv.Itoa(b.n)
}

// op adds a node with one output and returns that output's name.
func (b *builder) op(op string, in []string, attrs ...attribute) string {
	return b.opN(op, in, 1, attrs...)[0]
}

// opN adds a node with nout outputs.
func (b *builder) opN(op string, in []string, nout int, attrs ...attribute) []string {
	out := make([]string, nout)
	for i := range out {
		out[i] = b.fresh(op)
	}
	if b.err != nil {
		return out
	}
	b.g.nodes = append(b.g.nodes, nodeProto{name: out[0], op: op, in: in, out: out, attrs: attrs})
	return out
}

// weight returns the initializer of the named parameter [rows × cols] (an
// embedding table is [vocab × dim]), checking its shape when rows or cols
// is > 0, and marks it used.
func (b *builder) weight(name string, rows, cols int) (string, param) {
	p, ok := b.params[name]
	if !ok {
		b.fail("onnx: the model has no parameter %q", name)
		return name, param{}
	}
	if rows > 0 && p.rows != rows || cols > 0 && p.cols != cols {
		b.fail("onnx: parameter %q is %d×%d, want %d×%d", name, p.rows, p.cols, rows, cols)
		return name, p
	}
	if b.reserve[name] {
		b.fail("onnx: parameter %q has the name of a graph input or output", name)
	}
	if !b.used[name] {
		b.used[name] = true
		b.g.inits = append(b.g.inits, floatTensor(name, []int64{int64(p.rows), int64(p.cols)}, p.w))
	}
	return name, p
}

// has reports whether the model has the named parameter.
func (b *builder) has(name string) bool { _, ok := b.params[name]; return ok }

// constF returns a FLOAT constant of the given shape (shared by value).
func (b *builder) constF(dims []int64, v ...float32) string {
	key := fmt.Sprint("f", dims, v)
	if n, ok := b.consts[key]; ok {
		return n
	}
	n := b.fresh("const")
	b.g.inits = append(b.g.inits, floatTensor(n, dims, v))
	b.consts[key] = n
	return n
}

// constD returns a DOUBLE constant of the given shape.
func (b *builder) constD(dims []int64, v ...float64) string {
	key := fmt.Sprint("d", dims, v)
	if n, ok := b.consts[key]; ok {
		return n
	}
	n := b.fresh("const")
	b.g.inits = append(b.g.inits, doubleTensor(n, dims, v))
	b.consts[key] = n
	return n
}

// constI returns an INT64 constant of the given shape.
func (b *builder) constI(dims []int64, v ...int64) string {
	key := fmt.Sprint("i", dims, v)
	if n, ok := b.consts[key]; ok {
		return n
	}
	n := b.fresh("const")
	b.g.inits = append(b.g.inits, int64Tensor(n, dims, v))
	b.consts[key] = n
	return n
}

// axes returns the INT64 vector constant of axis indices.
func (b *builder) axes(a ...int64) string { return b.constI([]int64{int64(len(a))}, a...) }

// Activation kinds of linear.
const (
	actNone = iota
	actReLU
	actSigmoid
)

// linear is y = act(x·W + b) for the parameters prefix.W [in × out] and
// prefix.b [1 × out], one Gemm (and the activation).
func (b *builder) linear(x val, prefix string, act int) val {
	w, p := b.weight(prefix+".W", x.w, 0)
	bias, _ := b.weight(prefix+".b", 1, p.cols)
	y := b.op("Gemm", []string{x.name, w, bias})
	switch act {
	case actReLU:
		y = b.op("Relu", []string{y})
	case actSigmoid:
		y = b.op("Sigmoid", []string{y})
	}
	return val{y, p.cols}
}

// mlp runs the layers prefix.0 … prefix.(n-1), each with ReLU; n = 0 returns x.
func (b *builder) mlp(x val, prefix string, n int) val {
	for k := range n {
		x = b.linear(x, prefix+"."+strconv.Itoa(k), actReLU)
	}
	return x
}

// concat joins matrices along the columns (one part returns it unchanged).
func (b *builder) concat(parts ...val) val {
	if len(parts) == 1 {
		return parts[0]
	}
	names := make([]string, len(parts))
	w := 0
	for i, p := range parts {
		names[i] = p.name
		w += p.w
	}
	return val{b.op("Concat", names, intAttr("axis", 1)), w}
}

// split cuts a matrix into column blocks of the given widths.
func (b *builder) split(x val, widths ...int) []val {
	if len(widths) == 1 {
		return []val{x}
	}
	sizes := make([]int64, len(widths))
	sum := 0
	for i, w := range widths {
		sizes[i] = int64(w)
		sum += w
	}
	if x.w > 0 && sum != x.w {
		b.fail("onnx: split of a %d-wide matrix into %v", x.w, widths)
	}
	names := b.opN("Split", []string{x.name, b.constI([]int64{int64(len(sizes))}, sizes...)}, len(widths), intAttr("axis", 1))
	out := make([]val, len(widths))
	for i := range out {
		out[i] = val{names[i], widths[i]}
	}
	return out
}

func (b *builder) add(x, y val) val           { return val{b.op("Add", []string{x.name, y.name}), max(x.w, y.w)} }
func (b *builder) mul(x, y val) val           { return val{b.op("Mul", []string{x.name, y.name}), max(x.w, y.w)} }
func (b *builder) unary(op string, x val) val { return val{b.op(op, []string{x.name}), x.w} }
