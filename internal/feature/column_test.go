package feature

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// Value pools of the column forms: good values, unseen ones, blanks, NUL
// bytes, bad numbers, numbers beyond the bounds.
var (
	colTexts = []string{"a", "b", " a ", "p", "q", "k", "j", "zzz", "", "t1|t2", "t2 | t3", "t1|", "1", " 2.5 ", "3", "?", "NA",
		"abc", "1e300", "NaN", "1e7", "-1", "18", "30", "a\x00b", "t1|x\x00"}
	colFloats = []float64{1, 3, -1, 2.5, 0, 18, 30, 17.999, 1e7, 1e16, math.NaN(), math.Inf(1), 1e15, -2e15, 7}
	colInts   = []int64{0, 1, 3, 5, -7, 18, 1e7, 1 << 60, -(1 << 62)}
)

// mapValue is what a row map holds for a column element (the reference of
// Column.Value, written independently of it).
func mapValue(c *Column, r int, numeric bool) any {
	switch {
	case c.Missing != nil && c.Missing[r]:
		return nil
	case c.Text != nil:
		return c.Text[r]
	case c.Floats != nil:
		return c.Floats[r]
	case c.Ints != nil && numeric:
		return float64(c.Ints[r])
	case c.Ints != nil:
		return json.Number(strconv.FormatInt(c.Ints[r], 10))
	}
	return nil
}

// randomColumns returns n rows of columns for p, each column in a random
// form; with good, every value comes from a set that transforms.
func randomColumns(rng *rand.Rand, p *Pipeline, n int, good bool) []Column {
	cols := make([]Column, len(p.fields))
	for i := range cols {
		c := &cols[i]
		form := rng.IntN(4)
		if good {
			form = rng.IntN(2) * 2 // Text or Ints, from the good values
		}
		switch form {
		case 0:
			c.Text = make([]string, n)
		case 1:
			c.Floats = make([]float64, n)
		case 2:
			c.Ints = make([]int64, n)
		}
		if form == 3 || rng.IntN(3) == 0 {
			c.Missing = make([]bool, n)
		}
		for r := range n {
			if c.Missing != nil {
				c.Missing[r] = form == 3 || rng.IntN(3) == 0
			}
			switch {
			case c.Text != nil && good:
				c.Text[r] = []string{"a", "p", " k ", "", "t1|t2", "3", "18"}[rng.IntN(7)]
			case c.Text != nil:
				c.Text[r] = colTexts[rng.IntN(len(colTexts))]
			case c.Floats != nil:
				c.Floats[r] = colFloats[rng.IntN(len(colFloats))]
			case c.Ints != nil && good:
				c.Ints[r] = colInts[rng.IntN(6)]
			case c.Ints != nil:
				c.Ints[r] = colInts[rng.IntN(len(colInts))]
			}
		}
		if good && p.fields[i].op != opMulti && p.fields[i].op != opVocab && p.fields[i].op != opHash && c.Text != nil {
			for r := range c.Text { // numeric text that parses
				c.Text[r] = []string{"3", " 18 ", "", "?", "-1"}[rng.IntN(5)]
			}
		}
	}
	return cols
}

