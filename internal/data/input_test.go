package data

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dcrnn/dcrnn/internal/feature"
)

// Strict input in the data files: a leading UTF-8 BOM, NUL bytes in cells,
// and numbers beyond the feature bounds.

const bom = "\ufeff"

func gz(t testing.TB, s string) string {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := io.WriteString(zw, s); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestReaderStripsBOM(t *testing.T) {
	csv := "age,class\n38,Private\n40,Self\n"
	tsv := "38\tPrivate\n40\tSelf\n"
	quoted := "\"age\",class\n\"38\",Private\n40,Self\n"
	want := [][]string{{"38", "Private"}, {"40", "Self"}}
	for _, tc := range []struct {
		name, in string
		opt      ReaderOptions
	}{
		{"csv header", bom + csv, ReaderOptions{Header: true}},
		{"csv header gz", gz(t, bom+csv), ReaderOptions{Header: true}},
		{"csv header, quoted first cell", bom + quoted, ReaderOptions{Header: true, Quote: '"'}},
		{"tsv no header", bom + tsv, ReaderOptions{Separator: "\t", Columns: []string{"age", "class"}}},
		{"tsv no header gz", gz(t, bom+tsv), ReaderOptions{Separator: "\t", Columns: []string{"age", "class"}}},
		{"header checked against the schema", bom + csv, ReaderOptions{Header: true, Columns: []string{"age", "class"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewReader(strings.NewReader(tc.in), "in.csv", tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Columns(); !reflect.DeepEqual(got, []string{"age", "class"}) {
				t.Errorf("columns %q", got)
			}
			got, lines, err := readAll(t, tc.in, tc.opt)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("records %q (%v), want %q", got, err, want)
			}
			if first := lines[0]; first != 1 && first != 2 {
				t.Errorf("first record on line %d", first)
			}
		})
	}
	// Only a leading BOM goes: one inside the data is a value like any other.
	got, _, err := readAll(t, "a\n"+bom+"x\n", ReaderOptions{Header: true})
	if err != nil || got[0][0] != bom+"x" {
		t.Errorf("inner BOM: %q %v", got, err)
	}
}

const inputSchema = `
format: {type: csv, header: true}
fields:
  - {name: id, type: categorical, min_count: 1}
  - {name: x, type: numeric}
  - {name: note, type: ignore}
tasks:
  - {name: click, label: click, negative: ["0"]}
`

// inputRows writes a header and 20 rows "id<i>,<i>,n,<i%2>"; mod may replace
// the row for i (line i+2).
func inputRows(mod func(i int) string) string {
	var b strings.Builder
	b.WriteString("id,x,note,click\n")
	for i := 0; i < 20; i++ {
		if mod != nil {
			if s := mod(i); s != "" {
				b.WriteString(s + "\n")
				continue
			}
		}
		fmt.Fprintf(&b, "id%d,%d,n,%d\n", i, i, i%2)
	}
	return b.String()
}

func pipelineJSON(t *testing.T, p *feature.Pipeline) string {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// allX streams path through p and returns every x value the model would see.
func allX(t *testing.T, p *feature.Pipeline, path string, opt BatchOptions) ([]float32, Stats, error) {
	t.Helper()
	got, st, err := collect(t, p, path, opt)
	var flat []float32
	for _, g := range got {
		flat = append(flat, g...)
	}
	return flat, st, err
}

// TestTrainOnBOMFiles: a CSV with header and a headerless TSV that start with
// a BOM fit the same pipeline and give the same model inputs as without it.
func TestTrainOnBOMFiles(t *testing.T) {
	csv := inputRows(nil)
	tsv := strings.ReplaceAll(strings.SplitN(csv, "\n", 2)[1], ",", "\t")
	tsvSchema := strings.Replace(inputSchema, "{type: csv, header: true}", "{type: tsv, columns: [id, x, note, click]}", 1)
	for _, tc := range []struct {
		name, schema, plain string
		gzip                bool
	}{
		{"csv with header", inputSchema, csv, false},
		{"csv with header, gzip", inputSchema, csv, true},
		{"tsv without header", tsvSchema, tsv, false},
		{"tsv without header, gzip", tsvSchema, tsv, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plain, withBOM := tc.plain, bom+tc.plain
			if tc.gzip {
				plain, withBOM = gz(t, plain), gz(t, withBOM)
			}
			s := schemaOf(t, tc.schema)
			pathA, pathB := writeFile(t, "plain.csv", plain), writeFile(t, "bom.csv", withBOM)
			pa, sta, err := FitPipeline(context.Background(), s, pathA, FitOptions{})
			if err != nil {
				t.Fatal(err)
			}
			pb, stb, err := FitPipeline(context.Background(), s, pathB, FitOptions{})
			if err != nil {
				t.Fatalf("fit on the BOM file: %v", err)
			}
			if sta.Rows != 20 || !reflect.DeepEqual(stb, sta) || pipelineJSON(t, pa) != pipelineJSON(t, pb) {
				t.Fatalf("BOM file fitted differently: %+v vs %+v", stb, sta)
			}
			xa, _, err := allX(t, pa, pathA, BatchOptions{BatchSize: 8, RequireLabels: true})
			if err != nil {
				t.Fatal(err)
			}
			xb, _, err := allX(t, pb, pathB, BatchOptions{BatchSize: 8, RequireLabels: true})
			if err != nil || !reflect.DeepEqual(xa, xb) {
				t.Fatalf("BOM file read differently (%v): %v vs %v", err, xb, xa)
			}
			rep, err := Inspect(context.Background(), s, pathB, FitOptions{})
			if err != nil || rep.Summary.Rows != 20 || rep.Stats.BadRows != 0 {
				t.Fatalf("inspect on the BOM file: %v", err)
			}
		})
	}
}

func TestSplitStripsBOM(t *testing.T) {
	one := Splitter{Ratios: []float64{1}}
	for _, tc := range []struct {
		name, in   string
		opt        SplitOptions
		header     bool
		want       string
		rows       int64
		detectHead bool // DetectHeader on the first line
	}{
		{"header, auto", bom + "age,class\n38,Private\n", SplitOptions{}, true, "age,class\n38,Private\n", 1, true},
		{"header, given", bom + "age,class\n38,Private\n", SplitOptions{Header: HeaderYes}, true, "age,class\n38,Private\n", 1, true},
		// "\ufeff38" is no number: the BOM made the first data line look like a header.
		{"data, auto", bom + "38,Private,x\n40,Self,y\n", SplitOptions{}, false, "38,Private,x\n40,Self,y\n", 2, false},
		{"tsv data, auto", bom + "38\tPrivate\tx\n40\tSelf\ty\n", SplitOptions{}, false, "38\tPrivate\tx\n40\tSelf\ty\n", 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parts, res, err := splitString(t, tc.in, one, tc.opt)
			if err != nil || res.Header != tc.header || parts[0] != tc.want || res.Rows[0] != tc.rows {
				t.Fatalf("split: %q header %v rows %v (%v), want %q header %v rows %d", parts[0], res.Header, res.Rows, err, tc.want, tc.header, tc.rows)
			}
			line, _, _ := strings.Cut(tc.in, "\n")
			if got := DetectHeader([]byte(line), ""); got != tc.detectHead {
				t.Errorf("DetectHeader(%q) = %v, want %v", line, got, tc.detectHead)
			}
		})
	}
	// SplitFile, gzip: the parts are plain text without the BOM.
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv.gz")
	if err := os.WriteFile(in, []byte(gz(t, bom+"u,click\nu1,1\nu2,0\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := SplitFile(context.Background(), in, filepath.Join(dir, "out"), one, SplitOptions{})
	if err != nil || !res.Header {
		t.Fatalf("split file: %+v %v", res, err)
	}
	if b, _ := os.ReadFile(res.Files[0]); string(b) != "u,click\nu1,1\nu2,0\n" {
		t.Errorf("train.csv = %q", b)
	}
}

func TestReaderRefusesNUL(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		opt      ReaderOptions
		want     string
	}{
		{"plain cell", "a,b,c\n1,2,3\n4,x\x00y,6\n7,8,9\n", ReaderOptions{Header: true}, `in.csv:3: column 2 (b): expected a value without NUL bytes, got "x\x00y"`},
		{"last cell", "a,b,c\n4,5,\x00\n7,8,9\n", ReaderOptions{Header: true}, `in.csv:2: column 3 (c)`},
		{"quoted cell", "a,b,c\n\"4\x00\",5,6\n7,8,9\n", ReaderOptions{Header: true, Quote: '"'}, `in.csv:2: column 1 (a)`},
		{"tsv", "4\t5\t\x006\n7\t8\t9\n", ReaderOptions{Separator: "\t", Columns: []string{"a", "b", "c"}}, `in.csv:1: column 3 (c)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewReader(strings.NewReader(tc.in), "in.csv", tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			var errs []error
			var rows [][]string
			for {
				rec, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					errs = append(errs, err)
					if r.err != nil {
						t.Fatalf("reading stopped: %v", err)
					}
					continue
				}
				rows = append(rows, []string{string(rec[0])})
			}
			var re *RowError
			if len(errs) != 1 || !errors.As(errs[0], &re) || !errors.Is(errs[0], ErrBadRow) || !strings.Contains(errs[0].Error(), tc.want) {
				t.Fatalf("errors %v, want one RowError wrapping ErrBadRow containing %q", errs, tc.want)
			}
			if last := rows[len(rows)-1][0]; last != "7" {
				t.Errorf("reading did not continue after the NUL row: rows %q", rows)
			}
		})
	}
	// A separator that holds NUL is no NUL inside a cell.
	got, _, err := readAll(t, "a\x00b\n1\x002\n", ReaderOptions{Header: true, Separator: "\x00"})
	if err != nil || !reflect.DeepEqual(got, [][]string{{"1", "2"}}) {
		t.Errorf("NUL separator: %q %v", got, err)
	}
}

// TestNULCellsInTraining: a NUL anywhere in a row (a feature, an ignored
// column, a label) stops the fit naming file, line and column, and under
// --bad-rows skip is skipped and counted in the fit, the batcher and
// inspect.
func TestNULCellsInTraining(t *testing.T) {
	s := schemaOf(t, inputSchema)
	for _, tc := range []struct {
		name, row, col string
	}{
		{"categorical", "i\x00d3,3,n,1", "column 1 (id)"},
		{"ignored column", "id3,3,n\x00n,1", "column 3 (note)"},
		{"label", "id3,3,n,1\x00", "column 4 (click)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "nul.csv", inputRows(func(i int) string {
				if i == 3 {
					return tc.row // line 5
				}
				return ""
			}))
			_, _, err := FitPipeline(context.Background(), s, path, FitOptions{})
			var re *RowError
			if !errors.As(err, &re) || !errors.Is(err, ErrBadRow) || !strings.Contains(err.Error(), "nul.csv:5: "+tc.col+": expected a value without NUL bytes") {
				t.Fatalf("fit error = %v, want nul.csv:5 and %s", err, tc.col)
			}
			p, st, err := FitPipeline(context.Background(), s, path, FitOptions{BadRows: BadRowsSkip})
			if err != nil || st.Rows != 19 || st.BadRows != 1 || !strings.Contains(st.FirstBad[0], "nul.csv:5: "+tc.col) {
				t.Fatalf("fit skip: %v %+v", err, st)
			}
			if _, _, err := allX(t, p, path, BatchOptions{}); !errors.As(err, &re) || re.Line != 5 {
				t.Fatalf("batch error = %v, want line 5", err)
			}
			xs, bst, err := allX(t, p, path, BatchOptions{BadRows: BadRowsSkip, ShuffleBuffer: 4, Seed: 1})
			if err != nil || len(xs) != 19 || bst.BadRows != 1 || bst.Rows != 19 {
				t.Fatalf("batch skip: %v rows %d %+v", err, len(xs), bst)
			}
			rep, err := Inspect(context.Background(), s, path, FitOptions{BadRows: BadRowsSkip})
			if err != nil || rep.Stats.BadRows != 1 || rep.Summary.Rows != 19 {
				t.Fatalf("inspect skip: %v %+v", err, rep)
			}
		})
	}
}

// TestHugeNumbersInTraining: a 1e30 training row is refused naming file,
// line and column; skipped, it is counted and leaves the fitted statistics
// exactly as without it. A valid/test row whose model input is beyond
// feature.MaxAbsInput is refused (or skipped and counted) the same way.
func TestHugeNumbersInTraining(t *testing.T) {
	s := schemaOf(t, inputSchema)
	for _, v := range []string{"1e30", "-1e308", "1e400", "0x1p4", "1_000", "Inf"} {
		t.Run(v, func(t *testing.T) {
			path := writeFile(t, "big.csv", inputRows(func(i int) string {
				if i == 6 {
					return "id6," + v + ",n,0" // line 8
				}
				return ""
			}))
			want := "big.csv:8: column 2 (x): expected a "
			_, _, err := FitPipeline(context.Background(), s, path, FitOptions{})
			if !errors.Is(err, ErrBadRow) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), fmt.Sprintf("got %q", v)) {
				t.Fatalf("fit error = %v, want %q…", err, want)
			}
			p, st, err := FitPipeline(context.Background(), s, path, FitOptions{BadRows: BadRowsSkip})
			if err != nil || st.Rows != 19 || st.BadRows != 1 {
				t.Fatalf("fit skip: %v %+v", err, st)
			}
			clean := writeFile(t, "clean.csv", strings.Replace(inputRows(nil), "id6,6,n,0\n", "", 1))
			q, _, err := FitPipeline(context.Background(), s, clean, FitOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := p.Stats("x"); got != mustStats(t, q, "x") {
				t.Errorf("stats with the bad row skipped %+v, without it %+v", got, mustStats(t, q, "x"))
			}
			xs, bst, err := allX(t, p, path, BatchOptions{BadRows: BadRowsSkip})
			if err != nil || len(xs) != 19 || bst.BadRows != 1 || !strings.Contains(bst.FirstBad[0], want) {
				t.Fatalf("batch skip: %v rows %d %+v", err, len(xs), bst)
			}
		})
	}
	// A test file row within MaxAbsRaw but far outside the training range:
	// its standardised input (about 1.7e13) is refused.
	p, _, err := FitPipeline(context.Background(), s, writeFile(t, "train.csv", inputRows(nil)), FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	test := writeFile(t, "test.csv", inputRows(func(i int) string {
		if i == 2 {
			return "id2,1e14,n,0" // line 4
		}
		return ""
	}))
	var re *RowError
	if _, _, err := allX(t, p, test, BatchOptions{}); !errors.As(err, &re) || re.Line != 4 || !strings.Contains(err.Error(), "column 2 (x)") || !strings.Contains(err.Error(), "|z| ≤ 1e6") {
		t.Fatalf("test row 1e14: %v", err)
	}
	if xs, bst, err := allX(t, p, test, BatchOptions{BadRows: BadRowsSkip}); err != nil || len(xs) != 19 || bst.BadRows != 1 {
		t.Fatalf("test row 1e14 skipped: %v rows %d %+v", err, len(xs), bst)
	}
}

func mustStats(t *testing.T, p *feature.Pipeline, name string) feature.NumericStats {
	t.Helper()
	st, ok := p.Stats(name)
	if !ok {
		t.Fatalf("no stats for %q", name)
	}
	return st
}
