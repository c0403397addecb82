package vecmath

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestLayerKernelsExact: the AVX2 bodies of Mul, ReLU, ReLUBackward and
// SumRows give the Go loops' results bit for bit, at every length around
// the vector widths (8, and SumRows' 32 columns), with special values, in
// place for the element-wise three.
func TestLayerKernelsExact(t *testing.T) {
	if !haveVecAsm {
		t.Skip("no AVX2 + FMA")
	}
	saved := useVecAsm
	defer func() { useVecAsm = saved }()
	r := rand.New(rand.NewPCG(5, 5))
	both := func(f func(dst []float32), init []float32) {
		t.Helper()
		want, got := append([]float32(nil), init...), append([]float32(nil), init...)
		useVecAsm = false
		f(want)
		useVecAsm = true
		f(got)
		sameBits(t, "kernel", got, want)
	}
	for n := 0; n <= 41; n++ {
		a, b := cellInputs(r, n), cellInputs(r, n)
		zero := make([]float32, n)
		both(func(dst []float32) { Mul(dst, a, b) }, zero)
		both(func(dst []float32) { ReLU(dst, a) }, zero)
		both(func(dst []float32) { ReLUBackward(dst, a, b) }, zero)
		both(func(dst []float32) { Mul(dst, dst, b) }, a)
		both(func(dst []float32) { ReLU(dst, dst) }, a)
		both(func(dst []float32) { ReLUBackward(dst, dst, b) }, a)
	}
	for _, n := range []int{1, 7, 8, 9, 31, 32, 33, 40, 64, 71, 96} {
		for _, rows := range []int{1, 2, 5} {
			stride := n + 3
			src := cellInputs(r, rows*stride)
			for i := range src {
				if i%17 == 0 {
					src[i] = float32(r.NormFloat64() * 1e6) // sums that round
				}
			}
			both(func(dst []float32) { SumRows(dst, src, rows, stride) }, cellInputs(r, n))
		}
	}
}

// TestLayerKernelsValues checks the Go expressions themselves.
func TestLayerKernelsValues(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	nan := float32(math.NaN())
	for _, asm := range []bool{false, haveVecAsm} {
		saved := useVecAsm
		useVecAsm = asm
		in := []float32{-2, 3, negZero, 0, 0.5, -1e-30, nan, 7, 1, -1}
		got := make([]float32, len(in))
		ReLU(got, in)
		want := []float32{0, 3, 0, 0, 0.5, 0, 0, 7, 1, 0}
		for i := range want {
			if i == 6 {
				if !math.IsNaN(float64(got[i])) { // math.NaN is a positive NaN: kept
					t.Errorf("asm=%v: ReLU(NaN) = %v", asm, got[i])
				}
				continue
			}
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Errorf("asm=%v: ReLU(%v) = %v, want %v", asm, in[i], got[i], want[i])
			}
		}
		dy := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
		ReLUBackward(got, dy, want)
		wantD := []float32{0, 2, 0, 0, 5, 0, 0, 8, 9, 0}
		for i := range wantD {
			if got[i] != wantD[i] {
				t.Errorf("asm=%v: ReLUBackward[%d] = %v, want %v", asm, i, got[i], wantD[i])
			}
		}
		Mul(got, in[:9], dy[:9])
		if got[1] != 6 || got[4] != 2.5 || got[7] != 56 {
			t.Errorf("asm=%v: Mul = %v", asm, got)
		}
		// Three rows of 9 columns at stride 10, onto a start of 1 each.
		src := make([]float32, 30)
		for i := range src {
			src[i] = float32(i)
		}
		sum := make([]float32, 9)
		for j := range sum {
			sum[j] = 1
		}
		SumRows(sum, src, 3, 10)
		for j, v := range sum {
			if w := float32(1 + j + (10 + j) + (20 + j)); v != w {
				t.Errorf("asm=%v: SumRows[%d] = %v, want %v", asm, j, v, w)
			}
		}
		useVecAsm = saved
	}
}
