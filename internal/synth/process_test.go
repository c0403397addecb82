package synth

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestZipfFrequencies(t *testing.T) {
	z := newZipf(10, 1.0)
	r := rand.New(rand.NewPCG(1, 1))
	const n = 200000
	counts := make([]float64, 10)
	for range n {
		counts[z.draw(r)]++
	}
	var chi float64
	var h float64
	for k := range 10 {
		h += 1 / float64(k+1)
	}
	for k := range 10 {
		e := n / float64(k+1) / h // P(k) = (1/(k+1)) / H_10, written independently of the code
		chi += (counts[k] - e) * (counts[k] - e) / e
	}
	if chi > 27.88 { // chi²(9) at 0.1%
		t.Fatalf("Zipf(10, 1) draws: chi² = %.1f; counts %v", chi, counts)
	}
}

func TestPureInteractionIsCentred(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	a, b, c := []float64{0.5, 0.3, 0.2}, []float64{0.1, 0.9}, []float64{0.25, 0.25, 0.25, 0.25}
	tab := pureInteraction(r, 0.7, a, b, c)
	// Every weighted mean along one axis (with the other two fixed) is 0.
	for j := range b {
		for k := range c {
			var m float64
			for i := range a {
				m += a[i] * tab[(i*2+j)*4+k]
			}
			if math.Abs(m) > 1e-12 {
				t.Fatalf("axis 0 mean at (%d,%d) = %v", j, k, m)
			}
		}
	}
	for i := range a {
		for k := range c {
			var m float64
			for j := range b {
				m += b[j] * tab[(i*2+j)*4+k]
			}
			if math.Abs(m) > 1e-12 {
				t.Fatalf("axis 1 mean at (%d,%d) = %v", i, k, m)
			}
		}
	}
	var v float64
	for i := range a {
		for j := range b {
			for k := range c {
				x := tab[(i*2+j)*4+k]
				v += a[i] * b[j] * c[k] * x * x
			}
		}
	}
	if math.Abs(math.Sqrt(v)-0.7) > 1e-12 {
		t.Fatalf("weighted sd %v, want 0.7", math.Sqrt(v))
	}
}
