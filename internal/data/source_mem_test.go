package data

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/dcrnn/dcrnn/internal/feature"
)

// writeMemShards writes n Parquet shards of rows rows each: six
// dictionary-encoded string columns of many distinct values and a label.
func writeMemShards(t *testing.T, dir string, n, rows int) []string {
	t.Helper()
	names := []string{"a", "b", "c", "d", "e", "f", "y"}
	kinds := make([]ParquetKind, len(names))
	kinds[len(kinds)-1] = ParquetInt64
	var files []string
	cells := make([][]byte, len(names))
	for k := range n {
		path := filepath.Join(dir, fmt.Sprintf("part-%03d.parquet", k))
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		w, err := NewParquetWriter(f, names, kinds, "none")
		if err != nil {
			t.Fatal(err)
		}
		for i := range rows {
			for c := range len(names) - 1 {
				cells[c] = []byte(fmt.Sprintf("%s-%d-%d", names[c], k, (i*7919+c)%(rows/2)))
			}
			cells[len(names)-1] = []byte(strconv.Itoa(i % 2))
			if err := w.Write(cells); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		files = append(files, path)
	}
	return files
}

func heapAfterGC() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func openFDs(t *testing.T) int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	return len(es)
}

// Reading a list of shards keeps the heap flat: what the reader holds
// after GC does not grow with the number of files read (a closed shard's
// pages, decode buffers and footer are given back), and every file is
// closed at its end.
func TestParquetShardsFlatMemory(t *testing.T) {
	const shards, rows = 24, 20000
	files := writeMemShards(t, t.TempDir(), shards, rows)
	checkFlatMemory(t, files, "parquet", rows)
}

// The same for gzipped CSV shards (a closed reader drops its buffers and
// decompressor).
func TestCSVShardsFlatMemory(t *testing.T) {
	const shards, rows = 24, 2000
	dir := t.TempDir()
	var files []string
	for k := range shards {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		fmt.Fprintln(zw, "a,b,c,d,e,f,y")
		for i := range rows {
			for c := range 6 {
				fmt.Fprintf(zw, "%c-%d-%d,", 'a'+c, k, (i*7919+c)%(rows/2))
			}
			fmt.Fprintln(zw, i%2)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, fmt.Sprintf("part-%03d.csv.gz", k))
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, path)
	}
	checkFlatMemory(t, files, "csv, separator: \",\", header: true", rows)
}

// checkFlatMemory reads files (rows rows each, first cell starting with
// "a-<file index>-") through one source and checks the heap in use after
// GC, from the third file to the end, and the open files.
func checkFlatMemory(t *testing.T, files []string, format string, rows int) {
	s, err := feature.ParseSchema([]byte(`
format: {type: ` + format + `}
fields:
  - {name: a, type: categorical}
  - {name: b, type: categorical}
  - {name: c, type: categorical}
  - {name: d, type: categorical}
  - {name: e, type: categorical}
  - {name: f, type: categorical}
tasks:
  - {name: t, label: y, positive: ["1"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	shards := len(files)
	fd0 := openFDs(t)
	src, err := openFiles(files, s, SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var base uint64
	n := 0
	for {
		rec, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		// Every cell is read: the file's index is in the first one.
		if want := fmt.Sprintf("a-%d-", n/rows); string(rec[0][:len(want)]) != want {
			t.Fatalf("row %d: cell %q, want prefix %q", n, rec[0], want)
		}
		n++
		if n == 2*rows+1 { // two files read, the third open
			base = heapAfterGC()
		}
		if n%rows != 1 {
			continue
		}
		if fds := openFDs(t); fds > fd0+1 {
			t.Fatalf("row %d: %d open files, %d before reading (one shard open at a time)", n, fds, fd0)
		}
	}
	if n != shards*rows {
		t.Fatalf("read %d rows, want %d", n, shards*rows)
	}
	end := heapAfterGC()
	t.Logf("heap in use after GC: %d KB after 2 shards, %d KB after %d", base>>10, end>>10, shards)
	// Holding the last page of each column of a closed Parquet shard adds
	// about 3 MB a shard here, the buffers of a closed gzipped CSV reader
	// about 0.6 MB; the bound leaves room for GC noise only.
	const bound = 4 << 20
	if end > base+bound {
		t.Errorf("heap in use after GC grew from %d MB (3rd shard) to %d MB after %d shards (bound +%d MB)", base>>20, end>>20, shards, bound>>20)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if fds := openFDs(t); fds != fd0 {
		t.Errorf("%d open files after Close, %d before", fds, fd0)
	}
}
