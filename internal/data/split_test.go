package data

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSplitterProportionsAndDeterminism(t *testing.T) {
	ratios := []float64{0.8, 0.1, 0.1}
	s := Splitter{Ratios: ratios, Seed: 7}
	const n = 300000
	counts := make([]int, 3)
	for row := range int64(n) {
		p := s.Part(row)
		if p != s.Part(row) {
			t.Fatalf("row %d: Part not deterministic", row)
		}
		counts[p]++
	}
	for i, r := range ratios {
		sd := math.Sqrt(n * r * (1 - r))
		if d := math.Abs(float64(counts[i]) - n*r); d > 5*sd {
			t.Errorf("part %d: %d rows, want %.0f ± %.0f", i, counts[i], n*r, 5*sd)
		}
	}
	// Another seed gives another split, about as different as independent draws.
	o := Splitter{Ratios: ratios, Seed: 8}
	same := 0
	for row := range int64(n) {
		if s.Part(row) == o.Part(row) {
			same++
		}
	}
	want := n * (0.8*0.8 + 0.1*0.1 + 0.1*0.1)
	if d := math.Abs(float64(same) - want); d > 0.01*n {
		t.Errorf("seeds 7 and 8 agree on %d rows, want ≈ %.0f (independent)", same, want)
	}
	// Consecutive rows are not correlated: count runs of equal parts for 0.5/0.5.
	h := Splitter{Ratios: []float64{0.5, 0.5}, Seed: 1}
	eq := 0
	for row := range int64(n - 1) {
		if h.Part(row) == h.Part(row+1) {
			eq++
		}
	}
	if d := math.Abs(float64(eq) - n/2); d > 5*math.Sqrt(n/4) {
		t.Errorf("consecutive rows equal %d times, want ≈ %d", eq, n/2)
	}
	if (Splitter{Ratios: []float64{1}}).Part(5) != 0 || (Splitter{}).Part(5) != 0 {
		t.Errorf("one part: Part must be 0")
	}
}

