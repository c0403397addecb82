package nn

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"unsafe"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/tensor"
)

// EmbeddingInit is the half-width of the uniform distribution that
// embedding rows and numeric field vectors v_f are drawn from:
// U(-EmbeddingInit, +EmbeddingInit) (the Keras default). Numeric biases b_f
// start at zero.
const EmbeddingInit = 0.05

// ErrBatch reports a batch that does not match the field specs of an
// Embeddings layer (see Embeddings.CheckBatch).
var ErrBatch = errors.New("nn: batch does not match the fields")

// Embeddings is the input layer of every model. It maps a feature.Batch to
// x0 [N × F·d]: field f occupies columns f·d..(f+1)·d, where
//   - a Categorical field is the row of its id in the field's table,
//   - a MultiCategorical field is the mean of its ids' rows (a row with an
//     empty list gets a zero vector),
//   - a Numeric field is value·v_f + b_f with learned d-vectors v_f, b_f.
//
// Each (multi-)categorical field has its own SparseParam table of Vocab×d,
// named prefix+"."+field name; numeric fields own Params prefix+"."+name+".v"
// and ".b" (1×d).
type Embeddings struct {
	Fields []feature.FieldSpec
	Dim    int
	// Tables[f] is field f's table, nil for a numeric field.
	Tables []*SparseParam
	// NumV[f], NumB[f] are field f's v_f and b_f, nil for a categorical field.
	NumV, NumB []*Param
}

// NewEmbeddings builds the input layer for fields with embedding size dim,
// drawing the initial values from rng (see EmbeddingInit).
func NewEmbeddings(prefix string, fields []feature.FieldSpec, dim int, rng *rand.Rand) (*Embeddings, error) {
	if dim <= 0 {
		return nil, fmt.Errorf("nn: embeddings: dimension %d, want > 0", dim)
	}
	if len(fields) == 0 {
		return nil, fmt.Errorf("nn: embeddings: no fields")
	}
	e := &Embeddings{
		Fields: append([]feature.FieldSpec(nil), fields...),
		Dim:    dim,
		Tables: make([]*SparseParam, len(fields)),
		NumV:   make([]*Param, len(fields)),
		NumB:   make([]*Param, len(fields)),
	}
	uni := func(w []float32) {
		for i := range w {
			w[i] = float32((rng.Float64()*2 - 1) * EmbeddingInit)
		}
	}
	for f, fs := range fields {
		name := prefix + "." + fs.Name
		switch fs.Kind {
		case feature.Categorical, feature.MultiCategorical:
			if fs.Vocab <= 0 {
				return nil, fmt.Errorf("nn: embeddings: field %q: vocabulary %d, want > 0", fs.Name, fs.Vocab)
			}
			e.Tables[f] = NewSparseParam(name, fs.Vocab, dim)
			adviseHugePages(e.Tables[f].W)
			uni(e.Tables[f].W)
		case feature.Numeric:
			e.NumV[f] = NewParam(name+".v", 1, dim)
			e.NumB[f] = NewParam(name+".b", 1, dim)
			e.NumB[f].NoDecay = true
			uni(e.NumV[f].W)
		default:
			return nil, fmt.Errorf("nn: embeddings: field %q: unknown kind %d", fs.Name, fs.Kind)
		}
	}
	return e, nil
}

// OutDim returns F·d, the width of x0.
func (e *Embeddings) OutDim() int { return len(e.Fields) * e.Dim }

// Params implements Module: the numeric fields' v_f and b_f in field order.
func (e *Embeddings) Params() []*Param {
	var ps []*Param
	for f := range e.Fields {
		if e.NumV[f] != nil {
			ps = append(ps, e.NumV[f], e.NumB[f])
		}
	}
	return ps
}

// SparseParams implements SparseModule: the tables in field order.
func (e *Embeddings) SparseParams() []*SparseParam {
	var ps []*SparseParam
	for _, t := range e.Tables {
		if t != nil {
			ps = append(ps, t)
		}
	}
	return ps
}

