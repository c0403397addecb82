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
