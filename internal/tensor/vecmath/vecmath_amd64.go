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
