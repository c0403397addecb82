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

// Forward computes y = act(x·W + b); x must be [B×In].
func (l *Linear) Forward(t *Tape, x *Mat) *Mat {
	if x.Cols != l.In {
		panic("nn: Linear input width mismatch")
	}
	y := t.Mat(x.Rows, l.Out)
	tensor.SetRowVector(y.V, x.Rows, l.Out, l.B.W)
	tensor.Gemm(false, false, x.Rows, l.Out, l.In, 1, x.V, l.In, l.W.W, l.Out, 1, y.V, l.Out)
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
	tensor.Gemm(true, false, l.In, l.Out, b, 1, x.V, l.In, dz, l.Out, 1, l.W.G, l.Out)
	tensor.SumRows(l.B.G, dz, b, l.Out)
	if x.G != nil {
		tensor.Gemm(false, true, b, l.In, l.Out, 1, dz, l.Out, l.W.W, l.Out, 1, x.G, l.In)
	}
}