// TestTransformColumnsMatchesMap: for random blocks of rows in every column
// form (text, floats, ints, missing flags), with good and bad values, the
// columnar transform gives the same batch as TransformMapWith on the row
// maps, or the same first error (same row, same *FieldError) and an
// unchanged batch.
func TestTransformColumnsMatchesMap(t *testing.T) {
	p := fitTest(t, testSchema, testColumns, testRows)
	rng := rand.New(rand.NewPCG(1, 2))
	errs, oks := 0, 0
	for trial := range 3000 {
		n := 1 + rng.IntN(8)
		cols := randomColumns(rng, p, n, trial%3 == 0)
		bm, bc := p.NewBatch(n+1), p.NewBatch(n+1)
		// One row first, so that a rollback must keep it.
		for _, b := range []*Batch{bm, bc} {
			if err := p.TransformMapWith(map[string]any{"u": "a", "x": 1.0}, nil, b); err != nil {
				t.Fatal(err)
			}
		}
		before := p.NewBatch(1)
		p.TransformMapWith(map[string]any{"u": "a", "x": 1.0}, nil, before)
		wantRow, wantErr := -1, error(nil)
		for r := range n {
			m := map[string]any{}
			for i := range p.fields {
				if v := mapValue(&cols[i], r, p.fields[i].def.Type == TypeNumeric); v != nil || rng.IntN(2) == 0 {
					m[p.fields[i].def.Name] = v // nil or absent: both missing
				}
			}
			if err := p.TransformMapWith(m, nil, bm); err != nil {
				wantRow, wantErr = r, err
				break
			}
		}
		row, err := p.TransformColumns(n, cols, bc)
		if wantErr != nil {
			errs++
			if row != wantRow || !reflect.DeepEqual(err, wantErr) {
				t.Fatalf("trial %d: row %d error %v, map path: row %d error %v", trial, row, err, wantRow, wantErr)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Name == "" {
				t.Fatalf("trial %d: %T %v does not name a field", trial, err, err)
			}
			if !sameBatch(bc, before) {
				t.Fatalf("trial %d: the batch changed on error:\n%+v\nwant %+v", trial, bc, before)
			}
			continue
		}
		oks++
		if err != nil || row != -1 {
			t.Fatalf("trial %d: row %d error %v, the map path took every row", trial, row, err)
		}
		if !sameBatch(bc, bm) {
			t.Fatalf("trial %d: columns %+v\nmaps %+v", trial, bc, bm)
		}
	}
	if errs < 300 || oks < 300 {
		t.Fatalf("%d trials with an error, %d without: the pools do not cover both", errs, oks)
	}
}

// sameBatch compares batches by their rows (capacities aside).
func sameBatch(a, b *Batch) bool {
	if a.N != b.N || len(a.Fields) != len(b.Fields) {
		return false
	}
	for i := range a.Fields {
		x, y := a.Fields[i], b.Fields[i]
		if !slicesEqual(x.IDs, y.IDs) || !slicesEqual(x.Offsets, y.Offsets) || !floatsSame(x.Values, y.Values) {
			return false
		}
	}
	for t := range a.Labels {
		if !floatsSame(a.Labels[t], b.Labels[t]) {
			return false
		}
	}
	return slicesEqual(a.Group, b.Group)
}

func slicesEqual[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func floatsSame(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// TestTransformColumnsErrors: the first bad value in row order wins (then
// field order), whatever the field; the error names the field; a column
// that does not fit the rows is refused with row -1.
func TestTransformColumnsErrors(t *testing.T) {
	p := fitTest(t, testSchema, testColumns, testRows)
	n := 3
	good := func() []Column {
		return []Column{
			{Text: []string{"a", "b", "zzz"}},                      // u
			{Ints: []int64{1, 2, 3}},                               // c
			{Floats: []float64{1, 3, 5}},                           // x
			{Text: []string{"t1|t2", "", "t3"}},                    // tags
			{Text: []string{"k", "j", "k"}},                        // h
			{Text: []string{"17", "", "30"}},                       // age
			{Floats: []float64{0, 1, 2}, Missing: make([]bool, 3)}, // w
		}
	}
	b := p.NewBatch(n)
	if row, err := p.TransformColumns(n, good(), b); err != nil || b.N != n {
		t.Fatalf("good columns: row %d %v (N=%d)", row, err, b.N)
	}
	cases := []struct {
		name  string
		edit  func(c []Column)
		row   int
		field string
		want  string
	}{
		{"bad numeric text", func(c []Column) { c[5].Text[2] = "old" }, 2, "age", `expected a finite number, a decimal numeric string or null, got "old"`},
		{"earlier row wins over earlier field", func(c []Column) { c[0].Text[2] = "a\x00"; c[6].Floats[1] = math.NaN() }, 1, "w", "NaN"},
		{"earlier field wins in a row", func(c []Column) { c[2].Floats[1] = 1e16; c[6].Floats[1] = math.Inf(-1) }, 1, "x", "1e+16"},
		{"NUL in a multi-valued cell", func(c []Column) { c[3].Text[0] = "t1|b\x00" }, 0, "tags", "without NUL bytes"},
		{"beyond the model input bound", func(c []Column) { c[2].Ints = []int64{1, 1e9, 1}; c[2].Floats = nil }, 1, "x", "model input z"},
		{"NaN for a categorical field", func(c []Column) { c[1].Floats = []float64{1, math.NaN(), 1}; c[1].Ints = nil }, 1, "c", "a string or a number"},
	}
	for _, tc := range cases {
		cols := good()
		tc.edit(cols)
		b.Reset()
		row, err := p.TransformColumns(n, cols, b)
		var fe *FieldError
		if row != tc.row || !errors.As(err, &fe) || fe.Name != tc.field || !strings.Contains(err.Error(), tc.want) || b.N != 0 || len(b.Fields[3].Offsets) != 1 {
			t.Errorf("%s: row %d error %v (N=%d), want row %d field %s with %q", tc.name, row, err, b.N, tc.row, tc.field, tc.want)
		}
	}
	for _, tc := range []struct {
		name string
		edit func(c []Column)
	}{
		{"short", func(c []Column) { c[0].Text = c[0].Text[:2] }},
		{"two forms", func(c []Column) { c[1].Floats = []float64{1, 2, 3} }},
		{"no values", func(c []Column) { c[4] = Column{} }},
		{"short missing", func(c []Column) { c[6].Missing = c[6].Missing[:1] }},
	} {
		cols := good()
		tc.edit(cols)
		if row, err := p.TransformColumns(n, cols, b); row != -1 || err == nil || errors.Is(err, ErrBadRow) {
			t.Errorf("%s: row %d error %v, want a column error", tc.name, row, err)
		}
	}
	if _, err := p.TransformColumns(n, good()[:3], b); err == nil {
		t.Error("3 columns for 7 fields taken")
	}
	// Only missing flags: every row missing.
	cols := good()
	cols[5] = Column{Missing: []bool{true, true, true}}
	b.Reset()
	if _, err := p.TransformColumns(n, cols, b); err != nil || b.Fields[5].IDs[0] != 0 {
		t.Errorf("an all-missing column: %v %v", err, b.Fields[5].IDs)
	}
}

// TestTransformColumnsAllocs: a block of rows allocates nothing once the
// batch has grown.
func TestTransformColumnsAllocs(t *testing.T) {
	p := fitTest(t, testSchema, testColumns, testRows)
	rng := rand.New(rand.NewPCG(3, 4))
	cols := randomColumns(rng, p, 64, true)
	b := p.NewBatch(64)
	if _, err := p.TransformColumns(64, cols, b); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(20, func() {
		b.Reset()
		if _, err := p.TransformColumns(64, cols, b); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("%v allocations per block", n)
	}
}
