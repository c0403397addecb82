package vecmath

import "math"

// Element-wise kernels of the layers (products, ReLU and bias gradients).
// Like the cells' kernels, each computes exactly its Go expression, every
// operation rounded on its own, so the AVX2 and the Go code agree bit for
// bit; the AVX2 body handles the first n&^7 elements (columns, for
// SumRows) and Go the rest.

// Mul computes dst[i] = a[i] * b[i] for i < len(dst). a and b must be at
// least as long as dst; dst may be a or b.
func Mul(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	n8 := 0
	if useVecAsm && len(dst) >= 8 {
		n8 = len(dst) &^ 7
		mulAVX2(&dst[0], &a[0], &b[0], n8)
	}
	for i := n8; i < len(dst); i++ {
		dst[i] = a[i] * b[i]
	}
}

// MulZ computes dst[i] = 0 + a[i]*b[i] for i < len(dst): the product, with
// a -0 turned into +0 (as adding the product into a cleared gradient
// would). a and b must be at least as long as dst; dst may be a or b.
func MulZ(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	n8 := 0
	if useVecAsm && len(dst) >= 8 {
		n8 = len(dst) &^ 7
		mulZAVX2(&dst[0], &a[0], &b[0], n8)
	}
	for i := n8; i < len(dst); i++ {
		dst[i] = 0 + a[i]*b[i]
	}
}

// ReLU computes dst[i] = max(src[i], 0) for i < len(dst) by masking: a value
// whose sign bit is set becomes +0 (so -0 and negative NaNs give +0, a
// positive NaN stays). src must be at least as long as dst; dst may be src.
func ReLU(dst, src []float32) {
	src = src[:len(dst)]
	n8 := 0
	if useVecAsm && len(dst) >= 8 {
		n8 = len(dst) &^ 7
		reluAVX2(&dst[0], &src[0], n8)
	}
	for i := n8; i < len(dst); i++ {
		b := math.Float32bits(src[i])
		dst[i] = math.Float32frombits(b &^ uint32(int32(b)>>31))
	}
}

// ReLUBackward computes dst[i] = dy[i] where -int32(bits(y[i])) is negative
// (y > 0, and y = -0, which ReLU never outputs) and +0 elsewhere, for
// i < len(dst); y is ReLU's output. dy and y must be at least as long as
// dst; dst may be dy.
func ReLUBackward(dst, dy, y []float32) {
	dy, y = dy[:len(dst)], y[:len(dst)]
	n8 := 0
	if useVecAsm && len(dst) >= 8 {
		n8 = len(dst) &^ 7
		reluBackwardAVX2(&dst[0], &dy[0], &y[0], n8)
	}
	for i := n8; i < len(dst); i++ {
		m := uint32(-int32(math.Float32bits(y[i])) >> 31)
		dst[i] = math.Float32frombits(math.Float32bits(dy[i]) & m)
	}
}

// SumRows adds the rows of src into dst: dst[j] += src[i·stride+j] for
// i = 0, 1, …, rows-1 in that order and j < len(dst) (a bias gradient, the
// column sums of a block of a matrix with row stride stride ≥ len(dst)).
// The AVX2 body keeps dst's values in registers across all rows, and adds
// each column's terms in the same order as the Go loop.
func SumRows(dst, src []float32, rows, stride int) {
	n := len(dst)
	if rows <= 0 || n == 0 {
		return
	}
	_ = src[(rows-1)*stride+n-1]
	n8 := 0
	if useVecAsm && n >= 8 {
		n8 = n &^ 7
		sumRowsAVX2(&dst[0], &src[0], rows, stride, n8)
	}
	if n8 == n {
		return
	}
	tail := dst[n8:]
	for i := range rows {
		row := src[i*stride+n8 : i*stride+n]
		row = row[:len(tail)]
		for j, v := range row {
			tail[j] += v
		}
	}
}

// maxAddRows is the most rows AddRows hands its AVX2 body at once.
const maxAddRows = 32

// AddRows adds rows into dst in order: dst[j] = ((dst[j] + rows[0][j]) +
// rows[1][j]) + … for j < len(dst), every sum rounded on its own, as the Go
// loop over the rows would (a folded layer's lookups: one table row per
// field). Each row must be at least as long as dst. The AVX2 body keeps up
// to 64 of dst's values in registers across the rows (up to maxAddRows at a
// time), so dst is read and written once instead of once per row.
func AddRows(dst []float32, rows [][]float32) {
	n := len(dst)
	if n == 0 || len(rows) == 0 {
		return
	}
	n8 := 0
	if useVecAsm && n >= 8 {
		n8 = n &^ 7
		var ptrs [maxAddRows]*float32
		for lo := 0; lo < len(rows); lo += maxAddRows {
			part := rows[lo:min(lo+maxAddRows, len(rows))]
			for k, r := range part {
				ptrs[k] = &r[:n][0]
			}
			addRowsAVX2(&dst[0], &ptrs[0], len(part), n8)
		}
		if n8 == n {
			return
		}
	}
	tail := dst[n8:]
	for _, r := range rows {
		r = r[n8:n]
		for j, v := range r {
			tail[j] += v
		}
	}
}