// CheckBatch reports, wrapping ErrBatch, the first way b breaks the contract
// Forward relies on (field count, slice lengths, offsets, id ranges). Forward
// panics on such a batch; callers fed untrusted input (serving) check first.
func (e *Embeddings) CheckBatch(b *feature.Batch) error {
	if b.N < 0 || len(b.Fields) != len(e.Fields) {
		return fmt.Errorf("%w: %d fields for %d specs", ErrBatch, len(b.Fields), len(e.Fields))
	}
	for f, fs := range e.Fields {
		fd := &b.Fields[f]
		switch fs.Kind {
		case feature.Categorical:
			if len(fd.IDs) != b.N {
				return fmt.Errorf("%w: field %q: %d ids for %d rows", ErrBatch, fs.Name, len(fd.IDs), b.N)
			}
		case feature.MultiCategorical:
			if len(fd.Offsets) != b.N+1 || fd.Offsets[0] < 0 || int(fd.Offsets[b.N]) > len(fd.IDs) {
				return fmt.Errorf("%w: field %q: bad offsets (len %d, want %d, within %d ids)", ErrBatch, fs.Name, len(fd.Offsets), b.N+1, len(fd.IDs))
			}
			for i := 0; i < b.N; i++ {
				if fd.Offsets[i] > fd.Offsets[i+1] {
					return fmt.Errorf("%w: field %q: offsets decrease at row %d", ErrBatch, fs.Name, i)
				}
			}
		case feature.Numeric:
			if len(fd.Values) != b.N {
				return fmt.Errorf("%w: field %q: %d values for %d rows", ErrBatch, fs.Name, len(fd.Values), b.N)
			}
			continue
		}
		if i, id := checkIDs(&fs, fd, b.N); i >= 0 {
			return fmt.Errorf("%w: field %q: id %d at position %d outside [0, %d)", ErrBatch, fs.Name, id, i, fs.Vocab)
		}
	}
	return nil
}

// embSaved returns the number of saved values for field f of batch b: the
// backward pass needs the ids (and offsets) or values of every field, which
// Forward copies into a tape buffer so that the record never refers to the
// batch (whose buffers are reused by the reader).
func (e *Embeddings) savedLen(b *feature.Batch) int {
	n := 0
	for f, fs := range e.Fields {
		switch fs.Kind {
		case feature.Categorical, feature.Numeric:
			n += b.N
		case feature.MultiCategorical:
			fd := &b.Fields[f]
			n += b.N + 1 + int(fd.Offsets[b.N]-fd.Offsets[0])
		}
	}
	return n
}

// asInt32 reinterprets a float32 arena buffer as int32 storage (same size and
// alignment; the values are never read as floats).
func asInt32(b []float32) []int32 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*int32)(unsafe.Pointer(&b[0])), len(b))
}

// checkIDs returns the position (among the ids of fd's n rows) and the
// value of the first id outside fs's vocabulary, or -1 when there is none
// (always for a numeric field).
func checkIDs(fs *feature.FieldSpec, fd *feature.FieldData, n int) (int, int32) {
	var ids []int32
	switch fs.Kind {
	case feature.Categorical:
		ids = fd.IDs[:n]
	case feature.MultiCategorical:
		ids = fd.IDs[fd.Offsets[0]:fd.Offsets[n]]
	}
	for i, id := range ids {
		if uint32(id) >= uint32(fs.Vocab) {
			return i, id
		}
	}
	return -1, 0
}

func badID(fs *feature.FieldSpec, id int32) {
	panic(fmt.Sprintf("nn: embeddings: field %q: id %d outside [0, %d) (use CheckBatch on untrusted input)", fs.Name, id, fs.Vocab))
}

// Forward writes x0 [b.N × F·d] and records the layer. It panics when b does
// not match the fields (see CheckBatch).
func (e *Embeddings) Forward(t *Tape, b *feature.Batch) *Mat { return e.forwardFields(t, b, allFields) }

