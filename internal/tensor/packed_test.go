package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// packedCases are the shapes of TestGemmPackedSameBits: every gemmCase, and
// products past one kc-deep block (k > kc), one nc-wide block (n > nc) and
// both, with edge tiles in m and n, large enough to be split on 2 and 3
// threads in either direction.
func packedCases() []gemmCase {
	cs := gemmCases()
	sizes := [][3]int{
		{100, 256, 300}, {100, 1, 64}, {7, 600, 257}, {301, 97, 300}, {97, 301, 300},
		{130, 530, 40}, {61, 1100, 520}, {256, 48, 600}, {5, 513, 17}, {33, 16, 256},
	}
	for i, s := range sizes {
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				cs = append(cs, gemmCase{ta, tb, s[0], s[1], s[2], i % 3, []float32{1, 1.5, -0.5}[i%3], []float32{1, 0, 0.5}[i%3]})
			}
		}
	}
	return cs
}

// TestGemmPackedSameBits checks that a product with a pre-packed b
// (GemmPacked) gives the same bits as GemmThreads on b, which packs b as it
// goes, on 1, 2 and 3 threads, and leaves the padding of c alone.
func TestGemmPackedSameBits(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for _, th := range []int{1, 2, 3} {
		for _, g := range packedCases() {
			a, b, c0, lda, ldb, ldc := g.operands(r)
			want := append([]float32(nil), c0...)
			GemmThreads(th, g.transA, g.transB, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, want, ldc)
			p := Pack(g.transB, g.k, g.n, b, ldb)
			got := append([]float32(nil), c0...)
			GemmPacked(th, g.transA, g.m, g.alpha, a, lda, p, g.beta, got, ldc)
			sameBits(t, fmt.Sprintf("threads=%d %v", th, g), got, want)
		}
	}
}

// TestRepackFollowsB checks that Repack after a write to b gives the
// products of the new b, and that a Packed keeps the values it was packed
// with until then (it is a copy, not a view, on the pure-Go kernel).
func TestRepackFollowsB(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	m, n, k := 100, 70, 300
	a, b := randSlice(r, m*k), randSlice(r, k*n)
	prod := func(p *Packed) []float32 {
		c := make([]float32, m*n)
		GemmPacked(1, false, m, 1, a, k, p, 0, c, n)
		return c
	}
	plain := func() []float32 {
		c := make([]float32, m*n)
		GemmThreads(1, false, false, m, n, k, 1, a, k, b, n, 0, c, n)
		return c
	}
	p := Pack(false, k, n, b, n)
	before := plain()
	sameBits(t, "fresh pack", prod(p), before)
	for i := range b {
		b[i] = -b[i] * 0.5
	}
	after := plain()
	if Backend() == "go-avx2" {
		sameBits(t, "stale pack keeps the packed values", prod(p), before)
	}
	p.Repack(false, k, n, b, n)
	sameBits(t, "repacked", prod(p), after)
}

func TestPackPanics(t *testing.T) {
	b := make([]float32, 12)
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"negative k", func() { Pack(false, -1, 2, b, 2) }},
		{"ldb too small", func() { Pack(false, 3, 4, b, 3) }},
		{"ldb too small transB", func() { Pack(true, 4, 3, b, 3) }},
		{"b too short", func() { Pack(false, 4, 4, b, 4) }},
		{"m×k a too short", func() { GemmPacked(1, false, 2, 1, b[:5], 3, Pack(false, 3, 4, b, 4), 0, make([]float32, 8), 4) }},
		{"c too short", func() { GemmPacked(1, false, 2, 1, b, 3, Pack(false, 3, 4, b, 4), 0, make([]float32, 7), 4) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("no panic")
				}
			}()
			tc.f()
		})
	}
}

func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
			t.Fatalf("%s: c[%d] = %g (%x), want %g (%x)", what, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}
