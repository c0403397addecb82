package nn

import (
	"fmt"
	"math/rand/v2"
	"strconv"
)

// MLP is a stack of Linear layers: every layer but the last applies Hidden
// (and then dropout at rate Dropout on a training tape); the last applies
// Last (Identity by default, for logits).
type MLP struct {
	Layers  []*Linear
	Dropout float32
}

// NewMLP builds an MLP with layer widths sizes = [in, h1, …, out] (at least
// two entries, all > 0); layer k is named prefix+"."+k. dropout is the rate in
// [0, 1) applied after each hidden layer (0: none).
func NewMLP(prefix string, sizes []int, hidden, last Activation, dropout float32, rng *rand.Rand) (*MLP, error) {
	if len(sizes) < 2 {
		return nil, fmt.Errorf("nn: mlp %s: %d sizes, want at least input and output", prefix, len(sizes))
	}
	for i, s := range sizes {
		if s <= 0 {
			return nil, fmt.Errorf("nn: mlp %s: size %d at position %d, want > 0", prefix, s, i)
		}
	}
	if dropout < 0 || dropout >= 1 {
		return nil, fmt.Errorf("nn: mlp %s: dropout %v outside [0, 1)", prefix, dropout)
	}
	m := &MLP{Dropout: dropout}
	for k := 0; k+1 < len(sizes); k++ {
		act := hidden
		if k+2 == len(sizes) {
			act = last
		}
		m.Layers = append(m.Layers, NewLinear(prefix+"."+strconv.Itoa(k), sizes[k], sizes[k+1], act, rng))
	}
	return m, nil
}

// In returns the input width, Out the output width.
func (m *MLP) In() int  { return m.Layers[0].In }
func (m *MLP) Out() int { return m.Layers[len(m.Layers)-1].Out }

// Params implements Module, layer by layer (W then b).
func (m *MLP) Params() []*Param {
	ps := make([]*Param, 0, 2*len(m.Layers))
	for _, l := range m.Layers {
		ps = append(ps, l.Params()...)
	}
	return ps
}

// Forward runs x [B×In] through the stack and returns [B×Out], with dropout
// after every layer but the last.
func (m *MLP) Forward(t *Tape, x *Mat) *Mat {
	for k, l := range m.Layers {
		x = l.Forward(t, x)
		if k+1 < len(m.Layers) {
			x = Dropout(t, x, m.Dropout)
		}
	}
	return x
}
