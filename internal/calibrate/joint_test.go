package calibrate

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

// TestFitPlattJointSoftLabels: joint labels that are exactly
// c·σ(2·logit(p)+0.5) make A = 2, B = 0.5 the minimum of the joint loss,
// whatever the earlier step's probabilities c.
func TestFitPlattJointSoftLabels(t *testing.T) {
	var p, c, y []float32
	for i := 1; i < 400; i++ {
		q := float64(i) / 400
		ci := 0.05 + 0.9*float64((i*37)%400)/400
		p = append(p, float32(q))
		c = append(c, float32(ci))
		y = append(y, float32(ci*sigmoid(2*logit(float64(float32(q)))+0.5)))
	}
	m, err := FitPlattJoint(p, c, y)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(m.A-2) > 1e-4 || math.Abs(m.B-0.5) > 1e-4 {
		t.Fatalf("fit A=%v B=%v, want 2 and 0.5", m.A, m.B)
	}
}

// TestFitPlattJointUnitEarlierStep: with every c = 1 the joint loss is
// FitPlatt's, so the fits agree.
func TestFitPlattJointUnitEarlierStep(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 20000
	p, c, y := make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range p {
		p[i] = float32(sigmoid(rng.NormFloat64() - 1))
		c[i] = 1
		if rng.Float64() < sigmoid(1.5*logit(float64(p[i]))-0.3) {
			y[i] = 1
		}
	}
	want, err := FitPlatt(p, y)
	if err != nil {
		t.Fatal(err)
	}
	got, err := FitPlattJoint(p, c, y)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got.A-want.A) > 1e-8 || math.Abs(got.B-want.B) > 1e-8 {
		t.Fatalf("joint fit with c = 1: A=%v B=%v, FitPlatt A=%v B=%v", got.A, got.B, want.A, want.B)
	}
}

// funnelRows draws n impressions of a funnel scored by a model whose two
// steps share an error: the true click probability is σ(zc), the true
// conversion-given-click σ(zv), and the model reads both with the same
// noise e (an id it memorised lifts both heads), so its click probability
// is noisy around the truth and its conversion probability is high where
// its click probability is. Returns the model's click and conversion
// probabilities, the click and conversion labels, and the true joint
// probability.
func funnelRows(rng *rand.Rand, n int) (pc, pv, click, conv []float32, joint []float64) {
	pc, pv = make([]float32, n), make([]float32, n)
	click, conv = make([]float32, n), make([]float32, n)
	joint = make([]float64, n)
	for i := range pc {
		zc := rng.NormFloat64()*0.8 - 3
		zv := 0.5*(zc+3) + rng.NormFloat64()*0.5 - 2
		e := rng.NormFloat64() * 0.9
		pc[i] = float32(sigmoid(zc + e))
		pv[i] = float32(sigmoid(zv + e))
		joint[i] = sigmoid(zc) * sigmoid(zv)
		if rng.Float64() < sigmoid(zc) {
			click[i] = 1
			if rng.Float64() < sigmoid(zv) {
				conv[i] = 1
			}
		}
	}
	return pc, pv, click, conv, joint
}

// TestFitJointCalibratesTheProduct: with shared errors, a conversion map
// fitted on the clicked rows alone leaves the product p_click·p_cvr high
// over all rows of a fresh sample, while the map fitted through the product
// calibrates it, for Platt and for isotonic. Calibration is measured against
// the fresh rows' true joint probabilities, so it carries only the fitting
// sample's noise (about 4,200 conversions: ±1.5%), not the fresh labels'.
func TestFitJointCalibratesTheProduct(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const n = 400000
	pc, pv, click, conv, _ := funnelRows(rng, n)
	tc, tv, _, _, truth := funnelRows(rng, n)
	for _, method := range []string{"platt", "isotonic"} {
		first, err := Fit(method, pc, click)
		if err != nil {
			t.Fatal(err)
		}
		c := make([]float32, n)
		for i, p := range pc {
			c[i] = float32(first.Apply(float64(p)))
		}
		var sp, sy []float32
		for i := range pv {
			if click[i] > 0 {
				sp, sy = append(sp, pv[i]), append(sy, conv[i])
			}
		}
		clicked, err := Fit(method, sp, sy)
		if err != nil {
			t.Fatal(err)
		}
		joint, err := FitJoint(method, pv, c, conv)
		if err != nil {
			t.Fatal(err)
		}
		product := func(m Map) float64 {
			var s, l float64
			for i := range tc {
				s += first.Apply(float64(tc[i])) * m.Apply(float64(tv[i]))
				l += truth[i]
			}
			return s / l
		}
		pc, pj := product(clicked), product(joint)
		t.Logf("%s: product calibration on a fresh sample: clicked-row map %.4f, joint map %.4f", method, pc, pj)
		if math.Abs(pj-1) > 0.02 {
			t.Errorf("%s: joint map: product calibration %.4f, want within 0.98–1.02", method, pj)
		}
		// The clicked-row map reads 3–4% high here (the bias of the 4M-row
		// generated funnels, where it was 1.7–2.8% above the joint map).
		if pc-pj < 0.02 {
			t.Errorf("%s: the clicked-row map reads %.4f, the joint one %.4f: the scenario no longer shows the bias the joint fit removes", method, pc, pj)
		}
	}
}

