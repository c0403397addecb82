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

// AddCountL2 adds the count-aware (mini-batch aware) L2 penalty of DIN
// (Zhou et al., Deep Interest Network, KDD 2018, §4.3.1) to the gradients of
// the touched rows of the tables and returns the penalty's value: for each
// row j a batch touched,
//
//	penalty = Σ_j λ/2 · s_j · ‖w_j‖²,   ∂penalty/∂w_j = λ · s_j · w_j,
//
// s_j = scale[t][j] for table t, meant to be 1/n_j, n_j being the number of
// training rows mapped to row j (see CountScales), so an id seen in every
// batch is barely shrunk and a rare one is shrunk the most: the opposite of
// AddL2, whose λ·w_j falls hardest on the frequent rows that are touched in
// every batch. DIN weights the term by the row's occurrences in the batch
// too; here each touched row counts once, like AddL2. A table whose scale is
// nil is not regularized. Untouched rows are not regularized. Call it after
// the backward pass and before ClipGradNorm.
func AddCountL2(sparse []*nn.SparseParam, scale [][]float32, lambda float32) float64 {
	if lambda == 0 {
		return 0
	}
	var pen float64
	for i, p := range sparse {
		if scale[i] == nil {
			continue
		}
		s, cols := scale[i], p.Cols
		for k, id := range p.Touched {
			w := p.W[int(id)*cols : (int(id)+1)*cols]
			g := p.G[k*cols : (k+1)*cols]
			c := lambda * s[id]
			var sq float64
			for j := range g {
				g[j] += c * w[j]
				sq += float64(w[j]) * float64(w[j])
			}
			pen += 0.5 * float64(c) * sq
		}
	}
	return pen
}

// CountScales returns the per-row scales AddCountL2 takes, 1/max(n_j, 1),
// from the training rows mapped to each row (counts[j] = n_j).
func CountScales(counts []int64) []float32 {
	s := make([]float32, len(counts))
	for j, n := range counts {
		s[j] = float32(1 / float64(max(n, 1)))
	}
	return s
}
