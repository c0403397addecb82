package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/dcrnn/dcrnn/internal/tensor"
)

// Cell is one step of a recurrent network whose weights are shared over the
// steps: the caller unrolls it, state := t.ZeroMat(B, c.StateSize()), then
// state = c.Step(t, x_l, state) for l = 1..L, and backpropagation through
// time happens through the tape.
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
	// Step returns the next state from input x [B×In] and state [B×StateSize].
	Step(t *Tape, x, state *Mat) *Mat
	// Output returns h [B×Hidden] of a state.
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
	if x.Cols != c.InputSize() || state.Cols != c.StateSize() || x.Rows != state.Rows {
		panic(fmt.Sprintf("nn: %s step: x %d×%d, state %d×%d, want ?×%d and ?×%d with equal rows",
			c.Kind(), x.Rows, x.Cols, state.Rows, state.Cols, c.InputSize(), c.StateSize()))
	}
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
// the three hidden gates.
func (c *GRU) Step(t *Tape, x, h *Mat) *Mat {
	checkStep(c, x, h)
	b, H, g := x.Rows, c.H, 3*c.H
	gx, gh := t.Floats(b*g), t.Floats(b*g)
	fillRows(gx, b, c.Bx.W)
	fillRows(gh, b, c.Bh.W)
	if b > 0 {
		tensor.Gemm(false, false, b, g, c.In, 1, x.V, c.In, c.Wx.W, g, 1, gx, g)
		tensor.Gemm(false, false, b, g, H, 1, h.V, H, c.Wh.W, g, 1, gh, g)
	}
	out := t.Mat(b, H)
	// saved holds, gate-major so each activation runs over one contiguous
	// run: r z [b×2H] (row i at 2H·i), then n [b×H], then hn = h·Wh_n + bh_n
	// [b×H].
	saved := t.Floats(b * 4 * H)
	rz, nv, hnv := saved[:2*b*H], saved[2*b*H:3*b*H], saved[3*b*H:]
	for i := 0; i < b; i++ {
		ax, ah := gx[i*g:(i+1)*g], gh[i*g:(i+1)*g]
		p := rz[i*2*H : (i+1)*2*H]
		for j := range p {
			p[j] = ax[j] + ah[j]
		}
		copy(hnv[i*H:(i+1)*H], ah[2*H:])
	}
	tensor.SigmoidVec(rz, rz)
	for i := 0; i < b; i++ {
		ax, r := gx[i*g+2*H:(i+1)*g], rz[i*2*H:i*2*H+H]
		hn, n := hnv[i*H:(i+1)*H], nv[i*H:(i+1)*H]
		for j := range n {
			n[j] = ax[j] + r[j]*hn[j]
		}
	}
	tensor.TanhVec(nv, nv)
	for i := 0; i < b; i++ {
		z, n := rz[i*2*H+H:(i+1)*2*H], nv[i*H:(i+1)*H]
		hp, ho := h.V[i*H:(i+1)*H], out.V[i*H:(i+1)*H]
		for j := range ho {
			ho[j] = (1-z[j])*n[j] + z[j]*hp[j]
		}
	}
	t.Record(Record{Op: c, In: [4]*Mat{x, h}, Out: out, Buf: saved})
	return out
}

