//go:build unix

package train_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dcrnn/dcrnn/internal/tensor"
	"github.com/dcrnn/dcrnn/internal/train"
)

// helperEnv names the checkpoint directory of TestHelperProcess.
const helperEnv = "DCRNN_TRAIN_KILL_HELPER"

// TestHelperProcess is not a test on its own: started by
// TestResumeAfterKill as a child process, it trains midJob (validation 4
// times per epoch) under one thread with a checkpoint after every step into
// the directory named by $DCRNN_TRAIN_KILL_HELPER, until it is killed.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		t.Skip("child process of TestResumeAfterKill")
	}
	tensor.SetThreads(1)
	j := midJob(t)
	j.CheckpointDir, j.CheckpointEvery = dir, 1
	if _, err := train.Run(context.Background(), j); err != nil {
		t.Fatal(err)
	}
}

// TestResumeAfterKill kills training (validated 4 times per epoch) with
// SIGKILL in the middle of a checkpoint write: the resumed run makes the
// same evaluations and ends with the weights of an uninterrupted one, bit
// for bit, and its checkpoints remove the killed
// write's temporary file (its name is not written again when the kill
// landed on an epoch-end checkpoint, or after a change of
// --checkpoint-every).
func TestResumeAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("trains two small models")
	}
	tensor.SetThreads(1)
	defer tensor.SetThreads(0)
	ref := uninterruptedMidRun(t)
	want := weights(ref.Trained)
	// scan returns the newest complete checkpoint's name and the temporary
	// files of checkpoint writes in dir.
	scan := func(dir string) (newest string, temps []string) {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			switch n := e.Name(); {
			case strings.HasPrefix(n, ".checkpoint-") && strings.Contains(n, ".tmp-"):
				temps = append(temps, n)
			case strings.HasPrefix(n, "checkpoint-"):
				newest = max(newest, n)
			}
		}
		return newest, temps
	}
	// Kill after step 35, well into training.
	late := train.CheckpointName(35)
	// The child spends most of its time training, not writing: kill it once
	// a write is seen in flight, and try again if the write finished first.
	var dir string
	var left []string
	for try := 0; try < 20 && len(left) == 0; try++ {
		dir = t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
		cmd.Env = append(os.Environ(), helperEnv+"="+dir)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		deadline := time.Now().Add(time.Minute)
	poll:
		for time.Now().Before(deadline) {
			select {
			case err := <-exited:
				t.Fatalf("child finished training before it was killed: %v", err)
			default:
			}
			if newest, temps := scan(dir); newest >= late && len(temps) > 0 {
				break poll
			}
			time.Sleep(100 * time.Microsecond)
		}
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		_, left = scan(dir)
	}
	if len(left) == 0 {
		t.Fatal("no try killed the child in the middle of a checkpoint write")
	}
	newest, _ := scan(dir)
	t.Logf("killed while writing %s, after %s", left[0], newest)

	// Resume with checkpoints every 5 steps: the killed write's name is
	// likely not written again.
	j := midJob(t)
	j.CheckpointDir, j.CheckpointEvery, j.Resume = dir, 5, true
	r, err := train.Run(context.Background(), j)
	if err != nil {
		t.Fatal(err)
	}
	sameEvaluations(t, "resumed after SIGKILL", ref.Evaluations, r.Evaluations)
	sameBits(t, "resumed after SIGKILL", want, weights(r.Trained))
	if _, temps := scan(dir); len(temps) > 0 {
		t.Errorf("temporary files of the killed write left: %q", temps)
	}
	if got := checkpoints(t, dir); len(got) != train.DefaultKeepCheckpoints {
		t.Errorf("checkpoints %q, want %d", got, train.DefaultKeepCheckpoints)
	}
}
