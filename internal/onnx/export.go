package onnx

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/dcrnn/dcrnn/internal/calibrate"
	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/model"
)

// Export returns the ONNX model (the serialised ModelProto) of tr: the
// forward pass of its model on the transformed inputs (see Signature), the
// sigmoid, its calibration maps and the negative down-sampling correction,
// exactly the steps of model.Trained.Predict. A model whose parameters do not
// match its config, or whose structure leaves a parameter out of the graph,
// is an error rather than a wrong graph. tr.Pipeline may be nil (a model
// built without one, such as a benchmark workload): no down-sampling
// correction then.
func Export(tr *model.Trained) ([]byte, error) {
	sig, err := Signature(tr.Spec)
	if err != nil {
		return nil, err
	}
	b := &builder{params: map[string]param{}, used: map[string]bool{}, reserve: map[string]bool{}, consts: map[string]string{}}
	for _, p := range tr.Model.Params() {
		b.params[p.Name] = param{p.Rows, p.Cols, p.W}
	}
	for _, p := range tr.Model.SparseParams() {
		b.params[p.Name] = param{p.Rows, p.Cols, p.W}
	}
	weights := 0
	for _, p := range b.params {
		weights += 4 * len(p.w)
	}
	if weights > maxWeightBytes {
		return nil, fmt.Errorf("onnx: model %s: %d MiB of weights; one ONNX file holds less than 2 GiB (protobuf's limit), and external data files are not written", tr.Name, weights>>20)
	}
	for _, in := range sig.Inputs {
		b.reserve[in.Name] = true
		vi := valueInfo{name: in.Name, doc: in.Doc}
		switch in.Type {
		case "int64":
			vi.elem = typeInt64
		default:
			vi.elem = typeFloat
		}
		vi.dims = []int64{-1}
		vi.params = []string{"N"}
		if len(in.Shape) == 2 {
			vi.dims = append(vi.dims, -1)
			vi.params = append(vi.params, in.Shape[1])
		}
		b.g.inputs = append(b.g.inputs, vi)
	}
	for _, out := range sig.Outputs {
		b.reserve[out.Name] = true
	}
	cfg := tr.Config
	cfg.Defaults()
	in := &graphInputs{spec: tr.Spec, dim: cfg.EmbeddingDim}
	var logits []val
	switch tr.Name {
	case "single":
		logits = b.single(&cfg, in)
	case "shared_bottom":
		logits = b.sharedBottom(&cfg, in)
	case "esmm":
		logits = b.esmm(&cfg, in)
	case "mmoe":
		logits = b.mmoe(&cfg, in)
	case "ple":
		logits = b.ple(&cfg, in)
	case "aitm":
		logits = b.aitm(&cfg, in)
	case "dcnv2":
		logits = b.dcnv2(&cfg, in)
	case "dcrnn":
		logits = b.dcrnn(&cfg, in)
	default:
		return nil, fmt.Errorf("onnx: model %q has no ONNX export (have %v)", tr.Name, Models)
	}
	rate := 1.0
	if tr.Pipeline != nil {
		rate = tr.NegativeSampling()
	}
	b.probabilities(tr.Spec, logits, tr.Calibration, rate)
	if b.err != nil {
		return nil, fmt.Errorf("%w (model %s)", b.err, tr.Name)
	}
	var unused []string
	for name := range b.params {
		if !b.used[name] {
			unused = append(unused, name)
		}
	}
	if len(unused) > 0 {
		sort.Strings(unused)
		return nil, fmt.Errorf("onnx: model %s: parameters not in the graph: %v (the export does not match the model's structure)", tr.Name, unused)
	}
	outs := sig.outputNames()
	for _, n := range b.g.nodes {
		for _, o := range n.out {
			if b.reserve[o] && !(n.op == "Identity" && slices.Contains(outs, o)) {
				return nil, fmt.Errorf("onnx: model %s: an internal value is named %q like a graph input or output; rename that field or task", tr.Name, o)
			}
		}
	}
	for _, t := range b.g.inits {
		if b.reserve[t.name] {
			return nil, fmt.Errorf("onnx: model %s: a weight is named %q like a graph input or output; rename that field or task", tr.Name, t.name)
		}
	}
	b.g.name = "dcrnn_" + tr.Name
	b.g.doc = fmt.Sprintf("dcrnn model %s: inputs are the transformed features (see the .pipeline.json beside this file), outputs one probability per task", tr.Name)
	m := modelProto{producer: "dcrnn", version: "1", graph: b.g,
		meta: [][2]string{{"dcrnn.model", tr.Name}, {"dcrnn.checksum", tr.Checksum}}}
	return m.append(nil), nil
}

