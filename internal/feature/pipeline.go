package feature

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"unsafe"
)

// PipelineVersion is the newest version of the pipeline's JSON form: 2
// adds the Bloom filter of admitted values of hashed fields, 3 stores large
// vocabularies and filters as blobs beside the JSON (MarshalWithBlobs). A
// pipeline is written with the lowest version that holds it: 1 without
// filters or blobs.
const PipelineVersion = 3

type op uint8

const (
	opVocab op = iota
	opHash
	opMulti
	opNumeric
	opBucket
)

// opFor returns the transform of a (non-ignored) schema field.
func opFor(fd Field) op {
	switch {
	case fd.Type == TypeMultiCategorical:
		return opMulti
	case fd.Type == TypeCategorical && fd.HashBuckets > 0:
		return opHash
	case fd.Type == TypeCategorical:
		return opVocab
	case fd.Buckets != nil:
		return opBucket
	}
	return opNumeric
}

// pfield is one fitted feature field.
type pfield struct {
	def  Field
	spec FieldSpec
	op   op
	col  int // column index in the bound layout

	// vocabulary (opVocab, opMulti without hash_buckets): id = index in
	// vocabList + 1.
	vocabList []string
	vocab     map[string]int32
	scanNUL   bool // scan every value for NUL: hashed, or a kept value holds one (fitted before NULs were refused)
	minCount  int
	// hashed (opHash, opMulti with hash_buckets): id = 1 + Hash64 % hashN
	// for an admitted value, 0 for the others; every value is admitted when
	// admit is nil (min_count 1, or a pipeline written before admission).
	hashN uint64
	admit *bloomFilter

	// numeric (opNumeric, opBucket)
	missing []string
	// direct: no missing value is a decimal number, so a cell read as the
	// number x (TransformRowValues) is never missing and takes x as is.
	direct bool
	fill   float64 // raw value used for a missing cell
	log    bool
	shift  float64 // out = (t - shift) * scale
	scale  float64
	stats  NumericStats
}

// NumericStats are the training statistics of a numeric field, in the
// transformed space (after log1p when set), missing cells excluded.
type NumericStats struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	Std   float64 `json:"std"`
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
	// RawMean is the mean of the raw values (the fill for missing: mean).
	RawMean float64 `json:"raw_mean"`
}

type ptask struct {
	name, label string
	pos, neg    []string
	after       int
}

// TaskInfo describes one task for the engine and the metrics.
type TaskInfo struct {
	Name  string // schema name
	Label string // label column
	After int    // index of the task this one follows in a funnel, -1 if none
}

// Pipeline is a fitted, frozen feature pipeline: vocabularies, hash buckets,
// numeric statistics and bucket boundaries, fitted on the training rows only.
// It turns raw rows into Batch rows. A Pipeline is read-only after fitting and
// safe for concurrent use with distinct Batches. It marshals to JSON
// (json.Marshal(p)) and back (UnmarshalPipeline) so a model file can carry it.
type Pipeline struct {
	schema  Schema
	lay     *layout
	fields  []pfield
	tasks   []ptask
	rows    int64 // training rows used to fit
	known   map[string]bool
	hasLbls bool
	// rowCounts[i]: training rows (tokens, for a multi-valued field) mapped
	// to each embedding row of field i; nil for a numeric field and for a
	// pipeline read back from JSON (see RowCounts).
	rowCounts [][]int64
}

// Schema returns the schema the pipeline was fitted with (with defaults filled).
func (p *Pipeline) Schema() Schema { return p.schema }

// Columns returns the column names, in order, that records passed to
// TransformRow and TransformRecord must follow.
func (p *Pipeline) Columns() []string { return slices.Clone(p.lay.columns) }

// FitRows returns the number of training rows the pipeline was fitted on.
func (p *Pipeline) FitRows() int64 { return p.rows }

// HasLabels reports whether the bound columns hold every label column. When
// false, TransformRow writes label 0.
func (p *Pipeline) HasLabels() bool { return p.hasLbls }

// Fields returns the engine-facing description of the feature fields, in
// schema order, without ignored columns and labels.
func (p *Pipeline) Fields() []FieldSpec {
	out := make([]FieldSpec, len(p.fields))
	for i := range p.fields {
		out[i] = p.fields[i].spec
	}
	return out
}

