package feature

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

const testSchema = `
format: {type: csv, header: true}
fields:
  - {name: u, type: categorical, min_count: 2}
  - {name: c, type: categorical, min_count: 1}
  - {name: x, type: numeric}
  - {name: tags, type: multi_categorical, min_count: 2}
  - {name: h, type: categorical, hash_buckets: 10, min_count: 2}
  - {name: age, type: numeric, buckets: [18, 30]}
  - {name: w, type: numeric, transform: log1p, normalize: none, missing: zero}
  - {name: note, type: ignore}
group_by: u
tasks:
  - {name: click, label: click, positive: ["1"], negative: ["0"]}
  - {name: buy, label: buy, after: click}
`

var testColumns = []string{"u", "c", "x", "tags", "h", "age", "w", "note", "click", "buy"}

var testRows = [][]string{
	{"a", "p", "1", "t1|t2", "k", "17", "0", "n", "1", "0"},
	{"a", "q", "3", "t1", "k", "18", "-1", "n", "0", "0"},
	{"b", "p", "?", "", "j", "", "", "n", "1", "yes"},
	{"a", "p", "5", "t2 | t3", "k", "30", "1", "n", "0", "0"},
	{"c", "p", "3", "t1", "z", "99", "3", "n", "0", "0"},
}

func bytesRec(rec []string) [][]byte {
	out := make([][]byte, len(rec))
	for i, s := range rec {
		out[i] = []byte(s)
	}
	return out
}

