package vecmath

import "math"

// AdamConsts are the constants of one dense Adam step (see Adam).
type AdamConsts struct {
	C1, B2, C2 float32 // 1 − β1; β2, 1 − β2
	StepSize   float32 // lr / (1 − β1ᵗ)
	InvBc2     float32 // 1 / √(1 − β2ᵗ)
	Eps        float32
	Keep       float32 // 1 − lr·wd with decoupled weight decay, else 1
}

// Adam applies one Adam step without an L2 term to w, its gradient g and its
// moments m and v, element by element, every operation rounded on its own in
// this order, and clears g:
//
//	wi := w[i] * Keep (exact when Keep is 1)
//	m[i] = m[i] + C1*(g[i]-m[i])
//	v[i] = B2*v[i] + C2*g[i]*g[i]
//	w[i] = wi - StepSize*m[i]/(sqrt(v[i])*InvBc2+Eps)
//
// (sqrt correctly rounded). g, m and v must be at least as long as w.
func Adam(k *AdamConsts, w, g, m, v []float32) {
	n := len(w)
	g, m, v = g[:n], m[:n], v[:n]
	n8 := 0
	if useVecAsm && n >= 8 {
		n8 = n &^ 7
		adamAVX2(&w[0], &g[0], &m[0], &v[0], n8, k)
	}
	c1, b2, c2, ss, ib, eps, keep := k.C1, k.B2, k.C2, k.StepSize, k.InvBc2, k.Eps, k.Keep
	for i := n8; i < n; i++ {
		gi := g[i]
		wi := w[i] * keep
		mi := m[i] + c1*(gi-m[i])
		vi := b2*v[i] + c2*gi*gi
		m[i], v[i] = mi, vi
		w[i] = wi - ss*mi/(float32(math.Sqrt(float64(vi)))*ib+eps)
		g[i] = 0
	}
}
