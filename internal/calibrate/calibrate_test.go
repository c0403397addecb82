package calibrate

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }
func logit(p float64) float64   { return math.Log(p / (1 - p)) }

// TestFitPlattSoftLabels: labels that are exactly σ(2·logit(p)+0.5) make
// A = 2, B = 0.5 the unique minimum of the logloss.
func TestFitPlattSoftLabels(t *testing.T) {
	var p, y []float32
	for i := 1; i < 400; i++ {
		q := float32(float64(i) / 400)
		p = append(p, q)
		y = append(y, float32(sigmoid(2*logit(float64(q))+0.5)))
	}
	m, err := FitPlatt(p, y)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(m.A-2) > 1e-4 || math.Abs(m.B-0.5) > 1e-4 {
		t.Fatalf("fit A=%v B=%v, want 2 and 0.5", m.A, m.B)
	}
	// The fitted map sends p to the label it was generated with.
	for _, q := range []float64{0.01, 0.3, 0.9} {
		if got, want := m.Apply(q), sigmoid(2*logit(q)+0.5); math.Abs(got-want) > 1e-4 {
			t.Errorf("Apply(%v) = %v, want %v", q, got, want)
		}
	}
}

// TestFitPlattSampled: 0/1 labels drawn from σ(2·logit(p)+0.5) recover the
// parameters within sampling error (standard errors here ≈ 0.01).
func TestFitPlattSampled(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 200000
	p := make([]float32, n)
	y := make([]float32, n)
	for i := range p {
		p[i] = float32(sigmoid(rng.NormFloat64() - 2))
		if rng.Float64() < sigmoid(2*logit(float64(p[i]))+0.5) {
			y[i] = 1
		}
	}
	m, err := FitPlatt(p, y)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(m.A-2) > 0.05 || math.Abs(m.B-0.5) > 0.05 {
		t.Fatalf("fit A=%v B=%v, want about 2 and 0.5", m.A, m.B)
	}
}

func TestFitPlattCannotFit(t *testing.T) {
	for name, c := range map[string]struct{ p, y []float32 }{
		"empty":     {nil, nil},
		"one class": {[]float32{0.1, 0.2, 0.3}, []float32{0, 0, 0}},
		"backwards": {[]float32{0.1, 0.2, 0.3, 0.4, 0.5, 0.6}, []float32{1, 1, 0, 1, 0, 0}},
	} {
		if m, err := FitPlatt(c.p, c.y); !errors.Is(err, ErrCannotFit) {
			t.Errorf("%s: got %+v, %v; want ErrCannotFit", name, m, err)
		}
	}
	if _, err := FitPlatt([]float32{0.5}, nil); err == nil {
		t.Error("different lengths accepted")
	}
}

