package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// refGemm is a float64 reference for Gemm; it also returns, per element, the
// magnitude |alpha|·Σ|a||b| + |beta|·|c| that bounds the rounding error.
func refGemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) (want, mag []float64) {
	want = make([]float64, m*n)
	mag = make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, sa float64
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
				sa += math.Abs(float64(av) * float64(bv))
			}
			cv := 0.0
			if beta != 0 {
				cv = float64(c[i*ldc+j])
			}
			want[i*n+j] = float64(alpha)*s + float64(beta)*cv
			mag[i*n+j] = math.Abs(float64(alpha))*sa + math.Abs(float64(beta)*cv)
		}
	}
	return want, mag
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

type gemmCase struct {
	transA, transB bool
	m, n, k        int
	pad            int // extra leading-dimension elements on a, b and c
	alpha, beta    float32
}

func (g gemmCase) String() string {
	return fmt.Sprintf("tA=%v,tB=%v,m=%d,n=%d,k=%d,pad=%d,alpha=%g,beta=%g", g.transA, g.transB, g.m, g.n, g.k, g.pad, g.alpha, g.beta)
}

func gemmCases() []gemmCase {
	var cs []gemmCase
	sizes := [][3]int{
		{1, 1, 1}, {3, 3, 3}, {1, 17, 3}, {17, 1, 65}, {6, 16, 1}, {7, 17, 5}, {12, 32, 256},
		{17, 65, 257}, {65, 17, 3}, {3, 257, 17}, {257, 3, 65}, {65, 65, 65}, {13, 33, 513},
		{61, 530, 7}, {1, 1, 300}, {5, 15, 0}, {4, 4, 0},
	}
	ab := [][2]float32{{1, 0}, {1, 1}, {-0.5, 2.5}, {2, 0}, {0, 3}}
	i := 0
	for _, s := range sizes {
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				pad := []int{0, 1, 5}[i%3]
				x := ab[i%len(ab)]
				cs = append(cs, gemmCase{ta, tb, s[0], s[1], s[2], pad, x[0], x[1]})
				i++
			}
		}
	}
	return cs
}

// operands returns random a, b and c for g, each row padded by g.pad, and
// their row strides.
func (g gemmCase) operands(r *rand.Rand) (a, b, c []float32, lda, ldb, ldc int) {
	ar, ac := g.m, g.k
	if g.transA {
		ar, ac = g.k, g.m
	}
	br, bc := g.k, g.n
	if g.transB {
		br, bc = g.n, g.k
	}
	lda, ldb, ldc = max(ac, 1)+g.pad, max(bc, 1)+g.pad, g.n+g.pad
	return randSlice(r, max(ar*lda, 1)), randSlice(r, max(br*ldb, 1)), randSlice(r, g.m*ldc), lda, ldb, ldc
}

// runGemmCase runs c through Gemm and checks it against refGemm, including
// that the padding between rows of c is left untouched.
func runGemmCase(t *testing.T, r *rand.Rand, g gemmCase) {
	t.Helper()
	a, b, c, lda, ldb, ldc := g.operands(r)
	if g.beta == 0 {
		// beta == 0 must not read c.
		for i := range c {
			c[i] = float32(math.NaN())
		}
	}
	orig := append([]float32(nil), c...)
	want, mag := refGemm(g.transA, g.transB, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, c, ldc)
	Gemm(g.transA, g.transB, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, c, ldc)
	tol := float64(g.k+4) * 0x1p-23
	bad := 0
	for i := 0; i < g.m; i++ {
		for j := 0; j < ldc; j++ {
			got := c[i*ldc+j]
			if j >= g.n {
				if math.Float32bits(got) != math.Float32bits(orig[i*ldc+j]) {
					t.Fatalf("%v: padding c[%d][%d] changed to %g", g, i, j, got)
				}
				continue
			}
			w, e := want[i*g.n+j], mag[i*g.n+j]
			if d := math.Abs(float64(got) - w); !(d <= tol*e+1e-30) {
				bad++
				if bad <= 3 {
					t.Errorf("%v: c[%d][%d] = %g, want %g (err %g > %g)", g, i, j, got, w, d, tol*e)
				}
			}
		}
	}
	if bad > 3 {
		t.Errorf("%v: %d wrong elements", g, bad)
	}
}