// Tasks returns the tasks in schema order.
func (p *Pipeline) Tasks() []TaskInfo {
	out := make([]TaskInfo, len(p.tasks))
	for i, t := range p.tasks {
		out[i] = TaskInfo{Name: t.name, Label: t.label, After: t.after}
	}
	return out
}

// GroupBy returns the group_by column ("" when none). Batch.Group then holds
// GroupKey of each row's value.
func (p *Pipeline) GroupBy() string { return p.schema.GroupBy }

// Vocabulary returns the kept values of a vocabulary field (id = index+1; id
// 0 is OOV), or nil for other fields.
func (p *Pipeline) Vocabulary(field string) []string {
	for i := range p.fields {
		if p.fields[i].def.Name == field {
			return slices.Clone(p.fields[i].vocabList)
		}
	}
	return nil
}

// Stats returns the numeric statistics of a numeric field.
func (p *Pipeline) Stats(field string) (NumericStats, bool) {
	for i := range p.fields {
		if f := &p.fields[i]; f.def.Name == field && (f.op == opNumeric || f.op == opBucket) {
			return f.stats, true
		}
	}
	return NumericStats{}, false
}

// MinCount returns the min_count used for a vocabulary or hashed field
// (explicit or the default chosen from the data), 0 for other fields and
// for a hashed field of a pipeline fitted before hashed fields had
// admission (every value admitted, as with 1).
func (p *Pipeline) MinCount(field string) int {
	for i := range p.fields {
		if p.fields[i].def.Name == field {
			return p.fields[i].minCount
		}
	}
	return 0
}

// AdmittedValues returns the number of values a hashed field admits (values
// seen at least MinCount times in the training rows, which the pipeline
// keeps in a Bloom filter), or -1 when the field admits every value
// (min_count 1) or is not hashed.
func (p *Pipeline) AdmittedValues(field string) int {
	for i := range p.fields {
		if f := &p.fields[i]; f.def.Name == field && f.admit != nil {
			return f.admit.n
		}
	}
	return -1
}

// RowCounts returns, per field in Fields order, the number of training rows
// (tokens, for a multi-valued field) the fit mapped to each id: for a
// vocabulary field the count of each kept value, and for id 0 (OOV) the
// count of every other value; for a hashed field the rows of the admitted
// values falling in each bucket (counted as the fit counted them: exactly
// for the first AdmitExactValues distinct values, otherwise possibly over;
// see idCounter) and for id 0 the rest; for a bucketized numeric field the
// rows in each bucket. A numeric field has nil. These counts serve
// training (the count-aware embedding regularisation) and are not written
// to the model file: a pipeline read back with UnmarshalPipeline returns
// nil. The slices are copies.
func (p *Pipeline) RowCounts() [][]int64 {
	if p.rowCounts == nil {
		return nil
	}
	out := make([][]int64, len(p.rowCounts))
	for i, c := range p.rowCounts {
		out[i] = slices.Clone(c)
	}
	return out
}

// WithColumns returns a pipeline that shares p's fitted state but reads
// records with the given column order (another file's header). Feature
// columns must all be present; label and group columns must be too when
// requireLabels is set (otherwise absent labels read as 0).
func (p *Pipeline) WithColumns(columns []string, requireLabels bool) (*Pipeline, error) {
	lay, err := p.schema.bind(columns, requireLabels)
	if err != nil {
		return nil, err
	}
	q := *p
	q.lay = lay
	q.fields = slices.Clone(p.fields)
	j := 0
	for i, fd := range p.schema.Fields {
		if fd.Type == TypeIgnore {
			continue
		}
		q.fields[j].col = lay.field[i]
		j++
	}
	q.hasLbls = !slices.Contains(lay.label, -1)
	return &q, nil
}

// NewBatch returns an empty Batch laid out for p with room for capacity rows.
func (p *Pipeline) NewBatch(capacity int) *Batch {
	capacity = max(capacity, 1)
	b := &Batch{Fields: make([]FieldData, len(p.fields)), Labels: make([][]float32, len(p.tasks))}
	for i := range p.fields {
		switch p.fields[i].op {
		case opNumeric:
			b.Fields[i].Values = make([]float32, 0, capacity)
		case opMulti:
			b.Fields[i].IDs = make([]int32, 0, 2*capacity)
			b.Fields[i].Offsets = make([]int32, 1, capacity+1)
		default:
			b.Fields[i].IDs = make([]int32, 0, capacity)
		}
	}
	for t := range b.Labels {
		b.Labels[t] = make([]float32, 0, capacity)
	}
	if p.schema.GroupBy != "" && p.lay.group >= 0 {
		b.Group = make([]int64, 0, capacity)
	}
	return b
}