// maxWeightBytes bounds the weights of an exported model: a protobuf
// message, and so an ONNX file without external data, is smaller than 2 GiB.
var maxWeightBytes = 2<<30 - 64<<20 // a variable for the test

// Models lists the registered models Export knows.
var Models = []string{"aitm", "dcnv2", "dcrnn", "esmm", "mmoe", "ple", "shared_bottom", "single"}

// graphInputs turns the graph inputs into per-field embedding inputs; the
// per-field preprocessing (a numeric column, a multi-valued field's mask)
// is computed once and shared by every embedding set (Single has one per task).
type graphInputs struct {
	spec   model.Spec
	dim    int
	numCol map[int]string // numeric field: value as [N × 1]
	mask   map[int]string // multi-valued field: [N × M × 1] 1 where a position holds an id
	inv    map[int]string // multi-valued field: [N × 1] 1/max(length, 1)
}

// embeddings builds x0 [N × F·d] from the tables and numeric vectors named
// prefix.<field> (see nn.Embeddings) and returns it with each field's block.
func (b *builder) embeddings(prefix string, in *graphInputs) (val, []val) {
	d := in.dim
	fields := make([]val, len(in.spec.Fields))
	if in.numCol == nil {
		in.numCol, in.mask, in.inv = map[int]string{}, map[int]string{}, map[int]string{}
	}
	for f, fs := range in.spec.Fields {
		name := prefix + "." + fs.Name
		switch fs.Kind {
		case feature.Categorical:
			tab, _ := b.weight(name, fs.Vocab, d)
			fields[f] = val{b.op("Gather", []string{tab, fs.Name}, intAttr("axis", 0)), d}
		case feature.MultiCategorical:
			tab, _ := b.weight(name, fs.Vocab, d)
			if _, ok := in.mask[f]; !ok {
				ids, lens := fs.Name, fs.Name+LengthsSuffix
				m := b.op("Shape", []string{ids}, intAttr("start", 1), intAttr("end", 2))
				m = b.op("Squeeze", []string{m, b.axes(0)})
				pos := b.op("Range", []string{b.constI(nil, 0), m, b.constI(nil, 1)})
				l2 := b.op("Unsqueeze", []string{lens, b.axes(1)})
				mask := b.op("Less", []string{pos, l2}) // [N × M]
				mask = b.op("Cast", []string{mask}, intAttr("to", int64(typeFloat)))
				in.mask[f] = b.op("Unsqueeze", []string{mask, b.axes(2)})
				n := b.op("Cast", []string{l2}, intAttr("to", int64(typeFloat)))
				n = b.op("Max", []string{n, b.constF(nil, 1)})
				in.inv[f] = b.op("Div", []string{b.constF(nil, 1), n})
			}
			rows := b.op("Gather", []string{tab, fs.Name}, intAttr("axis", 0)) // [N × M × d]
			rows = b.op("Mul", []string{rows, in.mask[f]})
			sum := b.op("ReduceSum", []string{rows, b.axes(1)}, intAttr("keepdims", 0))
			fields[f] = val{b.op("Mul", []string{sum, in.inv[f]}), d}
		case feature.Numeric:
			v, _ := b.weight(name+".v", 1, d)
			bias, _ := b.weight(name+".b", 1, d)
			if _, ok := in.numCol[f]; !ok {
				in.numCol[f] = b.op("Unsqueeze", []string{fs.Name, b.axes(1)})
			}
			x := b.op("Mul", []string{in.numCol[f], v})
			fields[f] = val{b.op("Add", []string{x, bias}), d}
		default:
			b.fail("onnx: field %q: unknown kind %d", fs.Name, fs.Kind)
		}
	}
	return b.concat(fields...), fields
}

