package feature

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// A fit can be split: Fitters fed disjoint parts of the training rows (the
// files of a sharded input, fitted in parallel or by separate jobs) merge
// into the Fitter of all the rows, and a Fitter's counts travel as JSON
// (the fit state, written by `dcrnn fit`). Counts and extremes merge
// exactly, and numeric sums are kept exactly (exactSum), so a merged fit
// gives the same Pipeline as one fit over the concatenated rows whenever
// every hashed field's values fitted its exact table (fewer than
// AdmitExactValues distinct values per part and in all). A hashed field
// whose counts spilled into the sketch merges its sketches by adding their
// counters (saturating) and adds to each value kept by one part the other
// part's sketch estimate of it: an over-estimate, like the sketch itself.

// FitStateFormat names the JSON form of a Fitter.
const FitStateFormat = "dcrnn-fit"

// FitStateVersion is the version of that form.
const FitStateVersion = 1

// ErrFitState marks a fit state that cannot be read or merged.
var ErrFitState = errors.New("bad fit state")

// Merge adds the rows counted by o to f. Both must have been made for the
// same schema and columns, with the same options (KeepFunnelViolations,
// CountHashedValues). o is left unchanged.
func (f *Fitter) Merge(o *Fitter) error {
	a, _ := json.Marshal(f.schema)
	b, _ := json.Marshal(o.schema)
	if !bytes.Equal(a, b) {
		return fmt.Errorf("feature: merge fits: the schemas differ: %w", ErrFitState)
	}
	if !slices.Equal(f.lay.columns, o.lay.columns) {
		return fmt.Errorf("feature: merge fits: columns %s and %s differ: %w", abbrev(f.lay.columns), abbrev(o.lay.columns), ErrFitState)
	}
	if f.KeepFunnelViolations != o.KeepFunnelViolations || len(f.fields) != len(o.fields) {
		return fmt.Errorf("feature: merge fits: one counts funnel violations, the other not: %w", ErrFitState)
	}
	for i := range f.fields {
		if (f.fields[i].ids == nil) != (o.fields[i].ids == nil) {
			return fmt.Errorf("feature: merge fits: field %q: one counted its values, the other not: %w", f.fields[i].pf.def.Name, ErrFitState)
		}
	}
	f.rows += o.rows
	f.viol += o.viol
	for t := range f.pos {
		f.pos[t] += o.pos[t]
	}
	f.levelUntil = 0 // recompute the default promotion level
	for i := range f.fields {
		f.fields[i].merge(&o.fields[i])
	}
	return nil
}

func addInts(a, b []int64) {
	for i := range a {
		a[i] += b[i]
	}
}

func (ff *fitField) merge(o *fitField) {
	if ff.counts != nil {
		ff.counts.merge(o.counts)
	}
	ff.empty += o.empty
	ff.tokens += o.tokens
	addInts(ff.hashN, o.hashN)
	addInts(ff.hashPos, o.hashPos)
	if ff.ids != nil {
		ff.ids.merge(o.ids)
	}
	ff.n += o.n
	ff.missingN += o.missingN
	ff.sum.merge(&o.sum)
	ff.sumsq.merge(&o.sumsq)
	ff.rawSum.merge(&o.rawSum)
	ff.tmin, ff.tmax = math.Min(ff.tmin, o.tmin), math.Max(ff.tmax, o.tmax)
	for t := range ff.posMin {
		ff.posMin[t] = math.Min(ff.posMin[t], o.posMin[t])
		ff.negMin[t] = math.Min(ff.negMin[t], o.negMin[t])
		ff.posMax[t] = math.Max(ff.posMax[t], o.posMax[t])
		ff.negMax[t] = math.Max(ff.negMax[t], o.negMax[t])
	}
	addInts(ff.posN, o.posN)
	addInts(ff.negN, o.negN)
	addInts(ff.bucketN, o.bucketN)
	addInts(ff.bucketPos, o.bucketPos)
}