// TestFitIsotonicHand: p = 0.1..0.6 with labels 0 1 0 0 1 1 pools into
// {0.1}: 0, {0.2, 0.3, 0.4}: 1/3, {0.5, 0.6}: 1 (PAV by hand); the values
// are clamped to [1/12, 11/12] (n = 6) and the knots sit at the blocks' mean p.
func TestFitIsotonicHand(t *testing.T) {
	m, err := FitIsotonic([]float32{0.4, 0.1, 0.6, 0.3, 0.2, 0.5}, []float32{0, 0, 1, 0, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	wantX := []float64{0.1, 0.3, 0.55}
	wantY := []float64{1.0 / 12, 1.0 / 3, 11.0 / 12}
	if len(m.X) != 3 || len(m.Y) != 3 {
		t.Fatalf("knots %v %v, want x %v y %v", m.X, m.Y, wantX, wantY)
	}
	for i := range wantX {
		if math.Abs(m.X[i]-wantX[i]) > 1e-7 || math.Abs(m.Y[i]-wantY[i]) > 1e-12 {
			t.Fatalf("knots %v %v, want x %v y %v", m.X, m.Y, wantX, wantY)
		}
	}
	for _, c := range []struct{ p, want float64 }{
		{0, 1.0 / 12}, {0.1, 1.0 / 12}, {0.2, 5.0 / 24}, {0.3, 1.0 / 3}, {0.425, 0.625}, {0.55, 11.0 / 12}, {1, 11.0 / 12},
	} {
		if got := m.Apply(c.p); math.Abs(got-c.want) > 1e-6 {
			t.Errorf("Apply(%v) = %v, want %v", c.p, got, c.want)
		}
	}
	if err := m.Validate(); err != nil {
		t.Error(err)
	}
}

// TestFitIsotonicTies: equal scores are one block whatever their labels, and
// an equal mean pools (block means strictly increase).
func TestFitIsotonicTies(t *testing.T) {
	// 0.2: 0 | 0.5, 0.5: 1, 0 (mean 1/2) | 0.7: 1, 0 (mean 1/2, pools with
	// the previous block) | 0.9: 1. n = 6, clamp [1/12, 11/12].
	m, err := FitIsotonic([]float32{0.5, 0.2, 0.7, 0.5, 0.9, 0.7}, []float32{1, 0, 1, 0, 1, 0})
	if err != nil {
		t.Fatal(err)
	}
	wantX := []float64{0.2, 0.6, 0.9}
	wantY := []float64{1.0 / 12, 0.5, 11.0 / 12}
	for i := range wantX {
		if len(m.X) != 3 || math.Abs(m.X[i]-wantX[i]) > 1e-7 || math.Abs(m.Y[i]-wantY[i]) > 1e-12 {
			t.Fatalf("knots %v %v, want x %v y %v", m.X, m.Y, wantX, wantY)
		}
	}
	if _, err := FitIsotonic([]float32{0.1, 0.2}, []float32{1, 1}); !errors.Is(err, ErrCannotFit) {
		t.Errorf("one class: err = %v", err)
	}
}

func TestCorrectNegativeSampling(t *testing.T) {
	// By hand: 0.5 / (0.5 + 0.5/0.1) = 1/11; 0.2 / (0.2 + 0.8/0.25) = 1/17.
	for _, c := range []struct{ p, rate, want float64 }{
		{0.5, 0.1, 1.0 / 11}, {0.2, 0.25, 1.0 / 17}, {0.3, 1, 0.3}, {0, 0.5, 0}, {1, 0.5, 1},
	} {
		if got := CorrectNegativeSampling(c.p, c.rate); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("CorrectNegativeSampling(%v, %v) = %v, want %v", c.p, c.rate, got, c.want)
		}
	}
	// In logit space the correction is a shift by ln(rate).
	for _, p := range []float64{0.01, 0.2, 0.7, 0.99} {
		if got, want := logit(CorrectNegativeSampling(p, 0.05)), logit(p)+math.Log(0.05); math.Abs(got-want) > 1e-9 {
			t.Errorf("logit of corrected %v = %v, want %v", p, got, want)
		}
	}
}

func TestMapJSONAndValidate(t *testing.T) {
	in := Map{Platt: &Platt{A: 1.25, B: -0.375}}
	b, err := json.Marshal(&in)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"platt":{"a":1.25,"b":-0.375}}` {
		t.Fatalf("JSON %s", b)
	}
	var out Map
	if err := json.Unmarshal(b, &out); err != nil || out.Validate() != nil || *out.Platt != *in.Platt {
		t.Fatalf("read back %+v, %v", out, err)
	}
	var id *Map
	if id.Apply(0.3) != 0.3 || !id.Identity() || (&Map{}).Apply(0.7) != 0.7 {
		t.Error("nil or empty map is not the identity")
	}
	for name, m := range map[string]Map{
		"both":           {Platt: &Platt{A: 1}, Isotonic: &Isotonic{X: []float64{0.5}, Y: []float64{0.5}}},
		"slope 0":        {Platt: &Platt{A: 0}},
		"NaN":            {Platt: &Platt{A: 1, B: math.NaN()}},
		"x not increase": {Isotonic: &Isotonic{X: []float64{0.5, 0.5}, Y: []float64{0.1, 0.2}}},
		"y decreases":    {Isotonic: &Isotonic{X: []float64{0.1, 0.5}, Y: []float64{0.3, 0.2}}},
		"out of range":   {Isotonic: &Isotonic{X: []float64{0.1, 1.5}, Y: []float64{0.1, 0.2}}},
		"no knots":       {Isotonic: &Isotonic{}},
	} {
		if err := m.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