// tower runs task tower prefix (hidden ReLU layers prefix.k, then the
// linear output prefix.out) and returns its last hidden layer and logit.
func (b *builder) tower(x val, prefix string, n int) (val, val) {
	h := b.mlp(x, prefix, n)
	return h, b.linear(h, prefix+".out", actNone)
}

func (b *builder) single(cfg *model.Config, in *graphInputs) []val {
	var out []val
	for _, t := range in.spec.Tasks {
		x0, _ := b.embeddings("emb."+t.Name, in)
		_, z := b.tower(b.mlp(x0, "bottom."+t.Name, len(cfg.Deep)), "tower."+t.Name, len(cfg.Tower))
		out = append(out, z)
	}
	return out
}

func (b *builder) sharedBottom(cfg *model.Config, in *graphInputs) []val {
	x0, _ := b.embeddings("emb", in)
	x := b.mlp(x0, "bottom", len(cfg.Deep))
	var out []val
	for _, t := range in.spec.Tasks {
		_, z := b.tower(x, "tower."+t.Name, len(cfg.Tower))
		out = append(out, z)
	}
	return out
}

func (b *builder) esmm(cfg *model.Config, in *graphInputs) []val {
	x0, _ := b.embeddings("emb", in)
	var out []val
	for _, t := range in.spec.Tasks {
		_, z := b.tower(b.mlp(x0, "net."+t.Name, len(cfg.Deep)), "tower."+t.Name, len(cfg.Tower))
		out = append(out, z)
	}
	return out
}

// mix is Σ_e gate[:, e] ⊙ experts[e] (nn.MixExperts).
func (b *builder) mix(gate val, experts []val) val {
	ones := make([]int, len(experts))
	for i := range ones {
		ones[i] = 1
	}
	g := b.split(gate, ones...)
	terms := make([]string, len(experts))
	for e, x := range experts {
		terms[e] = b.mul(g[e], x).name
	}
	if len(terms) == 1 {
		return val{terms[0], experts[0].w}
	}
	return val{b.op("Sum", terms), experts[0].w}
}

// softmaxGate is softmax(x·W + b) over the experts (nn.SoftmaxGate).
func (b *builder) softmaxGate(x val, prefix string) val {
	return b.unary("Softmax", b.linear(x, prefix, actNone))
}

func (b *builder) mmoe(cfg *model.Config, in *graphInputs) []val {
	x0, _ := b.embeddings("emb", in)
	experts := make([]val, cfg.Experts)
	for e := range experts {
		experts[e] = b.mlp(x0, fmt.Sprintf("expert.%d", e), len(cfg.ExpertHidden))
	}
	var out []val
	for _, t := range in.spec.Tasks {
		mixed := b.mix(b.softmaxGate(x0, "gate."+t.Name), experts)
		_, z := b.tower(mixed, "tower."+t.Name, len(cfg.Tower))
		out = append(out, z)
	}
	return out
}

func (b *builder) ple(cfg *model.Config, in *graphInputs) []val {
	x0, _ := b.embeddings("emb", in)
	tasks := in.spec.Tasks
	nh := len(cfg.ExpertHidden)
	s := x0
	u := make([]val, len(tasks))
	for i := range u {
		u[i] = x0
	}
	for k := range cfg.Levels {
		prefix := fmt.Sprintf("ple.%d", k)
		shared := make([]val, cfg.SharedExperts)
		for e := range shared {
			shared[e] = b.mlp(s, fmt.Sprintf("%s.shared.expert.%d", prefix, e), nh)
		}
		var all []val
		next := make([]val, len(tasks))
		for i, t := range tasks {
			var mine []val
			for e := range cfg.TaskExperts {
				mine = append(mine, b.mlp(u[i], fmt.Sprintf("%s.%s.expert.%d", prefix, t.Name, e), nh))
			}
			all = append(all, mine...)
			mine = append(mine, shared...)
			next[i] = b.mix(b.softmaxGate(u[i], prefix+"."+t.Name+".gate"), mine)
		}
		if k+1 < cfg.Levels {
			all = append(all, shared...)
			s = b.mix(b.softmaxGate(s, prefix+".shared.gate"), all)
		}
		u = next
	}
	var out []val
	for i, t := range tasks {
		_, z := b.tower(u[i], "tower."+t.Name, len(cfg.Tower))
		out = append(out, z)
	}
	return out
}

