package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
)

type softmaxOp struct{}

// Softmax returns the row-wise softmax of x.
func Softmax(t *Tape, x *Mat) *Mat {
	y := t.Mat(x.Rows, x.Cols)
	n := x.Cols
	for i := 0; i < x.Rows; i++ {
		softmaxRow(y.V[i*n:(i+1)*n], x.V[i*n:(i+1)*n])
	}
	t.Record(Record{Op: softmaxOp{}, In: [4]*Mat{x}, Out: y})
	return y
}

func softmaxRow(dst, src []float32) {
	if len(src) == 0 {
		return
	}
	m := src[0]
	for _, v := range src[1:] {
		m = max(m, v)
	}
	var s float32
	for j, v := range src {
		e := float32(math.Exp(float64(v - m)))
		dst[j] = e
		s += e
	}
	inv := 1 / s
	for j := range dst {
		dst[j] *= inv
	}
}

func (softmaxOp) Backward(t *Tape, r *Record) {
	x, y := r.In[0], r.Out
	if x.G == nil {
		return
	}
	n := y.Cols
	for i := 0; i < y.Rows; i++ {
		p, g := y.V[i*n:(i+1)*n], y.G[i*n:(i+1)*n]
		var dot float32
		for j, pj := range p {
			dot += pj * g[j]
		}
		xg := x.G[i*n : (i+1)*n]
		for j, pj := range p {
			xg[j] += pj * (g[j] - dot)
		}
	}
}

// SoftmaxGate is the expert gate of MMoE/PLE: weights = softmax(x·W + b)
// [B×E] for input x [B×In], with W [In×E] (Glorot uniform) and b [1×E] (zero).
type SoftmaxGate struct {
	Lin *Linear
}

// NewSoftmaxGate makes a gate over experts experts; names start with prefix.
func NewSoftmaxGate(prefix string, in, experts int, rng *rand.Rand) *SoftmaxGate {
	return &SoftmaxGate{Lin: NewLinear(prefix, in, experts, Identity, rng)}
}

// Params implements Module.
func (g *SoftmaxGate) Params() []*Param { return g.Lin.Params() }

// Forward returns the gate weights [B×E], each row summing to 1.
func (g *SoftmaxGate) Forward(t *Tape, x *Mat) *Mat { return Softmax(t, g.Lin.Forward(t, x)) }

type mixOp struct{}

// MixExperts returns Σ_e gate[:,e] ⊙ experts[e] for gate [B×E] and E experts
// of shape [B×H]. It records one tape entry per expert (each entry holds the
// gate, its expert and the shared output, its index in Aux), so any number of
// experts is handled without allocating and without state in a layer.
func MixExperts(t *Tape, gate *Mat, experts []*Mat) *Mat {
	if len(experts) == 0 || gate.Cols != len(experts) {
		panic(fmt.Sprintf("nn: MixExperts: gate has %d columns for %d experts", gate.Cols, len(experts)))
	}
	b, h, e := gate.Rows, experts[0].Cols, gate.Cols
	for _, x := range experts {
		if x.Rows != b || x.Cols != h {
			panic("nn: MixExperts: expert shape mismatch")
		}
	}
	y := t.ZeroMat(b, h)
	for k, x := range experts {
		for i := 0; i < b; i++ {
			w := gate.V[i*e+k]
			dst := y.V[i*h : (i+1)*h]
			for j, v := range x.V[i*h : (i+1)*h] {
				dst[j] += w * v
			}
		}
		t.Record(Record{Op: mixOp{}, In: [4]*Mat{gate, x}, Out: y, Aux: k})
	}
	return y
}

func (mixOp) Backward(t *Tape, r *Record) {
	gate, x, y, k := r.In[0], r.In[1], r.Out, r.Aux
	b, h, e := y.Rows, y.Cols, gate.Cols
	for i := 0; i < b; i++ {
		g := y.G[i*h : (i+1)*h]
		if x.G != nil {
			w := gate.V[i*e+k]
			xg := x.G[i*h : (i+1)*h]
			for j, v := range g {
				xg[j] += w * v
			}
		}
		if gate.G != nil {
			var dot float32
			for j, v := range x.V[i*h : (i+1)*h] {
				dot += v * g[j]
			}
			gate.G[i*e+k] += dot
		}
	}
}

