package nn

import "github.com/dcrnn/dcrnn/internal/tensor"

// Element-wise and shape functions. Each is a zero-size Op type, so recording
// it allocates nothing.

type addOp struct{}
type mulOp struct{}
type concatOp struct{}
type sliceOp struct{}
type scaleOp struct{}

// Add returns a + b (same shape).
func Add(t *Tape, a, b *Mat) *Mat {
	sameShape(a, b)
	y := t.Mat(a.Rows, a.Cols)
	tensor.AddVec(y.V, a.V, b.V)
	t.Record(Record{Op: addOp{}, In: [4]*Mat{a, b}, Out: y})
	return y
}

func (addOp) Backward(t *Tape, r *Record) {
	g := r.Out.G
	for _, x := range r.In[:2] {
		if x.G != nil {
			tensor.AddVec(x.G, x.G, g)
		}
	}
}

// Mul returns a ⊙ b (same shape).
func Mul(t *Tape, a, b *Mat) *Mat {
	sameShape(a, b)
	y := t.Mat(a.Rows, a.Cols)
	tensor.Mul(y.V, a.V, b.V)
	t.Record(Record{Op: mulOp{}, In: [4]*Mat{a, b}, Out: y})
	return y
}

func (mulOp) Backward(t *Tape, r *Record) {
	a, b, g := r.In[0], r.In[1], r.Out.G
	if a.G != nil {
		tensor.MulAddVec(a.G, a.G, g, b.V) // a.G += g ⊙ b
	}
	if b.G != nil {
		tensor.MulAddVec(b.G, b.G, g, a.V)
	}
}

// Scale returns s·a for a constant s.
func Scale(t *Tape, a *Mat, s float32) *Mat {
	y := t.Mat(a.Rows, a.Cols)
	for i, v := range a.V {
		y.V[i] = s * v
	}
	buf := t.Floats(1)
	buf[0] = s
	t.Record(Record{Op: scaleOp{}, In: [4]*Mat{a}, Out: y, Buf: buf})
	return y
}

func (scaleOp) Backward(t *Tape, r *Record) {
	a, s := r.In[0], r.Buf[0]
	if a.G != nil {
		for i, gi := range r.Out.G {
			a.G[i] += s * gi
		}
	}
}

// Concat returns the column-wise concatenation [m0 m1 …] of matrices with the
// same number of rows (up to four; nest calls for more).
func Concat(t *Tape, ms ...*Mat) *Mat {
	if len(ms) == 0 || len(ms) > 4 {
		panic("nn: Concat takes 1 to 4 matrices")
	}
	rows, cols := ms[0].Rows, 0
	var in [4]*Mat
	for k, m := range ms {
		if m.Rows != rows {
			panic("nn: Concat row mismatch")
		}
		cols += m.Cols
		in[k] = m
	}
	y := t.Mat(rows, cols)
	for i := 0; i < rows; i++ {
		off := i * cols
		for _, m := range ms {
			copy(y.V[off:off+m.Cols], m.V[i*m.Cols:(i+1)*m.Cols])
			off += m.Cols
		}
	}
	t.Record(Record{Op: concatOp{}, In: in, Out: y})
	return y
}

func (concatOp) Backward(t *Tape, r *Record) {
	y := r.Out
	for i := 0; i < y.Rows; i++ {
		off := i * y.Cols
		for _, m := range r.In {
			if m == nil {
				break
			}
			if m.G != nil {
				g := m.G[i*m.Cols : (i+1)*m.Cols]
				tensor.AddVec(g, g, y.G[off:off+m.Cols])
			}
			off += m.Cols
		}
	}
}

// SliceCols returns columns [lo, hi) of x as a new matrix.
func SliceCols(t *Tape, x *Mat, lo, hi int) *Mat {
	if lo < 0 || hi > x.Cols || lo > hi {
		panic("nn: SliceCols out of range")
	}
	w := hi - lo
	y := t.Mat(x.Rows, w)
	for i := 0; i < x.Rows; i++ {
		copy(y.V[i*w:(i+1)*w], x.V[i*x.Cols+lo:i*x.Cols+hi])
	}
	t.Record(Record{Op: sliceOp{}, In: [4]*Mat{x}, Out: y, Aux: lo})
	return y
}

func (sliceOp) Backward(t *Tape, r *Record) {
	x, y, lo := r.In[0], r.Out, r.Aux
	if x.G == nil {
		return
	}
	for i := 0; i < y.Rows; i++ {
		g := x.G[i*x.Cols+lo : i*x.Cols+lo+y.Cols]
		for j, v := range y.G[i*y.Cols : (i+1)*y.Cols] {
			g[j] += v
		}
	}
}

func sameShape(a, b *Mat) {
	if a.Rows != b.Rows || a.Cols != b.Cols {
		panic("nn: shape mismatch")
	}
}
