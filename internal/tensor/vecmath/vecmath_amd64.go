package vecmath

import "golang.org/x/sys/cpu"

// haveVecAsm reports whether the AVX2 + FMA element-wise kernels run on this
// CPU.
var haveVecAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// sigmoidAVX2 computes dst[i] = σ(src[i]) for i < n; n is a multiple of 8.
//
//go:noescape
func sigmoidAVX2(dst, src *float32, n int)

// tanhAVX2 computes dst[i] = tanh(src[i]) for i < n; n is a multiple of 8.
//
//go:noescape
func tanhAVX2(dst, src *float32, n int)

// addAVX2, mulAddAVX2, lerpAVX2 and gruGradAVX2 are the vector bodies of
// Add, MulAdd, Lerp and GRUGrad for the first n elements (units), n a
// multiple of 8; h is GRUGrad's row width, hg may be nil.
//
//go:noescape
func addAVX2(dst, a, b *float32, n int)

//go:noescape
func mulAddAVX2(dst, a, b, c *float32, n int)

//go:noescape
func lerpAVX2(dst, z, x, y *float32, n int)

//go:noescape
func gruGradAVX2(dx, dh, hg, s, hp, d *float32, h, n int)
