package optim

import (
	"math"

	"github.com/dcrnn/dcrnn/internal/nn"
)

// GradNorm returns the global L2 norm of the gradients: the square root of
// the sum of squares of every dense gradient element and every touched
// embedding row's gradient. The sum is taken in float64 in a fixed order
// (parameters in the given order, elements in index order, four interleaved
// partial sums), so it does not depend on the thread count.
func GradNorm(dense []*nn.Param, sparse []*nn.SparseParam) float64 {
	var s float64
	for _, p := range dense {
		s += sumSquares(p.G)
	}
	for _, p := range sparse {
		s += sumSquares(p.G[:len(p.Touched)*p.Cols])
	}
	return math.Sqrt(s)
}

func sumSquares(x []float32) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		a, b, c, d := float64(x[i]), float64(x[i+1]), float64(x[i+2]), float64(x[i+3])
		s0 += a * a
		s1 += b * b
		s2 += c * c
		s3 += d * d
	}
	for ; i < len(x); i++ {
		a := float64(x[i])
		s0 += a * a
	}
	return (s0 + s1) + (s2 + s3)
}

// ClipGradNorm scales all gradients, dense and sparse together, so that their
// global L2 norm (GradNorm) is at most maxNorm, as
// torch.nn.utils.clip_grad_norm_ does: when the norm exceeds maxNorm every
// gradient is multiplied by maxNorm/(norm + 1e-6). It returns the norm before
// clipping. maxNorm ≤ 0 only measures. A non-finite norm (a NaN or Inf
// gradient) is returned with the gradients left untouched, so the caller can
// skip the step.
func ClipGradNorm(dense []*nn.Param, sparse []*nn.SparseParam, maxNorm float64) (norm float64) {
	norm = GradNorm(dense, sparse)
	if maxNorm <= 0 || !(norm > maxNorm) || math.IsInf(norm, 0) {
		return norm
	}
	c := float32(maxNorm / (norm + 1e-6))
	for _, p := range dense {
		scale(p.G, c)
	}
	for _, p := range sparse {
		scale(p.G[:len(p.Touched)*p.Cols], c)
	}
	return norm
}

func scale(x []float32, c float32) {
	for i := range x {
		x[i] *= c
	}
}

// AddL2 adds lambda·w to the gradient of every touched row of the tables,
// the gradient of lambda/2·‖w‖² summed over the rows a batch used; untouched
// rows are not regularized. Call it before ClipGradNorm for the penalty to
// count in the clipped norm, or set the L2 field of the sparse optimizer to
// apply it at Step time instead (not both).
func AddL2(sparse []*nn.SparseParam, lambda float32) {
	if lambda == 0 {
		return
	}
	for _, p := range sparse {
		cols := p.Cols
		for k, id := range p.Touched {
			w := p.W[int(id)*cols : (int(id)+1)*cols]
			g := p.G[k*cols : (k+1)*cols]
			for j := range g {
				g[j] += lambda * w[j]
			}
		}
	}
}
