package nn

import (
	"math"
	"math/rand/v2"

	"github.com/dcrnn/dcrnn/internal/tensor"
)

// Linear is y = act(x·W + b) with x [B×In], W [In×Out], b [1×Out], y [B×Out].
// The activation is fused: only y is kept for the backward pass.
type Linear struct {
	In, Out int
	Act     Activation
	W, B    *Param
}

// NewLinear makes a layer with Glorot-uniform weights (He-uniform for ReLU)
// drawn from rng and zero bias. Parameter names are prefix+".W" and ".b".
func NewLinear(prefix string, in, out int, act Activation, rng *rand.Rand) *Linear {
	l := &Linear{In: in, Out: out, Act: act, W: NewParam(prefix+".W", in, out), B: NewParam(prefix+".b", 1, out)}
	l.B.NoDecay = true
	limit := math.Sqrt(6 / float64(in+out))
	if act == ReLU {
		limit = math.Sqrt(6 / float64(in))
	}
	for i := range l.W.W {
		l.W.W[i] = float32((rng.Float64()*2 - 1) * limit)
	}
	return l
}

// Params implements Module.
func (l *Linear) Params() []*Param { return []*Param{l.W, l.B} }

// Forward computes y = act(x·W + b); x must be [B×In]. On an inference
// tape with Folds, a layer on the input layer's output runs folded (see
// Folds).
func (l *Linear) Forward(t *Tape, x *Mat) *Mat {
	if x.Cols != l.In {
		panic("nn: Linear input width mismatch")
	}
	if x == t.x0 && x != nil {
		if f := t.Folds.get(l, t.x0Emb); f != nil {
			return f.forward(t, x, t.x0Batch)
		}
	}
	y := t.Mat(x.Rows, l.Out)
	tensor.SetRowVector(y.V, x.Rows, l.Out, l.B.W)
	t.gemmW(false, false, x.Rows, l.Out, l.In, 1, x.V, l.In, l.W.W, l.Out, 1, y.V, l.Out)
	l.Act.apply(y.V)
	t.Record(Record{Op: l, In: [4]*Mat{x}, Out: y})
	return y
}

// Backward implements Op.
func (l *Linear) Backward(t *Tape, r *Record) {
	x, y := r.In[0], r.Out
	dz := y.G
	if l.Act != Identity {
		dz = t.Floats(len(y.G))
		l.Act.grad(dz, y.G, y.V)
	}
	b := x.Rows
	// dW += xᵀ·dz, db += column sums of dz, dx += dz·Wᵀ
	t.gemm(true, false, l.In, l.Out, b, 1, x.V, l.In, dz, l.Out, 1, t.Grad(l.W), l.Out)
	sumRows(t, t.Grad(l.B), dz, b, l.Out)
	if x.G != nil {
		t.gemmW(false, true, b, l.In, l.Out, 1, dz, l.Out, l.W.W, l.Out, 1, x.G, l.In)
	}
}

// linearMul and linearCols are the ops recorded by ForwardMul and
// ForwardCols (pointer-shaped: recording one allocates nothing).
type (
	linearMul  struct{ l *Linear }
	linearCols struct{ l *Linear }
)

// ForwardMul returns y = v ⊙ act(x·W + b) [B×Out] for x [B×In] and v
// [B×Out] as one op: Mul(t, v, l.Forward(t, x)) without the intermediate
// matrix and its gradient, with the same values and gradients bit for bit.
// A nil x stands for a zero input, so y = v ⊙ act(b) row by row and the
// product is skipped: the first step of a recurrence from the zero state.
// v must not be nil.
func (l *Linear) ForwardMul(t *Tape, x, v *Mat) *Mat {
	b := v.Rows
	if v.Cols != l.Out || x != nil && (x.Cols != l.In || x.Rows != b) {
		panic("nn: Linear.ForwardMul shape mismatch")
	}
	// z = act(x·W + b) is kept for the backward pass (dv = dy ⊙ z); an
	// inference pass needs it only here.
	var z []float32
	if t.Train {
		z = t.Floats(b * l.Out)
	} else {
		z = t.Scratch(b * l.Out)
	}
	tensor.SetRowVector(z, b, l.Out, l.B.W)
	if x != nil {
		t.gemmW(false, false, b, l.Out, l.In, 1, x.V, l.In, l.W.W, l.Out, 1, z, l.Out)
	}
	l.Act.apply(z)
	y := t.Mat(b, l.Out)
	tensor.Mul(y.V, v.V, z)
	t.Record(Record{Op: linearMul{l}, In: [4]*Mat{x, v}, Out: y, Buf: z})
	return y
}

