//go:build !openblas

package tensor

import (
	"os"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// useKernel reports whether the assembly micro-kernel runs on this CPU
// (amd64 with AVX2 and FMA). Tests switch it off to exercise the fallback.
var useKernel = haveKernel

// useKernel2 reports whether full 6×32 tiles run on the AVX-512 kernel
// (sgemmKernel2, the same bits as two 6×16 tiles): on a CPU with AVX-512F
// unless DCRNN_NO_AVX512 is set in the environment (to measure one kernel
// against the other on the same machine).
var useKernel2 = useKernel && haveKernel2 && os.Getenv("DCRNN_NO_AVX512") == ""

func backendName() string {
	if useKernel && useKernel2 {
		return "go-avx512"
	}
	if useKernel {
		return "go-avx2"
	}
	return "gonum"
}

// Blocking of the pure-Go sgemm: an mr×nr register tile, k cut into blocks of
// kc so a packed kc×nr panel of b (16 KiB) stays in L1, n cut into blocks of
// nc so the packed kc×nc block of b (512 KiB) stays in L2.
const (
	mr = 6
	nr = 16
	kc = 256
	nc = 512
)

// Gemm splits its output at multiples of the register tile.
const (
	splitAlignM = mr
	splitAlignN = nr
)

// gemmSplitM reports whether Gemm splits the rows rather than the columns of
// c across parts. A non-transposed a is read in place while b is packed, so
// splitting the columns packs every part of b once instead of once per part;
// that is preferred whenever it gives each part at least two column tiles.
// Otherwise the larger dimension, counted in tiles, is split.
func gemmSplitM(transA bool, m, n, parts int) bool {
	if !transA && (n+nr-1)/nr >= 2*parts {
		return false
	}
	return m*nr >= n*mr
}

// gemmBuf holds one goroutine's packing buffers.
type gemmBuf struct {
	b   [kc * nc]float32 // b block as nc/nr panels of kc×nr
	a   [kc * mr]float32 // one a panel as kc×mr (edge rows, or transposed a)
	tmp [mr * nr]float32 // edge tile of c
}

var (
	bufMu sync.Mutex
	bufs  []*gemmBuf
)

func getBuf() *gemmBuf {
	bufMu.Lock()
	defer bufMu.Unlock()
	if n := len(bufs); n > 0 {
		g := bufs[n-1]
		bufs = bufs[:n-1]
		return g
	}
	return new(gemmBuf)
}

func putBuf(g *gemmBuf) {
	bufMu.Lock()
	bufs = append(bufs, g)
	bufMu.Unlock()
}

var impl gonum.Implementation

// gemm is the single-threaded kernel of the pure-Go build. pp, when not nil,
// holds op(b) already packed by packPanels (the panels of this product's
// columns); b is still read by the paths that do not use panels.
func gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, pp []float32) {
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	if useKernel && n == 1 && (transB || ldb == 1) && (!transA || ldc == 1) {
		gemv(transA, m, k, alpha, a, lda, b[:k], beta, c, ldc)
		return
	}
	if useKernel {
		gemmPacked(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, pp)
		return
	}
	ta, tb := blas.NoTrans, blas.NoTrans
	if transA {
		ta = blas.Trans
	}
	if transB {
		tb = blas.Trans
	}
	impl.Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemv computes c[m×1] = alpha·op(a)·b + beta·c for a contiguous column
// b[k] (the last layer of a tower: a 6×16 tile would waste 15/16 of its work).
// Without transA every c[i] is a dot product of a row of a with b; with
// transA (c contiguous) c accumulates alpha·b[p] times row p of a, p in order.
func gemv(transA bool, m, k int, alpha float32, a []float32, lda int, b []float32, beta float32, c []float32, ldc int) {
	if !transA {
		for i := 0; i < m; i++ {
			row := a[i*lda : i*lda+k]
			d := alpha * sdot(&row[0], &b[0], k)
			if beta != 0 {
				d += beta * c[i*ldc]
			}
			c[i*ldc] = d
		}
		return
	}
	scaleC(1, m, beta, c, m)
	c = c[:m]
	for p, bv := range b {
		row := a[p*lda : p*lda+m]
		saxpy(&c[0], &row[0], alpha*bv, m)
	}
}

// gemmPacked is the blocked sgemm around the mr×nr micro-kernel: for each
// kc×nc block of op(b), packed once into nr-wide panels, every mr-row panel of
// op(a) is multiplied with every b panel. A non-transposed a is read in place
// (the kernel broadcasts from six row pointers); a transposed a and the last
// m%mr rows are packed into a kc×mr panel first. k blocks after the first
// accumulate into c with beta = 1, so every element sums its k terms in the
// same order regardless of how Gemm splits the output.
//
// With pp (packPanels' layout: panel j of nr columns is k×nr at pp[j·nr·k:])
// op(b) is not packed again: the kernel reads the rows pc..pc+kcur of each
// panel in place, the same values in the same order as a fresh pack.
func gemmPacked(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, pp []float32) {
	buf := getBuf()
	for jc := 0; jc < n; jc += nc {
		ncur := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kcur := min(kc, k-pc)
			bet := beta
			if pc > 0 {
				bet = 1
			}
			if pp == nil {
				packB(buf.b[:], transB, b, ldb, pc, kcur, jc, ncur)
			}
			// Bytes from one b panel to the next: nr·k floats in pp,
			// nr·kcur in buf.b.
			bs := uintptr(nr*kcur) * 4
			if pp != nil {
				bs = uintptr(nr*k) * 4
			}
			for ir := 0; ir < m; ir += mr {
				mcur := min(mr, m-ir)
				var ap *float32
				var rs, ks uintptr
				if mcur == mr && !transA {
					ap, rs, ks = &a[ir*lda+pc], uintptr(lda)*4, 4
				} else {
					packA(buf.a[:], transA, a, lda, ir, mcur, pc, kcur)
					ap, rs, ks = &buf.a[0], 4, mr*4
				}
				for jr := 0; jr < ncur; jr += nr {
					ncr := min(nr, ncur-jr)
					var bp *float32
					if pp != nil {
						bp = &pp[(jc+jr)*k+pc*nr]
					} else {
						bp = &buf.b[jr*kcur]
					}
					if mcur == mr && ncr == nr {
						if useKernel2 && ncur-jr >= 2*nr {
							// Two full panels: one 6×32 tile.
							sgemmKernel2(kcur, ap, rs, ks, bp, bs, &c[ir*ldc+jc+jr], ldc, alpha, bet)
							jr += nr
							continue
						}
						sgemmKernel(kcur, ap, rs, ks, bp, &c[ir*ldc+jc+jr], ldc, alpha, bet)
						continue
					}
					sgemmKernel(kcur, ap, rs, ks, bp, &buf.tmp[0], nr, alpha, 0)
					for i := 0; i < mcur; i++ {
						t := buf.tmp[i*nr : i*nr+ncr]
						cr := c[(ir+i)*ldc+jc+jr : (ir+i)*ldc+jc+jr+ncr]
						if bet == 0 {
							copy(cr, t)
							continue
						}
						for j, v := range t {
							cr[j] = v + bet*cr[j]
						}
					}
				}
			}
		}
	}
	putBuf(buf)
}