// ForwardFor is Forward for an output that only the layers readers read,
// each with Linear.Forward (nil entries are skipped). On an inference tape
// with Folds, where those layers run folded, x0 is written only in the
// columns of the fields that some reader still multiplies (one it could not
// fold, see Folds); the other columns keep whatever the tape's buffer held,
// so nothing else may read them. Every id is checked as by Forward. Elsewhere
// (training, no Folds, a reader that does not fold, more than 64 fields) it
// is Forward. On the Census models it takes 5% off DCRNN's folded
// inference pass on one core and 10% off Shared-Bottom's.
func (e *Embeddings) ForwardFor(t *Tape, b *feature.Batch, readers ...*Linear) *Mat {
	need := allFields
	if t.Folds != nil && !t.Train && len(e.Fields) <= 64 {
		need = 0
		for _, l := range readers {
			if l == nil {
				continue
			}
			f := t.Folds.get(l, e)
			if f == nil {
				need = allFields
				break
			}
			for _, k := range f.rest {
				need |= 1 << k
			}
		}
	}
	return e.forwardFields(t, b, need)
}

// allFields is the field mask of a Forward that writes every field.
const allFields = ^uint64(0)

// forwardFields is Forward writing the columns of the fields in the mask need
// (bit f for field f < 64; allFields for all).
func (e *Embeddings) forwardFields(t *Tape, b *feature.Batch, need uint64) *Mat {
	if len(b.Fields) != len(e.Fields) {
		panic(fmt.Sprintf("nn: embeddings: batch has %d fields, want %d", len(b.Fields), len(e.Fields)))
	}
	x := t.Mat(b.N, e.OutDim())
	var saved []float32
	if t.Train {
		saved = t.Floats(e.savedLen(b))
	}
	// Fields are independent: field f writes only columns f·d..(f+1)·d
	// and its own segment of saved, so they run in parallel; the result
	// does not depend on the split.
	// A bad id is reported by a panic on the calling goroutine.
	if nf := len(e.Fields); t.threads() > 1 && nf > 1 {
		k := &t.jobs.embForward
		k.e, k.x, k.b, k.saved, k.need = e, x, b, saved, need
		k.bad.Store(-1)
		t.parallelFor(nf, max(1, nf/t.threads()), k)
		k.e, k.x, k.b, k.saved = nil, nil, nil, nil
		if bad := k.bad.Load(); bad >= 0 {
			badID(&e.Fields[bad>>32], int32(uint32(bad)))
		}
	} else if f, id := e.forward(x, b, saved, need, 0, nf); f >= 0 {
		badID(&e.Fields[f], id)
	}
	t.Record(Record{Op: e, Out: x, Buf: saved})
	if t.Folds != nil && !t.Train {
		t.x0, t.x0Batch, t.x0Emb = x, b, e
	}
	return x
}

// embForward is Embeddings.Forward for fields [lo, hi); bad keeps the
// first bad id, field<<32 | id, of the lowest field that has one (-1: none).
type embForward struct {
	e     *Embeddings
	x     *Mat
	b     *feature.Batch
	saved []float32
	need  uint64
	bad   atomic.Int64
}

func (k *embForward) Run(lo, hi int) {
	f, id := k.e.forward(k.x, k.b, k.saved, k.need, lo, hi)
	if f < 0 {
		return
	}
	v := int64(f)<<32 | int64(uint32(id))
	for {
		old := k.bad.Load()
		if old >= 0 && old>>32 <= int64(f) || k.bad.CompareAndSwap(old, v) {
			return
		}
	}
}

// embBackward is Embeddings.Backward for fields [lo, hi).
type embBackward struct {
	t              *Tape
	e              *Embeddings
	x              *Mat
	saved, scratch []float32
}

func (k *embBackward) Run(lo, hi int) { k.e.backward(k.t, k.x, k.saved, k.scratch, lo, hi, embAll) }

