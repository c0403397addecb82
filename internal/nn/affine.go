package nn

import (
	"math"
	"math/rand/v2"

	"github.com/dcrnn/dcrnn/internal/tensor"
)

// affineBackward accumulates the gradients of z = x·W (+ b) given dz
// [rows×out]: dW [in×out] += xᵀ·dz, db (nil to skip) += column sums of dz,
// and, when xg is non-nil, dx += dz·Wᵀ. x and xg have row strides ldx, ldxg.
func affineBackward(rows, in, out int, x []float32, ldx int, xg []float32, ldxg int, w, dw, db, dz []float32) {
	if rows == 0 {
		return
	}
	tensor.Gemm(true, false, in, out, rows, 1, x, ldx, dz, out, 1, dw, out)
	if db != nil {
		for i := 0; i < rows; i++ {
			for j, g := range dz[i*out : (i+1)*out] {
				db[j] += g
			}
		}
	}
	if xg != nil {
		tensor.Gemm(false, true, rows, in, out, 1, dz, out, w, out, 1, xg, ldxg)
	}
}

// fillRows sets every row of dst [rows×len(b)] to b.
func fillRows(dst []float32, rows int, b []float32) {
	n := len(b)
	for i := 0; i < rows; i++ {
		copy(dst[i*n:(i+1)*n], b)
	}
}

// uniformInit fills w with U(-limit, limit) draws from rng.
func uniformInit(w []float32, limit float64, rng *rand.Rand) {
	for i := range w {
		w[i] = float32((rng.Float64()*2 - 1) * limit)
	}
}

// glorot returns the Glorot-uniform limit for a fan-in×fan-out matrix.
func glorot(in, out int) float64 { return math.Sqrt(6 / float64(in+out)) }
