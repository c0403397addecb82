//go:build !unix

package atomicfile

import (
	"io/fs"
	"time"
)

// otherAge is how long, on systems without a cheap process-exists check, a
// temporary file of another process must have been left alone before it
// counts as stale.
const otherAge = time.Hour

// processGone tells whether the writer of e is gone. Without kill(pid, 0)
// it guesses from the age: a file not modified for otherAge is stale.
func processGone(_ int, e fs.DirEntry, now time.Time) bool {
	info, err := e.Info()
	return err == nil && now.Sub(info.ModTime()) > otherAge
}

// syncDir does nothing: directories cannot be fsynced portably here (on
// Windows, os.File.Sync on a directory fails).
func syncDir(string) error { return nil }
