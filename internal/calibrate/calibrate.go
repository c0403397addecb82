// Package calibrate fits and applies post-hoc calibration maps of binary
// probabilities, and the correction of probabilities learnt on a log whose
// negatives were down-sampled.
//
// A model trained by minimising logloss is often miscalibrated on held-out
// rows (early stopping, dropout, a funnel's product loss). A calibration map
// is a monotone function g fitted on held-out predictions p and labels y so
// that g(p) estimates P(y = 1 | p). Two families:
//
//   - Platt scaling (Platt 1999): g(p) = σ(A·logit(p) + B), two parameters
//     fitted by Newton's method on the logloss (FitPlatt). With A > 0 it keeps
//     the order of the scores, so the AUC does not change.
//   - Isotonic regression (Zadrozny & Elkan 2002): the non-decreasing step
//     function that minimises the squared error, found by pool-adjacent-
//     violators (FitIsotonic), here interpolated linearly between the
//     centroids of its blocks so that it is strictly increasing between the
//     first and the last centroid; below and above them it is constant, so
//     scores in the tails tie and the AUC may change slightly.
//
// Probabilities are clamped to [Eps, 1-Eps] before a logit, as the logloss of
// package metric does. Fits are deterministic: the same inputs give the same
// float64 bits.
package calibrate

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
)

// Eps clamps probabilities to [Eps, 1-Eps] before taking a logit (the clamp
// of metric.LogLoss).
const Eps = 1e-7

// ErrCannotFit reports held-out data from which no map can be fitted: no
// rows, a single class, or scores that rank the labels backwards.
var ErrCannotFit = errors.New("cannot fit a calibration map")

// Logit returns ln(p/(1-p)) of p clamped to [Eps, 1-Eps].
func Logit(p float64) float64 {
	p = min(max(p, Eps), 1-Eps)
	return math.Log(p / (1 - p))
}

// Sigmoid returns 1/(1+e^-z).
func Sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// Platt is the map p ↦ σ(A·logit(p) + B). The identity is A = 1, B = 0.
type Platt struct {
	A float64 `json:"a"`
	B float64 `json:"b"`
}

// Apply maps a probability.
func (m Platt) Apply(p float64) float64 { return Sigmoid(m.A*Logit(p) + m.B) }

// plattMaxIter bounds the Newton iterations of FitPlatt.
const plattMaxIter = 100

// FitPlatt fits A and B by minimising the mean logloss of σ(A·logit(p_i)+B)
// against y_i (labels in [0, 1]; soft labels are allowed) with Newton's
// method from the identity (A = 1, B = 0), halving a step until the loss
// does not increase, for at most 100 steps or until a step moves A and B by
// less than 1e-12. It wraps ErrCannotFit when there are no rows, when the
// labels hold a single class (a sum of 0 or of len(y)), or when the fitted A
// is not positive (the scores rank the labels backwards). On fully separated
// data the loss has no minimum and the fit ends after 100 steps with a steep
// map.
func FitPlatt(p, y []float32) (Platt, error) {
	if len(p) != len(y) {
		return Platt{}, fmt.Errorf("calibrate: platt: %d probabilities but %d labels", len(p), len(y))
	}
	var sy float64
	for _, v := range y {
		sy += float64(v)
	}
	if len(p) == 0 || sy <= 0 || sy >= float64(len(y)) {
		return Platt{}, fmt.Errorf("calibrate: platt: %d rows with %g positives: %w", len(p), sy, ErrCannotFit)
	}
	u := make([]float64, len(p))
	for i, v := range p {
		u[i] = Logit(float64(v))
	}
	loss := func(a, b float64) float64 {
		var s float64
		for i, ui := range u {
			s += bce(a*ui+b, float64(y[i]))
		}
		return s / float64(len(u))
	}
	curve := func(a, b float64) (ga, gb, haa, hab, hbb float64) {
		for i, ui := range u {
			s := Sigmoid(a*ui + b)
			r := s - float64(y[i])
			w := s * (1 - s)
			ga += r * ui
			gb += r
			haa += w * ui * ui
			hab += w * ui
			hbb += w
		}
		n := float64(len(u))
		return ga / n, gb / n, haa / n, hab / n, hbb / n
	}
	return fitPlatt("platt", loss, curve)
}

