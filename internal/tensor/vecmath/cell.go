package vecmath

// Element-wise kernels of the recurrent cells. Each computes exactly the Go
// expression in its comment, every operation rounded on its own and in that
// order (the AVX2 versions use no fused multiply-add), so the vector and the
// scalar code agree bit for bit; the AVX2 body handles the first n&^7
// elements and Go the rest.

// Add computes dst[i] = a[i] + b[i] for i < len(dst). a and b must be at
// least as long as dst.
func Add(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	n8 := 0
	if useVecAsm && len(dst) >= 8 {
		n8 = len(dst) &^ 7
		addAVX2(&dst[0], &a[0], &b[0], n8)
	}
	for i := n8; i < len(dst); i++ {
		dst[i] = a[i] + b[i]
	}
}

// MulAdd computes dst[i] = a[i] + b[i]*c[i] for i < len(dst) (the product
// rounded, then the sum). a, b and c must be at least as long as dst.
func MulAdd(dst, a, b, c []float32) {
	a, b, c = a[:len(dst)], b[:len(dst)], c[:len(dst)]
	n8 := 0
	if useVecAsm && len(dst) >= 8 {
		n8 = len(dst) &^ 7
		mulAddAVX2(&dst[0], &a[0], &b[0], &c[0], n8)
	}
	for i := n8; i < len(dst); i++ {
		dst[i] = a[i] + b[i]*c[i]
	}
}

// Lerp computes dst[i] = (1-z[i])*x[i] + z[i]*y[i] for i < len(dst), the
// GRU's h' = (1-z) ⊙ n + z ⊙ h. z, x and y must be at least as long as dst.
func Lerp(dst, z, x, y []float32) {
	z, x, y = z[:len(dst)], x[:len(dst)], y[:len(dst)]
	n8 := 0
	if useVecAsm && len(dst) >= 8 {
		n8 = len(dst) &^ 7
		lerpAVX2(&dst[0], &z[0], &x[0], &y[0], n8)
	}
	for i := n8; i < len(dst); i++ {
		dst[i] = (1-z[i])*x[i] + z[i]*y[i]
	}
}

// GRUGrad is the backward pass of one GRU row of H = len(d) units: from s =
// [r z n hn] (4H, hn = h·Wh_n + bh_n), the previous state hp (H) and the
// gradient d of h' (H) it writes the gate pre-activation gradients dx =
// [dr dz dn] and dh = [dr dz dn·r] (3H each), and adds d·z to hg (H) unless
// hg is nil:
//
//	dn := d * (1 - z) * (1 - n*n)
//	dz := d * (hp - n) * z * (1 - z)
//	dr := dn * hn * r * (1 - r)
func GRUGrad(dx, dh, hg, s, hp, d []float32) {
	h := len(d)
	if h == 0 {
		return
	}
	_, _, _ = dx[3*h-1], dh[3*h-1], s[4*h-1]
	hp = hp[:h]
	if hg != nil {
		hg = hg[:h]
	}
	n8 := 0
	if useVecAsm && h >= 8 {
		n8 = h &^ 7
		var g *float32
		if hg != nil {
			g = &hg[0]
		}
		gruGradAVX2(&dx[0], &dh[0], g, &s[0], &hp[0], &d[0], h, n8)
	}
	for j := n8; j < h; j++ {
		dj, rr, z, n, hn := d[j], s[j], s[h+j], s[2*h+j], s[3*h+j]
		dn := dj * (1 - z) * (1 - n*n)
		dz := dj * (hp[j] - n) * z * (1 - z)
		dr := dn * hn * rr * (1 - rr)
		dx[j], dx[h+j], dx[2*h+j] = dr, dz, dn
		dh[j], dh[h+j], dh[2*h+j] = dr, dz, dn*rr
		if hg != nil {
			hg[j] += dj * z
		}
	}
}
