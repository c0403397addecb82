package optim

import (
	"math"
	"testing"

	"github.com/dcrnn/dcrnn/internal/nn"
)

// TestAdagrad checks two dense Adagrad steps against the formula by hand:
// lr 0.1, initial accumulator 0.1, ε 1e-10, w0 = 1, g = 0.5 then −0.2:
// sum1 = 0.35, w1 = 1 − 0.05/√0.35; sum2 = 0.39, w2 = w1 + 0.02/√0.39.
// With weight decay 0.5 (L2) the gradients become g + 0.5·w.
func TestAdagrad(t *testing.T) {
	for _, tc := range []struct {
		name    string
		wd      float64
		noDecay bool
		w1, w2  float64
		sum2    float64
	}{
		{"plain", 0, false, 1 - 0.05/math.Sqrt(0.35), 1 - 0.05/math.Sqrt(0.35) + 0.02/math.Sqrt(0.39), 0.39},
		{"nodecay", 0.5, true, 1 - 0.05/math.Sqrt(0.35), 1 - 0.05/math.Sqrt(0.35) + 0.02/math.Sqrt(0.39), 0.39},
		// g1 = 0.5 + 0.5 = 1: sum1 = 1.1, w1 = 1 − 0.1/√1.1 = 0.904653;
		// g2 = −0.2 + 0.5·w1 = 0.252327: sum2 = 1.163669.
		{"l2", 0.5, false, 1 - 0.1/math.Sqrt(1.1), 0.9046537410754407 - 0.1*0.25232687053772034/math.Sqrt(1.1+0.25232687053772034*0.25232687053772034), 1.1 + 0.25232687053772034*0.25232687053772034},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := param("w", tc.noDecay, 1)
			a, err := NewAdagrad([]*nn.Param{p}, AdagradConfig{LR: 0.1, InitialAccumulator: 0.1, WeightDecay: tc.wd})
			if err != nil {
				t.Fatal(err)
			}
			p.G[0] = 0.5
			a.Step()
			near(t, "w1", p.W[0], tc.w1, 1e-6)
			if p.G[0] != 0 {
				t.Errorf("gradient not zeroed: %v", p.G[0])
			}
			p.G[0] = -0.2
			a.Step()
			near(t, "w2", p.W[0], tc.w2, 1e-6)
			near(t, "sum2", a.State()[1].F32[0], tc.sum2, 1e-6)
		})
	}
}

// TestSparseAdagrad: touched rows follow the Adagrad formula with L2 on the
// row, untouched rows keep values and accumulators bit for bit.
func TestSparseAdagrad(t *testing.T) {
	p := nn.NewSparseParam("e", 3, 2)
	copy(p.W, []float32{1, 2, 3, 4, 5, 6})
	s, err := NewSparseAdagrad([]*nn.SparseParam{p}, AdagradConfig{LR: 0.1, InitialAccumulator: 0.2, L2: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	touch(p, 1, 0.5, -1)
	s.Step()
	// g = [0.5 + 0.03, −1 + 0.04]; sum = 0.2 + g²; w = [3, 4] − 0.1·g/√sum.
	g0, g1 := 0.53, -0.96
	near(t, "w[2]", p.W[2], 3-0.1*g0/math.Sqrt(0.2+g0*g0), 1e-6)
	near(t, "w[3]", p.W[3], 4-0.1*g1/math.Sqrt(0.2+g1*g1), 1e-6)
	sum := s.State()[1].F32
	near(t, "sum[2]", sum[2], 0.2+g0*g0, 1e-6)
	for _, i := range []int{0, 1, 4, 5} {
		if p.W[i] != float32(i+1) || sum[i] != 0.2 {
			t.Errorf("untouched element %d: w %v sum %v", i, p.W[i], sum[i])
		}
	}
	if len(p.Touched) != 0 {
		t.Errorf("Step left touched rows %v", p.Touched)
	}
}
