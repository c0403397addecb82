package calibrate

import (
	"fmt"
	"math"
)

// The later step of a funnel (conversion given click) is used through a
// product: rankings and bids take p_click · p_cvr over every impression. A
// map fitted on the clicked rows alone calibrates p_cvr as a conditional,
// but the product can still read high or low over all rows: the clicked
// rows of a held-out part are drawn with the true click probability, not
// with the model's p_click, and where p_click is over-confident in the same
// rows where p_cvr is high the product over-counts (measured: 3–5% high
// with 10⁶-row parts). The joint fits below choose the conversion map g
// through the product instead, as ESMM trains p_cvr: over every row, with
// the (calibrated) p_click c_i as a fixed factor, so that c_i · g(p_i)
// estimates P(conversion | x_i). Rows without a click still count: they
// are where the product must be small.

// FitPlattJoint fits the Platt map g(p) = σ(A·logit(p) + B) by minimising
// the mean logloss of c_i·g(p_i) against y_i over all rows: p_i the model's
// conditional probability, c_i ∈ [0, 1] the earlier step's probability of
// the same row, y_i the joint label (the later step happened; soft labels
// in [0, 1] are allowed). Like FitPlatt it starts from the identity and
// takes Fisher-scoring steps (the expected Hessian, which is positive
// definite), halving a step until the loss does not increase, for at most
// 100 steps or until a step moves A and B by less than 1e-12. With every
// c_i = 1 it minimises FitPlatt's loss. It wraps ErrCannotFit when there
// are no rows, when the labels hold a single class, when no positive row
// has c_i > 0, or when the fitted A is not positive.
func FitPlattJoint(p, c, y []float32) (Platt, error) {
	if len(p) != len(y) || len(c) != len(y) {
		return Platt{}, fmt.Errorf("calibrate: platt (joint): %d probabilities, %d earlier-step probabilities, %d labels", len(p), len(c), len(y))
	}
	if err := jointRows("platt (joint)", c, y); err != nil {
		return Platt{}, err
	}
	u := make([]float64, len(p))
	for i, v := range p {
		u[i] = Logit(float64(v))
	}
	loss := func(a, b float64) float64 {
		var s float64
		for i, ui := range u {
			q := clampP(float64(c[i]) * Sigmoid(a*ui+b))
			yi := float64(y[i])
			s -= yi*math.Log(q) + (1-yi)*math.Log1p(-q)
		}
		return s / float64(len(u))
	}
	// With q = c·σ(z), z = a·u + b: dℓ/dz = (q-y)(1-σ)/(1-q) and the
	// expected second derivative is q(1-σ)²/(1-q).
	curve := func(a, b float64) (ga, gb, haa, hab, hbb float64) {
		for i, ui := range u {
			if c[i] == 0 { // the row's loss does not depend on the map
				continue
			}
			s := Sigmoid(a*ui + b)
			q := clampP(float64(c[i]) * s)
			g := (q - float64(y[i])) * (1 - s) / (1 - q)
			w := q * (1 - s) * (1 - s) / (1 - q)
			ga += g * ui
			gb += g
			haa += w * ui * ui
			hab += w * ui
			hbb += w
		}
		n := float64(len(u))
		return ga / n, gb / n, haa / n, hab / n, hbb / n
	}
	return fitPlatt("platt (joint)", loss, curve)
}

// FitIsotonicJoint fits the non-decreasing g that minimises
// Σ (y_i - c_i·g(p_i))² / c_i over all rows (p, c and y as in
// FitPlattJoint): the squared error of the product, each row weighted by
// the inverse of its earlier step's probability (about the inverse of the
// label's variance c·g). It is the weighted isotonic regression of y_i/c_i
// with weights c_i, solved by pool-adjacent-violators over rows sorted by p,
// so a block's value is Σ y / Σ c and the product is calibrated in every
// block: Σ c·g = Σ y. Rows with c_i = 0 carry no weight. As in FitIsotonic
// each block becomes a knot at its mean p (here weighted by c), its value
// clamped to [1/(2n), 1-1/(2n)], with n = Σ c the expected number of rows
// where the earlier step happens (the sample size of the conditional, as
// FitIsotonic's n is for the clicked rows it is given); with every c_i = 1
// it is FitIsotonic. It wraps ErrCannotFit as
// FitPlattJoint does.
func FitIsotonicJoint(p, c, y []float32) (Isotonic, error) {
	if len(p) != len(y) || len(c) != len(y) {
		return Isotonic{}, fmt.Errorf("calibrate: isotonic (joint): %d probabilities, %d earlier-step probabilities, %d labels", len(p), len(c), len(y))
	}
	if err := jointRows("isotonic (joint)", c, y); err != nil {
		return Isotonic{}, err
	}
	return poolIsotonic(p, c, y), nil
}

// FitJoint fits a map of the named method through the product (see
// FitPlattJoint and FitIsotonicJoint); "none" is the identity.
func FitJoint(method string, p, c, y []float32) (Map, error) {
	switch method {
	case "none":
		return Map{}, nil
	case "platt":
		q, err := FitPlattJoint(p, c, y)
		if err != nil {
			return Map{}, err
		}
		return Map{Platt: &q}, nil
	case "isotonic":
		q, err := FitIsotonicJoint(p, c, y)
		if err != nil {
			return Map{}, err
		}
		return Map{Isotonic: &q}, nil
	}
	return Map{}, fmt.Errorf("calibrate: method %q: want none, platt or isotonic", method)
}

// jointRows checks the rows of a joint fit: c in [0, 1], both classes
// among the labels, and a positive on a row whose earlier step can happen.
func jointRows(what string, c, y []float32) error {
	var sy, syc float64
	for i, v := range y {
		if !(c[i] >= 0 && c[i] <= 1) {
			return fmt.Errorf("calibrate: %s: row %d: earlier-step probability %g is outside [0, 1]", what, i, c[i])
		}
		sy += float64(v)
		if c[i] > 0 {
			syc += float64(v)
		}
	}
	if len(y) == 0 || sy <= 0 || sy >= float64(len(y)) || syc <= 0 {
		return fmt.Errorf("calibrate: %s: %d rows with %g positives (%g where the earlier step can happen): %w", what, len(y), sy, syc, ErrCannotFit)
	}
	return nil
}

// clampP clamps a probability to [Eps, 1-Eps].
func clampP(q float64) float64 { return min(max(q, Eps), 1-Eps) }
