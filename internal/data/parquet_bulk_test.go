package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/dcrnn/dcrnn/internal/feature"
)

// bulkCol is one column of the bulk-read test file: its node and the value
// of row i (ok false: a null) with its cell text.
type bulkCol struct {
	name string
	node parquet.Node
	val  func(i int) (v parquet.Value, text string, ok bool)
}

var bulkDoubles = []float64{0.1, math.Copysign(0, -1), 1e-7, 5e-324, 2.5, 123456.789, 1e14, math.NaN(), math.Pi, -3}

func bulkInt(x int64) (parquet.Value, string, bool) {
	return parquet.Int64Value(x), strconv.FormatInt(x, 10), true
}

func bulkStr(s string) (parquet.Value, string, bool) {
	return parquet.ByteArrayValue([]byte(s)), s, true
}

// bulkCols covers every page kind read in bulk: dictionary-encoded and
// plain strings and integers, a required int32 (no definition levels), a
// required dictionary string and doubles (NaN, -0, a subnormal), with nulls
// inside the pages.
var bulkCols = []bulkCol{
	{"a_sdict", parquet.Optional(parquet.Encoded(parquet.String(), &parquet.RLEDictionary)), func(i int) (parquet.Value, string, bool) {
		if i%11 == 3 {
			return parquet.Value{}, "", false
		}
		return bulkStr(fmt.Sprintf("v%d", i*7%13))
	}},
	{"b_splain", parquet.Optional(parquet.String()), func(i int) (parquet.Value, string, bool) {
		if i%5 == 1 {
			return parquet.Value{}, "", false
		}
		return bulkStr(fmt.Sprintf("p%d", i%17))
	}},
	{"c_iplain", parquet.Optional(parquet.Int(64)), func(i int) (parquet.Value, string, bool) {
		if i%9 == 4 {
			return parquet.Value{}, "", false
		}
		return bulkInt(int64(i*37%1000 - 300)) // 0 at row 900
	}},
	{"d_idict", parquet.Optional(parquet.Encoded(parquet.Int(64), &parquet.RLEDictionary)), func(i int) (parquet.Value, string, bool) {
		if i%13 == 0 {
			return parquet.Value{}, "", false
		}
		return bulkInt(int64(i % 6 * 10))
	}},
	{"e_i32", parquet.Int(32), func(i int) (parquet.Value, string, bool) {
		x := int32(i%50 - 25)
		return parquet.Int32Value(x), strconv.Itoa(int(x)), true
	}},
	{"f_double", parquet.Optional(parquet.Leaf(parquet.DoubleType)), func(i int) (parquet.Value, string, bool) {
		if i%7 == 2 {
			return parquet.Value{}, "", false
		}
		x := bulkDoubles[i%len(bulkDoubles)]
		return parquet.DoubleValue(x), strconv.FormatFloat(x, 'g', -1, 64), true
	}},
	{"g_icat", parquet.Optional(parquet.Encoded(parquet.Int(64), &parquet.RLEDictionary)), func(i int) (parquet.Value, string, bool) {
		if i%17 == 5 {
			return parquet.Value{}, "", false
		}
		return bulkInt(int64(2000 + i%4))
	}},
	{"h_icatplain", parquet.Optional(parquet.Int(64)), func(i int) (parquet.Value, string, bool) {
		return bulkInt(int64(i % 3))
	}},
	{"i_sreq", parquet.Encoded(parquet.String(), &parquet.RLEDictionary), func(i int) (parquet.Value, string, bool) {
		return bulkStr(fmt.Sprintf("r%d", i%5))
	}},
	{"y", parquet.String(), func(i int) (parquet.Value, string, bool) {
		return bulkStr(strconv.Itoa(min(i*5%7%2, 1)))
	}},
}

