package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/dcrnn/dcrnn/internal/tensor"
)

// Cell is one step of a recurrent network whose weights are shared over the
// steps: the caller unrolls it, state := c.Step(t, x_1, nil) (from the zero
// state), then state = c.Step(t, x_l, state) for l = 2..L, and
// backpropagation through time happens through the tape.
//
// The state is one matrix [B×StateSize()]. For GRU and the plain RNN it is
// the hidden vector h (StateSize = Hidden); for LSTM it is [h c] (StateSize =
// 2·Hidden), h in columns 0..H and the cell memory c in H..2H. Output returns
// the hidden vector h of a state (the state itself for GRU and RNN, a recorded
// column slice for LSTM).
type Cell interface {
	Module
	// Kind is "gru", "lstm" or "rnn".
	Kind() string
	// InputSize and HiddenSize are the widths of x and of h.
	InputSize() int
	HiddenSize() int
	// StateSize is the width of the state matrix.
	StateSize() int
	// Step returns the next state from input x [B×In] and state
	// [B×StateSize]. A nil state is the zero state a recurrence starts from:
	// the same result as t.ZeroMat(B, StateSize()), without the products
	// with it, and no gradient flows to it.
	Step(t *Tape, x, state *Mat) *Mat
	// Output returns h [B×Hidden] of a (non-nil) state.
	Output(t *Tape, state *Mat) *Mat
}

// NewCell makes a cell of the given kind: "gru" (the default when kind is
// ""), "lstm" or "rnn" (h' = tanh(x·Wx + h·Wh + b)). Weights are drawn from
// U(-1/√hidden, 1/√hidden) (PyTorch's convention), biases are zero except the
// LSTM forget-gate bias, which starts at 1. Parameter names start with prefix.
func NewCell(kind, prefix string, in, hidden int, rng *rand.Rand) (Cell, error) {
	if in <= 0 || hidden <= 0 {
		return nil, fmt.Errorf("nn: cell %s: sizes in=%d hidden=%d, want > 0", prefix, in, hidden)
	}
	gates := 0
	switch kind {
	case "gru", "":
		gates = 3
	case "lstm":
		gates = 4
	case "rnn":
		gates = 1
	default:
		return nil, fmt.Errorf("nn: cell %s: unknown kind %q (want gru, lstm or rnn)", prefix, kind)
	}
	g := hidden * gates
	wx, wh := NewParam(prefix+".Wx", in, g), NewParam(prefix+".Wh", hidden, g)
	lim := 1 / math.Sqrt(float64(hidden))
	uniformInit(wx.W, lim, rng)
	uniformInit(wh.W, lim, rng)
	bias := func(name string) *Param {
		b := NewParam(prefix+name, 1, g)
		b.NoDecay = true
		return b
	}
	switch gates {
	case 3:
		return &GRU{In: in, H: hidden, Wx: wx, Wh: wh, Bx: bias(".bx"), Bh: bias(".bh")}, nil
	case 4:
		c := &LSTM{In: in, H: hidden, Wx: wx, Wh: wh, B: bias(".b")}
		for j := hidden; j < 2*hidden; j++ {
			c.B.W[j] = 1
		}
		return c, nil
	}
	return &RNN{In: in, H: hidden, Wx: wx, Wh: wh, B: bias(".b")}, nil
}

func checkStep(c Cell, x, state *Mat) {
	if x.Cols != c.InputSize() || state != nil && (state.Cols != c.StateSize() || x.Rows != state.Rows) {
		sr, sc := -1, -1
		if state != nil {
			sr, sc = state.Rows, state.Cols
		}
		panic(fmt.Sprintf("nn: %s step: x %d×%d, state %d×%d, want ?×%d and ?×%d with equal rows",
			c.Kind(), x.Rows, x.Cols, sr, sc, c.InputSize(), c.StateSize()))
	}
}

