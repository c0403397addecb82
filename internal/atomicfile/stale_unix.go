//go:build unix

package atomicfile

import (
	"io/fs"
	"os"
	"syscall"
	"time"
)

// processGone tells whether process pid no longer exists: kill(pid, 0)
// fails with ESRCH. EPERM (a process of another user) counts as alive.
func processGone(pid int, _ fs.DirEntry, _ time.Time) bool {
	return syscall.Kill(pid, 0) == syscall.ESRCH
}

// syncDir fsyncs the directory dir, making a rename in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}
