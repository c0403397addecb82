package nn

import (
	"math"
	"math/rand/v2"

	"github.com/dcrnn/dcrnn/internal/tensor"
)

// affineBackward accumulates the gradients of z = x·W (+ b) given dz
// [rows×out]: dW [in×out] += xᵀ·dz, db (nil to skip) += column sums of dz,
// and, when xg is non-nil, dx += dz·Wᵀ. x and xg have row strides ldx, ldxg.
func affineBackward(t *Tape, rows, in, out int, x []float32, ldx int, xg []float32, ldxg int, w, dw, db, dz []float32) {
	if rows == 0 {
		return
	}
	t.gemm(true, false, in, out, rows, 1, x, ldx, dz, out, 1, dw, out)
	if db != nil {
		sumRows(t, db, dz, rows, out)
	}
	if xg != nil {
		t.gemmW(false, true, rows, in, out, 1, dz, out, w, out, 1, xg, ldxg)
	}
}

// sumRows accumulates the column sums of dz [rows×cols] into db [cols]
// (a bias gradient), db[j] += dz[0][j], then += dz[1][j], … in row order,
// as tensor.SumRows; the columns are split across threads, so the result
// does not depend on the thread count.
func sumRows(t *Tape, db, dz []float32, rows, cols int) {
	k := &t.jobs.colSums
	*k = colSums{db: db[:cols], dz: dz[:rows*cols], rows: rows, cols: cols}
	t.parallelFor(cols, rowChunk(rows), k)
	*k = colSums{}
}

// colSums is sumRows for columns [lo, hi).
type colSums struct {
	db, dz     []float32
	rows, cols int
}

func (k *colSums) Run(lo, hi int) {
	tensor.SumRowsStride(k.db[lo:hi], k.dz[lo:], k.rows, k.cols)
}

// tapeJobs holds one tensor.Job of each element-wise kernel of the layers:
// an op fills its job, runs tensor.ParallelFor on a pointer to it and clears
// it, so no pass allocates one (a tape serves one goroutine, and ops do not
// nest).
type tapeJobs struct {
	embForward  embForward
	embBackward embBackward
	gruStep     gruStep
	gruGrad     gruGrad
	lstmStep    lstmStep
	lstmGrad    lstmGrad
	colSums     colSums
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