// minParallelWork is the number of element operations below which an
// element-wise kernel runs on the calling goroutine alone: handing a part
// to one of tensor's workers costs about a microsecond while it spins, more
// once it has parked.
const minParallelWork = 1 << 13

// rowChunk is the minimum number of rows per part for a kernel doing about
// work element operations per row.
func rowChunk(work int) int { return max(1, minParallelWork/max(work, 1)) }

// stateV and stateG return the values and gradient of a state, nil for the
// zero state.
func stateV(m *Mat) []float32 {
	if m == nil {
		return nil
	}
	return m.V
}

func stateG(m *Mat) []float32 {
	if m == nil {
		return nil
	}
	return m.G
}

// GRU is the gated recurrent unit with PyTorch's equations, gates in the
// order r, z, n along the columns of Wx [In×3H], Wh [H×3H], Bx, Bh [1×3H]:
//
//	r  = σ(x·Wx_r + bx_r + h·Wh_r + bh_r)
//	z  = σ(x·Wx_z + bx_z + h·Wh_z + bh_z)
//	n  = tanh(x·Wx_n + bx_n + r ⊙ (h·Wh_n + bh_n))
//	h' = (1-z) ⊙ n + z ⊙ h
type GRU struct {
	In, H  int
	Wx, Wh *Param
	Bx, Bh *Param
}

func (c *GRU) Kind() string     { return "gru" }
func (c *GRU) InputSize() int   { return c.In }
func (c *GRU) HiddenSize() int  { return c.H }
func (c *GRU) StateSize() int   { return c.H }
func (c *GRU) Params() []*Param { return []*Param{c.Wx, c.Wh, c.Bx, c.Bh} }

// Output returns state itself.
func (c *GRU) Output(t *Tape, state *Mat) *Mat { return state }

// Step implements Cell with one Gemm for the three input gates and one for
// the three hidden gates (none from the zero state, whose hidden gates are
// bh), into the tape's scratch, then the gates row by row (gruStep), split
// across threads for a large batch.
func (c *GRU) Step(t *Tape, x, h *Mat) *Mat {
	checkStep(c, x, h)
	b, H, g := x.Rows, c.H, 3*c.H
	// saved holds per row r z n hn [4H], hn = h·Wh_n + bh_n; an inference
	// pass keeps it in the scratch after gx and gh.
	var tmp, saved []float32
	if t.Train {
		tmp = t.Scratch(2 * b * g)
		saved = t.Floats(b * 4 * H)
	} else {
		tmp = t.Scratch(2*b*g + b*4*H)
		saved = tmp[2*b*g:]
	}
	gx := tmp[:b*g]
	fillRows(gx, b, c.Bx.W)
	var gh []float32
	if h != nil {
		gh = tmp[b*g : 2*b*g]
		fillRows(gh, b, c.Bh.W)
	}
	if b > 0 {
		t.gemmW(false, false, b, g, c.In, 1, x.V, c.In, c.Wx.W, g, 1, gx, g)
		if h != nil {
			t.gemmW(false, false, b, g, H, 1, h.V, H, c.Wh.W, g, 1, gh, g)
		}
	}
	out := t.Mat(b, H)
	k := &t.jobs.gruStep
	*k = gruStep{H: H, gx: gx, gh: gh, bh: c.Bh.W, h: stateV(h), zero: t.zeroRow(H), out: out.V, saved: saved}
	t.parallelFor(b, rowChunk(16*H), k)
	*k = gruStep{}
	t.Record(Record{Op: c, In: [4]*Mat{x, h}, Out: out, Buf: saved})
	return out
}

// gruStep is the element-wise part of GRU.Step for rows [lo, hi): gx and gh
// [B×3H] hold x·Wx + bx and h·Wh + bh (gh nil: every row is bh), h [B×H]
// the state (nil: zero, read as the row zero), out [B×H] receives h', saved
// [B×4H] r z n hn.
type gruStep struct {
	H                               int
	gx, gh, bh, h, zero, out, saved []float32
}

