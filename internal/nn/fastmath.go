package nn

import "math"

// exp32 returns e^x in float32 with a relative error below 2e-7 over the
// whole float32 range (0 below -87.3, +Inf above 88.7). It splits
// x = n·ln2 + r with |r| ≤ ln2/2 and evaluates e^r by a degree-7 Taylor
// polynomial in float32 — several times faster than float64 math.Exp, which
// matters in the element-wise gates of the recurrent cells.
func exp32(x float32) float32 {
	const (
		ln2Hi  = 0.693145751953125
		ln2Lo  = 1.428606765330187e-06
		log2e  = 1.4426950408889634
		maxArg = 88.72283
		minArg = -87.33654
	)
	if x > maxArg {
		return float32(math.Inf(1))
	}
	if x < minArg {
		if x != x {
			return x
		}
		return 0
	}
	t := x * log2e
	var ni int32
	if t >= 0 {
		ni = int32(t + 0.5)
	} else {
		ni = int32(t - 0.5)
	}
	n := float32(ni)
	r := x - n*ln2Hi - n*ln2Lo
	// e^r, |r| ≤ 0.3466: Taylor to r^7 (truncation < 2e-8 relative).
	p := 1 + r*(1+r*(0.5+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040)))))))
	return math.Float32frombits(math.Float32bits(p) + uint32(ni)<<23)
}

// tanhFast returns tanh(x) in float32 from exp32, with an absolute error
// below 3e-7.
func tanhFast(x float32) float32 {
	if x > 9 {
		return 1
	}
	if x < -9 {
		return -1
	}
	if x > -0.1 && x < 0.1 {
		// Near 0, 1 - 2/(e^2x+1) cancels: use the odd Taylor series.
		x2 := x * x
		return x * (1 + x2*(-1.0/3+x2*(2.0/15+x2*(-17.0/315))))
	}
	e := exp32(2 * x)
	return (e - 1) / (e + 1)
}

// expCore is exp32 without its range checks: x must lie in [-87, 87]. The
// rounding of x·log2(e) to an integer n adds and subtracts 1.5·2²³, so the
// whole evaluation is free of branches.
func expCore(x float32) float32 {
	const (
		ln2Hi = 0.693145751953125
		ln2Lo = 1.428606765330187e-06
		log2e = 1.4426950408889634
		magic = 12582912 // 1.5·2²³: adding it rounds to an integer held in the low mantissa bits
	)
	t := x*log2e + magic
	ni := int32(math.Float32bits(t)) - 0x4B400000
	n := t - magic
	r := x - n*ln2Hi - n*ln2Lo
	p := 1 + r*(1+r*(0.5+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040)))))))
	return math.Float32frombits(math.Float32bits(p) + uint32(ni)<<23)
}
