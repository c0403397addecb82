package feature

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// TestExactSumMatchesBigFloat pins exactSum against math/big: the sum of
// values of wildly different magnitudes and signs, rounded once, in any
// order and any grouping, and through its text form.
func TestExactSumMatchesBigFloat(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	xs := []float64{1e15, 1, -1e15, 1e-300, 5e-324, -0.1, 0.1, 0.2, 3}
	for range 5000 {
		x := math.Ldexp(rng.Float64(), rng.IntN(200)-100)
		if rng.IntN(2) == 0 {
			x = -x
		}
		xs = append(xs, x)
	}
	ref := new(big.Float).SetPrec(4000)
	for _, x := range xs {
		ref.Add(ref, new(big.Float).SetFloat64(x))
	}
	want, _ := ref.Float64()
	var s exactSum
	for _, x := range xs {
		s.add(x)
	}
	if got := s.Float64(); got != want {
		t.Fatalf("sum %v, want %v", got, want)
	}
	var naive float64
	for _, x := range xs {
		naive += x
	}
	if naive == want {
		t.Log("the naive sum happens to be exact here")
	}
	// Reversed, in two halves merged, and through text.
	var a, b exactSum
	for i := len(xs) - 1; i >= 0; i-- {
		if i%2 == 0 {
			a.add(xs[i])
		} else {
			b.add(xs[i])
		}
	}
	a.merge(&b)
	if got := a.Float64(); got != want {
		t.Fatalf("merged sum %v, want %v", got, want)
	}
	txt, err := a.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	var c exactSum
	if err := c.UnmarshalText(txt); err != nil {
		t.Fatal(err)
	}
	if got := c.Float64(); got != want {
		t.Fatalf("sum through text %v, want %v", got, want)
	}
	if err := c.UnmarshalText([]byte("12x")); err == nil {
		t.Error("bad text accepted")
	}
	// 0.1 + 0.2 - 0.3 exactly is 2^-54·(a small integer), not 0 or 5.5e-17.
	var d exactSum
	d.add(0.1)
	d.add(0.2)
	d.add(-0.3)
	r := new(big.Float).SetPrec(200).SetFloat64(0.1)
	r.Add(r, new(big.Float).SetFloat64(0.2))
	r.Sub(r, new(big.Float).SetFloat64(0.3))
	if w, _ := r.Float64(); d.Float64() != w {
		t.Errorf("0.1+0.2-0.3 = %v, want %v", d.Float64(), w)
	}
}
