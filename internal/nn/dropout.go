package nn

import "fmt"

type dropoutOp struct{}

// Dropout applies inverted dropout to x with the given rate in [0, 1): on a
// training tape each element is zeroed with probability rate and the others
// are scaled by 1/(1-rate), with the mask drawn from t.Rng; on an inference
// tape, or with rate 0, it returns x itself and records nothing.
func Dropout(t *Tape, x *Mat, rate float32) *Mat {
	if rate < 0 || rate >= 1 {
		panic(fmt.Sprintf("nn: dropout rate %v outside [0, 1)", rate))
	}
	if !t.Train || rate == 0 {
		return x
	}
	y := t.Mat(x.Rows, x.Cols)
	mask := t.Floats(len(x.V))
	keep := 1 / (1 - rate)
	// An element is dropped when a uniform 32-bit draw falls below rate·2³².
	thr := uint32(float64(rate) * (1 << 32))
	for i := 0; i < len(mask); i += 2 {
		u := t.Rng.Uint64()
		mask[i] = maskVal(uint32(u), thr, keep)
		if i+1 < len(mask) {
			mask[i+1] = maskVal(uint32(u>>32), thr, keep)
		}
	}
	for i, v := range x.V {
		y.V[i] = v * mask[i]
	}
	t.Record(Record{Op: dropoutOp{}, In: [4]*Mat{x}, Out: y, Buf: mask})
	return y
}

func maskVal(u, thr uint32, keep float32) float32 {
	if u < thr {
		return 0
	}
	return keep
}

func (dropoutOp) Backward(t *Tape, r *Record) {
	x := r.In[0]
	if x.G == nil {
		return
	}
	for i, g := range r.Out.G {
		x.G[i] += g * r.Buf[i]
	}
}
