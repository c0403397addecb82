package atomicfile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// names lists dir.
func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n []string
	for _, e := range es {
		n = append(n, e.Name())
	}
	return n
}

func wantNames(t *testing.T, dir string, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := names(t, dir); !slices.Equal(got, want) {
		t.Errorf("directory holds %q, want %q", got, want)
	}
}

func wantContent(t *testing.T, path, want string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != want {
		t.Errorf("%s holds %q, want %q", filepath.Base(path), b, want)
	}
}

func touch(t *testing.T, path string, age time.Duration) {
	t.Helper()
	if err := os.WriteFile(path, []byte("leftover"), 0o600); err != nil {
		t.Fatal(err)
	}
	if age > 0 {
		old := time.Now().Add(-age)
		if err := os.Chtimes(path, old, old); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCommit: after Commit the destination holds exactly what was written,
// with mode 0644 (os.CreateTemp makes 0600), and no temporary file is left.
func TestCommit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.dcrnn")
	f, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	prefix := ".m.dcrnn.tmp-" + strconv.Itoa(os.Getpid()) + "-"
	if filepath.Dir(f.Name()) != dir || !strings.HasPrefix(filepath.Base(f.Name()), prefix) {
		t.Errorf("temporary file %s, want %s* in %s", f.Name(), prefix, dir)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), bufferSize/8) // past the buffer
	want := "head\n" + string(big) + "tail\n"
	io.WriteString(f, "head\n")
	f.Write(big)
	io.WriteString(f, "tail\n")
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("destination exists before Commit (err %v)", err)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	wantContent(t, path, want)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != Mode || Mode != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
	wantNames(t, dir, "m.dcrnn")

	// Replacing keeps the mode, whatever the old file had.
	os.Chmod(path, 0o600)
	if err := WriteFile(path, []byte("new")); err != nil {
		t.Fatal(err)
	}
	wantContent(t, path, "new")
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o644 {
		t.Errorf("mode after replace %v, want 0644", st.Mode().Perm())
	}

	// A committed File is finished: Abort is harmless, the rest fails.
	f.Abort()
	wantContent(t, path, "new")
	if _, err := f.Write([]byte("x")); err == nil {
		t.Error("Write after Commit succeeded")
	}
	if err := f.Commit(); err == nil {
		t.Error("second Commit succeeded")
	}
	wantNames(t, dir, "m.dcrnn")
}

// TestAbort: Abort leaves nothing at the destination and no temporary file.
func TestAbort(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "preds.csv")
	f, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(bytes.Repeat([]byte("x"), 3*bufferSize))
	f.Abort()
	f.Abort()
	wantNames(t, dir)
	if err := f.Commit(); err == nil {
		t.Error("Commit after Abort succeeded")
	}
	wantNames(t, dir)
}

// TestFailedWriteKeepsOld: a write that fails, in the caller or at the
// rename, leaves the old file intact and no temporary file behind.
func TestFailedWriteKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "metrics.json")
	if err := WriteFile(path, []byte("old")); err != nil {
		t.Fatal(err)
	}
	diskFull := errors.New("disk full")
	err := Write(path, func(w io.Writer) error {
		w.Write(make([]byte, 3*bufferSize)) // past the buffer: reaches the temporary file
		return diskFull
	})
	if err != diskFull {
		t.Errorf("err = %v, want the fill function's error as is", err)
	}
	wantContent(t, path, "old")
	wantNames(t, dir, "metrics.json")

	// The rename fails: the destination is a non-empty directory.
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	os.WriteFile(filepath.Join(sub, "keep"), nil, 0o644)
	err = WriteFile(sub, []byte("x"))
	if err == nil || !strings.HasPrefix(err.Error(), "atomicfile: commit ") {
		t.Errorf("renaming over a directory: err = %v", err)
	}
	wantNames(t, dir, "metrics.json", "sub")

	// The directory does not exist.
	if err := WriteFile(filepath.Join(dir, "nope", "x"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing directory: err = %v, want ErrNotExist", err)
	}
	if _, err := Create(""); err == nil {
		t.Error("Create(\"\") succeeded")
	}
}

