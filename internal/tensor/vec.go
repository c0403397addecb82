package tensor

import "github.com/dcrnn/dcrnn/internal/tensor/vecmath"

// Element-wise and row/column helpers shared by both builds. They are plain Go
// loops written so the compiler can drop bounds checks, or (SumRows, Mul,
// ReLU, ReLUBackward) vecmath's AVX2 kernels, bit for bit the same loops;
// each panics if a slice is shorter than the stated shape.

// AddRowVector adds v[cols] to every row of dst[rows×cols] (bias add):
// dst[i][j] += v[j].
func AddRowVector(dst []float32, rows, cols int, v []float32) {
	v = v[:cols]
	dst = dst[:rows*cols]
	for i := 0; i < rows; i++ {
		row := dst[i*cols : i*cols+cols]
		for j, x := range v {
			row[j] += x
		}
	}
}

// SetRowVector copies v[cols] into every row of dst[rows×cols] (bias as the
// initial value of a gemm with beta = 1): dst[i][j] = v[j].
func SetRowVector(dst []float32, rows, cols int, v []float32) {
	v = v[:cols]
	dst = dst[:rows*cols]
	for i := 0; i < rows; i++ {
		copy(dst[i*cols:i*cols+cols], v)
	}
}

// SumRows accumulates the column sums of src[rows×cols] into dst[cols] (bias
// gradient): dst[j] += Σ_i src[i][j]. Rows are added in order, so the result
// is deterministic.
func SumRows(dst []float32, src []float32, rows, cols int) {
	vecmath.SumRows(dst[:cols], src[:rows*cols], rows, cols)
}

// SumRowsStride is SumRows over the first len(dst) columns of a matrix with
// row stride stride: dst[j] += Σ_i src[i·stride+j], rows added in order.
func SumRowsStride(dst []float32, src []float32, rows, stride int) {
	vecmath.SumRows(dst, src, rows, stride)
}

// Axpy computes dst[n] += alpha·x[n], n = len(dst); x must be at least as long.
func Axpy(dst []float32, alpha float32, x []float32) {
	x = x[:len(dst)]
	for i, v := range x {
		dst[i] += alpha * v
	}
}

// Scale computes dst[n] *= alpha.
func Scale(dst []float32, alpha float32) {
	for i := range dst {
		dst[i] *= alpha
	}
}

// Add computes dst[n] += x[n], n = len(dst); x must be at least as long.
func Add(dst []float32, x []float32) {
	x = x[:len(dst)]
	for i, v := range x {
		dst[i] += v
	}
}

// Mul computes dst[n] = x[n]·y[n] element-wise, n = len(dst).
func Mul(dst, x, y []float32) { vecmath.Mul(dst, x, y) }

// MulZ computes dst[n] = 0 + x[n]·y[n]: Mul with a -0 product turned into
// +0, as adding it into a cleared gradient does.
func MulZ(dst, x, y []float32) { vecmath.MulZ(dst, x, y) }

// Dot returns Σ x[i]·y[i] over n = len(x) elements, accumulated in float32 in
// index order; y must be at least as long.
func Dot(x, y []float32) float32 {
	y = y[:len(x)]
	var s float32
	for i, v := range x {
		s += v * y[i]
	}
	return s
}

// ReLU computes dst[n] = max(src[n], 0), n = len(dst); dst may alias src.
// It is branch-free (a negative value's sign bit masks it to +0): with
// about half the inputs negative a branch mispredicts half the time, which
// made ReLU cost as much as the matrix product in front of it.
func ReLU(dst, src []float32) { vecmath.ReLU(dst, src) }

// ReLUBackward computes dst[n] = dy[n] where y[n] > 0 and 0 elsewhere, with y
// the ReLU output; dst may alias dy.
// It is branch-free, like ReLU.
func ReLUBackward(dst, dy, y []float32) { vecmath.ReLUBackward(dst, dy, y) }
