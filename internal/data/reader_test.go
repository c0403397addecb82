package data

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/dcrnn/dcrnn/internal/feature"
)

func readAll(t *testing.T, in string, opt ReaderOptions) ([][]string, []int64, error) {
	t.Helper()
	r, err := NewReader(strings.NewReader(in), "in.csv", opt)
	if err != nil {
		return nil, nil, err
	}
	var out [][]string
	var lines []int64
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return out, lines, nil
		}
		if err != nil {
			return out, lines, err
		}
		row := make([]string, len(rec))
		for i, c := range rec {
			row[i] = string(c)
		}
		out = append(out, row)
		lines = append(lines, r.Line())
	}
}

func TestReader(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		opt   ReaderOptions
		want  [][]string
		lines []int64
	}{
		{"header", "a,b\n1,2\n3,4\n", ReaderOptions{Header: true}, [][]string{{"1", "2"}, {"3", "4"}}, []int64{2, 3}},
		{"no final newline, CRLF, blank lines", "a,b\r\n\r\n1, 2 \r\n\n3,4", ReaderOptions{Header: true}, [][]string{{"1", "2"}, {"3", "4"}}, []int64{3, 5}},
		{"multi-char separator", "38, Private, - 50000.\n2, Not in universe, 50000+.\n", ReaderOptions{Separator: ", ", Columns: []string{"a", "b", "c"}}, [][]string{{"38", "Private", "- 50000."}, {"2", "Not in universe", "50000+."}}, []int64{1, 2}},
		{"quotes", "a,b,c\n\"x,y\", \"he said \"\"hi\"\"\" ,z\n\"\",,\"  pad  \"\n", ReaderOptions{Header: true, Quote: '"'}, [][]string{{"x,y", `he said "hi"`, "z"}, {"", "", "  pad  "}}, []int64{2, 3}},
		{"quoted newline", "a,b\n\"line1\nline2\",2\n3,4\n", ReaderOptions{Header: true, Quote: '"'}, [][]string{{"line1\nline2", "2"}, {"3", "4"}}, []int64{2, 4}},
		{"stray quote inside a cell", "a,b\n12\" screen,2\n", ReaderOptions{Header: true, Quote: '"'}, [][]string{{"12\" screen", "2"}}, []int64{2}},
		{"quotes off", "a,b\n\"x,y\n", ReaderOptions{Header: true}, [][]string{{"\"x", "y"}}, []int64{2}},
		{"tsv empty cells", "a\tb\tc\n\t\t\n1\t\t3\n", ReaderOptions{Header: true, Separator: "\t"}, [][]string{{"", "", ""}, {"1", "", "3"}}, []int64{2, 3}},
		{"filter", "a\n0\n1\n2\n3\n4\n", ReaderOptions{Header: true, Filter: func(i int64) bool { return i%2 == 1 }}, [][]string{{"1"}, {"3"}}, []int64{3, 5}},
		{"filter skips quoted multi-line", "a,b\n\"x\ny\",1\nz,2\n", ReaderOptions{Header: true, Quote: '"', Filter: func(i int64) bool { return i == 1 }}, [][]string{{"z", "2"}}, []int64{4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.opt.Quote == 0 && strings.Contains(tc.name, "quote") && !strings.Contains(tc.name, "off") {
				t.Fatal("test needs Quote")
			}
			got, lines, err := readAll(t, tc.in, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) || !reflect.DeepEqual(lines, tc.lines) {
				t.Errorf("got %q lines %v, want %q lines %v", got, lines, tc.want, tc.lines)
			}
		})
	}
}

func TestReaderErrors(t *testing.T) {
	tests := []struct {
		name, in string
		opt      ReaderOptions
		want     string
	}{
		{"column count", "a,b\n1,2\n1,2,3\n", ReaderOptions{Header: true}, "in.csv:3: row: expected 2 columns"},
		{"unterminated quote", "a,b\n\"1,2\n", ReaderOptions{Header: true, Quote: '"'}, "in.csv:2: unterminated quoted field"},
		{"garbage after quote", "a,b\n\"1\"x,2\n", ReaderOptions{Header: true, Quote: '"'}, "in.csv:2: column 1"},
		{"header mismatch", "a,c\n1,2\n", ReaderOptions{Header: true, Columns: []string{"a", "b"}}, "differs"},
		{"empty file", "", ReaderOptions{Header: true}, "empty file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := readAll(t, tc.in, tc.opt)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	// Reading continues after a wrong column count.
	r, _ := NewReader(strings.NewReader("a,b\n1\n3,4\n"), "x", ReaderOptions{Header: true})
	if _, err := r.Next(); !errors.Is(err, ErrBadRow) {
		t.Fatalf("want ErrBadRow, got %v", err)
	}
	if rec, err := r.Next(); err != nil || string(rec[0]) != "3" {
		t.Fatalf("after a bad row: %q %v", rec, err)
	}
}

func TestReaderGzip(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	io.WriteString(zw, "a,b\n1,2\n")
	zw.Close()
	r, err := NewReader(&buf, "x.gz", ReaderOptions{Header: true})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := r.Next()
	if err != nil || string(rec[1]) != "2" || r.Columns()[1] != "b" {
		t.Fatalf("gzip: %q %v", rec, err)
	}
}

// FuzzReader checks that no input panics the reader, that every record has
// the header's width and that no cell it returns holds a NUL byte.
func FuzzReader(f *testing.F) {
	f.Add("a,b\n1,2\n", ",", true)
	f.Add("\ufeffa,b\n1,x\x00\n\"\x00\",2\n", ",", true)
	f.Add("a, b\n\"x\"\"y\", 2\n\"open\n", ", ", true)
	f.Add("1\t2\r\n\n3\t4", "\t", false)
	f.Fuzz(func(t *testing.T, in, sep string, quote bool) {
		opt := ReaderOptions{Separator: sep, Header: true}
		if quote {
			opt.Quote = '"'
		}
		r, err := NewReader(strings.NewReader(in), "fuzz", opt)
		if err != nil {
			return
		}
		for i := 0; i < 10000; i++ {
			rec, err := r.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				if r.err != nil {
					return
				}
				continue
			}
			if len(rec) != len(r.Columns()) {
				t.Fatalf("record with %d cells for %d columns", len(rec), len(r.Columns()))
			}
			for j, c := range rec {
				if bytes.IndexByte(c, 0) >= 0 {
					t.Fatalf("cell %d %q holds a NUL byte", j+1, c)
				}
			}
		}
	})
}

func TestOptionsFor(t *testing.T) {
	s, err := feature.ParseSchema([]byte("format: {type: tsv, columns: [a, b], quote: ''}\nfields: [{name: a, type: categorical}]\ntasks: [{name: t, label: b}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	o := OptionsFor(s.Format)
	if o.Separator != "\t" || o.Quote != 0 || o.Header || len(o.Columns) != 2 {
		t.Errorf("OptionsFor = %+v", o)
	}
}
