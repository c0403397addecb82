package nn

import "math"

// probEps bounds probabilities away from 0 and 1 inside logarithms.
const probEps = 1e-7

// softplus returns log(1+e^x), stable for large |x|.
func softplus(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

// BCEWithLogits returns the weighted binary cross-entropy
// Σ_i w_i·BCE(σ(z_i), y_i) / n of the logits z [B×1] against labels y (len
// B), where w is nil (all ones) or per-example weights (0 masks a row out),
// and n = B. It is computed stably from the logits. On a training tape it
// also adds scale·∂loss/∂z to z.G (scale weights the task in a sum of losses).
func BCEWithLogits(z *Mat, y, w []float32, scale float32) float64 {
	n := z.Rows
	if z.Cols != 1 || len(y) != n || (w != nil && len(w) != n) {
		panic("nn: BCEWithLogits shape mismatch")
	}
	if n == 0 {
		return 0
	}
	inv := 1 / float64(n)
	return bceSum(z, y, w, scale, inv) * inv
}

// BCEWithLogitsPart is BCEWithLogits for rows that are part of a batch of
// total rows (total ≥ B): it returns the sum Σ_i w_i·BCE(σ(z_i), y_i),
// not divided, and adds to z.G the gradient of the whole batch's mean,
// scale·w_i·(σ(z_i) − y_i)/total, the same as BCEWithLogits over the whole
// batch adds to these rows.
func BCEWithLogitsPart(z *Mat, y, w []float32, scale float32, total int) float64 {
	if z.Cols != 1 || len(y) != z.Rows || (w != nil && len(w) != z.Rows) || total < z.Rows {
		panic("nn: BCEWithLogitsPart shape mismatch")
	}
	if z.Rows == 0 {
		return 0
	}
	return bceSum(z, y, w, scale, 1/float64(total))
}

// bceSum returns Σ_i w_i·BCE(σ(z_i), y_i) and adds scale·w_i·(σ(z_i) −
// y_i)·inv to z.G.
func bceSum(z *Mat, y, w []float32, scale float32, inv float64) float64 {
	var sum float64
	for i, zi := range z.V {
		wi := float32(1)
		if w != nil {
			wi = w[i]
		}
		if wi == 0 {
			continue
		}
		x, yi := float64(zi), float64(y[i])
		// -[y log σ(x) + (1-y) log(1-σ(x))] = softplus(x) - y·x
		sum += float64(wi) * (softplus(x) - yi*x)
		if z.G != nil {
			z.G[i] += scale * wi * float32((sigmoid64(x)-yi)*inv)
		}
	}
	return sum
}

// FunnelBCE returns the entire-space loss of a two-step funnel (ESMM):
// p = σ(za)·σ(zb) is the probability of both steps, and the loss is
// Σ_i w_i·BCE(p_i, y_i) / B with y the label of both steps (y_a·y_b).
// za and zb are [B×1] logits of the first step and of the second step given
// the first. On a training tape it adds scale·∂loss/∂z to za.G and zb.G.
func FunnelBCE(za, zb *Mat, y, w []float32, scale float32) float64 {
	n := za.Rows
	if za.Cols != 1 || zb.Cols != 1 || zb.Rows != n || len(y) != n || (w != nil && len(w) != n) {
		panic("nn: FunnelBCE shape mismatch")
	}
	if n == 0 {
		return 0
	}
	inv := 1 / float64(n)
	return funnelSum(za, zb, y, w, scale, inv) * inv
}

// FunnelBCEPart is FunnelBCE for rows that are part of a batch of total
// rows, as BCEWithLogitsPart is for BCEWithLogits: it returns the loss
// summed over its rows, not divided, and adds the gradient of the whole
// batch's mean.
func FunnelBCEPart(za, zb *Mat, y, w []float32, scale float32, total int) float64 {
	n := za.Rows
	if za.Cols != 1 || zb.Cols != 1 || zb.Rows != n || len(y) != n || (w != nil && len(w) != n) || total < n {
		panic("nn: FunnelBCEPart shape mismatch")
	}
	if n == 0 {
		return 0
	}
	return funnelSum(za, zb, y, w, scale, 1/float64(total))
}

// funnelSum returns the funnel loss summed over the rows and adds scale·inv
// times its gradient to za.G and zb.G.
func funnelSum(za, zb *Mat, y, w []float32, scale float32, inv float64) float64 {
	var sum float64
	for i := range za.V {
		wi := float32(1)
		if w != nil {
			wi = w[i]
		}
		if wi == 0 {
			continue
		}
		a, b, yi := float64(za.V[i]), float64(zb.V[i]), float64(y[i])
		logP := -softplus(-a) - softplus(-b) // log σ(a) + log σ(b)
		p := math.Exp(logP)
		q := math.Max(1-p, probEps) // 1 - p
		sum += float64(wi) * (-yi*logP - (1-yi)*math.Log(q))
		if za.G != nil || zb.G != nil {
			// dL/dp · dp/dz with dp/da = p(1-σ(a)); dL/dp = -y/p + (1-y)/(1-p).
			c := -yi + (1-yi)*p/q // = p·dL/dp
			if za.G != nil {
				za.G[i] += scale * wi * float32(c*(1-sigmoid64(a))*inv)
			}
			if zb.G != nil {
				zb.G[i] += scale * wi * float32(c*(1-sigmoid64(b))*inv)
			}
		}
	}
	return sum
}

func sigmoid64(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}