// Backward implements Op.
func (c *GRU) Backward(t *Tape, r *Record) {
	x, h, out, saved := r.In[0], r.In[1], r.Out, r.Buf
	b, H, g := x.Rows, c.H, 3*c.H
	dgx, dgh := t.Floats(b*g), t.Floats(b*g)
	for i := 0; i < b; i++ {
		rz := saved[i*2*H : (i+1)*2*H]
		nv, hnv := saved[(2*b+i)*H:(2*b+i+1)*H], saved[(3*b+i)*H:(3*b+i+1)*H]
		dx, dh := dgx[i*g:(i+1)*g], dgh[i*g:(i+1)*g]
		do := out.G[i*H : (i+1)*H]
		hp := h.V[i*H : (i+1)*H]
		var hg []float32
		if h.G != nil {
			hg = h.G[i*H : (i+1)*H]
		}
		for j := 0; j < H; j++ {
			rr, z, n, hn := rz[j], rz[H+j], nv[j], hnv[j]
			d := do[j]
			dn := d * (1 - z) * (1 - n*n)
			dz := d * (hp[j] - n) * z * (1 - z)
			dr := dn * hn * rr * (1 - rr)
			dx[j], dx[H+j], dx[2*H+j] = dr, dz, dn
			dh[j], dh[H+j], dh[2*H+j] = dr, dz, dn*rr
			if hg != nil {
				hg[j] += d * z
			}
		}
	}
	affineBackward(b, c.In, g, x.V, c.In, x.G, c.In, c.Wx.W, c.Wx.G, c.Bx.G, dgx)
	affineBackward(b, H, g, h.V, H, h.G, H, c.Wh.W, c.Wh.G, c.Bh.G, dgh)
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
// contribution to all four gates.
func (c *LSTM) Step(t *Tape, x, state *Mat) *Mat {
	checkStep(c, x, state)
	b, H, g := x.Rows, c.H, 4*c.H
	pre := t.Floats(b * g)
	fillRows(pre, b, c.B.W)
	if b > 0 {
		tensor.Gemm(false, false, b, g, c.In, 1, x.V, c.In, c.Wx.W, g, 1, pre, g)
		tensor.Gemm(false, false, b, g, H, 1, state.V, 2*H, c.Wh.W, g, 1, pre, g)
	}
	out := t.Mat(b, 2*H)
	saved := t.Floats(b * 5 * H) // per row: i f g o tanh(c')
	for i := 0; i < b; i++ {
		p := pre[i*g : (i+1)*g]
		s := saved[i*5*H : (i+1)*5*H]
		tensor.SigmoidVec(s[:2*H], p[:2*H])
		tensor.TanhVec(s[2*H:3*H], p[2*H:3*H])
		tensor.SigmoidVec(s[3*H:4*H], p[3*H:])
		cp := state.V[i*2*H+H : (i+1)*2*H]
		ho, co := out.V[i*2*H:i*2*H+H], out.V[i*2*H+H:(i+1)*2*H]
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
	t.Record(Record{Op: c, In: [4]*Mat{x, state}, Out: out, Buf: saved})
	return out
}

// Backward implements Op.
func (c *LSTM) Backward(t *Tape, r *Record) {
	x, st, out, saved := r.In[0], r.In[1], r.Out, r.Buf
	b, H, g := x.Rows, c.H, 4*c.H
	dg := t.Floats(b * g)
	for i := 0; i < b; i++ {
		s := saved[i*5*H : (i+1)*5*H]
		d := dg[i*g : (i+1)*g]
		dho, dco := out.G[i*2*H:i*2*H+H], out.G[i*2*H+H:(i+1)*2*H]
		cp := st.V[i*2*H+H : (i+1)*2*H]
		var dcp []float32
		if st.G != nil {
			dcp = st.G[i*2*H+H : (i+1)*2*H]
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
	affineBackward(b, c.In, g, x.V, c.In, x.G, c.In, c.Wx.W, c.Wx.G, c.B.G, dg)
	affineBackward(b, H, g, st.V, 2*H, st.G, 2*H, c.Wh.W, c.Wh.G, nil, dg)
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
		tensor.Gemm(false, false, b, H, c.In, 1, x.V, c.In, c.Wx.W, H, 1, out.V, H)
		tensor.Gemm(false, false, b, H, H, 1, h.V, H, c.Wh.W, H, 1, out.V, H)
	}
	tensor.TanhVec(out.V, out.V)
	t.Record(Record{Op: c, In: [4]*Mat{x, h}, Out: out})
	return out
}

// Backward implements Op.
func (c *RNN) Backward(t *Tape, r *Record) {
	x, h, out := r.In[0], r.In[1], r.Out
	dz := t.Floats(len(out.G))
	Tanh.grad(dz, out.G, out.V)
	affineBackward(x.Rows, c.In, c.H, x.V, c.In, x.G, c.In, c.Wx.W, c.Wx.G, c.B.G, dz)
	affineBackward(x.Rows, c.H, c.H, h.V, c.H, h.G, c.H, c.Wh.W, c.Wh.G, nil, dz)
}
