//go:build openblas

package tensor

/*
#cgo LDFLAGS: -lopenblas
#include <cblas.h>
*/
import "C"

import "unsafe"

func backendName() string { return "openblas" }

// Gemm splits its output at multiples of these (OpenBLAS's sgemm register tile
// is 16 rows on AVX2 machines).
const (
	splitAlignM = 16
	splitAlignN = 16
)

// gemmSplitM reports whether Gemm splits the rows rather than the columns of
// c across parts: the larger dimension.
func gemmSplitM(transA bool, m, n, parts int) bool { return m >= n }

func init() {
	// Parallelism is done in Go; OpenBLAS itself must stay single-threaded.
	C.openblas_set_num_threads(1)
}

// packPanels packs nothing: OpenBLAS packs op(b) itself, inside every call.
func packPanels(dst []float32, transB bool, k, n int, b []float32, ldb int) []float32 { return nil }

// gemm is the single-threaded kernel of the OpenBLAS build; it has no use
// for pre-packed panels pp.
func gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, pp []float32) {
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	ta, tb := uint32(C.CblasNoTrans), uint32(C.CblasNoTrans)
	if transA {
		ta = uint32(C.CblasTrans)
	}
	if transB {
		tb = uint32(C.CblasTrans)
	}
	C.cblas_sgemm(C.CblasRowMajor, C.enum_CBLAS_TRANSPOSE(ta), C.enum_CBLAS_TRANSPOSE(tb), C.blasint(m), C.blasint(n), C.blasint(k),
		C.float(alpha), (*C.float)(unsafe.Pointer(&a[0])), C.blasint(lda),
		(*C.float)(unsafe.Pointer(&b[0])), C.blasint(ldb),
		C.float(beta), (*C.float)(unsafe.Pointer(&c[0])), C.blasint(ldc))
}
