package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

// countJob records which part ran each item.
type countJob struct {
	mu    sync.Mutex
	hits  []int
	parts [][2]int
}

func (j *countJob) Run(lo, hi int) {
	for i := lo; i < hi; i++ {
		j.hits[i]++
	}
	j.mu.Lock()
	j.parts = append(j.parts, [2]int{lo, hi})
	j.mu.Unlock()
}

// TestParallelFor: every item runs exactly once, in at most Threads() parts
// of at least minChunk items (but for the last), the same parts on every call.
func TestParallelFor(t *testing.T) {
	defer SetThreads(Threads())
	for _, th := range []int{1, 2, 3, 8} {
		SetThreads(th)
		for _, c := range []struct{ n, min int }{{0, 1}, {1, 1}, {7, 1}, {100, 10}, {100, 60}, {1000, 7}} {
			var first [][2]int
			for rep := range 3 {
				j := &countJob{hits: make([]int, c.n)}
				ParallelFor(c.n, c.min, j)
				for i, h := range j.hits {
					if h != 1 {
						t.Fatalf("threads %d n %d min %d: item %d ran %d times", th, c.n, c.min, i, h)
					}
				}
				if len(j.parts) > th || c.n > 0 && len(j.parts) > max(1, c.n/c.min) {
					t.Fatalf("threads %d n %d min %d: %d parts", th, c.n, c.min, len(j.parts))
				}
				seen := map[[2]int]bool{}
				for _, p := range j.parts {
					seen[p] = true
				}
				if rep == 0 {
					first = j.parts
				} else {
					for _, p := range first {
						if !seen[p] {
							t.Fatalf("threads %d n %d: parts %v, first call %v", th, c.n, j.parts, first)
						}
					}
				}
			}
		}
	}
}

type nopJob struct{ sum []int }

func (j *nopJob) Run(lo, hi int) { j.sum[lo] += hi - lo }

// TestParallelForNoAlloc: on two threads a ParallelFor call with a pointer
// job allocates nothing after the first.
func TestParallelForNoAlloc(t *testing.T) {
	defer SetThreads(Threads())
	SetThreads(2)
	j := &nopJob{sum: make([]int, 100)}
	ParallelFor(100, 1, j)
	if a := testing.AllocsPerRun(50, func() { ParallelFor(100, 1, j) }); a != 0 {
		t.Errorf("%v allocations per call, want 0", a)
	}
}

// TestParallelConcurrentCallers: goroutines that split Gemms and
// ParallelFors at the same time share the workers and still get every
// result right, bit for bit: the split Gemm of a lone caller's (and, on the
// pure-Go kernels, whose sums do not depend on the split, the unsplit
// product's; OpenBLAS rounds a split product differently on some CPUs).
func TestParallelConcurrentCallers(t *testing.T) {
	defer SetThreads(Threads())
	SetThreads(3)
	r := rand.New(rand.NewPCG(9, 9))
	m, n, k := 130, 140, 300
	a, b := randSlice(r, m*k), randSlice(r, k*n)
	want := make([]float32, m*n)
	Gemm(false, false, m, n, k, 1, a, k, b, n, 0, want, n)
	if Backend() != "openblas" {
		whole := make([]float32, m*n)
		gemm(false, false, m, n, k, 1, a, k, b, n, 0, whole, n, nil)
		for i := range whole {
			if math.Float32bits(whole[i]) != math.Float32bits(want[i]) {
				t.Fatalf("split Gemm c[%d] = %v, unsplit %v", i, want[i], whole[i])
			}
		}
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := make([]float32, m*n)
			j := &countJob{hits: make([]int, 5000)}
			for rep := range 30 {
				Gemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
				for i := range c {
					if math.Float32bits(c[i]) != math.Float32bits(want[i]) {
						errs <- fmt.Sprintf("goroutine %d rep %d: c[%d] = %v, want %v", g, rep, i, c[i], want[i])
						return
					}
				}
				ParallelFor(len(j.hits), 16, j)
			}
			for i, h := range j.hits {
				if h != 30 {
					errs <- fmt.Sprintf("goroutine %d: item %d ran %d times, want 30", g, i, h)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestGemmNoAlloc: a Gemm split across two threads allocates nothing after
// the first call.
func TestGemmNoAlloc(t *testing.T) {
	defer SetThreads(Threads())
	SetThreads(2)
	r := rand.New(rand.NewPCG(1, 1))
	m, n, k := 256, 256, 256
	a, b, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
	if gemmParts(m, n, k, 2) < 2 {
		t.Fatal("the product is not split")
	}
	Gemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
	if got := testing.AllocsPerRun(20, func() { Gemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n) }); got != 0 {
		t.Errorf("%v allocations per call, want 0", got)
	}
}
