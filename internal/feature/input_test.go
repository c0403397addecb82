package feature

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Strict input: numeric syntax, numeric bounds and NUL bytes, through the
// public transforms (TransformRecord, TransformMap, Fitter.Add).

// badCell replaces column col of testRows[0] with v and returns the error of
// TransformRecord, checking that the failed row left the batch unchanged.
func badCell(t *testing.T, p *Pipeline, col int, v string) error {
	t.Helper()
	b := p.NewBatch(2)
	if err := p.TransformRecord(testRows[0], b); err != nil {
		t.Fatal(err)
	}
	r := append([]string(nil), testRows[0]...)
	r[col] = v
	err := p.TransformRecord(r, b)
	if err != nil && (b.N != 1 || len(b.Fields[2].Values) != 1 || len(b.Fields[3].Offsets) != 2 || len(b.Fields[0].IDs) != 1) {
		t.Errorf("cell %d = %q: a failed row changed the batch", col, v)
	}
	return err
}

func TestNumericCellSyntaxAndBounds(t *testing.T) {
	p := fitTest(t, testSchema, testColumns, testRows)
	const x, age, w = 2, 5, 6 // standard numeric, bucketized, log1p
	tests := []struct {
		col  int
		v    string
		want string // substring of the error; "" for accepted
	}{
		{x, "1_000", "a number"},
		{x, "0x1p4", "a number"},
		{x, "0X10", "a number"},
		{x, "Inf", "a number"},
		{x, "-Inf", "a number"},
		{x, "infinity", "a number"},
		{x, "+Infinity", "a number"},
		{x, "1e400", "|x| ≤ 1e15"},
		{x, "1e30", "|x| ≤ 1e15"},
		{x, "-1e308", "|x| ≤ 1e15"},
		{x, "1e308", "|x| ≤ 1e15"},
		{age, "1000000000000001", "|x| ≤ 1e15"},
		{w, "1e30", "|x| ≤ 1e15"}, // log1p would tame it, but the raw bound comes first
		{age, "1e30", "|x| ≤ 1e15"},
		{age, "-1e308", "|x| ≤ 1e15"},
		{age, "0x20", "a number"},
		{age, "1e15", ""}, // x would refuse it for its model input (std √2)
		{age, "-1e15", ""},
		{w, "1e15", ""},
		{x, "+3", ""},
		{x, ".5", ""},
		{x, "5.", ""},
		{x, "1e-5", ""},
		{x, "1E+2", ""},
		{x, "007", ""},
		{x, "1e-400", ""}, // underflows to 0: a tiny number, not an error
		{x, "NaN", ""},    // a default missing value
		{age, "1e14", ""}, // bucketized: only the raw bound applies
	}
	for _, tc := range tests {
		err := badCell(t, p, tc.col, tc.v)
		if tc.want == "" {
			if err != nil {
				t.Errorf("column %d = %q: %v, want accepted", tc.col, tc.v, err)
			}
			continue
		}
		var fe *FieldError
		if !errors.As(err, &fe) || !errors.Is(err, ErrBadRow) || fe.Column != tc.col || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("column %d = %q: err = %v, want a FieldError for column %d wrapping ErrBadRow containing %q", tc.col, tc.v, err, tc.col+1, tc.want)
		}
	}
}

func TestNumericMapSyntaxAndBounds(t *testing.T) {
	p := fitTest(t, testSchema, testColumns, testRows)
	tests := []struct {
		key  string
		v    any
		want string // "" for accepted
	}{
		{"x", 1e30, "|x| ≤ 1e15"},
		{"x", 1e308, "|x| ≤ 1e15"},
		{"x", -1e308, "|x| ≤ 1e15"},
		{"x", json.Number("1000000000000000000000000000000"), "|x| ≤ 1e15"},
		{"x", json.Number("1e30"), "|x| ≤ 1e15"},
		{"x", "1e30", "|x| ≤ 1e15"},
		{"x", "1_000", "a finite number"},
		{"x", "0x1p4", "a finite number"},
		{"x", "Inf", "a finite number"},
		{"x", "infinity", "a finite number"},
		{"x", "1e400", "|x| ≤ 1e15"},
		{"age", 1e30, "|x| ≤ 1e15"},
		{"age", "-1e308", "|x| ≤ 1e15"},
		{"w", int64(2e15), "|x| ≤ 1e15"},
		{"age", 1e15, ""},
		{"w", -1e15, ""},
		{"x", "+3", ""},
		{"x", ".5", ""},
		{"x", "5.", ""},
		{"x", json.Number("-2"), ""},
		{"x", "NaN", ""},
	}
	for _, tc := range tests {
		b := p.NewBatch(1)
		_, err := p.TransformMap(map[string]any{tc.key: tc.v}, b)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s = %#v: %v, want accepted", tc.key, tc.v, err)
			}
			continue
		}
		var fe *FieldError
		if !errors.As(err, &fe) || !errors.Is(err, ErrBadRow) || fe.Name != tc.key || !strings.Contains(err.Error(), tc.want) || b.N != 0 {
			t.Errorf("%s = %#v: err = %v (N=%d), want a FieldError naming %q containing %q", tc.key, tc.v, err, b.N, tc.key, tc.want)
		}
	}
}

