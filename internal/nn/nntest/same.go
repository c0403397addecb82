package nntest

import (
	"math"

	"github.com/dcrnn/dcrnn/internal/tensor"
)

// SameBits reports whether a and b hold the same float32s, bit for bit.
func SameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// SameScore is how the tests compare one row's probability scored in two
// batch layouts (another batch, block split, thread count or place in the
// batch): bit for bit on the pure-Go kernels, whose sums do not depend on
// the layout, and within 1e-6 under OpenBLAS, whose do (an edge register
// tile sums a row in another order).
func SameScore(a, b float32) bool {
	if tensor.Backend() != "openblas" {
		return math.Float32bits(a) == math.Float32bits(b)
	}
	return math.Abs(float64(a)-float64(b)) <= 1e-6
}