// fitPlatt minimises loss, a mean loss of the Platt parameters (A, B), by
// Newton's method from the identity (A = 1, B = 0): curve gives the mean
// loss's gradient (ga, gb) and Hessian (or expected Hessian) at (a, b); a
// step is halved until the loss does not increase, for at most plattMaxIter
// steps or until a step moves A and B by less than 1e-12. It wraps
// ErrCannotFit, naming what, when the fit diverges or the slope is not
// positive. FitPlatt and FitPlattJoint differ only in loss and curve.
func fitPlatt(what string, loss func(a, b float64) float64, curve func(a, b float64) (ga, gb, haa, hab, hbb float64)) (Platt, error) {
	a, b := 1.0, 0.0
	cur := loss(a, b)
	for it := 0; it < plattMaxIter; it++ {
		ga, gb, haa, hab, hbb := curve(a, b)
		det := haa*hbb - hab*hab
		var da, db float64
		if det > 1e-300 {
			da = -(hbb*ga - hab*gb) / det
			db = -(haa*gb - hab*ga) / det
		} else { // flat curvature: a gradient step
			da, db = -ga, -gb
		}
		step := 1.0
		na, nb := a+da, b+db
		nl := loss(na, nb)
		for k := 0; k < 60 && !(nl <= cur); k++ {
			step /= 2
			na, nb = a+step*da, b+step*db
			nl = loss(na, nb)
		}
		if !(nl <= cur) {
			break // no step decreases the loss: at the minimum to rounding
		}
		moved := math.Abs(na-a) + math.Abs(nb-b)
		a, b, cur = na, nb, nl
		if moved < 1e-12 {
			break
		}
	}
	if math.IsNaN(a) || math.IsInf(a, 0) || math.IsNaN(b) || math.IsInf(b, 0) {
		return Platt{}, fmt.Errorf("calibrate: %s: the fit diverged (a=%g, b=%g): %w", what, a, b, ErrCannotFit)
	}
	if a <= 0 {
		return Platt{}, fmt.Errorf("calibrate: %s: fitted slope %g ≤ 0 (the scores rank the labels backwards): %w", what, a, ErrCannotFit)
	}
	return Platt{A: a, B: b}, nil
}

// bce is the logloss of logit z against label y, computed stably.
func bce(z, y float64) float64 {
	// -(y·ln σ(z) + (1-y)·ln(1-σ(z))) = softplus(z) - y·z
	return max(z, 0) + math.Log1p(math.Exp(-math.Abs(z))) - y*z
}

// Isotonic is a non-decreasing map given by knots: X strictly increasing,
// Y non-decreasing, both in [0, 1]. Apply interpolates linearly between
// knots and is constant (Y[0], Y[len-1]) outside [X[0], X[len-1]].
type Isotonic struct {
	X []float64 `json:"x"`
	Y []float64 `json:"y"`
}

// Apply maps a probability.
func (m *Isotonic) Apply(p float64) float64 {
	x, y := m.X, m.Y
	n := len(x)
	switch {
	case n == 0:
		return p
	case !(p > x[0]): // NaN maps to the lowest value
		return y[0]
	case p >= x[n-1]:
		return y[n-1]
	}
	// x[j-1] < p ≤ x[j]
	j, _ := slices.BinarySearch(x, p)
	t := (p - x[j-1]) / (x[j] - x[j-1])
	return y[j-1] + t*(y[j]-y[j-1])
}

// Validate checks the knots.
func (m *Isotonic) Validate() error {
	if len(m.X) == 0 || len(m.X) != len(m.Y) {
		return fmt.Errorf("isotonic: %d x and %d y knots (want the same number, at least 1)", len(m.X), len(m.Y))
	}
	for i := range m.X {
		x, y := m.X[i], m.Y[i]
		if !(x >= 0 && x <= 1) || !(y >= 0 && y <= 1) {
			return fmt.Errorf("isotonic: knot %d (%g, %g) is outside [0, 1]", i, x, y)
		}
		if i > 0 && (x <= m.X[i-1] || y < m.Y[i-1]) {
			return fmt.Errorf("isotonic: knot %d (%g, %g) does not follow (%g, %g): x must increase and y must not decrease", i, x, y, m.X[i-1], m.Y[i-1])
		}
	}
	return nil
}

// FitIsotonic fits the isotonic regression of y (labels in [0, 1]) on p by
// pool-adjacent-violators: rows are sorted by p, rows of equal p form one
// block, and adjacent blocks are pooled (weighted by their rows) while a
// block's mean label is not below the next one's, so the block means
// strictly increase. Each block becomes a knot at (mean p, mean label), the
// mean label clamped to [1/(2n), 1-1/(2n)] with n = len(p), so that a tail
// block without a positive (or negative) does not predict a certain 0 (or
// 1). It wraps ErrCannotFit when there are no rows or the labels hold a
// single class.
func FitIsotonic(p, y []float32) (Isotonic, error) {
	if len(p) != len(y) {
		return Isotonic{}, fmt.Errorf("calibrate: isotonic: %d probabilities but %d labels", len(p), len(y))
	}
	var sy float64
	for _, v := range y {
		sy += float64(v)
	}
	if len(p) == 0 || sy <= 0 || sy >= float64(len(y)) {
		return Isotonic{}, fmt.Errorf("calibrate: isotonic: %d rows with %g positives: %w", len(p), sy, ErrCannotFit)
	}
	return poolIsotonic(p, nil, y), nil
}

