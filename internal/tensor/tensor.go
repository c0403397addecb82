// Package tensor holds the float32 kernels that the whole engine runs on.
//
// Matrices are dense, row-major float32 slices with an explicit leading
// dimension. Every kernel takes the destination first and states its shapes.
// There is one API with two implementations chosen at build time: the default
// pure-Go build (no cgo: a packed, register-blocked sgemm with an AVX2+FMA
// 6×16 micro-kernel in Go assembly on amd64, full 6×32 tiles on an AVX-512
// one where the CPU has AVX-512F (the same bits), and gonum's BLAS on other
// CPUs) and an
// OpenBLAS build under the build tag "openblas" (cgo, Debian libopenblas-dev),
// where OpenBLAS runs single-threaded and the parallelism is done in Go.
// Gemm hands parts of large products to long-lived worker goroutines, so the
// steady state allocates nothing.
//
// Kernels panic only on programmer errors (shape mismatches inside the engine).
package tensor

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
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

// Backend names the kernel implementation in use: "go-avx512" or "go-avx2"
// (pure-Go build, assembly micro-kernels), "gonum" (pure-Go build on CPUs without AVX2+FMA) or
// "openblas".
func Backend() string { return backendName() }

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

// Job is work over a range of items that ParallelFor splits across threads:
// Run(lo, hi) handles items [lo, hi) and touches nothing that another part
// touches. It must not call Gemm or ParallelFor: it may run on one of the
// workers those wait for.
type Job interface{ Run(lo, hi int) }

// ParallelFor runs j over [0, n) split into at most Threads() contiguous
// chunks of at least minChunk items, on the long-lived workers of Gemm and
// on the calling goroutine, and waits for all of them (running any chunk no
// worker has taken yet itself, see wait). With one chunk it
// calls j.Run(0, n) directly. Chunk boundaries depend only on n, minChunk and
// Threads(), so results are deterministic for a fixed thread count. Unlike
// Parallel it allocates nothing when j is a pointer (the nn layers keep
// their jobs in the tape).
func ParallelFor(n, minChunk int, j Job) { ParallelForThreads(Threads(), n, minChunk, j) }

// ParallelForThreads is ParallelFor with at most threads chunks instead of
// Threads() (threads ≤ 1: j.Run(0, n) on the calling goroutine), for work
// that must not depend on the process-wide setting: see GemmThreads.
func ParallelForThreads(threads, n, minChunk int, j Job) {
	t := threads
	if minChunk < 1 {
		minChunk = 1
	}
	if c := n / minChunk; c < t {
		t = c
	}
	if t <= 1 {
		if n > 0 {
			j.Run(0, n)
		}
		return
	}
	step := (n + t - 1) / t
	g := getGroup()
	for lo := step; lo < n; lo += step {
		g.wg.Add(1)
		submit(gemmJob{job: j, lo: lo, hi: min(lo+step, n), g: g})
	}
	j.Run(0, step)
	wait(g)
	putGroup(g)
}

