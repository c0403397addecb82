package vecmath

import (
	"math"
	"math/rand/v2"
	"testing"
)

// cellInputs returns n values: normal draws, with zeros of both signs, ±1,
// a NaN and infinities at fixed places when n is large enough.
func cellInputs(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	special := []float32{0, float32(math.Copysign(0, -1)), 1, -1, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 1e-30}
	for i, s := range special {
		if k := 3 + 5*i; k < n {
			v[k] = s
		}
	}
	return v
}

func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s[%d] = %v (%#x), Go %v (%#x)", what, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}

// TestCellKernelsExact: the AVX2 bodies of Add, MulAdd, Lerp and GRUGrad
// give the Go expressions' results bit for bit, at every length around the
// vector width, with special values, dst aliasing an input for the
// element-wise three.
func TestCellKernelsExact(t *testing.T) {
	if !haveVecAsm {
		t.Skip("no AVX2 + FMA")
	}
	saved := useVecAsm
	defer func() { useVecAsm = saved }()
	r := rand.New(rand.NewPCG(4, 4))
	run := func(asm bool, f func()) {
		useVecAsm = asm
		f()
	}
	for n := 0; n <= 41; n++ {
		a, b, c := cellInputs(r, n), cellInputs(r, n), cellInputs(r, n)
		for name, f := range map[string]func(dst []float32){
			"Add":    func(dst []float32) { Add(dst, a, b) },
			"MulAdd": func(dst []float32) { MulAdd(dst, a, b, c) },
			"Lerp":   func(dst []float32) { Lerp(dst, a, b, c) },
		} {
			want, got := make([]float32, n), make([]float32, n)
			run(false, func() { f(want) })
			run(true, func() { f(got) })
			sameBits(t, name, got, want)
		}
		// In place: dst is the first input.
		want, got := append([]float32(nil), a...), append([]float32(nil), a...)
		run(false, func() { MulAdd(want, want, b, c) })
		run(true, func() { MulAdd(got, got, b, c) })
		sameBits(t, "MulAdd in place", got, want)

		if n == 0 {
			continue
		}
		s, hp, d := cellInputs(r, 4*n), cellInputs(r, n), cellInputs(r, n)
		for _, withHG := range []bool{false, true} {
			var hgw, hgg []float32
			if withHG {
				hgw, hgg = cellInputs(r, n), nil
				hgg = append(hgg, hgw...)
			}
			dxw, dhw, dxg, dhg := make([]float32, 3*n), make([]float32, 3*n), make([]float32, 3*n), make([]float32, 3*n)
			run(false, func() { GRUGrad(dxw, dhw, hgw, s, hp, d) })
			run(true, func() { GRUGrad(dxg, dhg, hgg, s, hp, d) })
			sameBits(t, "GRUGrad dx", dxg, dxw)
			sameBits(t, "GRUGrad dh", dhg, dhw)
			sameBits(t, "GRUGrad hg", hgg, hgw)
		}
	}
}

// TestCellKernelsValues checks the Go expressions themselves on one row.
func TestCellKernelsValues(t *testing.T) {
	dst := make([]float32, 1)
	if Add(dst, []float32{1.5}, []float32{2}); dst[0] != 3.5 {
		t.Errorf("Add: %v", dst[0])
	}
	if MulAdd(dst, []float32{1}, []float32{2}, []float32{3}); dst[0] != 7 {
		t.Errorf("MulAdd: %v", dst[0])
	}
	if Lerp(dst, []float32{0.25}, []float32{4}, []float32{8}); dst[0] != 5 {
		t.Errorf("Lerp: %v", dst[0])
	}
	// r = 0.5, z = 0.25, n = 0.5, hn = 2, hp = 1, d = 1:
	// dn = 0.75·0.75, dz = 0.5·0.25·0.75, dr = dn·2·0.5·0.5.
	dx, dh, hg := make([]float32, 3), make([]float32, 3), []float32{1}
	GRUGrad(dx, dh, hg, []float32{0.5, 0.25, 0.5, 2}, []float32{1}, []float32{1})
	dn, dz := float32(0.5625), float32(0.09375)
	dr := dn * 0.5
	if dx[0] != dr || dx[1] != dz || dx[2] != dn || dh[0] != dr || dh[1] != dz || dh[2] != dn*0.5 || hg[0] != 1.25 {
		t.Errorf("GRUGrad: dx %v dh %v hg %v", dx, dh, hg)
	}
}
