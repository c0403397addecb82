// Package vecmath evaluates float32 activation functions, the recurrent
// cells' element-wise kernels (cell.go), the layers' (layer.go: products,
// ReLU, row sums, a folded layer's table rows) and the dense Adam step
// (adam.go) over slices, eight lanes at a time with AVX2 + FMA on amd64 and
// in pure Go elsewhere. It is
// its own package, free of cgo, so that its Go assembly also builds into the
// -tags openblas binary (a cgo package cannot hold Go assembly); tensor
// re-exports it as SigmoidVec and TanhVec.
package vecmath

import "math"

// useVecAsm reports whether Sigmoid and Tanh use the AVX2 + FMA
// kernels (amd64 with both features). Tests switch it off to exercise the
// pure-Go fallback.
var useVecAsm = haveVecAsm

// Sigmoid computes dst[i] = 1/(1+e^-src[i]) for every i < len(src), with a
// relative error below 4e-7 (NaN gives NaN, arguments beyond ±87 are clamped).
// dst must be at least as long as src; it may be src itself, but must not
// overlap it otherwise. Every element gets the same result wherever it sits
// in the slice: on AVX2 + FMA machines a tail shorter than 8 runs through
// the same kernel via a padded buffer.
func Sigmoid(dst, src []float32) {
	dst = dst[:len(src)]
	if !useVecAsm {
		for i, x := range src {
			dst[i] = Sigmoid32(x)
		}
		return
	}
	n8 := len(src) &^ 7
	if n8 > 0 {
		sigmoidAVX2(&dst[0], &src[0], n8)
	}
	if n8 < len(src) {
		var buf [8]float32
		copy(buf[:], src[n8:])
		sigmoidAVX2(&buf[0], &buf[0], 8)
		copy(dst[n8:], buf[:])
	}
}

// Tanh computes dst[i] = tanh(src[i]) for every i < len(src), with an
// absolute error below 3e-7 (NaN gives NaN). dst is as for Sigmoid.
func Tanh(dst, src []float32) {
	dst = dst[:len(src)]
	if !useVecAsm {
		for i, x := range src {
			dst[i] = tanh32(x)
		}
		return
	}
	n8 := len(src) &^ 7
	if n8 > 0 {
		tanhAVX2(&dst[0], &src[0], n8)
	}
	if n8 < len(src) {
		var buf [8]float32
		copy(buf[:], src[n8:])
		tanhAVX2(&buf[0], &buf[0], 8)
		copy(dst[n8:], buf[:])
	}
}

// Sigmoid32 is the scalar form of Sigmoid and its pure-Go fallback: the
// same algorithm (the AVX2 kernel fuses multiply-adds, so results may differ
// in the last bit).
func Sigmoid32(x float32) float32 {
	if x != x {
		return x
	}
	x = min(max(x, -87), 87)
	return 1 / (1 + expCore32(-x))
}

// tanh32 is the scalar fallback of Tanh, the same algorithm as the AVX2 kernel:
// the odd Taylor series for |x| < 0.1, else (e−1)/(e+1) with e = e^{2x} and
// x clamped to [−9, 9], where tanh is ±1 to float32 precision.
func tanh32(x float32) float32 {
	if x != x {
		return x
	}
	if x > -0.1 && x < 0.1 {
		x2 := x * x
		return x * (1 + x2*(-1.0/3+x2*(2.0/15+x2*(-17.0/315))))
	}
	x = min(max(x, -9), 9)
	e := expCore32(2 * x)
	return (e - 1) / (e + 1)
}

// expCore32 returns e^x for x in [-87, 87]: n = round(x·log2e)
// by adding and subtracting 1.5·2²³, r = x − n·ln2Hi − n·ln2Lo, e^r by a
// degree-7 Taylor polynomial, then n added to the exponent bits.
func expCore32(x float32) float32 {
	const (
		ln2Hi = 0.693145751953125
		ln2Lo = 1.428606765330187e-06
		log2e = 1.4426950408889634
		magic = 12582912 // 1.5·2²³
	)
	t := x*log2e + magic
	ni := int32(math.Float32bits(t)) - 0x4B400000
	n := t - magic
	r := x - n*ln2Hi - n*ln2Lo
	p := 1 + r*(1+r*(0.5+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040)))))))
	return math.Float32frombits(math.Float32bits(p) + uint32(ni)<<23)
}