// TestFitRefusesHugeNumbers: one 1e30 row must not reach the fitted
// statistics; Add refuses it like any bad row and counts nothing.
func TestFitRefusesHugeNumbers(t *testing.T) {
	s, err := ParseSchema([]byte(testSchema))
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewFitter(s, testColumns)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range testRows {
		if err := f.Add(bytesRec(r)); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		if i == 1 {
			bad := append([]string(nil), r...)
			bad[2] = "1e30"
			var fe *FieldError
			if err := f.Add(bytesRec(bad)); !errors.As(err, &fe) || fe.Column != 2 || !errors.Is(err, ErrBadRow) || !strings.Contains(err.Error(), "|x| ≤ 1e15") {
				t.Fatalf("Add(1e30) = %v, want a FieldError for column 3 naming the bound", err)
			}
		}
	}
	p, err := f.Finish()
	if err != nil {
		t.Fatal(err)
	}
	want := fitTest(t, testSchema, testColumns, testRows)
	if got, _ := p.Stats("x"); got != mustStats(t, want, "x") || p.FitRows() != int64(len(testRows)) {
		t.Errorf("stats after a refused row = %+v (rows %d), want %+v", got, p.FitRows(), mustStats(t, want, "x"))
	}
}

func mustStats(t *testing.T, p *Pipeline, name string) NumericStats {
	t.Helper()
	st, ok := p.Stats(name)
	if !ok {
		t.Fatalf("no stats for %q", name)
	}
	return st
}

// TestModelInputBound: a raw value inside MaxAbsRaw can still normalise to a
// model input far outside ±MaxAbsInput (a tiny training spread, or no
// normalisation at all); it is refused with the value it would give.
func TestModelInputBound(t *testing.T) {
	schema := "format: {header: true}\ntasks: [{name: t, label: y}]\nfields:\n" +
		"  - {name: s, type: numeric}\n" + // standard
		"  - {name: n, type: numeric, normalize: none}\n" +
		"  - {name: l, type: numeric, transform: log1p, normalize: none}\n"
	cols := []string{"s", "n", "l", "y"}
	var rows [][]string
	for i := 0; i < 10; i++ { // s: 0 and 0.001, std 0.0005
		rows = append(rows, []string{fmt.Sprint(float64(i%2) / 1000), "5", "5", fmt.Sprint(i % 2)})
	}
	p := fitTest(t, schema, cols, rows)
	for _, tc := range []struct {
		rec  []string
		col  int
		want string // "" for accepted
	}{
		{[]string{"1000", "5", "5", "0"}, 0, "|z| ≤ 1e6"}, // z ≈ 2e6
		{[]string{"400", "5", "5", "0"}, 0, ""},           // z ≈ 8e5
		{[]string{"0", "2e6", "5", "0"}, 1, "|z| ≤ 1e6"},
		{[]string{"0", "-1e6", "5", "0"}, 1, ""},
		{[]string{"0", "5", "1e15", "0"}, 2, ""}, // log1p: 34.5
	} {
		b := p.NewBatch(1)
		err := p.TransformRecord(tc.rec, b)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%q: %v, want accepted", tc.rec, err)
			}
			continue
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Column != tc.col || !errors.Is(err, ErrBadRow) || !strings.Contains(err.Error(), tc.want) || b.N != 0 || len(b.Fields[0].Values) != 0 {
			t.Errorf("%q: err = %v, want a FieldError for column %d containing %q and an unchanged batch", tc.rec, err, tc.col+1, tc.want)
		}
		if _, err := p.TransformMap(map[string]any{cols[tc.col]: tc.rec[tc.col]}, p.NewBatch(1)); !strings.Contains(fmt.Sprint(err), tc.want) {
			t.Errorf("map %s=%s: err = %v, want %q", cols[tc.col], tc.rec[tc.col], err, tc.want)
		}
	}
	// normalize: none: the model input is known while fitting, so a training
	// row beyond it is refused there already.
	s, _ := ParseSchema([]byte(schema))
	f, _ := NewFitter(s, cols)
	if err := f.Add(bytesRec([]string{"0", "3e6", "5", "1"})); !strings.Contains(fmt.Sprint(err), "|z| ≤ 1e6") {
		t.Errorf("fit, normalize none, 3e6: %v", err)
	}
}