func (k *gruStep) Run(lo, hi int) {
	H, g := k.H, 3*k.H
	for i := lo; i < hi; i++ {
		ax := k.gx[i*g : (i+1)*g]
		ah := k.bh[:g]
		if k.gh != nil {
			ah = k.gh[i*g : (i+1)*g]
		}
		hp := k.zero[:H]
		if k.h != nil {
			hp = k.h[i*H : (i+1)*H]
		}
		s := k.saved[i*4*H : (i+1)*4*H]
		rz, n, hn := s[:2*H], s[2*H:3*H], s[3*H:4*H]
		tensor.AddVec(rz, ax, ah) // r, z pre-activations
		tensor.SigmoidVec(rz, rz)
		copy(hn, ah[2*H:])
		tensor.MulAddVec(n, ax[2*H:], rz[:H], hn) // x·Wx_n + bx_n + r ⊙ hn
		tensor.TanhVec(n, n)
		tensor.LerpVec(k.out[i*H:(i+1)*H], rz[H:], n, hp) // (1-z) ⊙ n + z ⊙ h
	}
}

// Backward implements Op.
func (c *GRU) Backward(t *Tape, r *Record) {
	x, h, out, saved := r.In[0], r.In[1], r.Out, r.Buf
	b, H, g := x.Rows, c.H, 3*c.H
	d := t.Scratch(2 * b * g)
	dgx, dgh := d[:b*g], d[b*g:]
	k := &t.jobs.gruGrad
	*k = gruGrad{H: H, saved: saved, dout: out.G, h: stateV(h), hg: stateG(h), zero: t.zeroRow(H), dgx: dgx, dgh: dgh}
	t.parallelFor(b, rowChunk(24*H), k)
	*k = gruGrad{}
	affineBackward(t, b, c.In, g, x.V, c.In, x.G, c.In, c.Wx.W, t.Grad(c.Wx), t.Grad(c.Bx), dgx)
	if h != nil {
		affineBackward(t, b, H, g, h.V, H, h.G, H, c.Wh.W, t.Grad(c.Wh), t.Grad(c.Bh), dgh)
	} else {
		sumRows(t, t.Grad(c.Bh), dgh, b, g) // h·Wh is zero: only bh has a gradient
	}
}

// gruGrad is the element-wise part of GRU.Backward for rows [lo, hi): from
// saved and the gradient dout of h', the gradients dgx and dgh [B×3H] of the
// input and hidden gate pre-activations, and h's own share into hg.
type gruGrad struct {
	H                                  int
	saved, dout, h, hg, zero, dgx, dgh []float32
}

func (k *gruGrad) Run(lo, hi int) {
	H, g := k.H, 3*k.H
	for i := lo; i < hi; i++ {
		hp := k.zero[:H]
		if k.h != nil {
			hp = k.h[i*H : (i+1)*H]
		}
		var hg []float32
		if k.hg != nil {
			hg = k.hg[i*H : (i+1)*H]
		}
		tensor.GRUGradVec(k.dgx[i*g:(i+1)*g], k.dgh[i*g:(i+1)*g], hg, k.saved[i*4*H:(i+1)*4*H], hp, k.dout[i*H:(i+1)*H])
	}
}

// LSTM is the long short-term memory cell with PyTorch's equations, gates in
// the order i, f, g, o along the columns of Wx [In×4H], Wh [H×4H], B [1×4H]
// (one bias; the forget part starts at 1):
//
//	i, f, o = σ(x·Wx + h·Wh + b) parts;  g = tanh(…)
//	c' = f ⊙ c + i ⊙ g,  h' = o ⊙ tanh(c')
//
// Its state is [h c] [B×2H].
type LSTM struct {
	In, H  int
	Wx, Wh *Param
	B      *Param
}

func (c *LSTM) Kind() string     { return "lstm" }
func (c *LSTM) InputSize() int   { return c.In }
func (c *LSTM) HiddenSize() int  { return c.H }
func (c *LSTM) StateSize() int   { return 2 * c.H }
func (c *LSTM) Params() []*Param { return []*Param{c.Wx, c.Wh, c.B} }

