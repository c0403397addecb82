package nn

import (
	"fmt"

	"github.com/dcrnn/dcrnn/internal/tensor"
)

// Activation is an element-wise function whose derivative can be computed
// from its output alone, so layers can fuse it and keep only the output.
type Activation int

const (
	Identity Activation = iota
	ReLU
	Tanh
	Sigmoid
)

// ParseActivation maps "relu", "tanh", "sigmoid", "identity"/"linear"/"" to an Activation.
func ParseActivation(s string) (Activation, error) {
	switch s {
	case "relu":
		return ReLU, nil
	case "tanh":
		return Tanh, nil
	case "sigmoid":
		return Sigmoid, nil
	case "identity", "linear", "none", "":
		return Identity, nil
	}
	return Identity, fmt.Errorf("nn: unknown activation %q (want relu, tanh, sigmoid or identity)", s)
}

func (a Activation) String() string {
	return [...]string{"identity", "relu", "tanh", "sigmoid"}[a]
}

// Sigmoid32 is the logistic function 1/(1+e^-x), with a relative error
// below 4e-7 for every float32 x (NaN gives NaN). Arguments beyond ±87 are
// clamped, where σ is 0 or 1 to float32 precision anyway. It is the scalar
// form of tensor.SigmoidVec, which the layers use.
func Sigmoid32(x float32) float32 { return tensor.Sigmoid32(x) }

// apply computes v = a(v) in place.
func (a Activation) apply(v []float32) {
	switch a {
	case ReLU:
		tensor.ReLU(v, v)
	case Tanh:
		tensor.TanhVec(v, v)
	case Sigmoid:
		tensor.SigmoidVec(v, v)
	}
}

// grad turns the output gradient g into the pre-activation gradient dst,
// given the activation output y: dst = g ⊙ a'(y). dst may alias g.
func (a Activation) grad(dst, g, y []float32) {
	switch a {
	case Identity:
		if &dst[0] != &g[0] {
			copy(dst, g)
		}
	case ReLU:
		tensor.ReLUBackward(dst, g, y)
	case Tanh:
		for i, yi := range y {
			dst[i] = g[i] * (1 - yi*yi)
		}
	case Sigmoid:
		for i, yi := range y {
			dst[i] = g[i] * yi * (1 - yi)
		}
	}
}

// Apply returns a(x) as a new tape matrix.
func (a Activation) Apply(t *Tape, x *Mat) *Mat {
	y := t.Mat(x.Rows, x.Cols)
	copy(y.V, x.V)
	a.apply(y.V)
	t.Record(Record{Op: a, In: [4]*Mat{x}, Out: y})
	return y
}

// Backward implements Op.
func (a Activation) Backward(t *Tape, r *Record) {
	x, y := r.In[0], r.Out
	for i, yi := range y.V {
		g := y.G[i]
		switch a {
		case ReLU:
			if yi <= 0 {
				g = 0
			}
		case Tanh:
			g *= 1 - yi*yi
		case Sigmoid:
			g *= yi * (1 - yi)
		}
		x.G[i] += g
	}
}