// TestFitIsotonicJointHand: rows (p, c, y) = (0.1, 0.5, 0), (0.2, 1, 1),
// (0.3, 0.5, 0), (0.4, 1, 1). Block values Σy/Σc are 0, 1, 0, 1; the second
// and third pool into 1/1.5 = 2/3 at the c-weighted mean p
// (0.2 + 0.5·0.3)/1.5 = 0.2333…. Values are clamped to [1/(2n), 1-1/(2n)]
// with n = Σc = 3: [1/6, 5/6].
func TestFitIsotonicJointHand(t *testing.T) {
	m, err := FitIsotonicJoint([]float32{0.3, 0.1, 0.4, 0.2}, []float32{0.5, 0.5, 1, 1}, []float32{0, 0, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	wantX, wantY := []float64{0.1, 0.35 / 1.5, 0.4}, []float64{1.0 / 6, 2.0 / 3, 5.0 / 6}
	if len(m.X) != len(wantX) {
		t.Fatalf("knots %v %v, want %v %v", m.X, m.Y, wantX, wantY)
	}
	for i := range wantX {
		if math.Abs(m.X[i]-wantX[i]) > 1e-7 || math.Abs(m.Y[i]-wantY[i]) > 1e-12 {
			t.Fatalf("knots %v %v, want %v %v", m.X, m.Y, wantX, wantY)
		}
	}
}

// TestFitIsotonicJointUnitEarlierStep: with every c = 1 the weighted
// regression is FitIsotonic's, to the bit.
func TestFitIsotonicJointUnitEarlierStep(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const n = 5000
	p, c, y := make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range p {
		p[i] = float32(math.Round(rng.Float64()*200) / 200) // ties
		c[i] = 1
		if rng.Float64() < float64(p[i]) {
			y[i] = 1
		}
	}
	want, err := FitIsotonic(p, y)
	if err != nil {
		t.Fatal(err)
	}
	got, err := FitIsotonicJoint(p, c, y)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("joint fit with c = 1 differs from FitIsotonic: %d vs %d knots", len(got.X), len(want.X))
	}
}

func TestFitJointCannotFit(t *testing.T) {
	cases := []struct {
		name    string
		p, c, y []float32
	}{
		{"no rows", nil, nil, nil},
		{"no positive", []float32{0.1, 0.2}, []float32{0.5, 0.5}, []float32{0, 0}},
		{"no negative", []float32{0.1, 0.2}, []float32{0.5, 0.5}, []float32{1, 1}},
		{"positives only where the earlier step cannot happen", []float32{0.1, 0.2}, []float32{0, 0.5}, []float32{1, 0}},
	}
	for _, method := range []string{"platt", "isotonic"} {
		for _, k := range cases {
			if m, err := FitJoint(method, k.p, k.c, k.y); !errors.Is(err, ErrCannotFit) {
				t.Errorf("%s, %s: got %+v, %v; want ErrCannotFit", method, k.name, m, err)
			}
		}
		if _, err := FitJoint(method, []float32{0.1, 0.2}, []float32{0.5, 1.5}, []float32{0, 1}); err == nil || errors.Is(err, ErrCannotFit) {
			t.Errorf("%s: c outside [0, 1]: got %v, want an error naming the row", method, err)
		}
		if _, err := FitJoint(method, []float32{0.1}, []float32{0.5, 0.5}, []float32{1}); err == nil {
			t.Errorf("%s: lengths differ: no error", method)
		}
	}
	if m, err := FitJoint("none", nil, nil, nil); err != nil || !m.Identity() {
		t.Errorf("none: %+v, %v", m, err)
	}
	if _, err := FitJoint("beta", nil, nil, nil); err == nil {
		t.Error("unknown method: no error")
	}
}