func fitTest(t testing.TB, schema string, cols []string, rows [][]string) *Pipeline {
	t.Helper()
	s, err := ParseSchema([]byte(schema))
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewFitter(s, cols)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		if err := f.Add(bytesRec(r)); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
	}
	p, err := f.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPipelineTransform(t *testing.T) {
	p := fitTest(t, testSchema, testColumns, testRows)
	wantSpecs := []FieldSpec{
		{"u", Categorical, 2},         // a kept (3 rows); b, c seen once -> OOV at min_count 2
		{"c", Categorical, 3},         // p, q (min_count 1)
		{"x", Numeric, 0},             //
		{"tags", MultiCategorical, 3}, // t1 (3), t2 (2); t3 once -> OOV
		{"h", Categorical, 11},        // 10 buckets + OOV
		{"age", Categorical, 4},       // missing, <18, [18,30), >=30
		{"w", Numeric, 0},
	}
	if got := p.Fields(); !reflect.DeepEqual(got, wantSpecs) {
		t.Fatalf("Fields() = %+v\nwant %+v", got, wantSpecs)
	}
	if got := p.Tasks(); !reflect.DeepEqual(got, []TaskInfo{{"click", "click", -1}, {"buy", "buy", 0}}) {
		t.Errorf("Tasks() = %+v", got)
	}
	b := p.NewBatch(4)
	for i, r := range testRows {
		if err := p.TransformRecord(r, b); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
	}
	if b.N != 5 {
		t.Fatalf("N = %d", b.N)
	}
	ids := func(f int) []int32 { return b.Fields[f].IDs }
	eq := func(name string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	eq("u", ids(0), []int32{1, 1, 0, 1, 0})
	eq("c", ids(1), []int32{1, 2, 1, 1, 1})
	eq("tags ids", ids(3), []int32{1, 2, 1, 2, 0, 1})
	eq("tags offsets", b.Fields[3].Offsets, []int32{0, 2, 3, 3, 5, 6})
	hk := int32(1 + Hash64([]byte("k"))%10)
	eq("h", ids(4), []int32{hk, hk, 0, hk, 0}) // k seen 3 times; j and z once: OOV at min_count 2
	eq("age", ids(5), []int32{1, 2, 0, 3, 3})
	// x: values 1,3,5,3 -> mean 3, std sqrt(2); missing -> raw mean 3 -> 0.
	s2 := float32(math.Sqrt2)
	wantX := []float32{-2 / s2, 0, 0, 2 / s2, 0}
	for i, v := range b.Fields[2].Values {
		if math.Abs(float64(v-wantX[i])) > 1e-6 {
			t.Errorf("x[%d] = %v, want %v", i, v, wantX[i])
		}
	}
	// w: signed log1p, no normalization, missing -> 0.
	wantW := []float64{0, -math.Log(2), 0, math.Log(2), math.Log(4)}
	for i, v := range b.Fields[6].Values {
		if math.Abs(float64(v)-wantW[i]) > 1e-6 {
			t.Errorf("w[%d] = %v, want %v", i, v, wantW[i])
		}
	}
	eq("click", b.Labels[0], []float32{1, 0, 1, 0, 0})
	eq("buy", b.Labels[1], []float32{0, 0, 0, 0, 0})
	if b.Group[0] != GroupKey([]byte("a")) || b.Group[2] != GroupKey([]byte("b")) {
		t.Errorf("group keys %v", b.Group)
	}
	b.Reset()
	if b.N != 0 || len(b.Fields[3].Offsets) != 1 || len(b.Labels[0]) != 0 {
		t.Errorf("Reset left %+v", b)
	}
}

func TestHash64Stable(t *testing.T) {
	// FNV-1a 64 reference values.
	for in, want := range map[string]uint64{"": 0xcbf29ce484222325, "a": 0xaf63dc4c8601ec8c, "foobar": 0x85944171f73967e8} {
		if got := Hash64([]byte(in)); got != want {
			t.Errorf("Hash64(%q) = %#x, want %#x", in, got, want)
		}
	}
}

func TestDefaultMinCount(t *testing.T) {
	tests := []struct {
		rows      int64
		positives []int64
		want      int
	}{
		// Without positives only √rows/1000 counts.
		{0, nil, 2}, {100, nil, 2}, {99762, nil, 2}, {9_000_000, nil, 3},
		{45_000_000, nil, 10}, {1_000_000_000, nil, 50}, {1 << 60, nil, 1000},
		{160_000, []int64{0, 0}, 2},
		// 5% CTR: 5/0.05 = 100 impressions; the rarer conversion task does not count.
		{160_000, []int64{8000, 800}, 100},
		// Census-like: 43% positives on the second task: 5/0.429 = 11.7 -> 20.
		{49_881, []int64{3_100, 21_400}, 20},
		// Criteo-like: 25.6% CTR gives 19.5 -> 20, above √rows/1000 = 6.7.
		{45_000_000, []int64{11_520_000}, 20},
		// All rows positive: 5 impressions.
		{100, []int64{100}, 5},
		// One positive in 1000 rows: 5000, capped at the top of the ladder.
		{1000, []int64{1}, 1000},
	}
	for _, tt := range tests {
		if got := DefaultMinCount(tt.rows, tt.positives); got != tt.want {
			t.Errorf("DefaultMinCount(%d, %v) = %d, want %d", tt.rows, tt.positives, got, tt.want)
		}
	}
}

// TestDefaultMinCountApplied checks that a field without min_count gets
// DefaultMinCount of the training rows and their positives (5 rows, 2 click
// positives: 5/0.4 = 12.5 -> 20, so "a", seen 3 times, goes to OOV too), and
// that a vocabulary left empty survives the JSON round trip.
func TestDefaultMinCountApplied(t *testing.T) {
	schema := strings.Replace(testSchema, "{name: u, type: categorical, min_count: 2}", "{name: u, type: categorical}", 1)
	p := fitTest(t, schema, testColumns, testRows)
	if got := p.Fields()[0]; got != (FieldSpec{"u", Categorical, 1}) {
		t.Fatalf("field u = %+v, want an empty vocabulary (size 1: OOV only)", got)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	q, err := UnmarshalPipeline(b)
	if err != nil {
		t.Fatalf("round trip of an empty vocabulary: %v", err)
	}
	if !reflect.DeepEqual(q.Fields(), p.Fields()) {
		t.Errorf("after round trip Fields() = %+v, want %+v", q.Fields(), p.Fields())
	}
}

func TestRowErrors(t *testing.T) {
	p := fitTest(t, testSchema, testColumns, testRows)
	tests := []struct {
		name     string
		mod      func(r []string)
		col      int
		sentinel error
		want     string
	}{
		{"bad number", func(r []string) { r[2] = "abc" }, 2, ErrBadRow, "a number"},
		{"infinite number", func(r []string) { r[2] = "1e999" }, 2, ErrBadRow, "a finite number with |x| ≤ 1e15"},
		{"bad bucket number", func(r []string) { r[5] = "x" }, 5, ErrBadRow, "a number"},
		{"label outside negative", func(r []string) { r[8] = "2" }, 8, ErrBadRow, `"0"`},
		{"empty label", func(r []string) { r[9] = "" }, 9, ErrBadRow, "non-empty label"},
		{"funnel", func(r []string) { r[8], r[9] = "0", "1" }, 9, ErrFunnelViolation, "comes after"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := p.NewBatch(2)
			if err := p.TransformRecord(testRows[0], b); err != nil {
				t.Fatal(err)
			}
			r := append([]string(nil), testRows[0]...)
			tc.mod(r)
			err := p.TransformRecord(r, b)
			var fe *FieldError
			if !errors.As(err, &fe) || !errors.Is(err, tc.sentinel) {
				t.Fatalf("err = %v, want a FieldError wrapping %v", err, tc.sentinel)
			}
			if fe.Column != tc.col || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), fmt.Sprintf("column %d", tc.col+1)) {
				t.Errorf("err = %q (column %d), want column %d and %q", err, fe.Column, tc.col, tc.want)
			}
			// The failed row left the batch unchanged.
			if b.N != 1 || len(b.Fields[3].Offsets) != 2 || len(b.Fields[3].IDs) != 2 || len(b.Fields[2].Values) != 1 || len(b.Labels[1]) != 1 || len(b.Group) != 1 {
				t.Errorf("batch changed by a failed row: %+v", b)
			}
		})
	}
	if err := p.TransformRecord([]string{"a"}, p.NewBatch(1)); !errors.Is(err, ErrBadRow) {
		t.Errorf("short record: %v", err)
	}
}

