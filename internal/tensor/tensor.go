// Package tensor holds the float32 kernels that the whole engine runs on.
//
// Matrices are dense, row-major float32 slices with an explicit leading
// dimension. Every kernel takes the destination first and states its shapes.
// There is one API with two implementations chosen at build time: the default
// pure-Go build (gonum's BLAS plus hand-written loops, no cgo) and an OpenBLAS
// build under the build tag "openblas" (cgo, Debian libopenblas-dev), where
// OpenBLAS runs single-threaded and the parallelism is done in Go.
//
// Kernels panic only on programmer errors (shape mismatches inside the engine).
package tensor

import (
	"runtime"
	"sync"
	"sync/atomic"
)

var threads atomic.Int32

func init() { threads.Store(int32(runtime.GOMAXPROCS(0))) }

// SetThreads sets how many goroutines a kernel may split its work across.
// n < 1 means all cores. The default is GOMAXPROCS.
func SetThreads(n int) {
	if n < 1 {
		n = runtime.GOMAXPROCS(0)
	}
	threads.Store(int32(n))
}

// Threads reports the number of goroutines kernels may use.
func Threads() int { return int(threads.Load()) }

// Backend names the kernel implementation compiled in: "gonum" or "openblas".
func Backend() string { return backend }

// Parallel runs fn over [0,n) split into at most Threads() contiguous chunks
// of at least minChunk items, and waits for all of them. With one chunk it
// runs on the calling goroutine. Chunk boundaries depend only on n, minChunk
// and Threads(), so results are deterministic for a fixed thread count.
func Parallel(n, minChunk int, fn func(lo, hi int)) {
	t := Threads()
	if minChunk < 1 {
		minChunk = 1
	}
	if c := n / minChunk; c < t {
		t = c
	}
	if t <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	var wg sync.WaitGroup
	step := (n + t - 1) / t
	for lo := step; lo < n; lo += step {
		hi := min(lo+step, n)
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(lo, hi)
	}
	fn(0, min(step, n))
	wg.Wait()
}

// Gemm computes c[m×n] = alpha·op(a)·op(b) + beta·c, where op(a) is a[m×k]
// (or aᵀ with a stored as [k×m] when transA), op(b) is b[k×n] (or bᵀ with b
// stored as [n×k] when transB). lda, ldb and ldc are the row strides.
// The work is split across Threads() goroutines when it is large enough.
func Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	// Split the larger output dimension across goroutines; each part is an
	// independent single-threaded gemm.
	const minWork = 1 << 16 // multiply-adds per part below which splitting does not pay
	parts := Threads()
	if w := m * n * max(k, 1) / minWork; w < parts {
		parts = max(w, 1)
	}
	if parts <= 1 {
		gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	if m >= n {
		Parallel(m, (m+parts-1)/parts, func(lo, hi int) {
			var as []float32
			if transA {
				as = a[lo:]
			} else {
				as = a[lo*lda:]
			}
			gemm(transA, transB, hi-lo, n, k, alpha, as, lda, b, ldb, beta, c[lo*ldc:], ldc)
		})
		return
	}
	Parallel(n, (n+parts-1)/parts, func(lo, hi int) {
		var bs []float32
		if transB {
			bs = b[lo*ldb:]
		} else {
			bs = b[lo:]
		}
		gemm(transA, transB, m, hi-lo, k, alpha, a, lda, bs, ldb, beta, c[lo:], ldc)
	})
}

func checkGemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	if m < 0 || n < 0 || k < 0 || lda < max(ac, 1) || ldb < max(bc, 1) || ldc < max(n, 1) {
		panic("tensor: Gemm bad dimensions")
	}
	if (ar > 0 && len(a) < (ar-1)*lda+ac) || (br > 0 && len(b) < (br-1)*ldb+bc) || (m > 0 && len(c) < (m-1)*ldc+n) {
		panic("tensor: Gemm slice too short")
	}
}