// predecessor is the task feeding task ti: its funnel step, else the
// previous task, -1 for the first.
func predecessor(spec model.Spec, ti int) int {
	if a := spec.Tasks[ti].After; a >= 0 {
		return a
	}
	return ti - 1
}

// pairAttention is AITM's attention over u and v (nn.PairAttention):
// projections [q k w] = x·W (no bias), weights softmax(q·k/√h) over the two.
func (b *builder) pairAttention(u, v val, prefix string) val {
	h := u.w
	w, _ := b.weight(prefix+".Wqkv", h, 3*h)
	scale := b.constF(nil, float32(1/math.Sqrt(float64(h))))
	score := func(x val) (val, val) {
		qkw := b.split(val{b.op("MatMul", []string{x.name, w}), 3 * h}, h, h, h)
		s := b.op("ReduceSum", []string{b.mul(qkw[0], qkw[1]).name, b.axes(1)}, intAttr("keepdims", 1))
		return val{b.op("Mul", []string{s, scale}), 1}, qkw[2]
	}
	su, wu := score(u)
	sv, wv := score(v)
	a := b.split(b.unary("Softmax", b.concat(su, sv)), 1, 1)
	return b.add(b.mul(a[0], wu), b.mul(a[1], wv))
}

func (b *builder) aitm(cfg *model.Config, in *graphInputs) []val {
	x0, _ := b.embeddings("emb", in)
	z := make([]val, len(in.spec.Tasks))
	var out []val
	for i, t := range in.spec.Tasks {
		q := b.mlp(x0, "net."+t.Name, len(cfg.Deep))
		if pr := predecessor(in.spec, i); pr >= 0 && pr < i {
			p := b.linear(z[pr], "info."+t.Name, actReLU)
			q = b.pairAttention(p, q, "ait."+t.Name)
		}
		z[i] = q
		_, logit := b.tower(q, "tower."+t.Name, len(cfg.Tower))
		out = append(out, logit)
	}
	return out
}

func (b *builder) dcnv2(cfg *model.Config, in *graphInputs) []val {
	x0, _ := b.embeddings("emb", in)
	x := x0
	for l := range cfg.CrossLayers {
		x = b.add(b.mul(x0, b.linear(x, fmt.Sprintf("cross.%d", l), actNone)), x)
	}
	rep := x
	if len(cfg.Deep) > 0 {
		rep = b.concat(x, b.mlp(x0, "deep", len(cfg.Deep)))
	}
	var out []val
	for _, t := range in.spec.Tasks {
		_, z := b.tower(rep, "tower."+t.Name, len(cfg.Tower))
		out = append(out, z)
	}
	return out
}

