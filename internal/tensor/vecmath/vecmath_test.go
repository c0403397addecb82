package vecmath

import (
	"math"
	"math/rand/v2"
	"testing"
)

// impls runs f once with the assembly kernels (when this CPU has them) and
// once with the pure-Go fallback.
func impls(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	saved := useVecAsm
	defer func() { useVecAsm = saved }()
	for _, asm := range []bool{true, false} {
		name := "go"
		if asm {
			name = "avx2"
			if !haveVecAsm {
				t.Logf("no AVX2+FMA on this CPU: skipping the assembly kernels")
				continue
			}
		}
		useVecAsm = asm
		t.Run(name, f)
	}
}

// testInputs returns n random float32 values (uniform over [-30, 30] and
// log-uniform magnitudes from 1e-30 to 1e30) followed by the extremes.
func testInputs(n int) []float32 {
	rng := rand.New(rand.NewPCG(1, 2))
	v := make([]float32, 0, n+64)
	for i := 0; i < n; i++ {
		if i%2 == 0 {
			v = append(v, float32(rng.Float64()*60-30))
		} else {
			m := math.Pow(10, rng.Float64()*60-30)
			if rng.IntN(2) == 0 {
				m = -m
			}
			v = append(v, float32(m))
		}
	}
	for _, x := range []float64{0, 1e-45, 1e-38, 1e-7, 0.0999999, 0.1, 0.1000001, 0.5, 1, 8.99, 9, 9.01, 20,
		43, 44, 86.9, 87, 87.1, 88, 88.8, 89, 100, 1e10, math.MaxFloat32, math.Inf(1)} {
		v = append(v, float32(x), float32(-x))
	}
	v = append(v, float32(math.Copysign(0, -1)))
	return v
}

func refSigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func checkSigmoid(t *testing.T, src, got []float32) {
	t.Helper()
	bad := 0
	for i, x := range src {
		y := got[i]
		switch {
		case x < -87:
			// Clamped: σ(-87) ≈ 1.6e-38, zero to within that.
			if !(y >= 0 && float64(y) <= refSigmoid(-87)*(1+4e-7)) {
				t.Errorf("σ(%g) = %g, want in [0, σ(-87)]", x, y)
				bad++
			}
		default:
			want := refSigmoid(float64(x))
			if rel := math.Abs(float64(y)-want) / want; !(rel <= 4e-7) {
				t.Errorf("σ(%g) = %g, want %g (relative error %.3g)", x, y, want, rel)
				bad++
			}
		}
		if bad > 10 {
			t.Fatal("too many errors")
		}
	}
}

func checkTanh(t *testing.T, src, got []float32) {
	t.Helper()
	bad := 0
	for i, x := range src {
		want := math.Tanh(float64(x))
		if d := math.Abs(float64(got[i]) - want); !(d <= 3e-7) {
			t.Errorf("tanh(%g) = %g, want %g (error %.3g)", x, got[i], want, d)
			bad++
		}
		if bad > 10 {
			t.Fatal("too many errors")
		}
	}
}

func TestAccuracy(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 50_000
	}
	src := testInputs(n)
	impls(t, func(t *testing.T) {
		got := make([]float32, len(src))
		Sigmoid(got, src)
		checkSigmoid(t, src, got)
		Tanh(got, src)
		checkTanh(t, src, got)
	})
}

