package feature

// Kind is the engine-facing kind of a transformed feature field.
type Kind int

const (
	// Categorical: one id per row, in [0, Vocab). Id 0 is the OOV/missing id.
	Categorical Kind = iota
	// MultiCategorical: a variable-length list of ids per row (mean-pooled by the model).
	MultiCategorical
	// Numeric: one float per row, already transformed (log1p, normalized, missing filled).
	Numeric
)

// FieldSpec describes one transformed feature field as the engine sees it.
// Fields are in schema order, without ignored columns and labels. A bucketized
// numeric field or a hashed field is Categorical here.
type FieldSpec struct {
	Name  string
	Kind  Kind
	Vocab int // number of embedding rows for Categorical/MultiCategorical (including OOV id 0); 0 for Numeric
}

// FieldData holds one field's values for the rows of a Batch.
type FieldData struct {
	IDs     []int32   // Categorical: len N. MultiCategorical: all ids of all rows, concatenated.
	Offsets []int32   // MultiCategorical only: len N+1; row i's ids are IDs[Offsets[i]:Offsets[i+1]] (may be empty).
	Values  []float32 // Numeric: len N.
}

// Batch is a block of transformed rows, field-major, ready for the engine.
// Buffers are reused from batch to batch: a consumer must not keep them.
type Batch struct {
	N      int
	Fields []FieldData // one per FieldSpec, same order
	Labels [][]float32 // Labels[t][i] in {0,1}, one slice per task in schema order
	Group  []int64     // optional: group key per row (for gAUC), nil when the schema has no group_by
}

// Reset empties b for reuse, keeping its buffers.
func (b *Batch) Reset() {
	b.N = 0
	for i := range b.Fields {
		f := &b.Fields[i]
		f.IDs = f.IDs[:0]
		f.Values = f.Values[:0]
		if f.Offsets != nil {
			f.Offsets = append(f.Offsets[:0], 0)
		}
	}
	for t := range b.Labels {
		b.Labels[t] = b.Labels[t][:0]
	}
	if b.Group != nil {
		b.Group = b.Group[:0]
	}
}

// View makes dst a view of rows [lo, hi) of b, sharing b's buffers (no
// copy: a multi-valued field keeps all its ids and the offsets of its
// rows). A label or group column shorter than hi (a batch to score, without
// labels) is left empty in dst. dst's own slices are overwritten, not
// written through; the view is valid while b is unchanged. The training
// step and the scorer cut a batch into row blocks with it.
func (b *Batch) View(dst *Batch, lo, hi int) {
	dst.N = hi - lo
	if cap(dst.Fields) < len(b.Fields) {
		dst.Fields = make([]FieldData, len(b.Fields))
	}
	dst.Fields = dst.Fields[:len(b.Fields)]
	for f := range b.Fields {
		src, d := &b.Fields[f], &dst.Fields[f]
		*d = FieldData{}
		if src.Offsets != nil { // a multi-valued field
			d.Offsets, d.IDs = src.Offsets[lo:hi+1], src.IDs
			continue
		}
		if len(src.IDs) >= hi {
			d.IDs = src.IDs[lo:hi]
		}
		if len(src.Values) >= hi {
			d.Values = src.Values[lo:hi]
		}
	}
	if cap(dst.Labels) < len(b.Labels) {
		dst.Labels = make([][]float32, len(b.Labels))
	}
	dst.Labels = dst.Labels[:len(b.Labels)]
	for t, y := range b.Labels {
		dst.Labels[t] = nil
		if len(y) >= hi {
			dst.Labels[t] = y[lo:hi]
		}
	}
	dst.Group = nil
	if len(b.Group) >= hi {
		dst.Group = b.Group[lo:hi]
	}
}
