package tensor

import "github.com/dcrnn/dcrnn/internal/tensor/vecmath"

// SigmoidVec computes dst[i] = 1/(1+e^-src[i]) for every i < len(src), with
// a relative error below 4e-7 (NaN gives NaN), eight lanes at a time with
// AVX2 + FMA where available (in both the default and the openblas build).
// dst must be at least as long as src and may be src itself. The result of
// an element does not depend on its position in the slice.
func SigmoidVec(dst, src []float32) { vecmath.Sigmoid(dst, src) }

// TanhVec computes dst[i] = tanh(src[i]) for every i < len(src), with an
// absolute error below 3e-7 (NaN gives NaN). dst is as for SigmoidVec.
func TanhVec(dst, src []float32) { vecmath.Tanh(dst, src) }

// Sigmoid32 is SigmoidVec for one value (same algorithm; the vector kernel
// may differ in the last bit).
func Sigmoid32(x float32) float32 { return vecmath.Sigmoid32(x) }

// AddVec computes dst[n] = a[n] + b[n], n = len(dst); a and b must be at
// least as long. AVX2 where available, bit for bit the scalar result.
func AddVec(dst, a, b []float32) { vecmath.Add(dst, a, b) }

// AddRows adds rows into dst in order, dst[j] = ((dst[j] + rows[0][j]) +
// rows[1][j]) + …, each sum rounded (bit for bit the loop of AddVec over the
// rows), holding dst in registers across the rows on AVX2. Each row must be
// at least as long as dst.
func AddRows(dst []float32, rows [][]float32) { vecmath.AddRows(dst, rows) }

// MulAddVec computes dst[n] = a[n] + b[n]·c[n], n = len(dst), the product
// rounded before the sum (no fused multiply-add: bit for bit the Go
// expression a + b*c). dst may be a.
func MulAddVec(dst, a, b, c []float32) { vecmath.MulAdd(dst, a, b, c) }

// LerpVec computes dst[n] = (1-z[n])·x[n] + z[n]·y[n], n = len(dst), each
// operation rounded (the GRU's h' = (1-z) ⊙ n + z ⊙ h).
func LerpVec(dst, z, x, y []float32) { vecmath.Lerp(dst, z, x, y) }

// GRUGradVec is the element-wise backward pass of one GRU row of H =
// len(d) units: from s [4H] = r z n hn, the previous state hp [H] and the
// gradient d [H] of h', it writes dx [3H] = dr dz dn and dh [3H] = dr dz
// dn·r, and adds d·z to hg [H] unless hg is nil (see vecmath.GRUGrad for the
// expressions).
func GRUGradVec(dx, dh, hg, s, hp, d []float32) { vecmath.GRUGrad(dx, dh, hg, s, hp, d) }

// AdamConsts are the constants of one dense Adam step (vecmath.AdamConsts).
type AdamConsts = vecmath.AdamConsts

// AdamVec applies one Adam step without an L2 term to w, g, m and v and
// clears g, AVX2 where available, bit for bit the scalar loop (see
// vecmath.Adam for the expressions).
func AdamVec(k *AdamConsts, w, g, m, v []float32) { vecmath.Adam(k, w, g, m, v) }