// packPanels packs the whole of op(b) [k×n] into dst (grown as needed) as
// the panels gemmPacked reads: ⌈n/nr⌉ panels of k×nr, panel j at
// dst[j·nr·k:], row q of a panel at q·nr, the last panel padded with zeros.
// It returns nil (no panels: every product packs as it goes) when the
// kernel is off or the product is empty.
func packPanels(dst []float32, transB bool, k, n int, b []float32, ldb int) []float32 {
	if !useKernel || k == 0 || n == 0 {
		return nil
	}
	size := (n + nr - 1) / nr * nr * k
	if cap(dst) < size {
		dst = make([]float32, size)
	}
	dst = dst[:size]
	packB(dst, transB, b, ldb, 0, k, 0, n)
	return dst
}

// packB copies op(b)[pc:pc+kcur, jc:jc+ncur] into dst as consecutive panels
// of kcur×nr (row-major, nr wide), the last one padded with zeros.
func packB(dst []float32, transB bool, b []float32, ldb, pc, kcur, jc, ncur int) {
	for jr := 0; jr < ncur; jr += nr {
		w := min(nr, ncur-jr)
		p := dst[jr*kcur : jr*kcur+kcur*nr]
		if !transB {
			if haveKernel && w == nr && kcur > 0 {
				// Bounds of the last row read by the assembly copy.
				_ = b[(pc+kcur-1)*ldb+jc+jr+nr-1]
				packB16(&p[0], &b[pc*ldb+jc+jr], uintptr(ldb)*4, kcur)
				continue
			}
			for q := 0; q < kcur; q++ {
				row := b[(pc+q)*ldb+jc+jr:]
				d := p[q*nr : q*nr+nr]
				if w == nr {
					*(*[nr]float32)(d) = [nr]float32(row[:nr])
					continue
				}
				copy(d, row[:w])
				clear(d[w:])
			}
			continue
		}
		// b is stored n×k: column j of op(b) is row j of b.
		if w < nr {
			clear(p)
		}
		for j := 0; j < w; j++ {
			src := b[(jc+jr+j)*ldb+pc : (jc+jr+j)*ldb+pc+kcur]
			for q, v := range src {
				p[q*nr+j] = v
			}
		}
	}
}

// packA copies op(a)[ir:ir+mcur, pc:pc+kcur] into dst as one kcur×mr panel,
// rows past mcur padded with zeros.
func packA(dst []float32, transA bool, a []float32, lda, ir, mcur, pc, kcur int) {
	d := dst[:kcur*mr]
	if mcur < mr {
		clear(d)
	}
	if transA {
		// a is stored k×m: row q of a holds column q of op(a).
		if mcur == mr {
			// Bounds of the last row read by the assembly copy.
			_ = a[(pc+kcur-1)*lda+ir+mr-1]
			packA6T(&d[0], &a[pc*lda+ir], uintptr(lda)*4, kcur)
			return
		}
		// An edge panel of fewer than mr rows: a few floats per q, copied
		// one by one (a copy call per q cost more than its floats).
		for q := 0; q < kcur; q++ {
			src := a[(pc+q)*lda+ir : (pc+q)*lda+ir+mcur]
			dq := d[q*mr : q*mr+len(src)]
			for i, v := range src {
				dq[i] = v
			}
		}
		return
	}
	for i := 0; i < mcur; i++ {
		src := a[(ir+i)*lda+pc : (ir+i)*lda+pc+kcur]
		for q, v := range src {
			d[q*mr+i] = v
		}
	}
}
