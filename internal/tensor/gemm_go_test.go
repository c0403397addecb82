//go:build !openblas

package tensor

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestGemmFallback runs the correctness cases through gonum's Sgemm, the
// path taken on CPUs without AVX2+FMA.
func TestGemmFallback(t *testing.T) {
	defer func(u bool) { useKernel = u }(useKernel)
	useKernel = false
	if Backend() != "gonum" {
		t.Fatalf("Backend() = %q with the kernel off", Backend())
	}
	r := rand.New(rand.NewPCG(4, 4))
	for _, g := range gemmCases() {
		runGemmCase(t, r, g)
	}
}

// TestKernel2SameBits: with the AVX-512 6×32 kernel on, Gemm and
// GemmPacked give the same bits as with the AVX2 6×16 kernel alone, for
// every correctness case and wider products (several 32-column tiles, an
// odd panel left over, k past a kc block, beta 0 and not), at 1 to 3
// threads.
func TestKernel2SameBits(t *testing.T) {
	if !haveKernel2 || !useKernel {
		t.Skip("no AVX-512F on this CPU")
	}
	defer func(u bool) { useKernel2 = u }(useKernel2)
	cases := gemmCases()
	for i, s := range [][3]int{{6, 32, 1}, {6, 48, 17}, {12, 64, 300}, {18, 96, 513}, {30, 530, 40}, {7, 1040, 9}, {64, 97, 64}} {
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				x := [][2]float32{{1, 0}, {1, 1}, {-0.5, 2.5}, {2, 0}}[i%4]
				cases = append(cases, gemmCase{ta, tb, s[0], s[1], s[2], i % 3, x[0], x[1]})
			}
		}
	}
	r := rand.New(rand.NewPCG(9, 9))
	tiles := 0
	for _, th := range []int{1, 2, 3} {
		for _, g := range cases {
			a, b, c0, lda, ldb, ldc := g.operands(r)
			run := func(on bool) (plain, packed []float32) {
				useKernel2 = on
				plain = append([]float32(nil), c0...)
				GemmThreads(th, g.transA, g.transB, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, plain, ldc)
				packed = append([]float32(nil), c0...)
				GemmPacked(th, g.transA, g.m, g.alpha, a, lda, Pack(g.transB, g.k, g.n, b, ldb), g.beta, packed, ldc)
				return plain, packed
			}
			want, wantP := run(false)
			got, gotP := run(true)
			name := fmt.Sprintf("threads=%d %v", th, g)
			sameBits(t, name, got, want)
			sameBits(t, name+" packed", gotP, wantP)
			if g.m >= mr && g.n >= 2*nr && g.k > 0 {
				tiles++
			}
		}
	}
	if tiles < 50 {
		t.Fatalf("only %d cases hold a full 6×32 tile", tiles)
	}
}