// Gemm computes c[m×n] = alpha·op(a)·op(b) + beta·c, where op(a) is a[m×k]
// (or aᵀ with a stored as [k×m] when transA), op(b) is b[k×n] (or bᵀ with b
// stored as [n×k] when transB). lda, ldb and ldc are the row strides.
// As in BLAS, beta == 0 overwrites c without reading it (NaNs in c do not
// propagate) and alpha == 0 or k == 0 only scales c by beta.
//
// The work is split across Threads() goroutines when it is large enough:
// one output dimension (chosen by the backend, normally the larger) is cut
// into contiguous blocks aligned to the kernel's register tile, each computed by an independent single-threaded
// gemm, so results are deterministic for a fixed thread count. Gemm does not
// allocate in steady state: the helper goroutines are long-lived workers.
func Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	GemmThreads(Threads(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// GemmThreads is Gemm split across at most threads goroutines instead of
// Threads(): threads ≤ 1 computes the product on the calling goroutine.
// Callers that run many products side by side, one goroutine each (the
// training step's row blocks, the scorer's), pass 1 without touching the
// process-wide SetThreads, which other goroutines may be relying on.
// The result for a given split is the same bits as Gemm's.
func GemmThreads(threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	gemmThreads(threads, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nil)
}

// Packed is the second operand of a Gemm, op(b) [k×n], together with a copy
// of it packed the way the pure-Go kernel reads it, so that products with
// the same b (a layer's weights, from pass to pass) do not pack it again.
// The copy is taken when Pack or Repack runs: b must not change while the
// Packed is in use (the caller re-packs after every write to b), or the
// products would use the old values. A Packed is read-only once packed and
// may be used by any number of goroutines at once.
//
// The OpenBLAS build, and the pure-Go build on CPUs without the assembly
// kernel, keep no copy: GemmPacked is then GemmThreads on b.
type Packed struct {
	transB bool
	k, n   int
	b      []float32
	ldb    int
	panels []float32 // packPanels' layout; nil when the backend has none
}

// Pack returns op(b) [k×n] packed for GemmPacked: b is [k×n] with row
// stride ldb, or [n×k] when transB.
func Pack(transB bool, k, n int, b []float32, ldb int) *Packed {
	p := new(Packed)
	p.Repack(transB, k, n, b, ldb)
	return p
}

// Repack packs op(b) into p as Pack does, reusing p's buffer. No product
// may be using p meanwhile.
func (p *Packed) Repack(transB bool, k, n int, b []float32, ldb int) {
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	if k < 0 || n < 0 || ldb < max(bc, 1) {
		panic("tensor: Pack bad dimensions")
	}
	if br > 0 && bc > 0 && len(b) < (br-1)*ldb+bc {
		panic("tensor: Pack slice too short")
	}
	p.transB, p.k, p.n, p.b, p.ldb = transB, k, n, b, ldb
	p.panels = packPanels(p.panels, transB, k, n, b, ldb)
}

// Dims reports op(b)'s shape k×n and whether b is stored transposed.
func (p *Packed) Dims() (k, n int, transB bool) { return p.k, p.n, p.transB }

// GemmPacked is GemmThreads(threads, transA, b's transB, m, b's n, b's k,
// alpha, a, lda, b's b, b's ldb, beta, c, ldc) with op(b) taken from its
// packed copy: the same bits, without packing b.
func GemmPacked(threads int, transA bool, m int, alpha float32, a []float32, lda int, b *Packed, beta float32, c []float32, ldc int) {
	checkGemm(transA, b.transB, m, b.n, b.k, a, lda, b.b, b.ldb, c, ldc)
	gemmThreads(threads, transA, b.transB, m, b.n, b.k, alpha, a, lda, b.b, b.ldb, beta, c, ldc, b.panels)
}

// gemmThreads is GemmThreads after the checks, with op(b) pre-packed in pp
// (packPanels' layout) when pp is not nil.
func gemmThreads(threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, pp []float32) {
	if m == 0 || n == 0 {
		return
	}
	parts := gemmParts(m, n, k, threads)
	if parts <= 1 {
		gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, pp)
		return
	}
	splitM := gemmSplitM(transA, m, n, parts)
	size, align := n, splitAlignN
	if splitM {
		size, align = m, splitAlignM
	}
	step := (size + parts - 1) / parts
	step = (step + align - 1) / align * align
	g := getGroup()
	for lo := step; lo < size; lo += step {
		hi := min(lo+step, size)
		j := gemmJob{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta, lda: lda, ldb: ldb, ldc: ldc, a: a, b: b, c: c, pp: pp, g: g}
		if splitM {
			j.m = hi - lo
			if transA {
				j.a = a[lo:]
			} else {
				j.a = a[lo*lda:]
			}
			j.c = c[lo*ldc:]
		} else {
			j.n = hi - lo
			if transB {
				j.b = b[lo*ldb:]
			} else {
				j.b = b[lo:]
			}
			if pp != nil {
				j.pp = pp[lo*k:] // lo is a multiple of nr: a panel boundary
			}
			j.c = c[lo:]
		}
		g.wg.Add(1)
		submit(j)
	}
	if splitM {
		gemm(transA, transB, min(step, m), n, k, alpha, a, lda, b, ldb, beta, c, ldc, pp)
	} else {
		gemm(transA, transB, m, min(step, n), k, alpha, a, lda, b, ldb, beta, c, ldc, pp)
	}
	wait(g)
	putGroup(g)
}

// gemmMinWork is the number of multiply-adds per part below which handing
// work to another goroutine costs more than it saves.
const gemmMinWork = 1 << 19

// gemmParts returns into how many parts Gemm splits an m×n×k product.
func gemmParts(m, n, k, threads int) int {
	w := m * n * max(k, 1) / gemmMinWork
	parts := min(threads, w)
	// Never cut below one register tile per part.
	parts = min(parts, max((m+splitAlignM-1)/splitAlignM, (n+splitAlignN-1)/splitAlignN))
	return max(parts, 1)
}

// gemmJob is one part of a split Gemm, run by a worker goroutine, or, when
// job is set, the part [lo, hi) of a ParallelFor.
type gemmJob struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	lda, ldb, ldc  int
	a, b, c        []float32
	pp             []float32 // op(b) pre-packed, or nil
	job            Job
	lo, hi         int
	g              *group
}

