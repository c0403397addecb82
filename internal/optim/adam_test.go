package optim

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dcrnn/dcrnn/internal/nn"
)

func near(t *testing.T, what string, got float32, want, tol float64) {
	t.Helper()
	if d := math.Abs(float64(got) - want); !(d <= tol) {
		t.Errorf("%s = %.9g, want %.9g (|diff| %.3g > %.3g)", what, got, want, d, tol)
	}
}

func param(name string, noDecay bool, w ...float32) *nn.Param {
	p := nn.NewParam(name, 1, len(w))
	copy(p.W, w)
	p.NoDecay = noDecay
	return p
}

// TestAdamTwoSteps checks two Adam steps against numbers computed by hand
// (in float64, from the formulas of torch.optim.Adam / AdamW) for
// w0 = [1, -0.5], g1 = [0.1, -0.2], g2 = [0.3, 0.05], lr 0.1, β = (0.9,
// 0.999), ε = 1e-8. Step 1: m = 0.1·g1, v = 0.001·g1², m̂/√v̂ = sign(g1), so
// w1 = w0 − 0.1·sign(g1); step 2 as in the comments.
func TestAdamTwoSteps(t *testing.T) {
	tests := []struct {
		name    string
		cfg     AdamConfig
		noDecay bool
		w1      [2]float64 // after step 1
		w       [2]float64 // after step 2
		m, v    [2]float64
	}{
		{
			// m2 = 0.9·0.01 + 0.1·0.3 = 0.039; v2 = 0.999·1e-5 + 0.001·0.09 = 9.999e-5;
			// w2 = 0.9 − 0.1/0.19·0.039/(√9.999e-5/√0.001999 + 1e-8) = 0.80822190...
			name: "plain", cfg: AdamConfig{LR: 0.1}, w1: [2]float64{0.9, -0.4},
			w: [2]float64{0.8082219022055899, -0.35305319110044686},
			m: [2]float64{0.039, -0.013}, v: [2]float64{9.999e-05, 4.246e-05},
		},
		{
			// weight decay on a NoDecay parameter changes nothing.
			name: "nodecay", cfg: AdamConfig{LR: 0.1, WeightDecay: 0.5, Decay: DecayL2}, noDecay: true, w1: [2]float64{0.9, -0.4},
			w: [2]float64{0.8082219022055899, -0.35305319110044686},
			m: [2]float64{0.039, -0.013}, v: [2]float64{9.999e-05, 4.246e-05},
		},
		{
			name: "nodecay decoupled", cfg: AdamConfig{LR: 0.1, WeightDecay: 0.5}, noDecay: true, w1: [2]float64{0.9, -0.4},
			w: [2]float64{0.8082219022055899, -0.35305319110044686},
			m: [2]float64{0.039, -0.013}, v: [2]float64{9.999e-05, 4.246e-05},
		},
		{
			// L2: g1' = g1 + 0.5·w0 = [0.6, -0.45], g2' = g2 + 0.5·w1.
			name: "l2", cfg: AdamConfig{LR: 0.1, WeightDecay: 0.5, Decay: DecayL2}, w1: [2]float64{0.9, -0.4},
			w: [2]float64{0.8000358995445791, -0.3128936096375135},
			m: [2]float64{0.1290000000833333, -0.0555000001111111}, v: [2]float64{0.0009221400012500006, 0.00022479750033333357},
		},
		{
			// AdamW: w ← w·(1 − 0.05) before each update; moments as plain.
			name: "decoupled", cfg: AdamConfig{LR: 0.1, WeightDecay: 0.5}, w1: [2]float64{0.85, -0.375},
			w: [2]float64{0.7157219017055898, -0.30930319085044683},
			m: [2]float64{0.039, -0.013}, v: [2]float64{9.999e-05, 4.246e-05},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := param("w", tc.noDecay, 1, -0.5)
			a, err := NewAdam([]*nn.Param{p}, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			copy(p.G, []float32{0.1, -0.2})
			a.Step()
			for i := range 2 {
				near(t, "w1", p.W[i], tc.w1[i], 1e-6)
			}
			if p.G[0] != 0 || p.G[1] != 0 {
				t.Fatalf("Step left gradient %v, want zeros", p.G)
			}
			copy(p.G, []float32{0.3, 0.05})
			a.Step()
			st := a.State()
			for i := range 2 {
				near(t, "w2", p.W[i], tc.w[i], 2e-6)
				near(t, "exp_avg", st[1].F32[i], tc.m[i], 1e-8)
				near(t, "exp_avg_sq", st[2].F32[i], tc.v[i], 1e-10)
			}
			if a.Steps() != 2 || st[0].I64[0] != 2 {
				t.Errorf("Steps = %d, state step %v, want 2", a.Steps(), st[0].I64)
			}
		})
	}
}