const bulkSchema = `
format: {type: csv, header: true}
fields:
  - {name: a_sdict, type: categorical, min_count: 1}
  - {name: b_splain, type: categorical, min_count: 2}
  - {name: c_iplain, type: numeric}
  - {name: d_idict, type: numeric, transform: log1p}
  - {name: e_i32, type: numeric, buckets: [-10, 0, 10]}
  - {name: f_double, type: numeric}
  - {name: g_icat, type: categorical, min_count: 1}
  - {name: h_icatplain, type: categorical, hash_buckets: 5}
  - {name: i_sreq, type: categorical, min_count: 1}
tasks:
  - {name: t, label: y, positive: ["1"], negative: ["0"]}
`

// writeBulkFiles writes rows of bulkCols (with override, when set and
// use, giving a cell's value and text instead) as a Parquet file of small pages and three row
// groups and as a CSV file of the cells' text; it returns both paths.
func writeBulkFiles(t *testing.T, rows int, override func(col string, i int) (v parquet.Value, text string, use bool)) (pq, csv string) {
	t.Helper()
	dir := t.TempDir()
	g := parquet.Group{}
	for _, c := range bulkCols {
		g[c.name] = c.node
	}
	schema := parquet.NewSchema("row", g)
	pq, csv = filepath.Join(dir, "bulk.parquet"), filepath.Join(dir, "bulk.csv")
	f, err := os.Create(pq)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := parquet.NewWriter(f, schema, parquet.PageBufferSize(256), parquet.MaxRowsPerRowGroup(int64(rows/3+1)), parquet.Compression(&parquet.Snappy))
	var text strings.Builder
	names := make([]string, len(bulkCols))
	for k, c := range bulkCols {
		names[k] = c.name
	}
	text.WriteString(strings.Join(names, ",") + "\n")
	for i := range rows {
		row := make(parquet.Row, 0, len(bulkCols))
		cells := make([]string, len(bulkCols))
		for k, c := range bulkCols {
			v, s, ok := c.val(i)
			if override != nil {
				if ov, ot, use := override(c.name, i); use {
					v, s, ok = ov, ot, true
				}
			}
			lc, _ := schema.Lookup(c.name)
			def := lc.MaxDefinitionLevel
			if !ok {
				v, def = parquet.NullValue(), 0
			}
			row = append(row, v.Level(0, def, lc.ColumnIndex))
			cells[k] = s
		}
		sortByColumn(row)
		if _, err := w.WriteRows([]parquet.Row{row}); err != nil {
			t.Fatal(err)
		}
		text.WriteString(strings.Join(cells, ",") + "\n")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(csv, []byte(text.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return pq, csv
}

// cellsByName reads every row of a file as name=cell pairs.
func cellsByName(t *testing.T, path string, s *feature.Schema) []string {
	t.Helper()
	r, err := openOne(path, s.Format, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cols := r.Columns()
	var out []string
	for _, row := range readRows(t, r) {
		kv := make([]string, len(row))
		for i := range row {
			kv[i] = cols[i] + "=" + row[i]
		}
		slices.Sort(kv)
		out = append(out, strings.Join(kv, " "))
	}
	return out
}

// TestParquetBulkEqualsCSV: the columns read in bulk from their pages
// (dictionary and plain, strings, integers and doubles, nulls inside the
// pages, pages and chunks across row groups) give the cells of the CSV copy,
// and the same batches, in file order (numbers taken as they are) and
// through the shuffle buffer (numbers parsed from the cells); also when a
// missing value is a number, so that numbers must be parsed.
func TestParquetBulkEqualsCSV(t *testing.T) {
	const rows = 2000
	pq, csv := writeBulkFiles(t, rows, nil)
	s := fixture(t, bulkSchema)
	if got, want := cellsByName(t, pq, s), cellsByName(t, csv, s); !slices.Equal(got, want) {
		t.Fatalf("cells differ:\n%q\n%q", got[:3], want[:3])
	}
	rg, err := OpenParquet(pq, ParquetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	groups := len(rg.groupStart)
	rg.Close()
	if groups != 3 {
		t.Fatalf("%d row groups, want 3", groups)
	}
	zero := strings.Replace(bulkSchema, "{name: c_iplain, type: numeric}", `{name: c_iplain, type: numeric, missing_values: ["", "0"]}`, 1)
	zero = strings.Replace(zero, "{name: f_double, type: numeric}", `{name: f_double, type: numeric, missing_values: ["", "NaN", "2.5"]}`, 1)
	for _, schema := range []string{bulkSchema, zero} {
		s := fixture(t, schema)
		p, _, err := FitPipeline(context.Background(), s, csv, FitOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, opt := range []BatchOptions{{BatchSize: 100, RequireLabels: true}, {BatchSize: 64, ShuffleBuffer: 300, Seed: 3, RequireLabels: true}} {
			want := batchRows(t, p, csv, opt)
			if len(want) != rows {
				t.Fatalf("%d CSV rows", len(want))
			}
			got := batchRows(t, p, pq, opt)
			if !slices.Equal(got, want) {
				for i := range got {
					if got[i] != want[i] {
						t.Errorf("shuffle %d: row %d: %q, want %q", opt.ShuffleBuffer, i, got[i], want[i])
						break
					}
				}
			}
		}
	}
}

// TestParquetBulkBadNumbers: a number beyond the bounds read in bulk (taken
// as a number) and a double Inf (parsed from its cell) are the errors of
// the CSV copy's cells, located by row group, row and column.
func TestParquetBulkBadNumbers(t *testing.T) {
	const rows = 900
	_, goodCSV := writeBulkFiles(t, rows, nil)
	s := fixture(t, bulkSchema)
	p, _, err := FitPipeline(context.Background(), s, goodCSV, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		col   string
		row   int // 0-based
		v     parquet.Value
		text  string
		group int
	}{
		{"c_iplain", 700, parquet.Int64Value(2_000_000_000_000_000), "2000000000000000", 2},
		{"d_idict", 400, parquet.Int64Value(-3_000_000_000_000_000), "-3000000000000000", 1},
		{"f_double", 350, parquet.DoubleValue(math.Inf(1)), "+Inf", 1},
		{"f_double", 10, parquet.DoubleValue(1e300), "1e+300", 0},
		{"e_i32", 5, parquet.Int32Value(-7), "-7", -1}, // accepted
	}
	for _, c := range cases {
		pq, csv := writeBulkFiles(t, rows, func(col string, i int) (parquet.Value, string, bool) {
			if col == c.col && i == c.row {
				return c.v, c.text, true
			}
			return parquet.Value{}, "", false
		})
		_, errP := streamAll(p, pq)
		_, errC := streamAll(p, csv)
		if c.group < 0 {
			if errP != nil || errC != nil {
				t.Errorf("%s = %s: %v / %v, want accepted", c.col, c.text, errP, errC)
			}
			continue
		}
		var re *RowError
		var feP, feC *feature.FieldError
		if !errors.As(errP, &re) || !errors.As(errP, &feP) || !errors.As(errC, &feC) {
			t.Errorf("%s = %s: errors %v / %v, want field errors", c.col, c.text, errP, errC)
			continue
		}
		if re.Group != c.group || re.Row != int64(c.row+1) || !strings.Contains(errP.Error(), "bulk.parquet") {
			t.Errorf("%s = %s: %v, want row group %d, row %d of bulk.parquet", c.col, c.text, errP, c.group, c.row+1)
		}
		if feP.Name != c.col || feP.Value != c.text || feP.Expected != feC.Expected {
			t.Errorf("%s = %s: %v, want the CSV's %v", c.col, c.text, feP, feC)
		}
	}
}

// streamAll streams path through p in file order and returns the rows read.
func streamAll(p *feature.Pipeline, path string) (int, error) {
	b, err := NewBatcher(p, path, BatchOptions{BatchSize: 128, RequireLabels: true})
	if err != nil {
		return 0, err
	}
	defer b.Close()
	n := 0
	for {
		bt, err := b.Next()
		if err != nil {
			if err == io.EOF {
				return n, nil
			}
			return n, err
		}
		n += bt.N
	}
}