func TestPipelineJSONRoundTrip(t *testing.T) {
	p := fitTest(t, testSchema, testColumns, testRows)
	js, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	q, err := UnmarshalPipeline(js)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Fields(), q.Fields()) || !reflect.DeepEqual(p.Tasks(), q.Tasks()) {
		t.Fatal("specs differ after round trip")
	}
	bp, bq := p.NewBatch(5), q.NewBatch(5)
	extra := []string{"zz", "q", "7", "t9|t1", "other", "31", "2", "n", "1", "1"}
	for _, r := range append(testRows, extra) {
		if err := p.TransformRecord(r, bp); err != nil {
			t.Fatal(err)
		}
		if err := q.TransformRecord(r, bq); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(bp, bq) {
		t.Errorf("transforms differ after round trip:\n%+v\n%+v", bp, bq)
	}
	js2, _ := json.Marshal(q)
	if string(js) != string(js2) {
		t.Errorf("second marshal differs")
	}
	for _, bad := range []string{``, `{}`, `{"version":1}`, `{"version":2}`, strings.Replace(string(js), `"vocab":["a"]`, `"vocab":["a","a"]`, 1), strings.Replace(string(js), `"name":"x"`, `"name":"y"`, 1)} {
		if _, err := UnmarshalPipeline([]byte(bad)); err == nil {
			t.Errorf("UnmarshalPipeline(%.40q) accepted damaged input", bad)
		}
	}
}

func TestTransformMapMatchesRow(t *testing.T) {
	p := fitTest(t, testSchema, testColumns, testRows)
	br, bm := p.NewBatch(2), p.NewBatch(2)
	rec := []string{"a", "q", "5", "t2|t1", "k", "18", "-1", "n", "0", "0"}
	if err := p.TransformRecord(rec, br); err != nil {
		t.Fatal(err)
	}
	m := map[string]any{"u": "a", "c": "q", "x": 5.0, "tags": []any{"t2", "t1"}, "h": "k", "age": json.Number("18"), "w": "-1", "note": "n", "surprise": 1}
	unknown, err := p.TransformMap(m, bm)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(unknown, []string{"surprise"}) {
		t.Errorf("unknown = %q", unknown)
	}
	if !reflect.DeepEqual(br.Fields, bm.Fields) || !reflect.DeepEqual(br.Group, bm.Group) {
		t.Errorf("map transform differs:\nrow %+v\nmap %+v", br.Fields, bm.Fields)
	}
	// Missing keys follow the missing policy, like empty cells.
	br.Reset()
	bm.Reset()
	if err := p.TransformRecord([]string{"", "", "", "", "", "", "", "", "0", "0"}, br); err != nil {
		t.Fatal(err)
	}
	if _, err := p.TransformMap(map[string]any{"u": nil}, bm); err != nil {
		t.Fatal(err)
	}
	br.Group[0] = 0 // the map had no group key
	if !reflect.DeepEqual(br.Fields, bm.Fields) {
		t.Errorf("missing keys differ:\nrow %+v\nmap %+v", br.Fields, bm.Fields)
	}
	if _, err := p.TransformMap(map[string]any{"x": "abc"}, bm); !errors.Is(err, ErrBadRow) || !strings.Contains(err.Error(), `field "x"`) {
		t.Errorf("bad numeric string: %v", err)
	}
	if _, err := p.TransformMap(map[string]any{"u": map[string]any{}}, bm); !errors.Is(err, ErrBadRow) || bm.N != 1 {
		t.Errorf("object value: %v (N=%d)", err, bm.N)
	}
	// Integral JSON numbers match integer-spelled categorical values.
	p2 := fitTest(t, "format: {header: true}\nfields: [{name: id, type: categorical, min_count: 1}]\ntasks: [{name: t, label: y}]\n", []string{"id", "y"}, [][]string{{"7", "1"}, {"8", "0"}})
	b2 := p2.NewBatch(1)
	if _, err := p2.TransformMap(map[string]any{"id": 8.0}, b2); err != nil || b2.Fields[0].IDs[0] != p2.fields[0].vocab["8"] {
		t.Errorf("numeric id: %v %v", err, b2.Fields[0].IDs)
	}
}

