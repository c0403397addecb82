package nn

import (
	"sync"
	"sync/atomic"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/tensor"
)

// Folds holds, for inference tapes, the layers that read the input layer's
// output x0 folded into it, so that their products with x0 become table
// lookups.
//
// A Linear layer on x0 = [e_1 … e_F] computes x0·W + b = b + Σ_f e_f·W_f,
// W_f the d rows of W that field f's columns meet. For a (multi-)
// categorical field e_f is a row of its table E_f (or the mean of some
// rows), so e_f·W_f is that row (that mean) of E_f·W_f, a table of
// Vocab×Out computed once; for a numeric field e_f·W_f = value·(v_f·W_f) +
// b_f·W_f, two vectors computed once. A row then costs Out additions per
// field instead of d·Out multiply-adds: on the Census model (40 fields,
// d = 16) the first deep layer and DCRNN's input projection, 205k of the
// 365k multiply-adds of a row, become 12.8k additions.
//
// The result is the same sum in another order, so it differs from the
// product in the last bits (a relative 10⁻⁶ or so; the tests hold it within
// 10⁻⁵ of the unfolded pass in probability), and it is the same, bit for
// bit, whatever the batch, its split into blocks or the thread count.
// A field whose table E_f·W_f would exceed MaxFoldFloats (a hashed id
// field of 10⁵ buckets), or would take the tables of one Folds past
// MaxFoldTotal, keeps its product with x0's columns: the memory a loaded
// model's folds add is bounded whatever its fields.
//
// A field is folded the first time an inference pass on a tape with these
// Folds runs the layer (Tape.Folds), by whichever tape gets there first;
// the folds are then shared, read-only, by every tape that has them, on any
// goroutine. They are copies of the weights: a Folds is for a model whose
// weights no longer change (a loaded or finished model); after a change,
// make a new one. Training tapes never use them.
type Folds struct {
	mu    sync.Mutex
	m     map[foldKey]*foldEntry
	used  atomic.Int64 // floats held by the folded tables
	limit int64        // the most they may hold: MaxFoldTotal
}

// MaxFoldFloats is the largest folded table of one field and layer, in
// float32s (16 MiB).
const MaxFoldFloats = 1 << 22

// MaxFoldTotal is the most float32s the folded tables of one Folds hold
// (256 MiB); fields past it keep their products.
const MaxFoldTotal = 1 << 26

type foldKey struct {
	l *Linear
	e *Embeddings
}

type foldEntry struct {
	once sync.Once
	f    atomic.Pointer[inputFold] // nil: nothing to fold (or not yet folded)
}

// NewFolds returns an empty Folds.
func NewFolds() *Folds { return &Folds{m: map[foldKey]*foldEntry{}, limit: MaxFoldTotal} }

// Len reports the number of layers folded so far.
func (fs *Folds) Len() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n := 0
	for _, e := range fs.m {
		if e.f.Load() != nil {
			n++
		}
	}
	return n
}

// get returns l folded into e, nil when no field of e can be folded.
func (fs *Folds) get(l *Linear, e *Embeddings) *inputFold {
	k := foldKey{l, e}
	fs.mu.Lock()
	en := fs.m[k]
	if en == nil {
		en = &foldEntry{}
		fs.m[k] = en
	}
	fs.mu.Unlock()
	en.once.Do(func() { en.f.Store(newInputFold(l, e, &fs.used, fs.limit)) })
	return en.f.Load()
}

// inputFold is one Linear layer on x0 folded into the fields of e.
type inputFold struct {
	l    *Linear
	e    *Embeddings
	bias []float32   // b + Σ over numeric fields of b_f·W_f
	tabs [][]float32 // per field: E_f·W_f [Vocab×Out] (nil: numeric, or not folded)
	cats []int       // the folded (multi-)categorical fields
	nums []int       // the numeric fields
	numW []float32   // row q: v_f·W_f of numeric field nums[q] [len(nums)×Out]
	rest []int       // (multi-)categorical fields left to the product with x0
}