type group struct{ wg sync.WaitGroup }

var (
	jobs      = make(chan gemmJob, 64) // queued parts, taken by workers and waiting callers
	workersMu sync.Mutex
	workers   int
	groupMu   sync.Mutex
	groups    []*group
)

// submit hands j to a worker, starting one if fewer than Threads()-1 exist.
func submit(j gemmJob) {
	if want := Threads() - 1; want > 0 {
		workersMu.Lock()
		for workers < want {
			workers++
			go worker()
		}
		workersMu.Unlock()
	}
	select {
	case jobs <- j:
	default: // the queue is full: run it here
		j.run()
	}
}

// run runs j and marks it done in its group.
func (j *gemmJob) run() {
	if j.job != nil {
		j.job.Run(j.lo, j.hi)
	} else {
		gemm(j.transA, j.transB, j.m, j.n, j.k, j.alpha, j.a, j.lda, j.b, j.ldb, j.beta, j.c, j.ldc, j.pp)
	}
	j.g.wg.Done()
}

// wait waits for the parts of g, first running itself every part still
// queued (its own, or another caller's: any goroutine can run any part), so
// that a worker that is not running at the moment (the operating system
// has not scheduled its thread, or it is waking up) holds nothing up.
func wait(g *group) {
	for {
		select {
		case j := <-jobs:
			j.run()
			continue
		default:
		}
		break
	}
	g.wg.Wait()
}

// workerSpin is how long an idle worker polls for the next job before it
// parks. Waking a parked goroutine on an idle core takes 5–25 µs on the
// reference VM, comparable to a whole mlp24 gemm part, and a train step issues
// its gemms a few tens of microseconds apart.
const workerSpin = 200 * time.Microsecond

func worker() {
	for {
		var j gemmJob
		select {
		case j = <-jobs:
		default:
			j = nextJob()
		}
		j.run()
	}
}

// nextJob polls for a job for up to workerSpin, yielding the processor between
// polls so other goroutines still run, then blocks.
func nextJob() gemmJob {
	start := time.Now()
	for i := 0; ; i++ {
		select {
		case j := <-jobs:
			return j
		default:
		}
		runtime.Gosched()
		if i%64 == 63 && time.Since(start) > workerSpin {
			return <-jobs
		}
	}
}

func getGroup() *group {
	groupMu.Lock()
	defer groupMu.Unlock()
	if n := len(groups); n > 0 {
		g := groups[n-1]
		groups = groups[:n-1]
		return g
	}
	return new(group)
}

func putGroup(g *group) {
	groupMu.Lock()
	groups = append(groups, g)
	groupMu.Unlock()
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
	// Empty operands need no storage.
	if (ar > 0 && ac > 0 && len(a) < (ar-1)*lda+ac) || (br > 0 && bc > 0 && len(b) < (br-1)*ldb+bc) || (m > 0 && n > 0 && len(c) < (m-1)*ldc+n) {
		panic("tensor: Gemm slice too short")
	}
}

// scaleC computes c[m×n] = beta·c; beta == 0 stores zeros without reading c.
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}