// probabilities adds the graph outputs: σ(logit) per task, then the task's
// calibration map and, for the first task, the negative down-sampling
// correction (computed in double precision, as package calibrate does), and
// the funnel's ctcvr as the product of its steps.
func (b *builder) probabilities(spec model.Spec, logits []val, cal *model.Calibration, rate float64) {
	probs := make([]string, len(logits))
	one := b.constD(nil, 1)
	for ti, z := range logits {
		// σ in double precision, rounded to float32 as the Go sigmoid's
		// result is: ONNX Runtime's float Sigmoid has an absolute error of
		// about 6e-8 (1e-7 comes out as 1.2e-7, 1e-8 as 0), which a
		// calibration map that lifts small probabilities would magnify.
		d := b.op("Cast", []string{z.name}, intAttr("to", int64(typeDouble)))
		d = b.op("Div", []string{one, b.op("Add", []string{one, b.op("Exp", []string{b.op("Neg", []string{d})})})})
		p := b.op("Cast", []string{d}, intAttr("to", int64(typeFloat)))
		p = b.op("Squeeze", []string{p, b.axes(1)})
		var m *calibrate.Map
		if cal != nil {
			m = cal.Tasks[spec.Tasks[ti].Name]
		}
		w := 1.0
		if ti == 0 {
			w = rate
		}
		if !m.Identity() || w != 1 {
			d := b.op("Cast", []string{p}, intAttr("to", int64(typeDouble)))
			if !m.Identity() {
				d = b.calibration(d, m)
			}
			if w != 1 {
				// q = p / (p + (1-p)/w)
				rest := b.op("Div", []string{b.op("Sub", []string{b.constD(nil, 1), d}), b.constD(nil, w)})
				d = b.op("Div", []string{d, b.op("Add", []string{d, rest})})
			}
			p = b.op("Cast", []string{d}, intAttr("to", int64(typeFloat)))
		}
		probs[ti] = p
	}
	for ti, t := range spec.Tasks {
		b.output(t.Name, probs[ti])
	}
	if a, c, ok := spec.Funnel(); ok {
		b.output(CTCVR, b.op("Mul", []string{probs[a], probs[c]}))
	}
}

// calibration applies a calibration map to probabilities p [N] (double).
func (b *builder) calibration(p string, m *calibrate.Map) string {
	one := b.constD(nil, 1)
	switch {
	case m.Platt != nil:
		// σ(A·logit(p) + B), p clamped to [Eps, 1-Eps]
		c := b.op("Max", []string{p, b.constD(nil, calibrate.Eps)})
		c = b.op("Min", []string{c, b.constD(nil, 1-calibrate.Eps)})
		z := b.op("Log", []string{b.op("Div", []string{c, b.op("Sub", []string{one, c})})})
		z = b.op("Add", []string{b.op("Mul", []string{z, b.constD(nil, m.Platt.A)}), b.constD(nil, m.Platt.B)})
		return b.op("Div", []string{one, b.op("Add", []string{one, b.op("Exp", []string{b.op("Neg", []string{z})})})})
	case m.Isotonic != nil:
		// Linear interpolation between the knots, constant outside them:
		// Y[0] + Σ_j slope_j · (clamp(p, X[j-1], X[j]) - X[j-1]).
		x, y := m.Isotonic.X, m.Isotonic.Y
		if len(x) < 2 {
			return b.op("Add", []string{b.op("Mul", []string{p, b.constD(nil, 0)}), b.constD(nil, y[0])})
		}
		k := int64(len(x) - 1)
		slope := make([]float64, k)
		for j := range slope {
			slope[j] = (y[j+1] - y[j]) / (x[j+1] - x[j])
		}
		lo, hi := b.constD([]int64{k}, x[:k]...), b.constD([]int64{k}, x[1:]...)
		col := b.op("Unsqueeze", []string{p, b.axes(1)})
		c := b.op("Min", []string{b.op("Max", []string{col, lo}), hi})
		c = b.op("Mul", []string{b.op("Sub", []string{c, lo}), b.constD([]int64{k}, slope...)})
		s := b.op("ReduceSum", []string{c, b.axes(1)}, intAttr("keepdims", 0))
		return b.op("Add", []string{s, b.constD(nil, y[0])})
	}
	return p
}

// output names value v as the graph output name, a FLOAT [N] tensor.
func (b *builder) output(name, v string) {
	if b.err != nil {
		return
	}
	b.g.nodes = append(b.g.nodes, nodeProto{name: name, op: "Identity", in: []string{v}, out: []string{name}})
	b.g.outs = append(b.g.outs, valueInfo{name: name, elem: typeFloat, dims: []int64{-1}, params: []string{"N"}})
}
