//go:build !openblas

package tensor

import "golang.org/x/sys/cpu"

var haveKernel = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// haveKernel2 reports whether sgemmKernel2 can run: AVX-512F, with the
// operating system saving the ZMM state (package cpu checks both).
var haveKernel2 = haveKernel && cpu.X86.HasAVX512F

// sgemmKernel computes the 6×16 tile c = alpha·A·B + beta·c, where A is 6×k
// with element (i, p) at a + i·rs + p·ks bytes, B is a packed k×16 panel and
// c has row stride ldc elements. beta == 0 does not read c. AVX2 + FMA.
//
//go:noescape
func sgemmKernel(k int, a *float32, rs, ks uintptr, b *float32, c *float32, ldc int, alpha, beta float32)

// sgemmKernel2 is sgemmKernel on a 6×32 tile: B is two packed k×16 panels,
// the second bs bytes after the first, and c's 32 columns are contiguous in
// each row. The same bits as two sgemmKernel calls. AVX-512F.
//
//go:noescape
func sgemmKernel2(k int, a *float32, rs, ks uintptr, b *float32, bs uintptr, c *float32, ldc int, alpha, beta float32)

// packA6T copies src[q·lda : q·lda+6] (lda in bytes) to dst[6q : 6q+6] for
// q < k: the packing of a transposed a into an mr-wide panel.
//
//go:noescape
func packA6T(dst *float32, src *float32, lda uintptr, k int)

// packB16 copies src[q·ldb : q·ldb+16] (ldb in bytes) to dst[16q : 16q+16]
// for q < k: the packing of one full nr-wide panel of a non-transposed b.
//
//go:noescape
func packB16(dst *float32, src *float32, ldb uintptr, k int)

// sdot returns Σ x[i]·y[i] for i < n. AVX2 + FMA.
//
//go:noescape
func sdot(x, y *float32, n int) float32

// saxpy computes dst[i] += alpha·x[i] for i < n. AVX2 + FMA.
//
//go:noescape
func saxpy(dst, x *float32, alpha float32, n int)
