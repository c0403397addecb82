package tensor

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

type benchShape struct {
	name           string
	transA, transB bool
	m, n, k        int
}

// benchShapes are the small and large squares and the gemms of one mlp24
// tower (package internal/bench): per layer in→out at batch 1024, the forward x·W, the
// weight gradient xᵀ·dz and the input gradient dz·Wᵀ, as internal/nn calls them.
func benchShapes() []benchShape {
	s := []benchShape{{name: "small64", m: 64, n: 64, k: 64}}
	for _, l := range [][2]int{{384, 256}, {256, 128}, {128, 64}, {64, 1}} {
		in, out := l[0], l[1]
		s = append(s,
			benchShape{fmt.Sprintf("fwd%dx%d", in, out), false, false, 1024, out, in},
			benchShape{fmt.Sprintf("dW%dx%d", in, out), true, false, in, out, 1024},
			benchShape{fmt.Sprintf("dX%dx%d", in, out), false, true, 1024, in, out},
		)
	}
	return append(s, benchShape{name: "large1024", m: 1024, n: 1024, k: 1024})
}

func (s benchShape) operands() (a, b, c []float32, lda, ldb int) {
	r := rand.New(rand.NewPCG(5, 5))
	lda, ldb = s.k, s.n
	if s.transA {
		lda = s.m
	}
	if s.transB {
		ldb = s.k
	}
	return randSlice(r, s.m*s.k), randSlice(r, s.k*s.n), randSlice(r, s.m*s.n), lda, ldb
}

func reportFlops(b *testing.B, s benchShape) {
	b.ReportMetric(2*float64(s.m)*float64(s.n)*float64(s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkGemm measures Gemm (the backend of this build) at 1 and 2 threads.
func BenchmarkGemm(b *testing.B) {
	defer SetThreads(Threads())
	for _, s := range benchShapes() {
		for _, th := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", s.name, th), func(b *testing.B) {
				SetThreads(th)
				x, y, z, lda, ldb := s.operands()
				b.ReportAllocs()
				for b.Loop() {
					Gemm(s.transA, s.transB, s.m, s.n, s.k, 1, x, lda, y, ldb, 1, z, s.n)
				}
				reportFlops(b, s)
			})
		}
	}
}

// BenchmarkGonumSgemm is the baseline: gonum's Sgemm called directly, with
// GOMAXPROCS set to the thread count (gonum splits large products itself).
func BenchmarkGonumSgemm(b *testing.B) {
	var impl gonum.Implementation
	for _, s := range benchShapes() {
		for _, th := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", s.name, th), func(b *testing.B) {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(th))
				x, y, z, lda, ldb := s.operands()
				ta, tb := blas.NoTrans, blas.NoTrans
				if s.transA {
					ta = blas.Trans
				}
				if s.transB {
					tb = blas.Trans
				}
				b.ReportAllocs()
				for b.Loop() {
					impl.Sgemm(ta, tb, s.m, s.n, s.k, 1, x, lda, y, ldb, 1, z, s.n)
				}
				reportFlops(b, s)
			})
		}
	}
}

// BenchmarkMLP24Step runs every gemm of one mlp24 train step (two towers ×
// four layers × forward, dW, dX) and reports the gemm-only bound on train
// samples/s at batch 1024.
func BenchmarkMLP24Step(b *testing.B) {
	defer SetThreads(Threads())
	var shapes []benchShape
	for _, s := range benchShapes() {
		if s.name != "small64" && s.name != "large1024" {
			shapes = append(shapes, s)
		}
	}
	type ops struct {
		a, b, c  []float32
		lda, ldb int
	}
	o := make([]ops, len(shapes))
	flops := 0.0
	for i, s := range shapes {
		o[i].a, o[i].b, o[i].c, o[i].lda, o[i].ldb = s.operands()
		flops += 2 * 2 * float64(s.m*s.n*s.k)
	}
	for _, th := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", th), func(b *testing.B) {
			SetThreads(th)
			b.ReportAllocs()
			for b.Loop() {
				for tower := 0; tower < 2; tower++ {
					for i, s := range shapes {
						Gemm(s.transA, s.transB, s.m, s.n, s.k, 1, o[i].a, o[i].lda, o[i].b, o[i].ldb, 1, o[i].c, s.n)
					}
				}
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(sec*1e3, "ms/step")
			b.ReportMetric(1024/sec, "samples/s")
			b.ReportMetric(flops/sec/1e9, "GFLOP/s")
		})
	}
}
