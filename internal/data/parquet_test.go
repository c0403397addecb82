package data

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dcrnn/dcrnn/internal/feature"
)

// The fixtures under testdata/parquet were written by pyarrow
// (make_fixtures.py beside them); the expected cells below are typed in
// from that script's ROWS, not read back by this package.

// fixtureSchema is testdata/parquet/schema.yaml, the fixtures' schema
// (cmd/dcrnn's inspect test reads the same file).
var fixtureSchema = func() string {
	b, err := os.ReadFile("testdata/parquet/schema.yaml")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

var fixtureColumns = []string{"user", "age", "price", "active", "tags", "tagstr", "day", "click", "buy"}

// fixtureCells are the cells of the ten fixture rows as the reader must give
// them: nulls empty, floats shortest, booleans 1/0, lists joined by "|",
// day (an ignored column) not decoded, so empty.
var fixtureCells = [][]string{
	{"u1", "31", "1.5", "1", "a|b", "a|b", "", "1", "1"},
	{"u2", "", "2.25", "0", "", "", "", "0", "0"},
	{"", "45", "", "1", "", "", "", "0", "0"},
	{"u1", "22", "0.1", "1", "c", "c", "", "1", "0"},
	{"u3", "38", "10", "0", "a|c", "a|c", "", "1", "1"},
	{"u2", "51", "3", "0", "b", "b", "", "0", "0"},
	{"u1", "", "4.5", "1", "a", "a", "", "1", "0"},
	{"u4", "29", "", "0", "d|e", "d|e", "", "0", "0"},
	{"u1", "33", "7.75", "1", "", "", "", "0", "0"},
	{"u2", "40", "1e-07", "1", "a|b|c", "a|b|c", "", "1", "1"},
}

// fixtureDays are the day column's values (read when a split uses it).
var fixtureDays = []string{"2026-11-01", "2026-11-01", "2026-11-02", "2026-11-02", "2026-11-03",
	"2026-11-03", "2026-11-04", "2026-11-04", "2026-11-05", "2026-11-05"}

const pqDir = "testdata/parquet"

func fixture(t testing.TB, schema string) *feature.Schema {
	t.Helper()
	s, err := feature.ParseSchema([]byte(schema))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func readRows(t *testing.T, r rowSource) [][]string {
	t.Helper()
	var out [][]string
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(rec))
		for i, c := range rec {
			row[i] = string(c)
		}
		out = append(out, row)
	}
}

func TestParquetCellsEveryCodec(t *testing.T) {
	s := fixture(t, fixtureSchema)
	for _, codec := range []string{"snappy", "zstd", "gzip"} {
		t.Run(codec, func(t *testing.T) {
			r, err := OpenParquet(filepath.Join(pqDir, "basic_"+codec+".parquet"), ParquetOptions{Read: UsesFor(s)})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if !slices.Equal(r.Columns(), fixtureColumns) {
				t.Fatalf("columns %v, want %v", r.Columns(), fixtureColumns)
			}
			got := readRows(t, r)
			if len(got) != len(fixtureCells) {
				t.Fatalf("%d rows, want %d", len(got), len(fixtureCells))
			}
			for i := range got {
				if !slices.Equal(got[i], fixtureCells[i]) {
					t.Errorf("row %d: %q, want %q", i, got[i], fixtureCells[i])
				}
			}
		})
	}
}

func TestParquetColumnOrderAndFilter(t *testing.T) {
	s := fixture(t, fixtureSchema)
	order := []string{"buy", "click", "day", "tagstr", "tags", "active", "price", "age", "user"}
	r, err := OpenParquet(filepath.Join(pqDir, "basic_snappy.parquet"), ParquetOptions{Columns: order, Read: UsesFor(s),
		Filter: func(i int64) bool { return i%3 == 0 }})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := readRows(t, r)
	want := [][]string{}
	for i := 0; i < len(fixtureCells); i += 3 {
		row := slices.Clone(fixtureCells[i])
		slices.Reverse(row)
		want = append(want, row)
	}
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for i := range got {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("row %d: %q, want %q", i, got[i], want[i])
		}
	}
}

