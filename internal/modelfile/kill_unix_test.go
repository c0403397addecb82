//go:build unix

package modelfile

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// helperEnv names the file TestHelperProcess writes to.
const helperEnv = "DCRNN_MODELFILE_KILL_HELPER"

// TestHelperProcess is not a test on its own: started by TestWriteKilled as
// a child process, it writes a 32 MiB model file with Write over and over
// until it is killed.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("child process of TestWriteKilled")
	}
	f := &File{Meta: map[string]string{"config": "child"}, Tensors: []Tensor{{Name: "w", Shape: []int{8 << 20}, Data: make([]float32, 8<<20)}}}
	for {
		if _, err := Write(path, f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
}

// TestWriteKilled is the reported defect: a model or checkpoint write
// killed with SIGKILL mid-way leaves its temporary file behind. The file at
// path must still be a complete model file, and the next Write to the same
// path must remove the dead writer's temporary file.
func TestWriteKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process writing 32 MiB files")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "checkpoint.dcrnn")
	if _, err := Write(path, docExample()); err != nil {
		t.Fatal(err)
	}
	temps := func() []string {
		m, err := filepath.Glob(filepath.Join(dir, ".checkpoint.dcrnn.tmp-*"))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	// The child renames its temporary file into place at the end of every
	// write; a kill that lands between two writes leaves none, so try again.
	var left []string
	for try := 0; try < 10 && len(left) == 0; try++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
		cmd.Env = append(os.Environ(), helperEnv+"="+path)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for len(temps()) == 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err == nil {
			t.Fatal("child exited cleanly")
		}
		left = temps()
	}
	if len(left) != 1 {
		t.Fatalf("after SIGKILL mid-write: temporary files %q, want one", left)
	}
	if f, _, err := Read(path); err != nil {
		t.Fatalf("after SIGKILL mid-write: %v", err)
	} else if c := f.Meta["config"]; c != "{}" && c != "child" {
		t.Fatalf("after SIGKILL mid-write: config %q", c)
	}

	if _, err := Write(path, sample()); err != nil {
		t.Fatal(err)
	}
	if m := temps(); len(m) != 0 {
		t.Errorf("the next Write left the dead writer's temporary files %q", m)
	}
	f, _, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	sameTensors(t, f.Tensors, sample().Tensors)
	if names := dirNames(t, dir); len(names) != 1 {
		t.Errorf("directory holds %q, want only checkpoint.dcrnn", names)
	}
}