// SigmoidGate is the task-transfer gate: for a [B×Ha] and b [B×Hb] it returns
// g ⊙ a with g = σ([a b]·G + c), G [(Ha+Hb)×Ha] (Glorot uniform), c [1×Ha]
// (zero). The product is fused: [a b] is never materialised.
type SigmoidGate struct {
	A, B int
	G, C *Param
}

// NewSigmoidGate makes a gate for inputs of widths a and b.
func NewSigmoidGate(prefix string, a, b int, rng *rand.Rand) *SigmoidGate {
	g := &SigmoidGate{A: a, B: b, G: NewParam(prefix+".G", a+b, a), C: NewParam(prefix+".c", 1, a)}
	g.C.NoDecay = true
	uniformInit(g.G.W, glorot(a+b, a), rng)
	return g
}

// Params implements Module.
func (g *SigmoidGate) Params() []*Param { return []*Param{g.G, g.C} }

// Forward returns g ⊙ a [B×Ha].
func (g *SigmoidGate) Forward(t *Tape, a, b *Mat) *Mat {
	if a.Cols != g.A || b.Cols != g.B || a.Rows != b.Rows {
		panic(fmt.Sprintf("nn: SigmoidGate: inputs %d×%d and %d×%d, want ?×%d and ?×%d", a.Rows, a.Cols, b.Rows, b.Cols, g.A, g.B))
	}
	n, ha := a.Rows, g.A
	gv := t.Floats(n * ha)
	fillRows(gv, n, g.C.W)
	if n > 0 {
		t.gemmW(false, false, n, ha, ha, 1, a.V, ha, g.G.W, ha, 1, gv, ha)
		t.gemmW(false, false, n, ha, g.B, 1, b.V, g.B, g.G.W[ha*ha:], ha, 1, gv, ha)
	}
	Sigmoid.apply(gv)
	y := t.Mat(n, ha)
	for i, v := range a.V {
		y.V[i] = gv[i] * v
	}
	t.Record(Record{Op: g, In: [4]*Mat{a, b}, Out: y, Buf: gv})
	return y
}

// Backward implements Op.
func (g *SigmoidGate) Backward(t *Tape, r *Record) {
	a, b, y, gv := r.In[0], r.In[1], r.Out, r.Buf
	n, ha := a.Rows, g.A
	dz := t.Floats(n * ha)
	for i, gi := range gv {
		d := y.G[i]
		dz[i] = d * a.V[i] * gi * (1 - gi)
		if a.G != nil {
			a.G[i] += d * gi
		}
	}
	affineBackward(t, n, ha, ha, a.V, ha, a.G, ha, g.G.W[:ha*ha], t.Grad(g.G)[:ha*ha], t.Grad(g.C), dz)
	affineBackward(t, n, g.B, ha, b.V, g.B, b.G, g.B, g.G.W[ha*ha:], t.Grad(g.G)[ha*ha:], nil, dz)
}

// PairAttention is AITM's attention over two vectors per row: for u, v
// [B×H], with q_j, k_j, w_j = x_j·Wq, x_j·Wk, x_j·Wv (x_u = u, x_v = v; the
// three projections are the column blocks of W [H×3H], no bias, Glorot
// uniform), the scores s_j = q_j·k_j/√H are soft-maxed over j ∈ {u, v} and the
// output is Σ_j a_j w_j [B×H].
type PairAttention struct {
	H int
	W *Param
}

// NewPairAttention makes the attention for vectors of width h.
func NewPairAttention(prefix string, h int, rng *rand.Rand) *PairAttention {
	p := &PairAttention{H: h, W: NewParam(prefix+".Wqkv", h, 3*h)}
	uniformInit(p.W.W, glorot(h, h), rng)
	return p
}