func TestLeakage(t *testing.T) {
	// 40 rows, 20 positive; "copy" equals the label, "uid" is unique per row
	// (goes to OOV at the default min_count, or stays with min_count 1),
	// "amount" is > 0 exactly for positives, "noise" alternates.
	var rows [][]string
	for i := 0; i < 40; i++ {
		y := fmt.Sprint(i % 2)
		amount := "0"
		if y == "1" {
			amount = fmt.Sprint(10 + i)
		}
		rows = append(rows, []string{fmt.Sprintf("u%d", i), y, amount, fmt.Sprint(i % 3), y})
	}
	cols := []string{"uid", "copy", "amount", "noise", "y"}
	base := "format: {header: true}\ntasks: [{name: click, label: y}]\nfields:\n"
	tests := []struct {
		name, fields string
		leak         string
	}{
		{"clean", "  - {name: uid, type: categorical}\n  - {name: noise, type: categorical}\n", ""},
		{"unique ids kept", "  - {name: uid, type: categorical, min_count: 1}\n", ""},
		{"unique ids hashed", "  - {name: uid, type: categorical, hash_buckets: 1000000}\n", ""},
		{"copy of label", "  - {name: copy, type: categorical}\n", `"copy"`},
		{"copy hashed", "  - {name: copy, type: categorical, hash_buckets: 50}\n", `"copy"`},
		{"numeric threshold", "  - {name: amount, type: numeric}\n", `"amount"`},
		{"bucketized", "  - {name: amount, type: numeric, buckets: [5]}\n", `"amount"`},
		{"noise numeric", "  - {name: noise, type: numeric}\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			schema := base + tc.fields + "unlisted_columns: ignore\n"
			s, err := ParseSchema([]byte(schema))
			if err != nil {
				t.Fatal(err)
			}
			f, err := NewFitter(s, cols)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				if err := f.Add(bytesRec(r)); err != nil {
					t.Fatal(err)
				}
			}
			_, err = f.Finish()
			if tc.leak == "" {
				if err != nil {
					t.Errorf("false leak: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrLeakage) || !strings.Contains(err.Error(), tc.leak) {
				t.Fatalf("err = %v, want leakage naming %s", err, tc.leak)
			}
			s.AllowLeakage = true
			f2, _ := NewFitter(s, cols)
			for _, r := range rows {
				f2.Add(bytesRec(r))
			}
			if _, err := f2.Finish(); err != nil {
				t.Errorf("allow_leakage: %v", err)
			}
		})
	}
}

// FuzzTransform feeds arbitrary cells and JSON to a fitted pipeline: errors
// are fine, panics and half-written rows are not, and a row that is
// accepted hands the model only inputs within ±MaxAbsInput.
func FuzzTransform(f *testing.F) {
	f.Add("a", "p", "1e3", "t1||t2", "k", "-5", "x", "1", "1", `{"x": "NaN", "tags": [1, "t1"]}`)
	f.Add("", "", "", "", "", "", "", "", "", `{"u": 1e300, "age": null}`)
	f.Add("a\x00", "p", "1e30", "t1", "k", "0x1p4", "-1e308", "1", "0", `{"x": 1e30, "w": "1_000", "u": "a\u0000"}`)
	f.Fuzz(func(t *testing.T, u, c, x, tags, h, age, w, click, buy, js string) {
		p := fitTest(t, testSchema, testColumns, testRows)
		b := p.NewBatch(1)
		bounded := func(what string) {
			for i := range b.Fields {
				for _, v := range b.Fields[i].Values {
					if !(math.Abs(float64(v)) <= MaxAbsInput) {
						t.Fatalf("%s: field %d: model input %v beyond ±%g", what, i, v, float64(MaxAbsInput))
					}
				}
			}
		}
		if err := p.TransformRecord([]string{u, c, x, tags, h, age, w, "n", click, buy}, b); err == nil {
			if b.N != 1 || len(b.Fields[3].Offsets) != 2 {
				t.Fatalf("bad batch %+v", b)
			}
			bounded("record")
		} else if b.N != 0 || len(b.Fields[3].Offsets) != 1 || len(b.Fields[2].Values) != 0 {
			t.Fatalf("failed row changed the batch %+v", b)
		}
		var m map[string]any
		if json.Unmarshal([]byte(js), &m) == nil {
			b.Reset()
			if _, err := p.TransformMap(m, b); err != nil && b.N != 0 {
				t.Fatalf("failed map changed the batch")
			}
			bounded("map")
		}
		UnmarshalPipeline([]byte(js))
	})
}