// merge adds o's counts to c (see the comment at the top of the file for
// counters that spilled into their sketch).
func (c *idCounter) merge(o *idCounter) {
	if o.sketch != nil {
		for j, n := range c.counts {
			if n != 0 && o.count(c.keys[j]) == 0 {
				c.counts[j] = uint32(min(uint64(n)+uint64(o.sketchEstimate(c.keys[j])), math.MaxUint32))
			}
		}
		if c.sketch == nil {
			c.sketch = make([]uint8, len(o.sketch))
		}
		for i, v := range o.sketch {
			c.sketch[i] = uint8(min(uint32(c.sketch[i])+uint32(v), sketchMax))
		}
	}
	c.floor = max(c.floor, o.floor)
	c.highest = max(c.highest, o.highest)
	level := max(c.floor, 1)
	o.each(func(h uint64, n uint32) {
		i := c.slot(h)
		if c.counts[i] != 0 {
			c.counts[i] = uint32(min(uint64(c.counts[i])+uint64(n), math.MaxUint32))
			return
		}
		n = uint32(min(uint64(n)+uint64(c.sketchEstimate(h)), math.MaxUint32))
		c.insertAt(i, h, n, level)
	})
	c.total += o.total
	c.prunes += o.prunes
}

// fitStateJSON is the JSON form of a Fitter.
type fitStateJSON struct {
	Format     string         `json:"format"`
	Version    int            `json:"version"`
	Schema     Schema         `json:"schema"`
	Columns    []string       `json:"columns"`
	Rows       int64          `json:"rows"`
	Positives  []int64        `json:"positives"`
	Violations int64          `json:"funnel_violations,omitempty"`
	KeepViol   bool           `json:"keep_funnel_violations,omitempty"`
	Fields     []fitFieldJSON `json:"fields"`
}

type fitFieldJSON struct {
	Name string `json:"name"`
	// Values and Counts: a vocabulary field's values (sorted) and per value
	// [count, positives per task...] (multi: [count]).
	Values  []string  `json:"values,omitempty"`
	Counts  [][]int64 `json:"counts,omitempty"`
	Empty   int64     `json:"empty,omitempty"`
	Tokens  int64     `json:"tokens,omitempty"`
	HashN   []int64   `json:"hash_counts,omitempty"`
	HashPos []int64   `json:"hash_positives,omitempty"`
	IDs     *idsJSON  `json:"value_counts,omitempty"`

	N         int64     `json:"n,omitempty"`
	Missing   int64     `json:"missing,omitempty"`
	Sum       *exactSum `json:"sum,omitempty"`
	SumSq     *exactSum `json:"sum_squares,omitempty"`
	RawSum    *exactSum `json:"raw_sum,omitempty"`
	Extremes  []string  `json:"extremes,omitempty"` // tmin, tmax, then per task posMin, posMax, negMin, negMax
	PosN      []int64   `json:"positive_n,omitempty"`
	NegN      []int64   `json:"negative_n,omitempty"`
	BucketN   []int64   `json:"bucket_counts,omitempty"`
	BucketPos []int64   `json:"bucket_positives,omitempty"`
}

// idsJSON is an idCounter: its table as base64 of (hash, count) pairs,
// little-endian, and its sketch as base64 of its counters.
type idsJSON struct {
	MaxN    int    `json:"max_values"`
	Table   string `json:"table"`
	Sketch  string `json:"sketch,omitempty"`
	Depth   int    `json:"sketch_depth"`
	Width   int    `json:"sketch_width"`
	Floor   uint32 `json:"floor,omitempty"`
	Highest uint32 `json:"highest,omitempty"`
	Total   int64  `json:"total"`
	Prunes  int    `json:"prunes,omitempty"`
}

