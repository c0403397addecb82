package optim

import (
	"math/rand/v2"
	"testing"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/nn"
	"github.com/dcrnn/dcrnn/internal/nn/nntest"
)

// TestAddCountL2Values checks the gradient and value on hand numbers: rows
// 1 (n = 4) and 3 (n = 1) touched, λ = 0.5.
func TestAddCountL2Values(t *testing.T) {
	e := nn.NewSparseParam("e", 4, 2)
	copy(e.W, []float32{9, 9, 1, 2, 9, 9, 3, -4})
	touch(e, 3, 0.5, 0.25)
	touch(e, 1, 0, 0)
	scale := [][]float32{CountScales([]int64{100, 4, 0, 1})}
	pen := AddCountL2([]*nn.SparseParam{e}, scale, 0.5)
	// Row 3: g += 0.5·1·w = [1.5, -2]; row 1: g = 0.5·(1/4)·w = [0.125, 0.25].
	near(t, "row 3 g0", e.G[0], 0.5+1.5, 1e-7)
	near(t, "row 3 g1", e.G[1], 0.25-2, 1e-7)
	near(t, "row 1 g0", e.G[2], 0.125, 1e-7)
	near(t, "row 1 g1", e.G[3], 0.25, 1e-7)
	// Value: 0.25·1·(9+16) + 0.25·(1/4)·(1+4) = 6.25 + 0.3125.
	near(t, "penalty", float32(pen), 6.5625, 1e-6)
	if len(e.G) != 4 {
		t.Errorf("touched other rows: G = %v", e.G)
	}
	if s := CountScales([]int64{0, 1, 8}); s[0] != 1 || s[1] != 1 || s[2] != 0.125 {
		t.Errorf("CountScales = %v, want [1 1 0.125]", s)
	}
}

// TestAddCountL2GradCheck checks the penalty's gradient against finite
// differences of its value, alone and added to a loss through the
// embedding layer (the training loop's use: the rows a batch touches).
func TestAddCountL2GradCheck(t *testing.T) {
	fields := []feature.FieldSpec{{Name: "u", Kind: feature.Categorical, Vocab: 6}, {Name: "tags", Kind: feature.MultiCategorical, Vocab: 5}}
	emb, err := nn.NewEmbeddings("emb", fields, 3, rand.New(rand.NewPCG(5, 5)))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(6, 6))
	for _, tab := range emb.Tables {
		for i := range tab.W {
			tab.W[i] = float32(rng.Float64()*2 - 1)
		}
	}
	b := &feature.Batch{N: 4, Fields: []feature.FieldData{
		{IDs: []int32{1, 0, 4, 1}},
		{IDs: []int32{2, 3, 0, 4, 4, 1}, Offsets: []int32{0, 2, 2, 3, 6}},
	}, Labels: [][]float32{{0, 0, 0, 0}}}
	tables := emb.SparseParams()
	scale := [][]float32{CountScales([]int64{50, 2, 9, 9, 1, 7}), CountScales([]int64{30, 1, 4, 2, 3})}
	const lambda = 2
	touchBatch := func() { // the rows the embedding's backward pass touches
		for f, tab := range tables {
			ids := b.Fields[f].IDs
			for _, id := range ids {
				tab.GradRow(id)
			}
		}
	}
	t.Run("penalty", func(t *testing.T) {
		nntest.Check(t, func(tp *nn.Tape) float64 {
			touchBatch()
			return AddCountL2(tables, scale, lambda)
		}, nil, nil, tables, nntest.Options{MaxPerArg: 100})
	})
	t.Run("loss+penalty", func(t *testing.T) {
		nntest.Check(t, func(tp *nn.Tape) float64 {
			x := emb.Forward(tp, b)
			l := nntest.Projected(x, 9)
			touchBatch()
			return l + AddCountL2(tables, scale, lambda)
		}, nil, nil, tables, nntest.Options{MaxPerArg: 100})
	})
}