// TestAdamQuadratic checks that Adam minimizes f(w) = Σ aᵢ(wᵢ − cᵢ)² over
// two parameters with very different curvatures.
func TestAdamQuadratic(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	p1, p2 := nn.NewParam("p1", 3, 4), nn.NewParam("p2", 1, 5)
	ps := []*nn.Param{p1, p2}
	type target struct{ a, c []float64 }
	tg := make([]target, len(ps))
	for i, p := range ps {
		tg[i] = target{make([]float64, len(p.W)), make([]float64, len(p.W))}
		for j := range p.W {
			tg[i].a[j] = math.Pow(10, rng.Float64()*4-2) // 0.01 … 100
			tg[i].c[j] = rng.Float64()*4 - 2
		}
	}
	a, err := NewAdam(ps, AdamConfig{LR: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	f := func() float64 {
		var s float64
		for i, p := range ps {
			for j, w := range p.W {
				d := float64(w) - tg[i].c[j]
				s += tg[i].a[j] * d * d
			}
		}
		return s
	}
	f0 := f()
	for range 3000 {
		for i, p := range ps {
			for j, w := range p.W {
				p.G[j] = float32(2 * tg[i].a[j] * (float64(w) - tg[i].c[j]))
			}
		}
		a.Step()
	}
	for i, p := range ps {
		for j, w := range p.W {
			if d := math.Abs(float64(w) - tg[i].c[j]); d > 0.02 {
				t.Errorf("%s[%d] = %v, want %v (a = %.3g)", p.Name, j, w, tg[i].c[j], tg[i].a[j])
			}
		}
	}
	if f1 := f(); !(f1 < 1e-3*f0) {
		t.Errorf("loss %v → %v, want a 1000× decrease", f0, f1)
	}
}

func TestConfigErrors(t *testing.T) {
	p := nn.NewParam("p", 1, 1)
	q := nn.NewParam("p", 1, 1)
	sp := nn.NewSparseParam("e", 3, 2)
	tests := []struct {
		name string
		err  error
	}{
		{"negative lr", func() error { _, err := NewAdam([]*nn.Param{p}, AdamConfig{LR: -1}); return err }()},
		{"beta1 1", func() error { _, err := NewAdam([]*nn.Param{p}, AdamConfig{Beta1: 1}); return err }()},
		{"beta2 NaN", func() error { _, err := NewAdam([]*nn.Param{p}, AdamConfig{Beta2: math.NaN()}); return err }()},
		{"bad decay", func() error { _, err := NewAdam([]*nn.Param{p}, AdamConfig{Decay: 7}); return err }()},
		{"duplicate", func() error { _, err := NewAdam([]*nn.Param{p, q}, AdamConfig{}); return err }()},
		{"nil", func() error { _, err := NewAdam([]*nn.Param{p, nil}, AdamConfig{}); return err }()},
		{"sparse l2<0", func() error {
			_, err := NewSparseAdam([]*nn.SparseParam{sp}, SparseAdamConfig{L2: -1})
			return err
		}()},
		{"sparse nil", func() error { _, err := NewSparseAdam([]*nn.SparseParam{nil}, SparseAdamConfig{}); return err }()},
		{"adagrad eps<0", func() error { _, err := NewAdagrad([]*nn.Param{p}, AdagradConfig{Eps: -1}); return err }()},
		{"adagrad l2", func() error { _, err := NewAdagrad([]*nn.Param{p}, AdagradConfig{L2: 1}); return err }()},
		{"sparse adagrad wd", func() error {
			_, err := NewSparseAdagrad([]*nn.SparseParam{sp}, AdagradConfig{WeightDecay: 1})
			return err
		}()},
	}
	for _, tc := range tests {
		if !errors.Is(tc.err, ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", tc.name, tc.err)
		}
	}
	if _, err := ParseDecayMode("l3"); !errors.Is(err, ErrConfig) {
		t.Errorf("ParseDecayMode(l3) = %v, want ErrConfig", err)
	}
	for _, s := range []string{"decoupled", "l2"} {
		if d, err := ParseDecayMode(s); err != nil || d.String() != s {
			t.Errorf("ParseDecayMode(%q) = %v, %v", s, d, err)
		}
	}
}