func TestParseRatios(t *testing.T) {
	tests := []struct {
		in      string
		want    []float64
		errWord string // substring of the error, "" for success
	}{
		{"0.8,0.1,0.1", []float64{0.8, 0.1, 0.1}, ""},
		{" 0.5 , 0.5", []float64{0.5, 0.5}, ""},
		{"1", []float64{1}, ""},
		{"0.3333333,0.3333333,0.3333334", []float64{0.3333333, 0.3333333, 0.3333334}, ""},
		{"", nil, "empty"},
		{"0.5,0.5,0,0", nil, "at most 3"},
		{"0.8,0.3", nil, "sums to"},
		{"0.8,abc,0.1", nil, "part 2"},
		{"1.2,-0.2", nil, "not positive"},
		{"0.9,0,0.1", nil, "not positive"},
		{"NaN,1", nil, "not a number"},
		{"0.8,,0.2", nil, "part 2"},
	}
	for _, tc := range tests {
		got, err := ParseRatios(tc.in)
		if tc.errWord != "" {
			if err == nil || !errors.Is(err, ErrRatios) || !strings.Contains(err.Error(), tc.errWord) {
				t.Errorf("ParseRatios(%q) error = %v, want ErrRatios mentioning %q", tc.in, err, tc.errWord)
			}
			continue
		}
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("ParseRatios(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func FuzzParseRatios(f *testing.F) {
	for _, s := range []string{"0.8,0.1,0.1", "1", ",", "1e308,1e308", "-0,1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRatios(s)
		if err != nil {
			return
		}
		sum := 0.0
		for _, v := range r {
			if !(v > 0) {
				t.Fatalf("%q: accepted non-positive %v", s, v)
			}
			sum += v
		}
		if len(r) < 1 || len(r) > MaxParts || math.Abs(sum-1) > 1e-6 {
			t.Fatalf("%q: accepted %v", s, r)
		}
	})
}

func TestDetectHeader(t *testing.T) {
	tests := []struct {
		line string
		want bool
	}{
		{"label,I1,I2,C1\n", true},
		{"id\tclick\thour\r\n", true},
		{`"user","item"`, true},
		{"0,1.5,abc,def\n", false},
		{" 73, Not in universe, 0, 0\n", false},
		{"a,b,a\n", false}, // duplicate column names: not a header
		{"a,,b\n", false},
		{"\n", false},
	}
	for _, tc := range tests {
		if got := DetectHeader([]byte(tc.line), ""); got != tc.want {
			t.Errorf("DetectHeader(%q) = %v, want %v", tc.line, got, tc.want)
		}
	}
}

// splitString runs SplitLines on in and returns the parts as strings.
func splitString(t *testing.T, in string, s Splitter, opt SplitOptions) ([]string, SplitResult, error) {
	t.Helper()
	bufs := make([]bytes.Buffer, max(1, len(s.Ratios)))
	ws := make([]io.Writer, len(bufs))
	for i := range bufs {
		ws[i] = &bufs[i]
	}
	res, err := SplitLines(context.Background(), strings.NewReader(in), s, opt, ws)
	out := make([]string, len(bufs))
	for i := range bufs {
		out[i] = bufs[i].String()
	}
	return out, res, err
}

func TestSplitLines(t *testing.T) {
	var b strings.Builder
	b.WriteString("a,b,label\r\n")
	var rows []string
	for i := range 1000 {
		l := fmt.Sprintf("x%d,%d,%d", i, i*7, i%2)
		if i%3 == 0 {
			l += "\r" // CRLF rows stay CRLF
		}
		rows = append(rows, l+"\n")
		b.WriteString(l + "\n")
		if i == 10 {
			b.WriteString("\n\r\n") // blank lines: dropped, not rows
		}
	}
	in := strings.TrimSuffix(b.String(), "\n") // last line without ending
	s := Splitter{Ratios: []float64{0.5, 0.25, 0.25}, Seed: 3}
	parts, res, err := splitString(t, in, s, SplitOptions{Quote: '"'})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Header || res.Blank != 2 {
		t.Fatalf("header=%v blank=%d, want true, 2", res.Header, res.Blank)
	}
	want := make([]strings.Builder, 3)
	for i := range want {
		want[i].WriteString("a,b,label\r\n")
	}
	for row, l := range rows {
		want[s.Part(int64(row))].WriteString(l)
	}
	var total int64
	for i := range parts {
		if parts[i] != want[i].String() {
			t.Errorf("part %d differs from the expected byte-for-byte copy", i)
		}
		if got := int64(strings.Count(parts[i], "\n") - 1); got != res.Rows[i] {
			t.Errorf("part %d: %d lines but Rows says %d", i, got, res.Rows[i])
		}
		total += res.Rows[i]
	}
	if total != 1000 {
		t.Errorf("rows written %d, want 1000", total)
	}
}

func TestSplitLinesHeaderModesAndErrors(t *testing.T) {
	in := "1,2\n3,4\n5,6\n"
	one := Splitter{Ratios: []float64{1}}
	parts, res, err := splitString(t, in, one, SplitOptions{})
	if err != nil || res.Header || parts[0] != in || res.Rows[0] != 3 {
		t.Fatalf("auto on numeric data: %q %+v %v", parts[0], res, err)
	}
	parts, res, err = splitString(t, in, one, SplitOptions{Header: HeaderYes})
	if err != nil || !res.Header || parts[0] != in || res.Rows[0] != 2 {
		t.Fatalf("forced header: %q %+v %v", parts[0], res, err)
	}
	parts, res, err = splitString(t, "a,b\nc,d\n", one, SplitOptions{Header: HeaderNo})
	if err != nil || res.Header || res.Rows[0] != 2 || parts[0] != "a,b\nc,d\n" {
		t.Fatalf("header=no: %q %+v %v", parts[0], res, err)
	}
	_, _, err = splitString(t, "a,b\n\"x\ny\",2\n", one, SplitOptions{Quote: '"'})
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("quoted newline: error %v, want one naming line 2", err)
	}
	if _, _, err := splitString(t, "a,b\n", one, SplitOptions{}); err != nil {
		t.Fatalf("header only: %v", err)
	}
	if _, err := SplitLines(context.Background(), strings.NewReader(in), Splitter{Ratios: []float64{0.5, 0.5}}, SplitOptions{}, []io.Writer{io.Discard}); err == nil {
		t.Fatalf("writer count mismatch accepted")
	}
}