// TestGroup: a group puts every file in place at Commit, none on Abort, and
// a failed rename removes the temporary files of the rest.
func TestGroup(t *testing.T) {
	dir := t.TempDir()
	create := func(g *Group, name, content string) {
		t.Helper()
		f, err := g.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(f, content)
	}
	var g Group
	create(&g, "train.csv", "a")
	create(&g, "valid.csv", "b")
	create(&g, "test.csv", "c")
	if n := len(names(t, dir)); n != 3 {
		t.Fatalf("%d temporary files, want 3", n)
	}
	if err := g.Commit(); err != nil {
		t.Fatal(err)
	}
	g.Abort()
	wantNames(t, dir, "train.csv", "valid.csv", "test.csv")
	wantContent(t, filepath.Join(dir, "valid.csv"), "b")

	var a Group
	create(&a, "train.csv", "new")
	create(&a, "other.csv", "new")
	a.Abort()
	wantNames(t, dir, "train.csv", "valid.csv", "test.csv")
	wantContent(t, filepath.Join(dir, "train.csv"), "a")

	os.Mkdir(filepath.Join(dir, "valid.dir"), 0o755)
	os.WriteFile(filepath.Join(dir, "valid.dir", "keep"), nil, 0o644)
	var b Group
	defer b.Abort()
	create(&b, "train.csv", "A")
	create(&b, "valid.dir", "B") // the rename fails
	create(&b, "test.csv", "C")
	if err := b.Commit(); err == nil {
		t.Fatal("Commit over a non-empty directory succeeded")
	}
	wantNames(t, dir, "train.csv", "valid.csv", "test.csv", "valid.dir")
	wantContent(t, filepath.Join(dir, "train.csv"), "A") // renamed before the failure
	wantContent(t, filepath.Join(dir, "test.csv"), "c")
}

// TestStaleOwnPID: a temporary file with this process's PID that no File of
// this process has open is a leftover of an earlier process with the same
// PID (containers reuse PIDs) and is removed; one still open is kept.
func TestStaleOwnPID(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "checkpoint.dcrnn")
	leftover := ".checkpoint.dcrnn.tmp-" + strconv.Itoa(os.Getpid()) + "-12345"
	touch(t, filepath.Join(dir, leftover), 0)
	first, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Abort()
	if _, err := os.Stat(filepath.Join(dir, leftover)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leftover with this PID not removed (err %v)", err)
	}
	second, err := Create(path) // a concurrent writer of the same path
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(first.Name()); err != nil {
		t.Fatalf("Create removed the open temporary file of another File: %v", err)
	}
	io.WriteString(first, "first")
	io.WriteString(second, "second")
	if err := first.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := second.Commit(); err != nil {
		t.Fatal(err)
	}
	wantContent(t, path, "second")
	wantNames(t, dir, "checkpoint.dcrnn")
}

// TestStaleLegacy: the temporary names the writers before this package
// used are removed once a minute old, recent ones are kept (an older binary
// may still be writing), and nothing else in the directory is touched.
func TestStaleLegacy(t *testing.T) {
	dir := t.TempDir()
	old := []string{".tmp-m.json-123", ".m.json.tmp-4567"}
	recent := []string{".tmp-m.json-890", ".m.json.tmp-12"}
	others := []string{
		"m.json", "m.json.bak", ".m.json.tmp-", ".m.json.tmp-x1", ".tmp-m.json-", ".tmp-m.json-1-2", // another base (m.json-1)
		".m.json.tmp-1-2.bak", ".m.json.tmp-0-5", ".m.json.tmp--5", ".m.json.tmp-99999999999-5", ".n.json.tmp-999999999-1",
		".tmp-n.json-123", ".m.jso.tmp-123", ".m.json.tmp-999999999-", "x.m.json.tmp-123",
	}
	for _, n := range old {
		touch(t, filepath.Join(dir, n), 2*time.Minute)
	}
	for _, n := range recent {
		touch(t, filepath.Join(dir, n), 0)
	}
	for _, n := range others {
		touch(t, filepath.Join(dir, n), 2*time.Hour)
	}
	os.Mkdir(filepath.Join(dir, ".m.json.tmp-999999999-7"), 0o755) // a directory, not ours
	os.Chtimes(filepath.Join(dir, ".m.json.tmp-999999999-7"), time.Now().Add(-2*time.Hour), time.Now().Add(-2*time.Hour))
	if err := WriteFile(filepath.Join(dir, "m.json"), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	wantNames(t, dir, append(append([]string{".m.json.tmp-999999999-7"}, recent...), others...)...)
}

func TestParseTemp(t *testing.T) {
	for _, c := range []struct {
		name   string
		pid    int
		legacy bool
	}{
		{".m.dcrnn.tmp-42-123", 42, false},
		{".m.dcrnn.tmp-42-abc9", 42, false},
		{".m.dcrnn.tmp-123", 0, true},
		{".tmp-m.dcrnn-123", 0, true},
		{".m.dcrnn.tmp-42-", 0, false},
		{".m.dcrnn.tmp-42-1-2", 0, false},
		{".m.dcrnn.tmp-0-1", 0, false},
		{".m.dcrnn.tmp-+4-1", 0, false},
		{".m.dcrnn.tmp-4294967297-1", 0, false},
		{".m.dcrnn.tmp-", 0, false},
		{".tmp-m.dcrnn-", 0, false},
		{".tmp-m.dcrnn-1a", 0, false},
		{"m.dcrnn", 0, false},
		{".x.dcrnn.tmp-42-1", 0, false},
	} {
		pid, legacy := parseTemp(c.name, "m.dcrnn")
		if pid != c.pid || legacy != c.legacy {
			t.Errorf("parseTemp(%q) = %d, %v; want %d, %v", c.name, pid, legacy, c.pid, c.legacy)
		}
	}
}
