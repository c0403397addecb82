package nn_test

import (
	"math/rand/v2"
	"testing"

	"github.com/dcrnn/dcrnn/internal/nn"
	"github.com/dcrnn/dcrnn/internal/nn/nntest"
)

func randMat(rng *rand.Rand, rows, cols int) *nn.Mat {
	m := nn.NewMat(rows, cols)
	for i := range m.V {
		m.V[i] = float32(rng.Float64()*2 - 1)
	}
	return m
}

func TestLinearGrad(t *testing.T) {
	for _, act := range []nn.Activation{nn.Identity, nn.ReLU, nn.Tanh, nn.Sigmoid} {
		t.Run(act.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			l := nn.NewLinear("l", 5, 4, act, rng)
			for i := range l.B.W {
				l.B.W[i] = float32(rng.Float64() - 0.5)
			}
			x := randMat(rng, 3, 5)
			nntest.Check(t, func(tp *nn.Tape) float64 {
				return nntest.Projected(l.Forward(tp, x), 3)
			}, []*nn.Mat{x}, l.Params(), nil, nntest.Options{})
		})
	}
}

func TestOpsGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	a, b, c := randMat(rng, 3, 4), randMat(rng, 3, 4), randMat(rng, 3, 2)
	nntest.Check(t, func(tp *nn.Tape) float64 {
		s := nn.Add(tp, a, nn.Mul(tp, a, b))
		s = nn.Scale(tp, s, 0.7)
		cat := nn.Concat(tp, s, c, nn.Tanh.Apply(tp, a))
		return nntest.Projected(nn.SliceCols(tp, nn.Sigmoid.Apply(tp, cat), 1, 9), 5)
	}, []*nn.Mat{a, b, c}, nil, nil, nntest.Options{})
}

func TestLossGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	za, zb := randMat(rng, 6, 1), randMat(rng, 6, 1)
	for i := range za.V {
		za.V[i] *= 4
		zb.V[i] *= 4
	}
	y := []float32{1, 0, 1, 0, 0, 1}
	w := []float32{1, 2, 0, 1, 0.5, 1}
	nntest.Check(t, func(tp *nn.Tape) float64 {
		return nn.BCEWithLogits(za, y, w, 1) + nn.FunnelBCE(za, zb, y, nil, 0.5)*0.5
	}, []*nn.Mat{za, zb}, nil, nil, nntest.Options{})
}

// TestBCEValue checks the loss against the textbook formula.
func TestBCEValue(t *testing.T) {
	z := nn.NewMat(2, 1)
	z.V[0], z.V[1] = 0, 2
	got := nn.BCEWithLogits(z, []float32{1, 0}, nil, 1)
	// -(log 0.5) and -log(1-σ(2)) = log(1+e^2)
	want := (0.6931471805599453 + 2.1269280110429727) / 2
	if d := got - want; d > 1e-9 || d < -1e-9 {
		t.Fatalf("BCE = %v, want %v", got, want)
	}
}

// TestGradCheckCatchesBug makes sure the harness can fail: a layer whose
// backward is deliberately wrong must be reported.
func TestGradCheckCatchesBug(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	l := nn.NewLinear("l", 3, 2, nn.Identity, rng)
	x := randMat(rng, 2, 3)
	ft := &fakeTB{}
	nntest.Check(ft, func(tp *nn.Tape) float64 {
		y := l.Forward(tp, x)
		s := nntest.Projected(y, 1)
		if y.G != nil {
			y.G[0] *= 2 // wrong gradient
		}
		return s
	}, []*nn.Mat{x}, l.Params(), nil, nntest.Options{})
	if !ft.failed {
		t.Fatal("gradient check did not catch a wrong gradient")
	}
}

type fakeTB struct {
	testing.TB
	failed bool
}

func (f *fakeTB) Helper()               {}
func (f *fakeTB) Errorf(string, ...any) { f.failed = true }
func (f *fakeTB) Fatalf(string, ...any) { f.failed = true }
