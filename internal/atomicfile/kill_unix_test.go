//go:build unix

package atomicfile

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv names the file TestHelperProcess writes.
const helperEnv = "DCRNN_ATOMICFILE_KILL_HELPER"

// TestHelperProcess is not a test on its own: started by TestKilledWriter
// as a child process, it creates the file named by $DCRNN_ATOMICFILE_KILL_HELPER,
// prints the temporary name and then writes a byte every 10 ms until it is
// killed.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("child process of TestKilledWriter")
	}
	f, err := Create(path)
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(2)
	}
	io.WriteString(f, "partial")
	os.Stdout.WriteString(f.Name() + "\n")
	for {
		f.Write([]byte("x"))
		time.Sleep(10 * time.Millisecond)
	}
}

// TestKilledWriter kills a writer with SIGKILL mid-write: its temporary file
// stays, the destination is untouched, a Create for the same path while the
// writer is alive keeps the temporary file, and the next write after its
// death removes it.
func TestKilledWriter(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "checkpoint.dcrnn")
	if err := WriteFile(path, []byte("old")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the child's temporary name: %v", err)
	}
	tmp := strings.TrimSpace(line)
	want := ".checkpoint.dcrnn.tmp-" + strconv.Itoa(cmd.Process.Pid) + "-"
	if filepath.Dir(tmp) != dir || !strings.HasPrefix(filepath.Base(tmp), want) {
		t.Fatalf("child's temporary file %s, want %s* in %s", tmp, want, dir)
	}

	// The writer is alive: another writer of the same path keeps its file.
	f, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Abort()
	if _, err := os.Stat(tmp); err != nil {
		t.Fatalf("Create removed the temporary file of a live writer: %v", err)
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	killed = true
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child: %v, want killed by SIGKILL", err)
	}
	if _, err := os.Stat(tmp); err != nil {
		t.Fatalf("the killed writer's temporary file is gone before the next write: %v", err)
	}
	wantContent(t, path, "old")

	if err := WriteFile(path, []byte("new")); err != nil {
		t.Fatal(err)
	}
	wantContent(t, path, "new")
	wantNames(t, dir, "checkpoint.dcrnn")
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
}
