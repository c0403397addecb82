package data

import (
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/dcrnn/dcrnn/internal/feature"
)

// censusKinds types the Census columns for a Parquet copy: the numeric
// fields as integers, the survey weight as a float, the rest strings.
func censusKinds(columns []string) []ParquetKind {
	ints := []string{"age", "wage_per_hour", "capital_gains", "capital_losses", "stock_dividends", "num_emp", "weeks_worked"}
	kinds := make([]ParquetKind, len(columns))
	for i, c := range columns {
		switch {
		case slices.Contains(ints, c):
			kinds[i] = ParquetInt64
		case c == "instance_weight":
			kinds[i] = ParquetDouble
		}
	}
	return kinds
}

// writeParquetCopy writes the rows of a text file (read with s's format)
// as a Parquet file at out.
func writeParquetCopy(t testing.TB, s *feature.Schema, in, out, codec string, kinds func([]string) []ParquetKind) int64 {
	t.Helper()
	r, err := Open(in, OptionsFor(s.Format))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := NewParquetWriter(f, r.Columns(), kinds(r.Columns()), codec)
	if err != nil {
		t.Fatal(err)
	}
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.Rows()
}

// TestParquetWriterRoundTrip: the Census test file written as Parquet by
// ParquetWriter fits to the pipeline of the CSV (the columns come back in
// the writer's order, so the pipelines are compared field by field).
func TestParquetWriterRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the Census file")
	}
	path := needData(t, "census-income-kdd/census-income.test.gz")
	s, err := feature.LoadSchema("../../examples/census.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pq := filepath.Join(t.TempDir(), "census.parquet")
	n := writeParquetCopy(t, s, path, pq, "zstd", censusKinds)
	if n != 99762 {
		t.Fatalf("wrote %d rows, want 99,762", n)
	}
	pc, _, err := FitPipeline(context.Background(), s, path, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pp, _, err := FitPipeline(context.Background(), s, pq, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range pc.Fields() {
		if !slices.Equal(pc.Vocabulary(f.Name), pp.Vocabulary(f.Name)) {
			t.Errorf("field %s: vocabularies differ", f.Name)
		}
		a, _ := pc.Stats(f.Name)
		b, _ := pp.Stats(f.Name)
		if a != b {
			t.Errorf("field %s: stats %+v vs %+v", f.Name, a, b)
		}
	}
}

// BenchmarkCensusParquet reads and transforms the whole Census test file
// (99,762 rows) as gzip CSV, plain CSV and Parquet (written by ParquetWriter,
// snappy and zstd), back to back in one run:
//
//	go test -run x -bench CensusParquet -benchtime 5x -cpu 1 ./internal/data/
func BenchmarkCensusParquet(b *testing.B) {
	path := needData(b, "census-income-kdd/census-income.test.gz")
	s, err := feature.LoadSchema("../../examples/census.yaml")
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	plain := filepath.Join(dir, "census.csv")
	{
		f, _ := os.Open(path)
		zr, err := gzip.NewReader(f)
		if err != nil {
			b.Fatal(err)
		}
		out, _ := os.Create(plain)
		io.Copy(out, zr)
		out.Close()
		f.Close()
	}
	files := map[string]string{"csv.gz": path, "csv": plain}
	for _, codec := range []string{"snappy", "zstd"} {
		p := filepath.Join(dir, "census-"+codec+".parquet")
		writeParquetCopy(b, s, path, p, codec, censusKinds)
		files["parquet-"+codec] = p
	}
	p, _, err := FitPipeline(context.Background(), s, path, FitOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"csv.gz", "csv", "parquet-snappy", "parquet-zstd"} {
		b.Run(name, func(b *testing.B) { benchRead(b, p, files[name], BatchOptions{BatchSize: 1024, RequireLabels: true}) })
	}
}