// Output returns columns 0..H (h) of state, recorded on the tape.
func (c *LSTM) Output(t *Tape, state *Mat) *Mat { return SliceCols(t, state, 0, c.H) }

// Step implements Cell with one Gemm for the input and one for the hidden
// contribution to all four gates (none from the zero state), into the
// tape's scratch, then the gates row by row (lstmStep), split across threads
// for a large batch.
func (c *LSTM) Step(t *Tape, x, state *Mat) *Mat {
	checkStep(c, x, state)
	b, H, g := x.Rows, c.H, 4*c.H
	// saved holds per row i f g o tanh(c') [5H]; an inference pass keeps it
	// in the scratch after the pre-activations.
	var pre, saved []float32
	if t.Train {
		pre = t.Scratch(b * g)
		saved = t.Floats(b * 5 * H)
	} else {
		tmp := t.Scratch(b*g + b*5*H)
		pre, saved = tmp[:b*g], tmp[b*g:]
	}
	fillRows(pre, b, c.B.W)
	if b > 0 {
		t.gemmW(false, false, b, g, c.In, 1, x.V, c.In, c.Wx.W, g, 1, pre, g)
		if state != nil {
			t.gemmW(false, false, b, g, H, 1, state.V, 2*H, c.Wh.W, g, 1, pre, g)
		}
	}
	out := t.Mat(b, 2*H)
	k := &t.jobs.lstmStep
	*k = lstmStep{H: H, pre: pre, state: stateV(state), zero: t.zeroRow(H), out: out.V, saved: saved}
	t.parallelFor(b, rowChunk(16*H), k)
	*k = lstmStep{}
	t.Record(Record{Op: c, In: [4]*Mat{x, state}, Out: out, Buf: saved})
	return out
}

// lstmStep is the element-wise part of LSTM.Step for rows [lo, hi): pre
// [B×4H] holds the gate pre-activations, state [B×2H] the state (nil: zero),
// out [B×2H] receives [h' c'], saved [B×5H] i f g o tanh(c').
type lstmStep struct {
	H                            int
	pre, state, zero, out, saved []float32
}

func (k *lstmStep) Run(lo, hi int) {
	H, g := k.H, 4*k.H
	for i := lo; i < hi; i++ {
		p := k.pre[i*g : (i+1)*g]
		s := k.saved[i*5*H : (i+1)*5*H]
		tensor.SigmoidVec(s[:2*H], p[:2*H])
		tensor.TanhVec(s[2*H:3*H], p[2*H:3*H])
		tensor.SigmoidVec(s[3*H:4*H], p[3*H:])
		cp := k.zero[:H]
		if k.state != nil {
			cp = k.state[i*2*H+H : (i+1)*2*H]
		}
		ho, co := k.out[i*2*H:i*2*H+H], k.out[i*2*H+H:(i+1)*2*H]
		for j := range co {
			co[j] = s[H+j]*cp[j] + s[j]*s[2*H+j]
		}
		tc := s[4*H : 5*H]
		tensor.TanhVec(tc, co)
		og := s[3*H : 4*H]
		for j := range ho {
			ho[j] = og[j] * tc[j]
		}
	}
}

// Backward implements Op.
func (c *LSTM) Backward(t *Tape, r *Record) {
	x, st, out, saved := r.In[0], r.In[1], r.Out, r.Buf
	b, H, g := x.Rows, c.H, 4*c.H
	dg := t.Scratch(b * g)
	k := &t.jobs.lstmGrad
	*k = lstmGrad{H: H, saved: saved, dout: out.G, state: stateV(st), sg: stateG(st), zero: t.zeroRow(H), dg: dg}
	t.parallelFor(b, rowChunk(24*H), k)
	*k = lstmGrad{}
	affineBackward(t, b, c.In, g, x.V, c.In, x.G, c.In, c.Wx.W, t.Grad(c.Wx), t.Grad(c.B), dg)
	if st != nil {
		affineBackward(t, b, H, g, st.V, 2*H, st.G, 2*H, c.Wh.W, t.Grad(c.Wh), nil, dg)
	}
}

