package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// Mode is the mode of every file Commit puts in place.
const Mode fs.FileMode = 0o644

// bufferSize is the size of a File's write buffer.
const bufferSize = 256 << 10

// errDone is returned by a File used after Commit or Abort.
var errDone = errors.New("already committed or aborted")

// File is a file being written: an io.Writer to a temporary file that Commit
// renames over the destination. The zero value is not usable; call Create.
type File struct {
	path string // destination
	tmp  *os.File
	w    *bufio.Writer
	// closed is set once tmp is closed (by a successful prepare or by
	// remove), done once the file is committed or removed.
	closed, done bool
}

// Create starts writing the file at path: it removes the leftovers of
// earlier crashed writers of path (see the package documentation) and
// creates the temporary file .BASE.tmp-PID-RANDOM next to path. The
// directory must exist.
func Create(path string) (*File, error) {
	if path == "" {
		return nil, errors.New("atomicfile: create: empty path")
	}
	dir, base := filepath.Dir(path), filepath.Base(path)
	RemoveStale(dir, func(b string) bool { return b == base })
	ownMu.Lock()
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-"+strconv.Itoa(pid)+"-*")
	if err == nil {
		own[filepath.Base(tmp.Name())] = true
	}
	ownMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("atomicfile: create %s: %w", path, err)
	}
	return &File{path: path, tmp: tmp, w: bufio.NewWriterSize(tmp, bufferSize)}, nil
}

// Name returns the name of the temporary file.
func (f *File) Name() string { return f.tmp.Name() }

// Write writes p to the temporary file (buffered).
func (f *File) Write(p []byte) (int, error) {
	if f.done {
		return 0, fmt.Errorf("atomicfile: write %s: %w", f.path, errDone)
	}
	return f.w.Write(p)
}

// Commit puts the file in place: flush, set the mode to Mode, fsync, close,
// rename over the destination, fsync the directory. On an error before the
// rename the temporary file is removed and the destination is untouched.
// Commit after Commit or Abort returns an error.
func (f *File) Commit() error {
	return commit([]*File{f})
}

// Abort closes and removes the temporary file, leaving the destination
// untouched. It does nothing after Commit or a previous Abort.
func (f *File) Abort() {
	if !f.done {
		f.remove()
	}
}

// prepare makes the temporary file complete and durable: flush, chmod,
// fsync, close.
func (f *File) prepare() error {
	if f.done {
		return errDone
	}
	if err := f.w.Flush(); err != nil {
		return err
	}
	if err := f.tmp.Chmod(Mode); err != nil {
		return err
	}
	if err := f.tmp.Sync(); err != nil {
		return err
	}
	f.closed = true
	return f.tmp.Close()
}

// remove closes (if still open) and removes the temporary file.
func (f *File) remove() {
	if !f.closed {
		f.tmp.Close()
		f.closed = true
	}
	os.Remove(f.tmp.Name())
	f.finish()
}

// finish marks the file done and forgets its temporary name.
func (f *File) finish() {
	f.done = true
	ownMu.Lock()
	delete(own, filepath.Base(f.tmp.Name()))
	ownMu.Unlock()
}

// commit prepares every file, then renames them in order and fsyncs their
// directories. On an error every file not yet renamed is removed.
func commit(files []*File) error {
	for _, f := range files {
		if err := f.prepare(); err != nil {
			for _, g := range files {
				g.Abort()
			}
			return fmt.Errorf("atomicfile: commit %s: %w", f.path, err)
		}
	}
	var dirs []string
	for i, f := range files {
		if err := os.Rename(f.tmp.Name(), f.path); err != nil {
			for _, g := range files[i:] {
				g.Abort()
			}
			return fmt.Errorf("atomicfile: commit %s: %w", f.path, err)
		}
		f.finish()
		if d := filepath.Dir(f.path); !contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	for _, d := range dirs {
		if err := syncDir(d); err != nil {
			return fmt.Errorf("atomicfile: committed, but the directory %s could not be synced: %w", d, err)
		}
	}
	return nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// WriteFile writes data to path atomically with mode Mode.
func WriteFile(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write writes the file at path atomically with mode Mode: fill writes the
// content, and the file is committed only if fill returns nil. An error of
// fill is returned as is (after the temporary file is removed); the errors
// of Create and Commit start with "atomicfile:".
func Write(path string, fill func(io.Writer) error) error {
	f, err := Create(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := fill(f); err != nil {
		return err
	}
	return f.Commit()
}

// Group is a set of files committed together; see the package
// documentation. The zero value is an empty group. Callers create every
// file with Group.Create, defer Abort and call Commit at the end.
type Group struct {
	files []*File
}

// Create creates a file of the group (as the function Create does).
func (g *Group) Create(path string) (*File, error) {
	f, err := Create(path)
	if err != nil {
		return nil, err
	}
	g.files = append(g.files, f)
	return f, nil
}

// Commit prepares (flushes, fsyncs, closes) every file of the group, then
// renames each into place in the order of creation. If any file fails
// before the renames, every file is removed and no destination is touched;
// if a rename fails, that file and the ones after it are removed.
func (g *Group) Commit() error {
	return commit(g.files)
}

// Abort removes every file of the group not committed yet.
func (g *Group) Abort() {
	for _, f := range g.files {
		f.Abort()
	}
}

// pid is this process's id, part of every temporary name it creates.
var pid = os.Getpid()

// own holds the base names of this process's open temporary files, so that
// removeStale can tell them from leftovers of a previous process with the
// same PID. ownMu is held from creating a temporary file until it is
// recorded, and while deciding on and removing a file of this PID.
var (
	ownMu sync.Mutex
	own   = map[string]bool{}
)