// forward fills the columns of fields [lo, hi) of x and their saved
// segments, for the fields in the mask need (see forwardFields; the others
// only have their ids checked, and saved must then be nil). It stops at the
// first id outside its vocabulary and returns its field and value, or -1
// when all ids are valid.
func (e *Embeddings) forward(x *Mat, b *feature.Batch, saved []float32, need uint64, lo, hi int) (int, int32) {
	n, d, w := b.N, e.Dim, x.Cols
	off := e.savedOffset(b, lo)
	for f := lo; f < hi; f++ {
		fs := &e.Fields[f]
		fd := &b.Fields[f]
		col := f * d
		if need != allFields && need&(1<<f) == 0 {
			if i, id := checkIDs(fs, fd, n); i >= 0 {
				return f, id
			}
			continue
		}
		switch fs.Kind {
		case feature.Categorical:
			tab := e.Tables[f]
			ids := fd.IDs[:n]
			for i, id := range ids {
				if uint32(id) >= uint32(fs.Vocab) {
					return f, id
				}
				copy(x.V[i*w+col:i*w+col+d], tab.W[int(id)*d:int(id)*d+d])
			}
			if saved != nil {
				copy(asInt32(saved[off:off+n]), ids)
				off += n
			}
		case feature.MultiCategorical:
			tab := e.Tables[f]
			offs := fd.Offsets[:n+1]
			base := offs[0]
			for i := 0; i < n; i++ {
				dst := x.V[i*w+col : i*w+col+d]
				clear(dst)
				ids := fd.IDs[offs[i]:offs[i+1]]
				if len(ids) == 0 {
					continue
				}
				for _, id := range ids {
					if uint32(id) >= uint32(fs.Vocab) {
						return f, id
					}
					row := tab.W[int(id)*d : int(id)*d+d]
					for j, v := range row {
						dst[j] += v
					}
				}
				inv := 1 / float32(len(ids))
				for j := range dst {
					dst[j] *= inv
				}
			}
			if saved != nil {
				so := asInt32(saved[off : off+n+1])
				for i, o := range offs {
					so[i] = o - base
				}
				off += n + 1
				m := int(offs[n] - base)
				copy(asInt32(saved[off:off+m]), fd.IDs[base:offs[n]])
				off += m
			}
		case feature.Numeric:
			vals := fd.Values[:n]
			v, bb := e.NumV[f].W, e.NumB[f].W
			for i, val := range vals {
				dst := x.V[i*w+col : i*w+col+d]
				for j := range dst {
					dst[j] = val*v[j] + bb[j]
				}
			}
			if saved != nil {
				copy(saved[off:off+n], vals)
				off += n
			}
		}
	}
	return -1, 0
}

// savedOffset returns where field f's segment starts in the saved buffer.
func (e *Embeddings) savedOffset(b *feature.Batch, f int) int {
	off := 0
	for g := 0; g < f; g++ {
		switch e.Fields[g].Kind {
		case feature.Categorical, feature.Numeric:
			off += b.N
		case feature.MultiCategorical:
			fd := &b.Fields[g]
			off += b.N + 1 + int(fd.Offsets[b.N]-fd.Offsets[0])
		}
	}
	return off
}

// savedOffsetRec is savedOffset computed from the saved buffer alone.
func (e *Embeddings) savedOffsetRec(saved []float32, n, f int) int {
	off := 0
	for g := 0; g < f; g++ {
		off += e.savedLenRec(saved[off:], n, g)
	}
	return off
}

// savedLenRec returns the length of field f's saved segment, which starts
// saved, for n rows.
func (e *Embeddings) savedLenRec(saved []float32, n, f int) int {
	if e.Fields[f].Kind == feature.MultiCategorical {
		return n + 1 + int(asInt32(saved[:n+1])[n])
	}
	return n
}

// Backward implements Op: each touched table row gets the gradient of every
// position it fed (divided by the list length for a multi-valued field),
// through SparseParam.GradRow; the cost grows with the rows touched, never
// with the table size. Fields run in parallel (each owns its table). On a
// tape with local gradients (Tape.SetLocalGrads) only the numeric fields'
// part runs here; the tables' part waits for MergeSparse.
func (e *Embeddings) Backward(t *Tape, r *Record) {
	x, saved := r.Out, r.Buf
	if x.Rows == 0 {
		return
	}
	nf := len(e.Fields)
	scratch := t.Floats(x.Rows * nf)
	if t.local {
		e.backward(t, x, saved, scratch, 0, nf, embNumeric)
		t.deferred = append(t.deferred, deferredSparse{e: e, rec: r, scratch: scratch})
		return
	}
	if t.threads() > 1 && nf > 1 {
		k := &t.jobs.embBackward
		*k = embBackward{t: t, e: e, x: x, saved: saved, scratch: scratch}
		t.parallelFor(nf, max(1, nf/t.threads()), k)
		*k = embBackward{}
	} else {
		e.backward(t, x, saved, scratch, 0, nf, embAll)
	}
}

