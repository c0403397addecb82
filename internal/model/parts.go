package model

import (
	"fmt"
	"math/rand/v2"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/nn"
)

// tower is a task tower: hidden ReLU layers (none when sizes is empty) and a
// linear output giving one logit. Its last hidden layer is exposed so that
// models can pass information between towers.
type tower struct {
	body *nn.MLP // nil when the tower has no hidden layer
	out  *nn.Linear
}

func newTower(prefix string, in int, sizes []int, dropout float64, rng *rand.Rand) (*tower, error) {
	body, err := mlpOrNil(prefix, in, sizes, dropout, rng)
	if err != nil {
		return nil, err
	}
	return &tower{body: body, out: nn.NewLinear(prefix+".out", mlpOut(body, in), 1, nn.Identity, rng)}, nil
}

// width is the size of the last hidden layer (the input width without one).
func (tw *tower) width() int { return tw.out.In }

// hidden runs the hidden layers (with dropout after the last one).
func (tw *tower) hidden(t *nn.Tape, x *nn.Mat) *nn.Mat { return runMLP(t, tw.body, x) }

func (tw *tower) logit(t *nn.Tape, h *nn.Mat) *nn.Mat { return tw.out.Forward(t, h) }

func (tw *tower) params() []*nn.Param { return append(mlpParams(tw.body), tw.out.Params()...) }

// mlpOrNil builds an MLP with ReLU on every layer from in through sizes, or
// returns nil when sizes is empty (the identity).
func mlpOrNil(prefix string, in int, sizes []int, dropout float64, rng *rand.Rand) (*nn.MLP, error) {
	if len(sizes) == 0 {
		return nil, nil
	}
	m, err := nn.NewMLP(prefix, append([]int{in}, sizes...), nn.ReLU, nn.ReLU, float32(dropout), rng)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	return m, nil
}

// runMLP runs m with dropout after its last layer too, or returns x when m is nil.
func runMLP(t *nn.Tape, m *nn.MLP, x *nn.Mat) *nn.Mat {
	if m == nil {
		return x
	}
	return nn.Dropout(t, m.Forward(t, x), m.Dropout)
}

func mlpParams(m *nn.MLP) []*nn.Param {
	if m == nil {
		return nil
	}
	return m.Params()
}

func mlpOut(m *nn.MLP, in int) int {
	if m == nil {
		return in
	}
	return m.Out()
}

// predecessor returns the task whose tower feeds task ti through the
// transfer gate: the funnel's earlier step when ti is declared after one,
// otherwise the previous task in schema order, or -1 for the first task.
func predecessor(spec Spec, ti int) int {
	if a := spec.Tasks[ti].After; a >= 0 {
		return a
	}
	return ti - 1
}

// x0Readers lists the layers that read x0 in a model where nothing else
// does: the first layer of each of mlps and lins (nil entries of lins
// skipped). It returns nil when one of mlps is nil (x0 itself is then read
// on, by a tower or a concatenation), so that embed writes every column.
func x0Readers(mlps []*nn.MLP, lins ...*nn.Linear) []*nn.Linear {
	var rs []*nn.Linear
	for _, m := range mlps {
		if m == nil {
			return nil
		}
		rs = append(rs, m.Layers[0])
	}
	for _, l := range lins {
		if l != nil {
			rs = append(rs, l)
		}
	}
	return rs
}

// embed returns x0 of batch b: with readers (from x0Readers), written only
// where those layers still read it on a folded inference pass
// (Embeddings.ForwardFor); without, in full.
func embed(t *nn.Tape, emb *nn.Embeddings, b *feature.Batch, readers []*nn.Linear) *nn.Mat {
	if readers == nil {
		return emb.Forward(t, b)
	}
	return emb.ForwardFor(t, b, readers...)
}