func TestSpecialValues(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	tests := []struct {
		name      string
		x         float32
		sig, tanh float32 // NaN means "want NaN"
	}{
		{"NaN", nan, nan, nan},
		{"-NaN", -nan, nan, nan},
		{"+Inf", inf, 1, 1},
		{"-Inf", -inf, 0, -1},
		{"0", 0, 0.5, 0},
		{"max", math.MaxFloat32, 1, 1},
		{"-max", -math.MaxFloat32, 0, -1},
	}
	same := func(got, want float32) bool {
		if want != want {
			return got != got
		}
		if want == 0 {
			return math.Abs(float64(got)) < 2e-38
		}
		return got == want
	}
	impls(t, func(t *testing.T) {
		for _, tc := range tests {
			// Put the value in every lane position of a 9-long slice, so the
			// 8-wide body and the tail both see it.
			for pos := 0; pos < 9; pos++ {
				src := make([]float32, 9)
				for i := range src {
					src[i] = 0.3
				}
				src[pos] = tc.x
				s, h := make([]float32, 9), make([]float32, 9)
				Sigmoid(s, src)
				Tanh(h, src)
				if !same(s[pos], tc.sig) || !same(h[pos], tc.tanh) {
					t.Errorf("%s at %d: σ = %g, tanh = %g; want %g, %g", tc.name, pos, s[pos], h[pos], tc.sig, tc.tanh)
				}
				if s[(pos+1)%9] != s[(pos+2)%9] && pos != (pos+1)%9 && pos != (pos+2)%9 {
					t.Errorf("%s at %d: neighbours differ: %g, %g", tc.name, pos, s[(pos+1)%9], s[(pos+2)%9])
				}
			}
		}
	})
}

// TestLengthsAndAliasing checks every length 0..40 (all tail sizes), in place
// and out of place, that nothing beyond len(src) is written, and that an
// element's result does not depend on its position.
func TestLengthsAndAliasing(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	impls(t, func(t *testing.T) {
		for _, f := range []struct {
			name string
			fn   func(dst, src []float32)
		}{{"sigmoid", Sigmoid}, {"tanh", Tanh}} {
			x := float32(0.7311)
			var ref [1]float32
			f.fn(ref[:], []float32{x})
			for n := 0; n <= 40; n++ {
				src := make([]float32, n)
				for i := range src {
					src[i] = float32(rng.NormFloat64() * 4)
				}
				if n > 0 {
					src[rng.IntN(n)] = x
				}
				dst := make([]float32, n+3)
				for i := range dst {
					dst[i] = -7
				}
				f.fn(dst, src)
				for i := n; i < n+3; i++ {
					if dst[i] != -7 {
						t.Fatalf("%s n=%d: wrote dst[%d] = %g beyond len(src)", f.name, n, i, dst[i])
					}
				}
				in := append([]float32(nil), src...)
				f.fn(in, in)
				for i := range src {
					if in[i] != dst[i] {
						t.Fatalf("%s n=%d: in place [%d] = %g, out of place %g", f.name, n, i, in[i], dst[i])
					}
					if src[i] == x && dst[i] != ref[0] {
						t.Fatalf("%s n=%d: f(%g) at %d = %g, alone %g", f.name, n, x, i, dst[i], ref[0])
					}
				}
				if f.name == "sigmoid" {
					checkSigmoid(t, src, dst[:n])
				} else {
					checkTanh(t, src, dst[:n])
				}
			}
		}
	})
}

func TestShortDstPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Sigmoid with len(dst) < len(src) did not panic")
		}
	}()
	Sigmoid(make([]float32, 3), make([]float32, 4))
}

func benchInput() []float32 {
	rng := rand.New(rand.NewPCG(5, 6))
	v := make([]float32, 1024)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * 3)
	}
	return v
}

func BenchmarkSigmoid(b *testing.B) {
	src := benchInput()
	dst := make([]float32, len(src))
	for _, asm := range []bool{true, false} {
		if asm && !haveVecAsm {
			continue
		}
		name := map[bool]string{true: "avx2", false: "scalar"}[asm]
		b.Run(name, func(b *testing.B) {
			saved := useVecAsm
			defer func() { useVecAsm = saved }()
			useVecAsm = asm
			b.ReportAllocs()
			b.SetBytes(int64(4 * len(src)))
			for b.Loop() {
				Sigmoid(dst, src)
			}
		})
	}
}

func BenchmarkTanh(b *testing.B) {
	src := benchInput()
	dst := make([]float32, len(src))
	for _, asm := range []bool{true, false} {
		if asm && !haveVecAsm {
			continue
		}
		name := map[bool]string{true: "avx2", false: "scalar"}[asm]
		b.Run(name, func(b *testing.B) {
			saved := useVecAsm
			defer func() { useVecAsm = saved }()
			useVecAsm = asm
			b.ReportAllocs()
			b.SetBytes(int64(4 * len(src)))
			for b.Loop() {
				Tanh(dst, src)
			}
		})
	}
}