// TestMissingFillBounds: a schema fill beyond MaxAbsRaw is refused when the
// schema is read, one whose model input is beyond MaxAbsInput when fitting.
func TestMissingFillBounds(t *testing.T) {
	base := "format: {header: true}\ntasks: [{name: t, label: y}]\nfields:\n  - {name: s, type: numeric, missing: %s}\n"
	if _, err := ParseSchema(fmt.Appendf(nil, base, "1e30")); !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), "1e15") {
		t.Errorf("missing: 1e30: %v", err)
	}
	if _, err := ParseSchema(fmt.Appendf(nil, base, "0x10")); !errors.Is(err, ErrSchema) {
		t.Errorf("missing: 0x10: %v", err)
	}
	s, err := ParseSchema(fmt.Appendf(nil, base, "1e12"))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := NewFitter(s, []string{"s", "y"})
	for i := 0; i < 10; i++ {
		f.Add(bytesRec([]string{fmt.Sprint(i % 2), fmt.Sprint(i % 2)}))
	}
	if _, err := f.Finish(); !strings.Contains(fmt.Sprint(err), "1e6") {
		t.Errorf("fill 1e12 on data of std 0.5: Finish = %v, want an error naming the input bound", err)
	}
}

func TestNULInCategoricalCells(t *testing.T) {
	p := fitTest(t, testSchema, testColumns, testRows)
	const u, h, tags, x = 0, 4, 3, 2
	for _, tc := range []struct {
		col int
		v   string
	}{{u, "a\x00"}, {u, "\x00"}, {1, "p\x00q"}, {h, "k\x00"}, {tags, "t1|t\x002"}, {x, "1\x00"}} {
		err := badCell(t, p, tc.col, tc.v)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Column != tc.col || !errors.Is(err, ErrBadRow) {
			t.Errorf("column %d = %q: err = %v, want a FieldError for column %d", tc.col, tc.v, err, tc.col+1)
		}
		if tc.col != x && !strings.Contains(fmt.Sprint(err), "NUL") {
			t.Errorf("column %d = %q: err = %v, want it to name the NUL byte", tc.col, tc.v, err)
		}
	}
	for _, m := range []map[string]any{
		{"u": "a\x00"}, {"c": "\x00"}, {"h": "k\x00"}, {"tags": "t1|\x00"}, {"tags": []any{"t1", "t2\x00"}}, {"x": "1\x00"},
	} {
		b := p.NewBatch(1)
		var key string
		for k := range m {
			key = k
		}
		_, err := p.TransformMap(m, b)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Name != key || !errors.Is(err, ErrBadRow) || b.N != 0 {
			t.Errorf("%v: err = %v, want a FieldError naming %q", m, err, key)
		}
	}
	// A model fitted before NULs were refused may keep a value holding one:
	// such a value must not pass as its kept id.
	js, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	old := strings.Replace(string(js), `"vocab":["a"]`, `"vocab":["a","a\u0000"]`, 1)
	q, err := UnmarshalPipeline([]byte(old))
	if err != nil || old == string(js) {
		t.Fatalf("pipeline with a NUL in its vocabulary: %v", err)
	}
	if err := badCell(t, q, u, "a\x00"); !errors.Is(err, ErrBadRow) || !strings.Contains(fmt.Sprint(err), "NUL") {
		t.Errorf("kept value with a NUL: %v", err)
	}
	if err := badCell(t, q, u, "a"); err != nil {
		t.Errorf("kept value a: %v", err)
	}
	// Fitting refuses the row too, before it is counted.
	s, _ := ParseSchema([]byte(testSchema))
	f, _ := NewFitter(s, testColumns)
	bad := append([]string(nil), testRows[0]...)
	bad[u] = "a\x00"
	if err := f.Add(bytesRec(bad)); !errors.Is(err, ErrBadRow) || !strings.Contains(fmt.Sprint(err), "NUL") || f.Rows() != 0 {
		t.Errorf("Fitter.Add with a NUL cell: %v (rows %d)", err, f.Rows())
	}
}