func fmtFloat(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// MarshalState writes the Fitter's counts as JSON (the fit state).
func (f *Fitter) MarshalState() ([]byte, error) {
	j := fitStateJSON{Format: FitStateFormat, Version: FitStateVersion, Schema: f.schema, Columns: f.lay.columns,
		Rows: f.rows, Positives: f.pos, Violations: f.viol, KeepViol: f.KeepFunnelViolations}
	for i := range f.fields {
		ff := &f.fields[i]
		fj := fitFieldJSON{Name: ff.pf.def.Name, Empty: ff.empty, Tokens: ff.tokens, HashN: ff.hashN, HashPos: ff.hashPos,
			N: ff.n, Missing: ff.missingN, PosN: ff.posN, NegN: ff.negN, BucketN: ff.bucketN, BucketPos: ff.bucketPos}
		if ff.counts != nil {
			fj.Values = make([]string, 0, ff.counts.len())
			ff.counts.each(func(v string, _ []int64) { fj.Values = append(fj.Values, v) })
			slices.Sort(fj.Values)
			fj.Counts = make([][]int64, len(fj.Values))
			for k, v := range fj.Values {
				fj.Counts[k] = ff.counts.get(v)
			}
		}
		if c := ff.ids; c != nil {
			// By hash, so that equal counts give equal bytes whatever the
			// order the values were met in.
			keys := make([]uint64, 0, c.n)
			c.each(func(h uint64, _ uint32) { keys = append(keys, h) })
			slices.Sort(keys)
			tab := make([]byte, 0, 12*c.n)
			for _, h := range keys {
				tab = binary.LittleEndian.AppendUint64(tab, h)
				tab = binary.LittleEndian.AppendUint32(tab, c.count(h))
			}
			fj.IDs = &idsJSON{MaxN: c.maxN, Table: base64.StdEncoding.EncodeToString(tab), Depth: c.depth, Width: 1 << (64 - c.wshift),
				Floor: c.floor, Highest: c.highest, Total: c.total, Prunes: c.prunes}
			if c.sketch != nil {
				fj.IDs.Sketch = base64.StdEncoding.EncodeToString(c.sketch)
			}
		}
		if ff.posMin != nil {
			fj.Sum, fj.SumSq, fj.RawSum = &ff.sum, &ff.sumsq, &ff.rawSum
			fj.Extremes = []string{fmtFloat(ff.tmin), fmtFloat(ff.tmax)}
			for t := range ff.posMin {
				fj.Extremes = append(fj.Extremes, fmtFloat(ff.posMin[t]), fmtFloat(ff.posMax[t]), fmtFloat(ff.negMin[t]), fmtFloat(ff.negMax[t]))
			}
		}
		j.Fields = append(j.Fields, fj)
	}
	return json.Marshal(j)
}

// UnmarshalFitState rebuilds a Fitter written by MarshalState. Damaged or
// inconsistent input is an error wrapping ErrFitState, never a panic.
func UnmarshalFitState(b []byte) (*Fitter, error) {
	var j fitStateJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("feature: read fit state: %v: %w", err, ErrFitState)
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("feature: read fit state: %s: %w", fmt.Sprintf(format, a...), ErrFitState)
	}
	if j.Format != FitStateFormat {
		return nil, bad("format %q, want %q (a file written by dcrnn fit)", j.Format, FitStateFormat)
	}
	if j.Version != FitStateVersion {
		return nil, bad("version %d, this build reads %d", j.Version, FitStateVersion)
	}
	s := j.Schema
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("feature: read fit state: %w", err)
	}
	f, err := NewFitter(&s, j.Columns)
	if err != nil {
		return nil, fmt.Errorf("feature: read fit state: %w", err)
	}
	T := len(f.tasks)
	if len(j.Positives) != T || len(j.Fields) != len(f.fields) || j.Rows < 0 {
		return nil, bad("%d tasks' positives and %d fields for a schema of %d tasks and %d fields", len(j.Positives), len(j.Fields), T, len(f.fields))
	}
	f.rows, f.pos, f.viol, f.KeepFunnelViolations = j.Rows, j.Positives, j.Violations, j.KeepViol
	for i := range f.fields {
		if err := f.fields[i].load(&j.Fields[i], T); err != nil {
			return nil, bad("field %q: %v", f.fields[i].pf.def.Name, err)
		}
	}
	return f, nil
}

func sameLen(name string, got []int64, want []int64) error {
	if len(got) != len(want) {
		return fmt.Errorf("%s: %d entries, want %d", name, len(got), len(want))
	}
	copy(want, got)
	return nil
}

