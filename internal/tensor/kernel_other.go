//go:build !openblas && !amd64

package tensor

const haveKernel = false

const haveKernel2 = false

func sgemmKernel2(k int, a *float32, rs, ks uintptr, b *float32, bs uintptr, c *float32, ldc int, alpha, beta float32) {
	panic("tensor: no sgemm kernel on this architecture")
}

func sgemmKernel(k int, a *float32, rs, ks uintptr, b *float32, c *float32, ldc int, alpha, beta float32) {
	panic("tensor: no sgemm kernel on this architecture")
}

func packA6T(dst *float32, src *float32, lda uintptr, k int) {
	panic("tensor: no sgemm kernel on this architecture")
}

func packB16(dst *float32, src *float32, ldb uintptr, k int) {
	panic("tensor: no sgemm kernel on this architecture")
}

func sdot(x, y *float32, n int) float32 { panic("tensor: no sgemm kernel on this architecture") }

func saxpy(dst, x *float32, alpha float32, n int) {
	panic("tensor: no sgemm kernel on this architecture")
}