// newInputFold folds l into e, the tables' floats counted in used, which
// may not pass limit.
func newInputFold(l *Linear, e *Embeddings, used *atomic.Int64, limit int64) *inputFold {
	if l.In != e.OutDim() {
		return nil
	}
	d, out := e.Dim, l.Out
	f := &inputFold{l: l, e: e, bias: append([]float32(nil), l.B.W...), tabs: make([][]float32, len(e.Fields))}
	// The products run on the calling goroutine alone: tensor's workers
	// may be busy with the passes that wait for this fold.
	for k, fs := range e.Fields {
		wf := l.W.W[k*d*out : (k+1)*d*out]
		switch {
		case fs.Kind == feature.Numeric:
			f.nums = append(f.nums, k)
			v := make([]float32, out)
			tensor.GemmThreads(1, false, false, 1, out, d, 1, e.NumV[k].W, d, wf, out, 0, v, out)
			f.numW = append(f.numW, v...)
			tensor.GemmThreads(1, false, false, 1, out, d, 1, e.NumB[k].W, d, wf, out, 1, f.bias, out)
		case fs.Vocab*out > MaxFoldFloats || used.Add(int64(fs.Vocab*out)) > limit:
			if fs.Vocab*out <= MaxFoldFloats {
				used.Add(-int64(fs.Vocab * out))
			}
			f.rest = append(f.rest, k)
		default:
			t := make([]float32, fs.Vocab*out)
			tensor.GemmThreads(1, false, false, fs.Vocab, out, d, 1, e.Tables[k].W, d, wf, out, 0, t, out)
			f.tabs[k] = t
			f.cats = append(f.cats, k)
		}
	}
	if len(f.cats) == 0 && len(f.nums) == 0 {
		return nil
	}
	return f
}

// forward returns act(x0·W + b) [N×Out] for x0 = e's output on batch b
// (Embeddings.Forward has checked b's ids). Row by row, the folded fields'
// table rows are added in field order (the row stays in cache while the
// tables are read), then the numeric fields' values times their folded
// vectors (one product, values [N×numeric] by numW), then the products of
// the unfolded fields' columns.
func (f *inputFold) forward(t *Tape, x0 *Mat, b *feature.Batch) *Mat {
	l, e := f.l, f.e
	n, d, out := b.N, e.Dim, l.Out
	y := t.Mat(n, out)
	tensor.SetRowVector(y.V, n, out, f.bias)
	var acc []float32
	// The table rows of consecutive categorical fields are added in one
	// tensor.AddRows (the row of y stays in registers), up to len(look) at
	// a time; a multi-categorical field adds its mean between two runs.
	var look [64][]float32
	for i := range n {
		row := y.V[i*out : (i+1)*out]
		nl := 0
		for _, k := range f.cats {
			fd, tab := &b.Fields[k], f.tabs[k]
			if e.Fields[k].Kind == feature.Categorical {
				if nl == len(look) {
					tensor.AddRows(row, look[:nl])
					nl = 0
				}
				id := int(fd.IDs[i])
				look[nl] = tab[id*out : id*out+out]
				nl++
				continue
			}
			tensor.AddRows(row, look[:nl])
			nl = 0
			// Multi-categorical: the mean of the ids' rows, zero for none.
			ids := fd.IDs[fd.Offsets[i]:fd.Offsets[i+1]]
			if len(ids) == 0 {
				continue
			}
			if acc == nil {
				acc = t.Scratch(out)
			}
			clear(acc)
			for _, id := range ids {
				tensor.AddVec(acc, acc, tab[int(id)*out:int(id)*out+out])
			}
			inv := 1 / float32(len(ids))
			for j, a := range acc {
				row[j] += a * inv
			}
		}
		tensor.AddRows(row, look[:nl])
	}
	if nq := len(f.nums); nq > 0 && n > 0 {
		vals := t.Floats(n * nq)
		for q, k := range f.nums {
			for i, v := range b.Fields[k].Values[:n] {
				vals[i*nq+q] = v
			}
		}
		t.gemmW(false, false, n, out, nq, 1, vals, nq, f.numW, out, 1, y.V, out)
	}
	for _, k := range f.rest {
		col := k * d
		t.gemmW(false, false, n, out, d, 1, x0.V[col:], x0.Cols, l.W.W[col*out:(col+d)*out], out, 1, y.V, out)
	}
	l.Act.apply(y.V)
	return y
}