func (ff *fitField) load(j *fitFieldJSON, T int) error {
	if j.Name != ff.pf.def.Name {
		return fmt.Errorf("named %q in the state", j.Name)
	}
	ff.empty, ff.tokens, ff.n, ff.missingN = j.Empty, j.Tokens, j.N, j.Missing
	if ff.counts != nil {
		if len(j.Values) != len(j.Counts) {
			return fmt.Errorf("%d values, %d counts", len(j.Values), len(j.Counts))
		}
		width := 1 + T
		if ff.pf.op == opMulti {
			width = 1
		}
		for k, v := range j.Values {
			if len(j.Counts[k]) != width {
				return fmt.Errorf("value %q: %d counts, want %d", v, len(j.Counts[k]), width)
			}
			if ff.counts.get(v) != nil {
				return fmt.Errorf("value %q listed twice", v)
			}
			ff.counts.add(intern(ff.counts, v), j.Counts[k])
		}
	} else if len(j.Values) > 0 {
		return errors.New("values for a field without a vocabulary")
	}
	for _, p := range []struct {
		name      string
		got, want []int64
	}{{"hash_counts", j.HashN, ff.hashN}, {"hash_positives", j.HashPos, ff.hashPos}, {"positive_n", j.PosN, ff.posN},
		{"negative_n", j.NegN, ff.negN}, {"bucket_counts", j.BucketN, ff.bucketN}, {"bucket_positives", j.BucketPos, ff.bucketPos}} {
		if err := sameLen(p.name, p.got, p.want); err != nil {
			return err
		}
	}
	if j.IDs != nil && ff.pf.hashN == 0 {
		return errors.New("value counts for a field that is not hashed")
	}
	if j.IDs != nil {
		if ff.ids == nil {
			ff.ids = newHashCounter()
		}
		if err := ff.ids.load(j.IDs); err != nil {
			return err
		}
	} else {
		ff.ids = nil
	}
	if ff.posMin != nil {
		if j.Sum == nil || j.SumSq == nil || j.RawSum == nil || len(j.Extremes) != 2+4*T {
			return errors.New("numeric statistics missing")
		}
		ff.sum, ff.sumsq, ff.rawSum = *j.Sum, *j.SumSq, *j.RawSum
		xs := make([]float64, len(j.Extremes))
		for k, e := range j.Extremes {
			x, err := strconv.ParseFloat(e, 64)
			if err != nil || math.IsNaN(x) {
				return fmt.Errorf("extreme %q is not a number", e)
			}
			xs[k] = x
		}
		ff.tmin, ff.tmax = xs[0], xs[1]
		for t := 0; t < T; t++ {
			ff.posMin[t], ff.posMax[t], ff.negMin[t], ff.negMax[t] = xs[2+4*t], xs[3+4*t], xs[4+4*t], xs[5+4*t]
		}
	}
	return nil
}

func (c *idCounter) load(j *idsJSON) error {
	if j.MaxN != c.maxN || j.Depth != c.depth || j.Width != 1<<(64-c.wshift) {
		return fmt.Errorf("value counter of %d values and a %d×%d sketch, this build counts %d and %d×%d", j.MaxN, j.Depth, j.Width, c.maxN, c.depth, 1<<(64-c.wshift))
	}
	tab, err := base64.StdEncoding.DecodeString(j.Table)
	if err != nil || len(tab)%12 != 0 || len(tab)/12 > c.maxN {
		return fmt.Errorf("value table of %d bytes: not (hash, count) pairs of at most %d values", len(tab), c.maxN)
	}
	if j.Sketch != "" {
		sk, err := base64.StdEncoding.DecodeString(j.Sketch)
		if err != nil || len(sk) != j.Depth*j.Width {
			return fmt.Errorf("sketch of %d bytes, want %d", len(sk), j.Depth*j.Width)
		}
		c.sketch = sk
	}
	c.floor, c.highest, c.total, c.prunes = j.Floor, j.Highest, j.Total, j.Prunes
	for k := 0; k < len(tab); k += 12 {
		h, n := binary.LittleEndian.Uint64(tab[k:]), binary.LittleEndian.Uint32(tab[k+8:])
		i := c.slot(h)
		if n == 0 || c.counts[i] != 0 {
			return fmt.Errorf("value table: hash %x with count %d (zero or listed twice)", h, n)
		}
		if c.n+1 > len(c.keys)/2 {
			c.rehash(2 * len(c.keys))
			i = c.slot(h)
		}
		c.keys[i], c.counts[i] = h, n
		c.n++
	}
	return nil
}

// Schema returns the schema the Fitter was made for.
func (f *Fitter) Schema() Schema { return f.schema }