// MergeSparse runs the embedding tables' part of the backward passes that
// the tapes (with local gradients, see Tape.SetLocalGrads) deferred, into
// the tables' own sparse gradients: tape after tape in slice order, so
// that each table row sums its gradients in an order that depends only on
// the tapes' order. Every tape must have run the same model's backward
// pass. Tables are independent, so they are split across
// tensor.Threads() goroutines, which does not change the result.
func MergeSparse(tapes []*Tape) {
	if len(tapes) == 0 {
		return
	}
	for i := range tapes[0].deferred {
		e := tapes[0].deferred[i].e
		for _, t := range tapes[1:] {
			if i >= len(t.deferred) || t.deferred[i].e != e {
				panic("nn: MergeSparse: the tapes deferred different embedding layers")
			}
		}
		k := &mergeSparse{e: e, tapes: tapes, i: i}
		if nf := len(e.Fields); tensor.Threads() > 1 && nf > 1 {
			tensor.ParallelFor(nf, max(1, nf/tensor.Threads()), k)
		} else {
			k.Run(0, nf)
		}
	}
}

// mergeSparse is MergeSparse of deferred pass i for fields [lo, hi).
type mergeSparse struct {
	e     *Embeddings
	tapes []*Tape
	i     int
}

func (k *mergeSparse) Run(lo, hi int) {
	for _, t := range k.tapes {
		d := &t.deferred[k.i]
		k.e.backward(t, d.rec.Out, d.rec.Buf, d.scratch, lo, hi, embTables)
	}
}

// Parts of Embeddings.backward.
const (
	embAll     = iota
	embNumeric // the numeric fields' dense parameters only
	embTables  // the categorical fields' tables only
)

// backward accumulates the gradients of fields [lo, hi), those of part.
func (e *Embeddings) backward(t *Tape, x *Mat, saved, scratch []float32, lo, hi, part int) {
	n, d, w := x.Rows, e.Dim, x.Cols
	off := e.savedOffsetRec(saved, n, lo)
	for f := lo; f < hi; f++ {
		col := f * d
		kind := e.Fields[f].Kind
		if part == embNumeric && kind != feature.Numeric || part == embTables && kind == feature.Numeric {
			off += e.savedLenRec(saved[off:], n, f)
			continue
		}
		switch kind {
		case feature.Categorical:
			tab := e.Tables[f]
			ids := asInt32(saved[off : off+n])
			off += n
			if tab.slot == nil {
				tab.GradRow(ids[0]) // sizes the slot index
			}
			// Look all slots up first: independent loads whose cache
			// misses overlap, instead of one miss per GradRow call.
			// A slot found here stays valid: slots are only added.
			slots := asInt32(scratch[f*n : (f+1)*n])
			for i, id := range ids {
				slots[i] = tab.slot[id]
			}
			for i, id := range ids {
				var g []float32
				if s := int(slots[i]); s >= 0 {
					g = tab.G[s*d : s*d+d]
				} else {
					g = tab.GradRow(id)
				}
				for j, v := range x.G[i*w+col : i*w+col+d] {
					g[j] += v
				}
			}
		case feature.MultiCategorical:
			tab := e.Tables[f]
			offs := asInt32(saved[off : off+n+1])
			off += n + 1
			ids := asInt32(saved[off : off+int(offs[n])])
			off += int(offs[n])
			for i := 0; i < n; i++ {
				row := ids[offs[i]:offs[i+1]]
				if len(row) == 0 {
					continue
				}
				inv := 1 / float32(len(row))
				src := x.G[i*w+col : i*w+col+d]
				for _, id := range row {
					g := tab.GradRow(id)
					for j, v := range src {
						g[j] += v * inv
					}
				}
			}
		case feature.Numeric:
			gv, gb := t.Grad(e.NumV[f]), t.Grad(e.NumB[f])
			for i, val := range saved[off : off+n] {
				for j, v := range x.G[i*w+col : i*w+col+d] {
					gv[j] += val * v
					gb[j] += v
				}
			}
			off += n
		}
	}
}