func TestSplitLinesLongLines(t *testing.T) {
	long := strings.Repeat("z", 200000)
	in := "h1,h2\n" + long + ",1\nshort,2\n" + long + ",3"
	parts, res, err := splitString(t, in, Splitter{Ratios: []float64{1}}, SplitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := in + "\n"; parts[0] != want || res.Rows[0] != 3 {
		t.Fatalf("long lines not copied intact (rows %d)", res.Rows[0])
	}
}

func TestSplitFileGzipAtomic(t *testing.T) {
	dir := t.TempDir()
	var raw bytes.Buffer
	raw.WriteString("u,click\n")
	for i := range 500 {
		fmt.Fprintf(&raw, "u%d,%d\n", i, i%2)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw.Bytes())
	zw.Close()
	in := filepath.Join(dir, "in.csv.gz")
	if err := os.WriteFile(in, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	s := Splitter{Ratios: []float64{0.8, 0.2}, Seed: 11}
	out := filepath.Join(dir, "out")
	res, err := SplitFile(context.Background(), in, out, s, SplitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) != 2 || filepath.Base(res.Files[0]) != "train.csv" || filepath.Base(res.Files[1]) != "valid.csv" {
		t.Fatalf("files %v", res.Files)
	}
	// The same split of the uncompressed text must give the same bytes.
	plain, _, err := splitString(t, raw.String(), s, SplitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range res.Files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != plain[i] {
			t.Errorf("%s differs from the in-memory split", f)
		}
		if st, err := os.Stat(f); err != nil {
			t.Error(err)
		} else if st.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, want 0644", f, st.Mode().Perm())
		}
	}
	ents, _ := os.ReadDir(out)
	if len(ents) != 2 {
		t.Errorf("output dir holds %d entries, want 2 (no temp files left)", len(ents))
	}
	// A failing split (quoted newline) leaves neither final nor temp files.
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("a,b\n\"x\n"), 0o644)
	out2 := filepath.Join(dir, "out2")
	if _, err := SplitFile(context.Background(), bad, out2, s, SplitOptions{Quote: '"'}); err == nil {
		t.Fatal("bad input accepted")
	}
	if ents, _ := os.ReadDir(out2); len(ents) != 0 {
		t.Errorf("failed split left %d files", len(ents))
	}
	if _, err := SplitFile(context.Background(), filepath.Join(dir, "missing.csv"), out2, s, SplitOptions{}); err == nil {
		t.Fatal("missing input accepted")
	}
}

func TestSplitRealCriteoSample(t *testing.T) {
	path := filepath.Join("..", "..", "..", "shared", "data", "ctr-samples", "deepctr_criteo_sample.txt")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("shared data not available: %v", err)
	}
	res, err := SplitFile(context.Background(), path, t.TempDir(), Splitter{Ratios: []float64{0.8, 0.1, 0.1}, Seed: 1}, SplitOptions{Quote: '"'})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Header || res.Rows[0]+res.Rows[1]+res.Rows[2] != 200 {
		t.Fatalf("criteo sample: header %v rows %v, want header and 200 rows", res.Header, res.Rows)
	}
}

func BenchmarkSplitLines(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString("a,b,c\n")
	for i := range 100000 {
		fmt.Fprintf(&buf, "%d,item%d,%d\n", i, i%977, i%2)
	}
	in := buf.Bytes()
	s := Splitter{Ratios: []float64{0.8, 0.1, 0.1}, Seed: 1}
	ws := []io.Writer{io.Discard, io.Discard, io.Discard}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SplitLines(context.Background(), bytes.NewReader(in), s, SplitOptions{Quote: '"'}, ws); err != nil {
			b.Fatal(err)
		}
	}
}