// poolIsotonic is the pool-adjacent-violators fit behind FitIsotonic (c
// nil: every row has weight 1) and FitIsotonicJoint (row i has weight c_i
// and target y_i/c_i; rows with c_i = 0 are left out). Rows are sorted by
// p, ties by index so the sums run in a fixed order; rows of equal p form
// one block, and adjacent blocks are pooled while a block's value Σy/Σw is
// not below the next one's. Each block becomes a knot at (Σw·p/Σw, Σy/Σw),
// the value clamped to [1/(2n), 1-1/(2n)] with n = Σw.
func poolIsotonic(p, c, y []float32) Isotonic {
	weight := func(i int) float64 {
		if c == nil {
			return 1
		}
		return float64(c[i])
	}
	idx := make([]int, 0, len(p))
	var n float64
	for i := range p {
		if c == nil || c[i] > 0 {
			idx = append(idx, i)
			n += weight(i)
		}
	}
	slices.SortFunc(idx, func(i, j int) int {
		if d := cmp.Compare(p[i], p[j]); d != 0 {
			return d
		}
		return cmp.Compare(i, j)
	})
	// w = Σ weight, sp = Σ weight·p, sy = Σ y: the block's value is sy/w.
	type block struct{ w, sp, sy float64 }
	var bs []block
	for k := 0; k < len(idx); {
		// One block per distinct p.
		var b block
		v := p[idx[k]]
		for ; k < len(idx) && cmp.Compare(p[idx[k]], v) == 0; k++ {
			wi := weight(idx[k])
			b.w += wi
			b.sp += wi * float64(p[idx[k]])
			b.sy += float64(y[idx[k]])
		}
		bs = append(bs, b)
		// Pool while the previous block's value is not below this one's.
		for len(bs) > 1 {
			l, r := bs[len(bs)-2], bs[len(bs)-1]
			if l.sy*r.w < r.sy*l.w { // l.sy/l.w < r.sy/r.w
				break
			}
			bs = bs[:len(bs)-1]
			bs[len(bs)-1] = block{l.w + r.w, l.sp + r.sp, l.sy + r.sy}
		}
	}
	lo := min(1/(2*n), 0.5)
	m := Isotonic{X: make([]float64, len(bs)), Y: make([]float64, len(bs))}
	for i, b := range bs {
		m.X[i] = min(max(b.sp/b.w, 0), 1)
		m.Y[i] = min(max(b.sy/b.w, lo), 1-lo)
	}
	// Block centroids strictly increase (blocks hold disjoint ranges of
	// distinct p) except when float64 rounding makes two equal: keep the
	// later one.
	k := 0
	for i := range m.X {
		if k > 0 && m.X[i] <= m.X[k-1] {
			m.Y[k-1] = max(m.Y[k-1], m.Y[i])
			continue
		}
		m.X[k], m.Y[k] = m.X[i], m.Y[i]
		k++
	}
	m.X, m.Y = m.X[:k], m.Y[:k]
	return m
}

// Map is the calibration map of one task: Platt, Isotonic, or neither (the
// identity). The zero value and a nil *Map are the identity.
type Map struct {
	Platt    *Platt    `json:"platt,omitempty"`
	Isotonic *Isotonic `json:"isotonic,omitempty"`
}

// Apply maps a probability.
func (m *Map) Apply(p float64) float64 {
	switch {
	case m == nil:
		return p
	case m.Platt != nil:
		return m.Platt.Apply(p)
	case m.Isotonic != nil:
		return m.Isotonic.Apply(p)
	}
	return p
}

// Identity reports whether the map leaves every probability as it is.
func (m *Map) Identity() bool { return m == nil || (m.Platt == nil && m.Isotonic == nil) }

// Validate checks a map read from a file: at most one family, finite Platt
// parameters with A > 0, valid isotonic knots.
func (m *Map) Validate() error {
	if m == nil {
		return nil
	}
	if m.Platt != nil && m.Isotonic != nil {
		return errors.New("both platt and isotonic")
	}
	if q := m.Platt; q != nil {
		if math.IsNaN(q.A) || math.IsInf(q.A, 0) || math.IsNaN(q.B) || math.IsInf(q.B, 0) || q.A <= 0 {
			return fmt.Errorf("platt: want finite a > 0 and finite b, got a=%g b=%g", q.A, q.B)
		}
	}
	if m.Isotonic != nil {
		return m.Isotonic.Validate()
	}
	return nil
}

// Fit fits a map of the named method: "platt" (FitPlatt), "isotonic"
// (FitIsotonic) or "none" (the identity, never an error).
func Fit(method string, p, y []float32) (Map, error) {
	switch method {
	case "none":
		return Map{}, nil
	case "platt":
		q, err := FitPlatt(p, y)
		if err != nil {
			return Map{}, err
		}
		return Map{Platt: &q}, nil
	case "isotonic":
		q, err := FitIsotonic(p, y)
		if err != nil {
			return Map{}, err
		}
		return Map{Isotonic: &q}, nil
	}
	return Map{}, fmt.Errorf("calibrate: method %q: want none, platt or isotonic", method)
}

// CorrectNegativeSampling maps a probability p learnt on rows whose
// negatives were kept with probability rate (0 < rate ≤ 1; positives all
// kept) back to the full population: q = p / (p + (1-p)/rate) (He et al.,
// Practical Lessons from Predicting Clicks on Ads at Facebook, ADKDD 2014).
// In logit space it is a shift by ln(rate), so it keeps the order of the
// scores. rate 1 returns p.
func CorrectNegativeSampling(p, rate float64) float64 {
	if rate == 1 {
		return p
	}
	return p / (p + (1-p)/rate)
}
