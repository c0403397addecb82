package nn_test

import (
	"math/rand/v2"
	"testing"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/nn"
	"github.com/dcrnn/dcrnn/internal/nn/nntest"
)

// randomize sets every parameter to U(-scale, scale), so that biases and
// gates are away from their special initial values during gradient checks.
func randomize(rng *rand.Rand, scale float64, ps ...*nn.Param) {
	for _, p := range ps {
		for i := range p.W {
			p.W[i] = float32((rng.Float64()*2 - 1) * scale)
		}
	}
}

// testFields is a small schema with every kind of field.
var testFields = []feature.FieldSpec{
	{Name: "user", Kind: feature.Categorical, Vocab: 5},
	{Name: "tags", Kind: feature.MultiCategorical, Vocab: 4},
	{Name: "price", Kind: feature.Numeric},
	{Name: "item", Kind: feature.Categorical, Vocab: 7},
}

// testBatch has repeated ids within and across rows, and an empty list.
func testBatch() *feature.Batch {
	return &feature.Batch{
		N: 4,
		Fields: []feature.FieldData{
			{IDs: []int32{3, 0, 3, 3}},
			{IDs: []int32{9, 1, 2, 2, 0, 1, 3, 1}, Offsets: []int32{1, 4, 4, 5, 8}}, // rows: {1,2,2} {} {0} {1,3,1}
			{Values: []float32{0.5, -1.25, 2, 0}},
			{IDs: []int32{6, 6, 1, 0}},
		},
	}
}

// gradCase is one entry of the conformance table: it builds a layer with
// tiny random shapes and returns what nntest.Check needs.
type gradCase struct {
	name  string
	build func(rng *rand.Rand) (nntest.Loss, []*nn.Mat, []*nn.Param, []*nn.SparseParam)
}

func cellCase(kind string) gradCase {
	return gradCase{"cell/" + kind, func(rng *rand.Rand) (nntest.Loss, []*nn.Mat, []*nn.Param, []*nn.SparseParam) {
		c, err := nn.NewCell(kind, "c", 4, 3, rng)
		if err != nil {
			panic(err)
		}
		randomize(rng, 0.8, c.Params()...)
		xs := []*nn.Mat{randMat(rng, 2, 4), randMat(rng, 2, 4), randMat(rng, 2, 4)}
		h0 := randMat(rng, 2, c.StateSize())
		loss := func(tp *nn.Tape) float64 {
			s, l := h0, 0.0
			for k, x := range xs {
				s = c.Step(tp, x, s)
				l += nntest.Projected(c.Output(tp, s), uint64(10+k))
			}
			return l + nntest.Projected(s, 20) // the whole final state (LSTM: c too)
		}
		return loss, append(xs, h0), c.Params(), nil
	}}
}

// cellZeroCase unrolls a cell from the zero state (Step with a nil state).
func cellZeroCase(kind string) gradCase {
	return gradCase{"cell/" + kind + "/zerostate", func(rng *rand.Rand) (nntest.Loss, []*nn.Mat, []*nn.Param, []*nn.SparseParam) {
		c, err := nn.NewCell(kind, "c", 4, 3, rng)
		if err != nil {
			panic(err)
		}
		randomize(rng, 0.8, c.Params()...)
		xs := []*nn.Mat{randMat(rng, 2, 4), randMat(rng, 2, 4)}
		loss := func(tp *nn.Tape) float64 {
			var s *nn.Mat
			l := 0.0
			for k, x := range xs {
				s = c.Step(tp, x, s)
				l += nntest.Projected(c.Output(tp, s), uint64(30+k))
			}
			return l + nntest.Projected(s, 40)
		}
		return loss, xs, c.Params(), nil
	}}
}