// Backward implements Op for ForwardMul: first v's gradient, then the
// layer's, in the order of Mul's and Linear's backward passes.
func (o linearMul) Backward(t *Tape, r *Record) {
	l, x, v, y, z := o.l, r.In[0], r.In[1], r.Out, r.Buf
	if v.G != nil {
		tensor.MulAddVec(v.G, v.G, y.G, z) // v.G += dy ⊙ z
	}
	// dz = 0 + dy ⊙ v: the +0 turns a -0 into +0, as the accumulation of
	// Mul's backward into a cleared gradient did.
	dz := t.Scratch(len(y.G))
	tensor.MulZ(dz, y.G, v.V)
	if l.Act != Identity {
		l.Act.grad(dz, dz, z)
	}
	b := y.Rows
	if x == nil {
		sumRows(t, t.Grad(l.B), dz, b, l.Out)
		return
	}
	t.gemm(true, false, l.In, l.Out, b, 1, x.V, l.In, dz, l.Out, 1, t.Grad(l.W), l.Out)
	sumRows(t, t.Grad(l.B), dz, b, l.Out)
	if x.G != nil {
		t.gemmW(false, true, b, l.In, l.Out, 1, dz, l.Out, l.W.W, l.Out, 1, x.G, l.In)
	}
}

// ForwardCols returns act(x[:, lo:lo+In]·W + b) [B×Out], the layer on
// columns lo..lo+In of x [B×C], read in place: Forward(t, SliceCols(t, x,
// lo, lo+In)) without the copy, with the same values and gradients bit for bit.
func (l *Linear) ForwardCols(t *Tape, x *Mat, lo int) *Mat {
	if lo < 0 || lo+l.In > x.Cols {
		panic("nn: Linear.ForwardCols columns out of range")
	}
	y := t.Mat(x.Rows, l.Out)
	tensor.SetRowVector(y.V, x.Rows, l.Out, l.B.W)
	if x.Rows > 0 {
		t.gemmW(false, false, x.Rows, l.Out, l.In, 1, x.V[lo:], x.Cols, l.W.W, l.Out, 1, y.V, l.Out)
	}
	l.Act.apply(y.V)
	t.Record(Record{Op: linearCols{l}, In: [4]*Mat{x}, Out: y, Aux: lo})
	return y
}

// Backward implements Op for ForwardCols. x's gradient is summed in a
// scratch buffer first and then added, as SliceCols' backward pass did.
func (o linearCols) Backward(t *Tape, r *Record) {
	l, x, y, lo := o.l, r.In[0], r.Out, r.Aux
	b := x.Rows
	if b == 0 {
		return
	}
	dz := y.G
	if l.Act != Identity {
		dz = t.Floats(len(y.G))
		l.Act.grad(dz, y.G, y.V)
	}
	t.gemm(true, false, l.In, l.Out, b, 1, x.V[lo:], x.Cols, dz, l.Out, 1, t.Grad(l.W), l.Out)
	sumRows(t, t.Grad(l.B), dz, b, l.Out)
	if x.G == nil {
		return
	}
	dx := t.Scratch(b * l.In)
	t.gemmW(false, true, b, l.In, l.Out, 1, dz, l.Out, l.W.W, l.Out, 0, dx, l.In)
	for i := 0; i < b; i++ {
		g := x.G[i*x.Cols+lo : i*x.Cols+lo+l.In]
		for j, v := range dx[i*l.In : (i+1)*l.In] {
			g[j] += 0 + v
		}
	}
}