// FieldError is a bad value in one cell of a row.
type FieldError struct {
	Column   int    // 0-based column index in the record; -1 for a whole-row error or a JSON key
	Name     string // column (or JSON key) name; "" for a whole-row error
	Value    string // the offending raw value
	Expected string // what was expected
	Err      error  // ErrBadRow or ErrFunnelViolation
}

func (e *FieldError) Error() string {
	if e.Column < 0 && e.Name == "" {
		return fmt.Sprintf("row: expected %s, got %s", e.Expected, e.Value)
	}
	if e.Column < 0 {
		return fmt.Sprintf("field %q: expected %s, got %q", e.Name, e.Expected, e.Value)
	}
	return fmt.Sprintf("column %d (%s): expected %s, got %q", e.Column+1, e.Name, e.Expected, e.Value)
}

// Unwrap returns the sentinel (ErrBadRow or ErrFunnelViolation).
func (e *FieldError) Unwrap() error { return e.Err }

// bstr views b as a string without copying; the string must not outlive b.
func bstr(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// sbytes views s as bytes without copying; the bytes must not be written.
func sbytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// trim removes ASCII blanks (space, tab, CR) at both ends.
func trim(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func contains(list []string, v []byte) bool {
	for _, s := range list {
		if s == string(v) {
			return true
		}
	}
	return false
}

func signedLog1p(x float64) float64 {
	if x < 0 {
		return -math.Log1p(-x)
	}
	return math.Log1p(x)
}

func bucketOf(bounds []float64, x float64) int32 {
	lo, hi := 0, len(bounds)
	for lo < hi { // first boundary > x
		m := int(uint(lo+hi) >> 1)
		if bounds[m] <= x {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return int32(lo + 1)
}

// lookup returns the id of one categorical value (or token of a
// multi-valued cell).
func (f *pfield) lookup(v []byte) int32 {
	if f.hashN != 0 {
		h := Hash64(v)
		if f.admit != nil && !f.admit.has(h) {
			return 0
		}
		return int32(1 + h%f.hashN)
	}
	return f.vocab[string(v)] // 0 (OOV) when absent
}

// nul reports whether v, looked up as id, holds a NUL byte. Kept values
// hold none (the fitter refuses them), so only a value sent to OOV needs
// the scan, unless the field says otherwise (scanNUL).
func (f *pfield) nul(id int32, v []byte) bool {
	return (id == 0 || f.scanNUL) && hasNUL(v)
}

// putNumber appends one numeric value (or bucket id) to d. For a
// value-embedded field whose model input z would be beyond ±MaxAbsInput it
// appends nothing and reports false (with z).
func (f *pfield) putNumber(x float64, missing bool, d *FieldData) (z float64, ok bool) {
	if f.op == opBucket {
		if missing {
			d.IDs = append(d.IDs, 0)
		} else {
			d.IDs = append(d.IDs, bucketOf(f.def.Buckets, x))
		}
		return 0, true
	}
	if missing {
		x = f.fill // its model input was checked by finish
	}
	if z = f.input(x); !inputOK(z) {
		return z, false
	}
	d.Values = append(d.Values, float32(z))
	return z, true
}

// putMulti appends the ids of a multi-valued cell and closes the row. It
// reports false, leaving the row open for a rollback, when a token holds a
// NUL byte (see lookup).
func (f *pfield) putMulti(v []byte, d *FieldData) bool {
	sep := f.def.Separator
	for len(v) > 0 {
		i := indexSep(v, sep)
		var tok []byte
		if i < 0 {
			tok, v = v, nil
		} else {
			tok, v = v[:i], v[i+len(sep):]
		}
		if tok = trim(tok); len(tok) > 0 {
			id := f.lookup(tok)
			if f.nul(id, tok) {
				return false
			}
			d.IDs = append(d.IDs, id)
		}
	}
	d.Offsets = append(d.Offsets, int32(len(d.IDs)))
	return true
}

func indexSep(v []byte, sep string) int {
	if len(sep) == 1 {
		for i, c := range v {
			if c == sep[0] {
				return i
			}
		}
		return -1
	}
	for i := 0; i+len(sep) <= len(v); i++ {
		if v[i] == sep[0] && string(v[i:i+len(sep)]) == sep {
			return i
		}
	}
	return -1
}

// label parses one label cell; ok is false for a value outside Positive and
// Negative (when Negative is set) or an empty cell.
func (t *ptask) parse(v []byte) (y float32, ok bool) {
	if contains(t.pos, v) {
		return 1, true
	}
	if t.neg != nil {
		return 0, contains(t.neg, v)
	}
	return 0, len(v) > 0
}

func (t *ptask) expected() string {
	if t.neg != nil {
		return fmt.Sprintf("a label in %q (positive) or %q (negative)", t.pos, t.neg)
	}
	return fmt.Sprintf("a non-empty label (positive: %q)", t.pos)
}

// parseLabels fills ys from the record; it checks the funnel.
func (p *Pipeline) parseLabels(rec [][]byte, ys []float32) error {
	return parseLabels(p.tasks, p.lay, rec, ys)
}

func parseLabels(tasks []ptask, lay *layout, rec [][]byte, ys []float32) error {
	for t := range tasks {
		c := lay.label[t]
		if c < 0 {
			ys[t] = 0
			continue
		}
		v := trim(rec[c])
		y, ok := tasks[t].parse(v)
		if !ok {
			return &FieldError{Column: c, Name: lay.columns[c], Value: string(v), Expected: tasks[t].expected(), Err: ErrBadRow}
		}
		ys[t] = y
	}
	for t := range tasks {
		if a := tasks[t].after; a >= 0 && ys[t] == 1 && ys[a] == 0 && lay.label[t] >= 0 {
			c := lay.label[t]
			return &FieldError{Column: c, Name: lay.columns[c], Value: string(trim(rec[c])),
				Expected: fmt.Sprintf("a negative %s label when %s (column %q) is negative (task %q comes after %q)", tasks[t].name, tasks[a].name, tasks[a].label, tasks[t].name, tasks[a].name),
				Err:      ErrFunnelViolation}
		}
	}
	return nil
}

// TransformRow appends one raw record (cells in Columns order, as returned by
// the data reader) to b as row b.N. On error (an unparsable number, one
// beyond MaxAbsRaw or whose model input is beyond MaxAbsInput, a NUL byte in
// a categorical value, a bad label, a funnel violation) b is left unchanged
// and the error is a *FieldError wrapping ErrBadRow or ErrFunnelViolation.
func (p *Pipeline) TransformRow(rec [][]byte, b *Batch) error {
	return p.transformRow(rec, nil, nil, b)
}

// TransformRowValues is TransformRow for a reader that knows some cells'
// ids or numbers. The field of each column c with ids[c] ≥ 0 takes that id
// without looking its cell up: ids[c] must be what ColumnIDs(c) gives for
// the cell (a reader computes it once per distinct value, e.g. per Parquet
// dictionary entry). The numeric field of each column c that ColumnNumbers
// marks, with nums[c] not NaN, takes
// nums[c] as its raw value without parsing the cell: nums[c] must be the
// value of the cell's text (a reader of typed columns knows it), which
// stays in rec for the error of a value out of bounds. NaN means "parse
// the cell" (a null, or a value without a number, such as a float NaN).
// ids and nums may be nil.
func (p *Pipeline) TransformRowValues(rec [][]byte, ids []int32, nums []float64, b *Batch) error {
	return p.transformRow(rec, ids, nums, b)
}

// ColumnNumbers returns, for each column of the pipeline, whether
// TransformRowValues takes a number for it: the column of a numeric field
// none of whose missing values is a decimal number (a cell with a number
// is then never missing, so its number is its raw value).
func (p *Pipeline) ColumnNumbers() []bool {
	out := make([]bool, len(p.lay.columns))
	for i := range p.fields {
		if f := &p.fields[i]; (f.op == opNumeric || f.op == opBucket) && f.direct {
			out[f.col] = true
		}
	}
	return out
}

func (p *Pipeline) transformRow(rec [][]byte, ids []int32, nums []float64, b *Batch) error {
	if len(rec) != len(p.lay.columns) {
		return &FieldError{Column: -1, Value: fmt.Sprintf("%d columns", len(rec)), Expected: fmt.Sprintf("%d columns", len(p.lay.columns)), Err: ErrBadRow}
	}
	var ybuf [MaxTasks]float32
	ys := ybuf[:len(p.tasks)]
	if err := p.parseLabels(rec, ys); err != nil {
		return err
	}
	n := b.N
	for i := range p.fields {
		f := &p.fields[i]
		d := &b.Fields[i]
		switch f.op {
		case opVocab, opHash:
			if ids != nil && ids[f.col] >= 0 {
				d.IDs = append(d.IDs, ids[f.col])
				continue
			}
			v := trim(rec[f.col])
			id := f.lookup(v)
			if f.nul(id, v) {
				p.rollback(b, n)
				return f.nulError(f.col, v)
			}
			d.IDs = append(d.IDs, id)
		case opMulti:
			v := trim(rec[f.col])
			if !f.putMulti(v, d) {
				p.rollback(b, n)
				return f.nulError(f.col, v)
			}
		default:
			var x float64
			var st numStatus
			if nums != nil && f.direct && !math.IsNaN(nums[f.col]) {
				x = nums[f.col]
				st = checkRaw(x)
			} else {
				x, st = parseNumber(trim(rec[f.col]), f.missing)
			}
			if st > numMissing {
				p.rollback(b, n)
				return f.badNumber(f.col, string(trim(rec[f.col])), st, 0)
			}
			if z, ok := f.putNumber(x, st == numMissing, d); !ok {
				p.rollback(b, n)
				return f.badNumber(f.col, string(trim(rec[f.col])), numInput, z)
			}
		}
	}
	p.commit(b, ys, rec)
	return nil
}

func (p *Pipeline) commit(b *Batch, ys []float32, rec [][]byte) {
	for t := range ys {
		b.Labels[t] = append(b.Labels[t], ys[t])
	}
	if b.Group != nil {
		var g int64
		if c := p.lay.group; c >= 0 && rec != nil {
			g = GroupKey(trim(rec[c]))
		}
		b.Group = append(b.Group, g)
	}
	b.N++
}

func (p *Pipeline) rollback(b *Batch, n int) {
	for i := range p.fields {
		d := &b.Fields[i]
		switch p.fields[i].op {
		case opNumeric:
			d.Values = d.Values[:n]
		case opMulti:
			d.IDs = d.IDs[:d.Offsets[n]]
			d.Offsets = d.Offsets[:n+1]
		default:
			d.IDs = d.IDs[:n]
		}
	}
}

// TransformRecord is TransformRow for a record of strings.
func (p *Pipeline) TransformRecord(rec []string, b *Batch) error {
	var buf [64][]byte
	bs := buf[:0]
	if len(rec) > len(buf) {
		bs = make([][]byte, 0, len(rec))
	}
	for _, s := range rec {
		bs = append(bs, sbytes(s))
	}
	return p.TransformRow(bs, b)
}

// TransformMap appends one row given as a JSON object (feature name → value)
// to b, applying exactly the transform of TransformRow. Values may be strings
// or numbers (float64, json.Number, int, ...) or nil; a multi_categorical
// field also takes a list. A categorical number is matched by its shortest
// decimal form (5 → "5"; send strings when the file spells ids otherwise,
// e.g. "5.0"). A missing key or nil is a missing cell (categorical: the value
// ""; numeric: the missing policy). Labels are written as 0 and the group key
// from the group_by key when present. Keys that are neither features, labels,
// group_by, ignored fields nor columns of the training file are returned as
// unknown (sorted); they are not an error. On error b is unchanged.
func (p *Pipeline) TransformMap(m map[string]any, b *Batch) (unknown []string, err error) {
	return p.UnknownKeys(m), p.TransformMapWith(m, nil, b)
}

// UnknownKeys returns, sorted, the keys of m that are neither features,
// labels, group_by, ignored fields nor columns of the training file (nil when
// there are none).
func (p *Pipeline) UnknownKeys(m map[string]any) []string {
	var unknown []string
	for k := range m {
		if !p.Known(k) {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	return unknown
}

// Known reports whether key is a feature, a label, group_by, an ignored
// field or a column of the training file: the keys UnknownKeys does not
// list.
func (p *Pipeline) Known(key string) bool { return p.known[key] }

// TransformMapWith is TransformMap for an item m whose missing keys are
// looked up in fallback (the shared context of a request; nil for none), so
// that m's own value wins, without merging the maps and without listing
// unknown keys (see UnknownKeys). On error b is unchanged.
func (p *Pipeline) TransformMapWith(m, fallback map[string]any, b *Batch) error {
	get := func(k string) (any, bool) {
		v, ok := m[k]
		if !ok && fallback != nil {
			v, ok = fallback[k]
		}
		return v, ok
	}
	n := b.N
	var nb [64]byte
	for i := range p.fields {
		f := &p.fields[i]
		d := &b.Fields[i]
		raw, _ := get(f.def.Name) // an absent key reads as nil: a missing value
		if list, isList := raw.([]any); isList && f.op == opMulti {
			for _, e := range list {
				v, ok := cellBytes(e, nb[:0])
				if !ok {
					p.rollback(b, n)
					return &FieldError{Column: -1, Name: f.def.Name, Value: fmt.Sprint(raw), Expected: "a list of strings or numbers", Err: ErrBadRow}
				}
				if v = trim(v); len(v) > 0 {
					id := f.lookup(v)
					if f.nul(id, v) {
						p.rollback(b, n)
						return f.nulError(-1, v)
					}
					d.IDs = append(d.IDs, id)
				}
			}
			d.Offsets = append(d.Offsets, int32(len(d.IDs)))
			continue
		}
		if ft := f.putAny(raw, d, nb[:0]); ft.kind != faultNone {
			p.rollback(b, n)
			return f.faultError(ft, raw)
		}
	}
	var ybuf [MaxTasks]float32
	p.commit(b, ybuf[:len(p.tasks)], nil)
	if b.Group != nil && p.schema.GroupBy != "" {
		g, _ := get(p.schema.GroupBy)
		if v, ok := cellBytes(g, nb[:0]); ok {
			b.Group[b.N-1] = GroupKey(trim(v))
		}
	}
	return nil
}

// cellBytes renders a JSON scalar as the bytes a file cell would hold.
func cellBytes(v any, buf []byte) ([]byte, bool) {
	switch v := v.(type) {
	case nil:
		return nil, true
	case string:
		return sbytes(v), true
	case json.Number:
		return sbytes(string(v)), true
	}
	x, ok := toFloat(v)
	if !ok {
		return nil, false
	}
	return floatText(x, buf)
}

// floatText renders a number as a categorical value: its shortest decimal
// form (5 → "5"); false for NaN and ±Inf.
func floatText(x float64, buf []byte) ([]byte, bool) {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil, false
	}
	if x == math.Trunc(x) && math.Abs(x) < 1e18 {
		return strconv.AppendInt(buf, int64(x), 10), true
	}
	return strconv.AppendFloat(buf, x, 'f', -1, 64), true
}

func toFloat(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case float32:
		return float64(v), true
	case int:
		return float64(v), true
	case int32:
		return float64(v), true
	case int64:
		return float64(v), true
	case uint32:
		return float64(v), true
	case uint64:
		return float64(v), true
	}
	return 0, false
}

// Hash64 is the stable hash used for hash_buckets and group keys: 64-bit
// FNV-1a of the trimmed value's bytes (offset basis 14695981039346656037,
// prime 1099511628211). A hashed value's id is 1 + Hash64(v) % hash_buckets.
func Hash64(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// GroupKey is the Batch.Group value of a group_by cell: int64(Hash64(v)).
func GroupKey(v []byte) int64 { return int64(Hash64(v)) }

// ColumnIDs returns, for each column of the pipeline, the function that
// maps a cell of it to the id TransformRow gives it, when the column is
// that of a vocabulary or hashed categorical field (nil for the others);
// it reports false for a cell TransformRow would refuse (a NUL byte).
func (p *Pipeline) ColumnIDs() []func(v []byte) (int32, bool) {
	fns := make([]func([]byte) (int32, bool), len(p.lay.columns))
	for i := range p.fields {
		f := &p.fields[i]
		if f.op != opVocab && f.op != opHash {
			continue
		}
		fns[f.col] = func(v []byte) (int32, bool) {
			v = trim(v)
			id := f.lookup(v)
			return id, !f.nul(id, v)
		}
	}
	return fns
}