var gradCases = []gradCase{
	{"embeddings", func(rng *rand.Rand) (nntest.Loss, []*nn.Mat, []*nn.Param, []*nn.SparseParam) {
		e, err := nn.NewEmbeddings("emb", testFields, 3, rng)
		if err != nil {
			panic(err)
		}
		randomize(rng, 0.5, e.Params()...)
		b := testBatch()
		return func(tp *nn.Tape) float64 {
			return nntest.Projected(e.Forward(tp, b), 1)
		}, nil, e.Params(), e.SparseParams()
	}},
	{"mlp", func(rng *rand.Rand) (nntest.Loss, []*nn.Mat, []*nn.Param, []*nn.SparseParam) {
		m, err := nn.NewMLP("m", []int{5, 4, 3, 2}, nn.Tanh, nn.Sigmoid, 0, rng)
		if err != nil {
			panic(err)
		}
		randomize(rng, 0.7, m.Params()...)
		x := randMat(rng, 3, 5)
		return func(tp *nn.Tape) float64 { return nntest.Projected(m.Forward(tp, x), 2) }, []*nn.Mat{x}, m.Params(), nil
	}},
	{"mlp/relu+dropout", func(rng *rand.Rand) (nntest.Loss, []*nn.Mat, []*nn.Param, []*nn.SparseParam) {
		m, err := nn.NewMLP("m", []int{5, 6, 4, 1}, nn.ReLU, nn.Identity, 0.3, rng)
		if err != nil {
			panic(err)
		}
		randomize(rng, 0.7, m.Params()...)
		x := randMat(rng, 4, 5)
		// Every evaluation uses a tape with the same seed: a fixed mask.
		return func(tp *nn.Tape) float64 { return nntest.Projected(m.Forward(tp, x), 3) }, []*nn.Mat{x}, m.Params(), nil
	}},
	{"dropout", func(rng *rand.Rand) (nntest.Loss, []*nn.Mat, []*nn.Param, []*nn.SparseParam) {
		x := randMat(rng, 4, 6)
		return func(tp *nn.Tape) float64 { return nntest.Projected(nn.Dropout(tp, x, 0.5), 4) }, []*nn.Mat{x}, nil, nil
	}},
	cellCase("gru"),
	cellCase("lstm"),
	cellCase("rnn"),
	cellZeroCase("gru"),
	cellZeroCase("lstm"),
	cellZeroCase("rnn"),
	{"linear/forwardmul", func(rng *rand.Rand) (nntest.Loss, []*nn.Mat, []*nn.Param, []*nn.SparseParam) {
		l := nn.NewLinear("l", 4, 3, nn.Identity, rng)
		lt := nn.NewLinear("t", 4, 3, nn.Tanh, rng)
		randomize(rng, 0.8, append(l.Params(), lt.Params()...)...)
		x, v := randMat(rng, 5, 4), randMat(rng, 5, 3)
		return func(tp *nn.Tape) float64 {
			// x twice: once as the input of a product, once as the zero
			// state (nil) of the first step of a recurrence.
			y := l.ForwardMul(tp, x, v)
			return nntest.Projected(y, 9) + nntest.Projected(l.ForwardMul(tp, nil, y), 10) +
				nntest.Projected(lt.ForwardMul(tp, x, v), 11)
		}, []*nn.Mat{x, v}, append(l.Params(), lt.Params()...), nil
	}},
	{"linear/forwardcols", func(rng *rand.Rand) (nntest.Loss, []*nn.Mat, []*nn.Param, []*nn.SparseParam) {
		l := nn.NewLinear("l", 3, 2, nn.Sigmoid, rng)
		randomize(rng, 0.8, l.Params()...)
		x := randMat(rng, 4, 7)
		return func(tp *nn.Tape) float64 {
			return nntest.Projected(l.ForwardCols(tp, x, 4), 12) + nntest.Projected(l.ForwardCols(tp, x, 1), 13)
		}, []*nn.Mat{x}, l.Params(), nil
	}},
	{"softmax", func(rng *rand.Rand) (nntest.Loss, []*nn.Mat, []*nn.Param, []*nn.SparseParam) {
		x := randMat(rng, 3, 5)
		return func(tp *nn.Tape) float64 { return nntest.Projected(nn.Softmax(tp, x), 5) }, []*nn.Mat{x}, nil, nil
	}},
	{"softmaxgate+mix", func(rng *rand.Rand) (nntest.Loss, []*nn.Mat, []*nn.Param, []*nn.SparseParam) {
		const experts = 6 // more than a Record's four inputs
		g := nn.NewSoftmaxGate("g", 4, experts, rng)
		randomize(rng, 0.8, g.Params()...)
		x := randMat(rng, 3, 4)
		ins := []*nn.Mat{x}
		var ex []*nn.Mat
		for range experts {
			ex = append(ex, randMat(rng, 3, 2))
		}
		ins = append(ins, ex...)
		return func(tp *nn.Tape) float64 {
			return nntest.Projected(nn.MixExperts(tp, g.Forward(tp, x), ex), 6)
		}, ins, g.Params(), nil
	}},
	{"sigmoidgate", func(rng *rand.Rand) (nntest.Loss, []*nn.Mat, []*nn.Param, []*nn.SparseParam) {
		g := nn.NewSigmoidGate("t", 3, 2, rng)
		randomize(rng, 0.8, g.Params()...)
		a, b := randMat(rng, 4, 3), randMat(rng, 4, 2)
		return func(tp *nn.Tape) float64 { return nntest.Projected(g.Forward(tp, a, b), 7) }, []*nn.Mat{a, b}, g.Params(), nil
	}},
	{"pairattention", func(rng *rand.Rand) (nntest.Loss, []*nn.Mat, []*nn.Param, []*nn.SparseParam) {
		p := nn.NewPairAttention("a", 4, rng)
		randomize(rng, 0.9, p.Params()...)
		u, v := randMat(rng, 3, 4), randMat(rng, 3, 4)
		return func(tp *nn.Tape) float64 { return nntest.Projected(p.Forward(tp, u, v), 8) }, []*nn.Mat{u, v}, p.Params(), nil
	}},
}

// TestConformanceGrad runs the finite-difference check on every layer.
func TestConformanceGrad(t *testing.T) {
	for i, c := range gradCases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 42))
			loss, ins, ps, sp := c.build(rng)
			nntest.Check(t, loss, ins, ps, sp, nntest.Options{MaxPerArg: 60})
		})
	}
}

// TestConformanceInference: on an inference tape every layer records nothing
// and gives the same values as on a training tape (dropout aside).
func TestConformanceInference(t *testing.T) {
	for i, c := range gradCases {
		if c.name == "dropout" || c.name == "mlp/relu+dropout" {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 42))
			loss, _, _, _ := c.build(rng)
			inf := nn.NewTape(false, 1)
			li := loss(inf)
			if inf.Len() != 0 {
				t.Fatalf("inference tape recorded %d calls", inf.Len())
			}
			if lt := loss(nn.NewTape(true, 1)); lt != li {
				t.Fatalf("training loss %v, inference loss %v", lt, li)
			}
		})
	}
}
