package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSigmoid32 checks the scalar logistic function against float64 math
// (the vector kernels it shares its algorithm with are tested in
// internal/tensor/vecmath).
func TestSigmoid32(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	for i := 0; i < 1_000_000; i++ {
		x := float32(rng.NormFloat64() * 4)
		if i%3 == 0 {
			x = float32(rng.NormFloat64() * 0.1)
		}
		want := 1 / (1 + math.Exp(-float64(x)))
		if d := math.Abs(float64(Sigmoid32(x))-want) / want; d > 4e-7 {
			t.Fatalf("Sigmoid32(%v) relative error %.3g", x, d)
		}
	}
}

// TestActivationApply checks the vectorised activations the layers use
// against float64 math (the AVX2 kernel fuses multiply-adds, so it may
// differ from the scalar Sigmoid32 in the last bit).
func TestActivationApply(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	v := make([]float32, 1037)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * 5)
	}
	s := append([]float32(nil), v...)
	Sigmoid.apply(s)
	for i, x := range v {
		want := 1 / (1 + math.Exp(-float64(x)))
		if d := math.Abs(float64(s[i])-want) / want; d > 4e-7 {
			t.Fatalf("σ(%v) = %v, relative error %.3g", x, s[i], d)
		}
	}
	th := append([]float32(nil), v...)
	Tanh.apply(th)
	for i, x := range v {
		if d := math.Abs(float64(th[i]) - math.Tanh(float64(x))); d > 3e-7 {
			t.Fatalf("tanh(%v) off by %.3g", x, d)
		}
	}
}

func BenchmarkSigmoid32(b *testing.B) {
	v := make([]float32, 4096)
	for i := range v {
		v[i] = float32(i%200)/20 - 5
	}
	b.ReportAllocs()
	var s float32
	for i := 0; i < b.N; i++ {
		for _, x := range v {
			s += Sigmoid32(x)
		}
	}
	_ = s
}
