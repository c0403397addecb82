package modelfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// allocatedBy returns the bytes the Go heap allocated while f ran.
func allocatedBy(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// A model file's header followed by a huge sparse tail (the reported
// out-of-memory: the loader used to allocate and read the whole file before
// looking at its header) is refused after reading the header only.
func TestReadHugeSparseFileIsBounded(t *testing.T) {
	b, _ := encodeT(t, sample())
	path := filepath.Join(t.TempDir(), "huge.dcrnn")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	const huge = 64 << 30 // 64 GiB, sparse: no disk is used
	if err := os.Truncate(path, huge); err != nil {
		t.Skipf("file system cannot hold a sparse 64 GiB file: %v", err)
	}
	zeros := filepath.Join(t.TempDir(), "zeros.dcrnn")
	if err := os.WriteFile(zeros, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(zeros, huge); err != nil {
		t.Skipf("file system cannot hold a sparse 64 GiB file: %v", err)
	}
	for _, c := range []struct {
		path string
		want error
		msg  string
	}{
		{path, ErrCorrupt, "data section has"},
		{zeros, ErrNotModelFile, "no safetensors JSON header"},
	} {
		var err error
		start := time.Now()
		alloc := allocatedBy(func() { _, _, err = Read(c.path) })
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: err = %v, want %v with %q", filepath.Base(c.path), err, c.want, c.msg)
		}
		if alloc > 1<<20 {
			t.Errorf("%s: reading allocated %d bytes; the header alone is %d", filepath.Base(c.path), alloc, len(b))
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: took %v", filepath.Base(c.path), d)
		}
	}
}

func TestReadLimited(t *testing.T) {
	b, _ := encodeT(t, sample())
	path := filepath.Join(t.TempDir(), "m.dcrnn")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadLimited(path, int64(len(b))); err != nil {
		t.Fatalf("limit = size: %v", err)
	}
	var err error
	alloc := allocatedBy(func() { _, _, err = ReadLimited(path, int64(len(b))-1) })
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("limit = size-1: err = %v, want ErrTooLarge", err)
	}
	if want := fmt.Sprintf("modelfile: %s: model file too large: %d bytes, the limit is %d", path, len(b), len(b)-1); err.Error() != want {
		t.Errorf("err = %q\nwant  %q", err, want)
	}
	if alloc > 64<<10 {
		t.Errorf("refusing a too large file allocated %d bytes", alloc)
	}
}

func TestReadRefusesDirectory(t *testing.T) {
	dir := t.TempDir()
	_, _, err := Read(dir)
	if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "a directory") {
		t.Fatalf("err = %v, want ErrNotRegular naming a directory", err)
	}
}

// The header declares more data than the file holds by a few bytes: refused
// as truncated before the data section is read.
func TestReadRefusesShortDataSection(t *testing.T) {
	b, _ := encodeT(t, sample())
	path := filepath.Join(t.TempDir(), "m.dcrnn")
	if err := os.WriteFile(path, append(b, 0, 0, 0, 0, 0, 0, 0, 0), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Read(path); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "tensors cover") {
		t.Fatalf("8 extra bytes: err = %v, want ErrCorrupt (tensors cover less than the data section)", err)
	}
}
