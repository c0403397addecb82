package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestExp32(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < 1_000_000; i++ {
		x := float32(rng.Float64()*170 - 85)
		if i%2 == 0 {
			x = float32(rng.NormFloat64() * 3)
		}
		want := math.Exp(float64(x))
		got := float64(exp32(x))
		if rel := math.Abs(got-want) / want; rel > 2e-7 {
			t.Fatalf("exp32(%v) = %v, want %v (relative error %.3g)", x, got, want, rel)
		}
	}
	if !math.IsInf(float64(exp32(100)), 1) || exp32(-100) != 0 || !math.IsNaN(float64(exp32(float32(math.NaN())))) {
		t.Fatal("exp32 limits wrong")
	}
}

func TestTanhFastAndSigmoid(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	for i := 0; i < 1_000_000; i++ {
		x := float32(rng.NormFloat64() * 4)
		if i%3 == 0 {
			x = float32(rng.NormFloat64() * 0.1)
		}
		if d := math.Abs(float64(tanhFast(x)) - math.Tanh(float64(x))); d > 3e-7 {
			t.Fatalf("tanhFast(%v) off by %.3g", x, d)
		}
		want := 1 / (1 + math.Exp(-float64(x)))
		if d := math.Abs(float64(Sigmoid32(x))-want) / want; d > 4e-7 {
			t.Fatalf("Sigmoid32(%v) relative error %.3g", x, d)
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

func BenchmarkSigmoid64Ref(b *testing.B) {
	v := make([]float32, 4096)
	for i := range v {
		v[i] = float32(i%200)/20 - 5
	}
	var s float32
	for i := 0; i < b.N; i++ {
		for _, x := range v {
			s += float32(1 / (1 + math.Exp(-float64(x))))
		}
	}
	_ = s
}