// Params implements Module.
func (p *PairAttention) Params() []*Param { return []*Param{p.W} }

// Forward returns the attended vector [B×H].
func (p *PairAttention) Forward(t *Tape, u, v *Mat) *Mat {
	h := p.H
	if u.Cols != h || v.Cols != h || u.Rows != v.Rows {
		panic(fmt.Sprintf("nn: PairAttention: inputs %d×%d and %d×%d, want ?×%d", u.Rows, u.Cols, v.Rows, v.Cols, h))
	}
	n, g := u.Rows, 3*h
	// saved: qkv of u [n×3h], qkv of v [n×3h], weights a [n×2].
	saved := t.Floats(2*n*g + 2*n)
	pu, pv, aw := saved[:n*g], saved[n*g:2*n*g], saved[2*n*g:]
	if n > 0 {
		t.gemmW(false, false, n, g, h, 1, u.V, h, p.W.W, g, 0, pu, g)
		t.gemmW(false, false, n, g, h, 1, v.V, h, p.W.W, g, 0, pv, g)
	}
	y := t.Mat(n, h)
	scale := float32(1 / math.Sqrt(float64(h)))
	for i := 0; i < n; i++ {
		qu, ku, wu := pu[i*g:i*g+h], pu[i*g+h:i*g+2*h], pu[i*g+2*h:(i+1)*g]
		qv, kv, wv := pv[i*g:i*g+h], pv[i*g+h:i*g+2*h], pv[i*g+2*h:(i+1)*g]
		var su, sv float32
		for j := 0; j < h; j++ {
			su += qu[j] * ku[j]
			sv += qv[j] * kv[j]
		}
		s := [2]float32{su * scale, sv * scale}
		softmaxRow(aw[2*i:2*i+2], s[:])
		au, av := aw[2*i], aw[2*i+1]
		for j := 0; j < h; j++ {
			y.V[i*h+j] = au*wu[j] + av*wv[j]
		}
	}
	t.Record(Record{Op: p, In: [4]*Mat{u, v}, Out: y, Buf: saved})
	return y
}

// Backward implements Op.
func (p *PairAttention) Backward(t *Tape, r *Record) {
	u, v, y, saved := r.In[0], r.In[1], r.Out, r.Buf
	h, n := p.H, u.Rows
	g := 3 * h
	pu, pv, aw := saved[:n*g], saved[n*g:2*n*g], saved[2*n*g:]
	du, dv := t.Floats(n*g), t.Floats(n*g)
	scale := float32(1 / math.Sqrt(float64(h)))
	for i := 0; i < n; i++ {
		dy := y.G[i*h : (i+1)*h]
		au, av := aw[2*i], aw[2*i+1]
		var dau, dav float32
		for j, d := range dy {
			dau += d * pu[i*g+2*h+j]
			dav += d * pv[i*g+2*h+j]
		}
		dot := au*dau + av*dav
		dsu, dsv := au*(dau-dot)*scale, av*(dav-dot)*scale
		attnSideGrad(du[i*g:(i+1)*g], pu[i*g:(i+1)*g], dy, au, dsu)
		attnSideGrad(dv[i*g:(i+1)*g], pv[i*g:(i+1)*g], dy, av, dsv)
	}
	affineBackward(t, n, h, g, u.V, h, u.G, h, p.W.W, t.Grad(p.W), nil, du)
	affineBackward(t, n, h, g, v.V, h, v.G, h, p.W.W, t.Grad(p.W), nil, dv)
}

// attnSideGrad writes the gradient of one side's [q k w] projections: dq =
// ds·k, dk = ds·q, dw = a·dy.
func attnSideGrad(d, qkw, dy []float32, a, ds float32) {
	h := len(dy)
	for j := 0; j < h; j++ {
		d[j] = ds * qkw[h+j]
		d[h+j] = ds * qkw[j]
		d[2*h+j] = a * dy[j]
	}
}