func TestGemm(t *testing.T) {
	defer SetThreads(Threads())
	for _, th := range []int{1, 2, 3} {
		SetThreads(th)
		r := rand.New(rand.NewPCG(1, uint64(th)))
		for _, g := range gemmCases() {
			runGemmCase(t, r, g)
		}
	}
}

// TestGemmSplit covers products large enough to be split across goroutines,
// in both the m and the n direction, with edges that are not tile multiples.
func TestGemmSplit(t *testing.T) {
	if testing.Short() {
		t.Skip("large products")
	}
	defer SetThreads(Threads())
	r := rand.New(rand.NewPCG(2, 2))
	for _, th := range []int{2, 3} {
		SetThreads(th)
		for _, s := range [][3]int{{301, 97, 300}, {97, 301, 300}, {130, 530, 40}} {
			for i, ta := range []bool{false, true} {
				for _, tb := range []bool{false, true} {
					runGemmCase(t, r, gemmCase{ta, tb, s[0], s[1], s[2], i * 3, 1.5, 0.5})
				}
			}
		}
	}
}

// TestGemmDeterministic checks that for a fixed thread count the same inputs
// give the same bits, and that the split does not change any bit either.
func TestGemmDeterministic(t *testing.T) {
	defer SetThreads(Threads())
	r := rand.New(rand.NewPCG(3, 3))
	m, n, k := 200, 150, 600
	a, b := randSlice(r, m*k), randSlice(r, k*n)
	run := func(th int) []float32 {
		SetThreads(th)
		c := make([]float32, m*n)
		Gemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
		return c
	}
	same := func(what string, got, want []float32) {
		t.Helper()
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%s: c[%d] = %x, want %x", what, i, math.Float32bits(got[i]), math.Float32bits(want[i]))
			}
		}
	}
	ref := run(1)
	for _, th := range []int{1, 2, 3} {
		first := run(th)
		same(fmt.Sprintf("threads=%d, second run", th), run(th), first)
		// The pure-Go kernel's splits are tile aligned, so even the thread
		// count does not change any bit. OpenBLAS makes no such promise.
		if Backend() != "openblas" {
			same(fmt.Sprintf("threads=%d vs 1", th), first, ref)
		}
	}
}

func TestGemmPanics(t *testing.T) {
	a := make([]float32, 12)
	b := make([]float32, 12)
	c := make([]float32, 12)
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"negative m", func() { Gemm(false, false, -1, 2, 2, 1, a, 2, b, 2, 0, c, 2) }},
		{"lda too small", func() { Gemm(false, false, 3, 4, 3, 1, a, 2, b, 4, 0, c, 4) }},
		{"lda too small transA", func() { Gemm(true, false, 4, 3, 3, 1, a, 3, b, 3, 0, c, 3) }},
		{"ldb too small transB", func() { Gemm(false, true, 3, 3, 4, 1, a, 4, b, 3, 0, c, 3) }},
		{"ldc too small", func() { Gemm(false, false, 3, 4, 3, 1, a, 3, b, 4, 0, c, 3) }},
		{"a too short", func() { Gemm(false, false, 4, 3, 4, 1, a, 4, b, 3, 0, c, 3) }},
		{"b too short transB", func() { Gemm(false, true, 2, 4, 4, 1, a, 4, b, 4, 0, c, 4) }},
		{"c too short", func() { Gemm(false, false, 4, 4, 1, 1, a, 1, b, 4, 0, c, 4) }},
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
	// Exactly fitting slices must not panic (rows past the last need no padding).
	Gemm(false, false, 3, 3, 4, 1, a, 4, b, 3, 0, c[:3*4-1], 4)
}

func TestGemmEmpty(t *testing.T) {
	c := []float32{7}
	Gemm(false, false, 0, 1, 3, 1, nil, 3, []float32{1, 2, 3}, 1, 0, nil, 1)
	Gemm(false, false, 1, 0, 3, 1, []float32{1, 2, 3}, 3, nil, 1, 0, c, 1)
	if c[0] != 7 {
		t.Errorf("n = 0 wrote c: %v", c)
	}
	Gemm(false, false, 1, 1, 0, 1, nil, 1, nil, 1, 0.5, c, 1)
	if c[0] != 3.5 {
		t.Errorf("k = 0: c = %v, want 3.5", c)
	}
}