// writeFixtureCSV writes the fixture rows as a CSV file with a header (the
// day column with its values) and returns its path.
func writeFixtureCSV(t *testing.T, dir string, rows []int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(strings.Join(fixtureColumns, ",") + "\n")
	for _, i := range rows {
		row := slices.Clone(fixtureCells[i])
		row[6] = fixtureDays[i]
		b.WriteString(strings.Join(row, ",") + "\n")
	}
	p := filepath.Join(dir, "rows.csv")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func pqPipelineJSON(t *testing.T, p *feature.Pipeline) string {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParquetFitsLikeCSV(t *testing.T) {
	// One schema (format csv) reads the CSV and, by its suffix, the Parquet
	// copy: the fitted pipelines must be byte-identical.
	s := fixture(t, strings.Replace(fixtureSchema, "format: {type: parquet}", "format: {type: csv, header: true}", 1))
	csv := writeFixtureCSV(t, t.TempDir(), []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	pc, _, err := FitPipeline(context.Background(), s, csv, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, codec := range []string{"snappy", "zstd", "gzip"} {
		pp, st, err := FitPipeline(context.Background(), s, filepath.Join(pqDir, "basic_"+codec+".parquet"), FitOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if st.Rows != 10 {
			t.Fatalf("%s: fitted %d rows, want 10", codec, st.Rows)
		}
		if a, b := pqPipelineJSON(t, pc), pqPipelineJSON(t, pp); a != b {
			t.Errorf("%s: pipelines differ:\ncsv     %s\nparquet %s", codec, a, b)
		}
	}
	// The numeric statistics, checked against values typed in: age has 8
	// values (two nulls), their mean 289/8.
	st, _ := pc.Stats("age")
	if st.Count != 8 || st.Mean != 289.0/8 {
		t.Errorf("age stats %+v, want count 8, mean %v", st, 289.0/8)
	}
	if v := pc.Vocabulary("tags"); !slices.Equal(v, []string{"a", "b", "c", "d", "e"}) {
		t.Errorf("tags vocabulary %q", v)
	}
}

func TestShardsDirectoryAndGlobFitLikeOneFile(t *testing.T) {
	s := fixture(t, fixtureSchema)
	one, _, err := FitPipeline(context.Background(), s, filepath.Join(pqDir, "basic_snappy.parquet"), FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range []string{
		filepath.Join(pqDir, "shards"),
		filepath.Join(pqDir, "shards", "day=2026-11-0[1-4]", "*.parquet"),
		filepath.Join(pqDir, "shards", "day=2026-11-01", "part-0.parquet") + "," + filepath.Join(pqDir, "shards", "day=2026-11-04"),
	} {
		files, err := Expand(spec)
		if err != nil {
			t.Fatal(err)
		}
		if len(files) != 2 || !strings.Contains(files[0], "2026-11-01") {
			t.Fatalf("%s: files %q, want the two shards in day order", spec, files)
		}
		p, st, err := FitPipeline(context.Background(), s, spec, FitOptions{Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		if st.Rows != 10 {
			t.Errorf("%s: %d rows", spec, st.Rows)
		}
		if a, b := pqPipelineJSON(t, one), pqPipelineJSON(t, p); a != b {
			t.Errorf("%s: sharded fit differs from the one-file fit:\n%s\n%s", spec, a, b)
		}
	}
}

func TestExpandErrors(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("x"), 0o644)
	a := filepath.Join(pqDir, "basic_snappy.parquet")
	for spec, want := range map[string]string{
		filepath.Join(dir, "*.parquet"): "no file matches",
		dir:                             "holds no data file",
		filepath.Join(dir, "nope.csv"):  "no such file",
		a + "," + a:                     "listed twice",
		",":                             "no input file",
	} {
		_, err := Expand(spec)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Expand(%q): %v, want %q", spec, err, want)
		}
	}
}

func TestParquetBadInputs(t *testing.T) {
	s := fixture(t, fixtureSchema)
	cases := []struct {
		file, schema string
		want         []string
	}{
		{"truncated.parquet", fixtureSchema, []string{"truncated.parquet", "not a readable Parquet file"}},
		{"age_struct.parquet", fixtureSchema, []string{"age_struct.parquet", `column "age"`, "nested"}},
		{"user_list.parquet", fixtureSchema, []string{"user_list.parquet", `column "user"`, "LIST column", "multi_categorical"}},
		// A numeric field over a string column: the bad value is located.
		{"age_string.parquet", fixtureSchema, []string{"age_string.parquet", "row group 0, row 2", "age", `"x"`}},
		// A column the schema needs is not in the file.
		{"basic_snappy.parquet", fixtureSchema + "  - {name: region, type: categorical}\n", nil},
		// format.columns that are not the file's.
		{"basic_snappy.parquet", strings.Replace(fixtureSchema, "{type: parquet}", "{type: parquet, columns: [user, age]}", 1),
			[]string{"basic_snappy.parquet", "differ from the expected"}},
	}
	cases[4].want = []string{`no column "region"`}
	cases[4].schema = strings.Replace(fixtureSchema, "  - {name: day, type: ignore}\n", "  - {name: day, type: ignore}\n  - {name: region, type: categorical}\n", 1)
	for _, c := range cases {
		sc := s
		if c.schema != fixtureSchema {
			sc = fixture(t, c.schema)
		}
		_, _, err := FitPipeline(context.Background(), sc, filepath.Join(pqDir, c.file), FitOptions{})
		if err == nil {
			t.Errorf("%s: no error", c.file)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", c.file, err, w)
			}
		}
	}
	// Under --bad-rows skip the bad value is counted, not fatal.
	_, st, err := FitPipeline(context.Background(), s, filepath.Join(pqDir, "age_string.parquet"), FitOptions{BadRows: BadRowsSkip})
	if err != nil || st.Rows != 9 || st.BadRows != 1 {
		t.Errorf("skip: %v, %d rows, %d bad; want 9 and 1", err, st.Rows, st.BadRows)
	}
}

func TestParquetDamagedPageIsAnError(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(pqDir, "basic_snappy.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	s := fixture(t, fixtureSchema)
	// Overwrite the data pages (after the magic, before the footer) with
	// garbage at a few places: every outcome must be an error naming the
	// file, or rows read without a panic.
	for _, at := range []int{8, 100, 400, 900, 1500} {
		bad := slices.Clone(raw)
		for k := at; k < at+40 && k < len(bad)-200; k++ {
			bad[k] ^= 0x5a
		}
		p := filepath.Join(t.TempDir(), "damaged.parquet")
		os.WriteFile(p, bad, 0o644)
		_, _, err := FitPipeline(context.Background(), s, p, FitOptions{})
		if err != nil && !strings.Contains(err.Error(), "damaged.parquet") {
			t.Errorf("at %d: error %q does not name the file", at, err)
		}
	}
}

func TestTimeSplitParts(t *testing.T) {
	s := fixture(t, strings.Replace(fixtureSchema, "  - {name: day, type: ignore}\n", "", 1)+"unlisted_columns: ignore\n")
	parts, err := TimeSplit("day", "2026-11-03", "2026-11-05")
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := FitPipeline(context.Background(), s, filepath.Join(pqDir, "basic_snappy.parquet"), FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	csvSchema := fixture(t, strings.Replace(fixtureSchema, "format: {type: parquet}", "format: {type: csv, header: true}", 1))
	csv := writeFixtureCSV(t, t.TempDir(), []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	pcsv, _, err := FitPipeline(context.Background(), csvSchema, csv, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{4, 4, 2} // days 01-02, 03-04, 05
	for k, part := range parts {
		for _, in := range []struct {
			p    *feature.Pipeline
			path string
		}{{p, filepath.Join(pqDir, "basic_snappy.parquet")}, {p, filepath.Join(pqDir, "shards")}, {pcsv, csv}} {
			b, err := NewBatcher(in.p, in.path, BatchOptions{Range: part, RequireLabels: true})
			if err != nil {
				t.Fatal(err)
			}
			for {
				if _, err := b.Next(); err == io.EOF {
					break
				} else if err != nil {
					t.Fatal(err)
				}
			}
			if b.Stats().Rows != want[k] {
				t.Errorf("part %d of %s: %d rows, want %d", k, in.path, b.Stats().Rows, want[k])
			}
			b.Close()
		}
	}
	if _, err := TimeSplit("day", "2026-11-05", "2026-11-03"); err == nil {
		t.Error("decreasing bounds accepted")
	}
	if _, err := TimeSplit("day", "10", "2026-11-03"); err == nil {
		t.Error("a number and a date accepted as bounds")
	}
	// A numeric split over a text column: each row is a located bad row.
	num, _ := TimeSplit("user", "1", "2")
	b, err := NewBatcher(p, filepath.Join(pqDir, "basic_snappy.parquet"), BatchOptions{Range: num[0]})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Next()
	var re *RowError
	if !errors.As(err, &re) || re.Row != 1 || !strings.Contains(err.Error(), "the split bounds are numbers") {
		t.Errorf("numeric split of a text column: %v", err)
	}
	b.Close()
	// A split column that is not in the file.
	missing, _ := TimeSplit("hour", "1", "2")
	if _, err := NewBatcher(p, filepath.Join(pqDir, "basic_snappy.parquet"), BatchOptions{Range: missing[0]}); err == nil || !strings.Contains(err.Error(), `"hour"`) {
		t.Errorf("missing split column: %v", err)
	}
}

func TestShuffleMixesFiles(t *testing.T) {
	s := fixture(t, fixtureSchema)
	p, _, err := FitPipeline(context.Background(), s, filepath.Join(pqDir, "basic_snappy.parquet"), FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Two files, a 2-row shuffle buffer: over seeds, both files come first
	// at some epoch, and every epoch delivers the 10 rows once.
	firstAge := map[float32]bool{}
	for seed := range uint64(8) {
		b, err := NewBatcher(p, filepath.Join(pqDir, "shards"), BatchOptions{BatchSize: 1, ShuffleBuffer: 2, Seed: seed, RequireLabels: true})
		if err != nil {
			t.Fatal(err)
		}
		var n int
		for {
			bt, err := b.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				firstAge[bt.Fields[1].Values[0]] = true
			}
			n++
		}
		b.Close()
		if n != 10 {
			t.Fatalf("seed %d: %d rows, want 10", seed, n)
		}
	}
	// The first row is from the first two rows of a file: shard 1 starts
	// with ages 31 and (missing); shard 2 with (missing) and 29. Both
	// shards leading shows up as at least three distinct first values.
	if len(firstAge) < 3 {
		t.Errorf("first rows over 8 seeds: %v; the file order is not shuffled", firstAge)
	}
}

func TestFitStateRoundTripAndMerge(t *testing.T) {
	s := fixture(t, fixtureSchema)
	ctx := context.Background()
	whole, _, err := Fit(ctx, s, filepath.Join(pqDir, "basic_snappy.parquet"), FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a, _, err := Fit(ctx, s, filepath.Join(pqDir, "shards", "day=2026-11-01"), FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := Fit(ctx, s, filepath.Join(pqDir, "shards", "day=2026-11-04"), FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Through JSON, as `dcrnn fit --merge` does.
	ja, _ := a.MarshalState()
	jb, _ := b.MarshalState()
	ra, err := feature.UnmarshalFitState(ja)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := feature.UnmarshalFitState(jb)
	if err != nil {
		t.Fatal(err)
	}
	if err := ra.Merge(rb); err != nil {
		t.Fatal(err)
	}
	pw, err := whole.Finish()
	if err != nil {
		t.Fatal(err)
	}
	pm, err := ra.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if x, y := pqPipelineJSON(t, pw), pqPipelineJSON(t, pm); x != y {
		t.Errorf("merged fit differs:\n%s\n%s", x, y)
	}
	if !slices.EqualFunc(pw.RowCounts(), pm.RowCounts(), slices.Equal) {
		t.Errorf("row counts differ: %v vs %v", pw.RowCounts(), pm.RowCounts())
	}
	// The state of the whole fit round-trips to itself.
	jw, _ := whole.MarshalState()
	rw, err := feature.UnmarshalFitState(jw)
	if err != nil {
		t.Fatal(err)
	}
	jw2, _ := rw.MarshalState()
	if string(jw) != string(jw2) {
		t.Error("fit state does not round-trip")
	}
	// Damaged states and mismatched merges are errors.
	for _, bad := range []string{`{}`, `{"format":"dcrnn-fit","version":9}`, strings.Replace(string(jw), `"rows":10`, `"rows":-1`, 1), string(jw[:len(jw)/2])} {
		if _, err := feature.UnmarshalFitState([]byte(bad)); !errors.Is(err, feature.ErrFitState) {
			t.Errorf("bad state %.40q: %v", bad, err)
		}
	}
	other, _, err := Fit(ctx, fixture(t, strings.Replace(fixtureSchema, "min_count: 1}", "min_count: 2}", 1)), filepath.Join(pqDir, "basic_snappy.parquet"), FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := rw.Merge(other); !errors.Is(err, feature.ErrFitState) {
		t.Errorf("merge of different schemas: %v", err)
	}
}

// batchRows streams path through p and returns every row's ids and values
// as text, in order.
func batchRows(t *testing.T, p *feature.Pipeline, path string, opt BatchOptions) []string {
	t.Helper()
	b, err := NewBatcher(p, path, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var out []string
	for {
		bt, err := b.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < bt.N; i++ {
			var sb strings.Builder
			for f := range bt.Fields {
				d := &bt.Fields[f]
				switch {
				case d.Offsets != nil:
					sb.WriteString(fmt.Sprint(d.IDs[d.Offsets[i]:d.Offsets[i+1]]))
				case d.IDs != nil:
					sb.WriteString(fmt.Sprint(d.IDs[i]))
				default:
					sb.WriteString(fmt.Sprint(d.Values[i]))
				}
				sb.WriteByte(' ')
			}
			for tk := range bt.Labels {
				sb.WriteString(fmt.Sprint(bt.Labels[tk][i]))
			}
			out = append(out, sb.String())
		}
	}
}

// TestParquetBatchesEqualCSV: the batches of the Parquet fixture (read by
// dictionary entry, ids computed once per entry) equal those of the CSV
// copy, in file order and through the shuffle buffer.
func TestParquetBatchesEqualCSV(t *testing.T) {
	s := fixture(t, strings.Replace(fixtureSchema, "format: {type: parquet}", "format: {type: csv, header: true}", 1))
	csv := writeFixtureCSV(t, t.TempDir(), []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	p, _, err := FitPipeline(context.Background(), s, csv, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, opt := range []BatchOptions{{BatchSize: 3, RequireLabels: true}, {BatchSize: 4, ShuffleBuffer: 5, Seed: 7, RequireLabels: true}} {
		want := batchRows(t, p, csv, opt)
		if len(want) != 10 {
			t.Fatalf("%d CSV rows", len(want))
		}
		for _, codec := range []string{"snappy", "zstd", "gzip"} {
			got := batchRows(t, p, filepath.Join(pqDir, "basic_"+codec+".parquet"), opt)
			if !slices.Equal(got, want) {
				t.Errorf("%s, shuffle %d: batches differ:\n%q\n%q", codec, opt.ShuffleBuffer, got, want)
			}
		}
	}
}

// TestShardsWithOtherColumnsAreRefused: a shard whose columns differ from
// the first file's is an error naming it, in the fit and in a Batcher.
func TestShardsWithOtherColumnsAreRefused(t *testing.T) {
	s := fixture(t, strings.Replace(fixtureSchema, "format: {type: parquet}", "format: {type: csv, header: true}", 1))
	dir := t.TempDir()
	a := writeFixtureCSV(t, dir, []int{0, 1, 2, 3, 4})
	os.Rename(a, filepath.Join(dir, "a.csv"))
	raw, _ := os.ReadFile(filepath.Join(dir, "a.csv"))
	os.WriteFile(filepath.Join(dir, "b.csv"), []byte(strings.Replace(string(raw), "user,age", "age,user", 1)), 0o644)
	_, _, err := FitPipeline(context.Background(), s, dir, FitOptions{})
	if err == nil || !strings.Contains(err.Error(), "b.csv") || !strings.Contains(err.Error(), "differ") {
		t.Errorf("fit: %v", err)
	}
	p, _, err := FitPipeline(context.Background(), s, filepath.Join(dir, "a.csv"), FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBatcher(p, dir, BatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for err == nil {
		_, err = b.Next()
	}
	if !strings.Contains(err.Error(), "b.csv") || !strings.Contains(err.Error(), "differ") {
		t.Errorf("batcher: %v", err)
	}
}

// TestParquetOtherTypes: dates, unsigned and small integers, float32 and a
// required column read as their text (values typed in from
// make_fixtures.py).
func TestParquetOtherTypes(t *testing.T) {
	r, err := OpenParquet(filepath.Join(pqDir, "types.parquet"), ParquetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	want := [][]string{
		{"2026-11-01", "4294967295", "-128", "0.1", "x"},
		{"", "0", "127", "-2.5", "y"},
		{"1969-12-31", "", "0", "", "z"},
	}
	got := readRows(t, r)
	if len(got) != len(want) {
		t.Fatalf("%d rows", len(got))
	}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("row %d: %q, want %q", i, got[i], want[i])
		}
	}
}
