//go:build unix

package atomicfile

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStaleDeadPID: a temporary file of a process that no longer exists is
// removed by the next Create however recent it is; one of a live process
// (here the parent of the test binary, go test or a shell) is kept.
func TestStaleDeadPID(t *testing.T) {
	dir := t.TempDir()
	// A PID above any pid_max (2^22 on Linux, 99999 on the BSDs and macOS).
	dead := ".m.dcrnn.tmp-999999999-1"
	// A process that exited: its PID is free (until the system reuses it).
	child := exec.Command(os.Args[0], "-test.run=^$")
	if err := child.Run(); err != nil {
		t.Fatal(err)
	}
	exited := ".m.dcrnn.tmp-" + strconv.Itoa(child.Process.Pid) + "-2"
	live := ".m.dcrnn.tmp-" + strconv.Itoa(os.Getppid()) + "-3"
	for _, n := range []string{dead, exited, live} {
		touch(t, filepath.Join(dir, n), 0)
	}
	if syscall.Kill(child.Process.Pid, 0) != syscall.ESRCH {
		t.Skipf("PID %d was reused already", child.Process.Pid)
	}
	if err := WriteFile(filepath.Join(dir, "m.dcrnn"), []byte("m")); err != nil {
		t.Fatal(err)
	}
	wantNames(t, dir, "m.dcrnn", live)
}

// TestRemoveStale: the directory-wide cleanup removes the leftovers of every
// matching name (here numbered checkpoints, whose names are not written
// again) and nothing else.
func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	gone := []string{
		".checkpoint-000000007.dcrnn.tmp-999999999-1", // dead writer
		".checkpoint-000000014.dcrnn.tmp-999999999-2",
		".checkpoint-000000021.dcrnn.tmp-5",                         // legacy, old
		".tmp-checkpoint-000000028.dcrnn-6",                         // legacy, old
		".checkpoint.dcrnn.tmp-" + strconv.Itoa(os.Getpid()) + "-7", // this PID, not open
	}
	kept := []string{
		"checkpoint-000000035.dcrnn",
		".checkpoint-000000042.dcrnn.tmp-" + strconv.Itoa(os.Getppid()) + "-8", // live writer
		".checkpoint-000000049.dcrnn.tmp-9",                                    // legacy, recent
		".m.dcrnn.tmp-999999999-10",                                            // another name
		".tmp-m.dcrnn-11",
	}
	for _, n := range gone {
		touch(t, filepath.Join(dir, n), 2*time.Minute)
	}
	for _, n := range kept {
		touch(t, filepath.Join(dir, n), 0)
	}
	os.Chtimes(filepath.Join(dir, ".tmp-m.dcrnn-11"), time.Now().Add(-time.Hour), time.Now().Add(-time.Hour))
	f, err := Create(filepath.Join(dir, "checkpoint-000000056.dcrnn")) // open: kept
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	kept = append(kept, filepath.Base(f.Name()))
	RemoveStale(dir, func(base string) bool { return strings.HasPrefix(base, "checkpoint") })
	wantNames(t, dir, kept...)
}