// lstmGrad is the element-wise part of LSTM.Backward for rows [lo, hi): from
// saved and the gradient dout [B×2H] of [h' c'], the gradient dg [B×4H] of
// the gate pre-activations, and c's share into the c part of sg.
type lstmGrad struct {
	H                                int
	saved, dout, state, sg, zero, dg []float32
}

func (k *lstmGrad) Run(lo, hi int) {
	H, g := k.H, 4*k.H
	for i := lo; i < hi; i++ {
		s := k.saved[i*5*H : (i+1)*5*H]
		d := k.dg[i*g : (i+1)*g]
		dho, dco := k.dout[i*2*H:i*2*H+H], k.dout[i*2*H+H:(i+1)*2*H]
		cp := k.zero[:H]
		if k.state != nil {
			cp = k.state[i*2*H+H : (i+1)*2*H]
		}
		var dcp []float32
		if k.sg != nil {
			dcp = k.sg[i*2*H+H : (i+1)*2*H]
		}
		for j := 0; j < H; j++ {
			ig, fg, gg, og, tc := s[j], s[H+j], s[2*H+j], s[3*H+j], s[4*H+j]
			dc := dco[j] + dho[j]*og*(1-tc*tc)
			d[j] = dc * gg * ig * (1 - ig)
			d[H+j] = dc * cp[j] * fg * (1 - fg)
			d[2*H+j] = dc * ig * (1 - gg*gg)
			d[3*H+j] = dho[j] * tc * og * (1 - og)
			if dcp != nil {
				dcp[j] += dc * fg
			}
		}
	}
}

// RNN is the plain tanh recurrent cell h' = tanh(x·Wx + h·Wh + b) with
// Wx [In×H], Wh [H×H], b [1×H].
type RNN struct {
	In, H  int
	Wx, Wh *Param
	B      *Param
}

func (c *RNN) Kind() string     { return "rnn" }
func (c *RNN) InputSize() int   { return c.In }
func (c *RNN) HiddenSize() int  { return c.H }
func (c *RNN) StateSize() int   { return c.H }
func (c *RNN) Params() []*Param { return []*Param{c.Wx, c.Wh, c.B} }

// Output returns state itself.
func (c *RNN) Output(t *Tape, state *Mat) *Mat { return state }

// Step implements Cell.
func (c *RNN) Step(t *Tape, x, h *Mat) *Mat {
	checkStep(c, x, h)
	b, H := x.Rows, c.H
	out := t.Mat(b, H)
	fillRows(out.V, b, c.B.W)
	if b > 0 {
		t.gemmW(false, false, b, H, c.In, 1, x.V, c.In, c.Wx.W, H, 1, out.V, H)
		if h != nil {
			t.gemmW(false, false, b, H, H, 1, h.V, H, c.Wh.W, H, 1, out.V, H)
		}
	}
	tensor.TanhVec(out.V, out.V)
	t.Record(Record{Op: c, In: [4]*Mat{x, h}, Out: out})
	return out
}

// Backward implements Op.
func (c *RNN) Backward(t *Tape, r *Record) {
	x, h, out := r.In[0], r.In[1], r.Out
	dz := t.Scratch(len(out.G))
	Tanh.grad(dz, out.G, out.V)
	affineBackward(t, x.Rows, c.In, c.H, x.V, c.In, x.G, c.In, c.Wx.W, t.Grad(c.Wx), t.Grad(c.B), dz)
	if h != nil {
		affineBackward(t, x.Rows, c.H, c.H, h.V, c.H, h.G, c.H, c.Wh.W, t.Grad(c.Wh), nil, dz)
	}
}
