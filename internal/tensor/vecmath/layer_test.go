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
		both(func(dst []float32) { MulZ(dst, a, b) }, zero)
		both(func(dst []float32) { MulZ(dst, dst, b) }, a)
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
		if Mul(got[:8], in[:8], dy[:8]); math.Float32bits(got[2]) != math.Float32bits(negZero) {
			t.Errorf("asm=%v: Mul(-0, 3) = %v, want -0", asm, got[2])
		}
		if MulZ(got[:8], in[:8], dy[:8]); math.Float32bits(got[2]) != 0 || got[1] != 6 {
			t.Errorf("asm=%v: MulZ = %v, want +0 at 2 and 6 at 1", asm, got[:8])
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

// TestAddRowsExact: AddRows' AVX2 body gives the Go loop's bits at widths
// around its 64- and 8-column steps, for 1 to 70 rows (past the 32 it hands
// the body at once), with special values and sums that round.
func TestAddRowsExact(t *testing.T) {
	if !haveVecAsm {
		t.Skip("no AVX2 + FMA")
	}
	saved := useVecAsm
	defer func() { useVecAsm = saved }()
	r := rand.New(rand.NewPCG(6, 6))
	for _, n := range []int{1, 7, 8, 9, 63, 64, 65, 72, 128, 137, 256, 320} {
		for _, nr := range []int{1, 2, 31, 32, 33, 70} {
			rows := make([][]float32, nr)
			for k := range rows {
				rows[k] = cellInputs(r, n+k%3) // rows may be longer than dst
				for j := range rows[k] {
					if (j+k)%13 == 0 {
						rows[k][j] = float32(r.NormFloat64() * 1e7)
					}
				}
			}
			init := cellInputs(r, n)
			want, got := append([]float32(nil), init...), append([]float32(nil), init...)
			useVecAsm = false
			AddRows(want, rows)
			useVecAsm = true
			AddRows(got, rows)
			sameBits(t, "AddRows", got, want)
		}
	}
}

// TestAddRowsValues: three rows onto a start, in order.
func TestAddRowsValues(t *testing.T) {
	for _, asm := range []bool{false, haveVecAsm} {
		saved := useVecAsm
		useVecAsm = asm
		n := 70
		dst := make([]float32, n)
		rows := make([][]float32, 3)
		for k := range rows {
			rows[k] = make([]float32, n)
			for j := range rows[k] {
				rows[k][j] = float32((k + 1) * j)
			}
		}
		for j := range dst {
			dst[j] = 1
		}
		AddRows(dst, rows)
		for j, v := range dst {
			if w := float32(1 + 6*j); v != w {
				t.Errorf("asm=%v: AddRows[%d] = %v, want %v", asm, j, v, w)
			}
		}
		// Order shows: 2^24 + 1 rounds to 2^24 (ties to even), so adding 1
		// twice in turn leaves 2^24, where adding the rows first (1 + 1)
		// would give 2^24 + 2.
		dst[0] = 1 << 24
		AddRows(dst[:8], [][]float32{{1, 0, 0, 0, 0, 0, 0, 0}, {1, 0, 0, 0, 0, 0, 0, 0}})
		if dst[0] != 1<<24 {
			t.Errorf("asm=%v: AddRows added out of order: %v", asm, dst[0])
		}
		useVecAsm = saved
	}
}

// TestAdamExact: Adam's AVX2 body gives the Go loop's bits, at lengths
// around the vector width, with Keep 1 and not, special gradients included.
func TestAdamExact(t *testing.T) {
	if !haveVecAsm {
		t.Skip("no AVX2 + FMA")
	}
	saved := useVecAsm
	defer func() { useVecAsm = saved }()
	r := rand.New(rand.NewPCG(7, 7))
	for _, keep := range []float32{1, 0.9999} {
		k := &AdamConsts{C1: 0.1, B2: 0.999, C2: 0.001, StepSize: 0.0123, InvBc2: 3.7, Eps: 1e-8, Keep: keep}
		for n := 0; n <= 41; n++ {
			w0, g0, m0 := cellInputs(r, n), cellInputs(r, n), cellInputs(r, n)
			v0 := make([]float32, n)
			for i := range v0 {
				v0[i] = float32(r.ExpFloat64()) // a second moment is ≥ 0
			}
			var out [2][4][]float32
			for a, asm := range []bool{false, true} {
				w, g, m, v := append([]float32(nil), w0...), append([]float32(nil), g0...), append([]float32(nil), m0...), append([]float32(nil), v0...)
				useVecAsm = asm
				Adam(k, w, g, m, v)
				out[a] = [4][]float32{w, g, m, v}
			}
			for j, name := range []string{"w", "g", "m", "v"} {
				sameBits(t, "Adam "+name, out[1][j], out[0][j])
			}
		}
	}
}

// TestAdamValues: one step by hand, with C1 = 0.1, B2 = C2 = 0.5 from m = 0,
// v = 1, w = 1 and g = 2: m = 0.1·2 = 0.2, v = 0.5·1 + 0.5·2·2 = 2.5,
// w = 1 − 0.2/√2.5; g is cleared.
func TestAdamValues(t *testing.T) {
	for _, asm := range []bool{false, haveVecAsm} {
		saved := useVecAsm
		useVecAsm = asm
		k := &AdamConsts{C1: 0.1, B2: 0.5, C2: 0.5, StepSize: 1, InvBc2: 1, Eps: 0, Keep: 1}
		w, g, m, v := make([]float32, 9), make([]float32, 9), make([]float32, 9), make([]float32, 9)
		for i := range w {
			w[i], g[i], v[i] = 1, 2, 1
		}
		Adam(k, w, g, m, v)
		want := float32(1 - 0.2/math.Sqrt(2.5))
		for i := range w {
			if m[i] != float32(0.2) || v[i] != 2.5 || g[i] != 0 || math.Abs(float64(w[i]-want)) > 1e-7 {
				t.Errorf("asm=%v [%d]: w %v m %v v %v g %v, want w %v m 0.2 v 2.5 g 0", asm, i, w[i], m[i], v[i], g[i], want)
			}
		}
		useVecAsm = saved
	}
}
