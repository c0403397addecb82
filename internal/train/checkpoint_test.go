package train_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/dcrnn/dcrnn/internal/modelfile"
	"github.com/dcrnn/dcrnn/internal/tensor"
	"github.com/dcrnn/dcrnn/internal/train"
)

var uninterrupted struct {
	once sync.Once
	w    [][]float32
	err  error
}

// uninterruptedWeights returns the final weights of synthJob(t, 12000)
// trained in one go under one thread (computed once per test binary).
func uninterruptedWeights(t *testing.T) [][]float32 {
	t.Helper()
	uninterrupted.once.Do(func() {
		r, err := train.Run(context.Background(), synthJob(t, 12000))
		if err == nil {
			uninterrupted.w = weights(r.Trained)
		}
		uninterrupted.err = err
	})
	if uninterrupted.err != nil {
		t.Fatal(uninterrupted.err)
	}
	return uninterrupted.w
}

// checkpoints lists the checkpoint files in dir (and fails on a temporary
// file left there).
func checkpoints(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		switch n := e.Name(); {
		case strings.Contains(n, ".tmp-"):
			t.Errorf("temporary file %s left in the checkpoint directory", n)
		case strings.HasPrefix(n, "checkpoint"):
			out = append(out, n)
		}
	}
	return out
}

// lastSaves returns the names of the keep newest checkpoints of a run that
// checkpointed every `every` steps and at the end of each epoch of
// epochSteps steps, up to step last.
func lastSaves(every, epochSteps, last, keep int) []string {
	var steps []int
	for s := 1; s <= last; s++ {
		if s%every == 0 || s%epochSteps == 0 {
			steps = append(steps, s)
		}
	}
	var names []string
	for _, s := range steps[max(0, len(steps)-keep):] {
		names = append(names, train.CheckpointName(s))
	}
	return names
}

// TestCheckpointsKeepAndFallback: a run keeps only its newest
// KeepCheckpoints checkpoints (an older version's checkpoint.dcrnn is pruned
// like an old one, other files stay); a resume whose newest checkpoint is
// damaged warns and falls back to the previous one, and still ends with the
// weights of an uninterrupted run; a directory holding only the old
// checkpoint.dcrnn still resumes.
func TestCheckpointsKeepAndFallback(t *testing.T) {
	if testing.Short() {
		t.Skip("trains four small models")
	}
	tensor.SetThreads(1)
	defer tensor.SetThreads(0)
	ctx := context.Background()
	want := uninterruptedWeights(t)
	job := synthJob(t, 12000)

	ckdir := t.TempDir()
	os.WriteFile(filepath.Join(ckdir, train.CheckpointFile), []byte("from an older version"), 0o644)
	os.WriteFile(filepath.Join(ckdir, "notes.txt"), []byte("not a checkpoint"), 0o644)
	j := job
	j.CheckpointDir, j.CheckpointEvery, j.KeepCheckpoints = ckdir, 7, 3
	epochSteps := 0
	cctx, cancel := context.WithCancel(ctx)
	j.Progress = func(p train.Progress) {
		if p.Epoch == 1 {
			epochSteps = p.Step
		}
		if p.Step == 40 {
			cancel()
		}
	}
	if _, err := train.Run(cctx, j); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: err = %v, want context.Canceled", err)
	}
	if epochSteps < 8 || epochSteps >= 40 {
		t.Fatalf("an epoch has %d steps; the test wants 8..39", epochSteps)
	}
	saved := lastSaves(7, epochSteps, 40, 3)
	if got := checkpoints(t, ckdir); !slices.Equal(got, saved) {
		t.Fatalf("after 40 steps the directory holds %q, want %q", got, saved)
	}
	if _, err := os.Stat(filepath.Join(ckdir, "notes.txt")); err != nil {
		t.Errorf("pruning removed another file: %v", err)
	}
	newest, previous := filepath.Join(ckdir, saved[2]), filepath.Join(ckdir, saved[1])

	// An older version's directory: only checkpoint.dcrnn.
	legacyDir := t.TempDir()
	b, err := os.ReadFile(previous)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(legacyDir, train.CheckpointFile), b, 0o644); err != nil {
		t.Fatal(err)
	}

	// The newest checkpoint is damaged: resume from the previous one.
	b, err = os.ReadFile(newest)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(newest, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	j.Progress, j.Resume, j.Logger = nil, true, slog.New(slog.NewTextHandler(&logs, nil))
	r, err := train.Run(ctx, j)
	if err != nil {
		t.Fatal(err)
	}
	sameBits(t, "resumed from the previous checkpoint", want, weights(r.Trained))
	if l := logs.String(); !strings.Contains(l, "level=WARN msg=\"checkpoint unusable, resuming from the previous one\" file="+newest) ||
		!strings.Contains(l, "msg=\"resumed from checkpoint\" file="+previous) {
		t.Errorf("log does not report the fallback from %s to %s:\n%s", saved[2], saved[1], l)
	}
	full := lastSaves(7, epochSteps, 3*epochSteps, 3)
	if got := checkpoints(t, ckdir); !slices.Equal(got, full) {
		t.Errorf("after the resumed run the directory holds %q, want %q", got, full)
	}

	j.CheckpointDir, j.Logger = legacyDir, nil
	r, err = train.Run(ctx, j)
	if err != nil {
		t.Fatal(err)
	}
	sameBits(t, "resumed from checkpoint.dcrnn", want, weights(r.Trained))
	if got := checkpoints(t, legacyDir); !slices.Equal(got, full) {
		t.Errorf("after resuming from checkpoint.dcrnn the directory holds %q, want %q", got, full)
	}

	// A fresh run into a directory with a later run's checkpoint: its first
	// checkpoint removes it, so that a --resume cannot pick it up.
	freshDir := t.TempDir()
	os.WriteFile(filepath.Join(freshDir, train.CheckpointName(9999)), []byte("another run"), 0o644)
	cctx, cancel = context.WithCancel(ctx)
	j.CheckpointDir, j.Resume = freshDir, false
	j.Progress = func(p train.Progress) {
		if p.Step == 10 {
			cancel()
		}
	}
	if _, err := train.Run(cctx, j); !errors.Is(err, context.Canceled) {
		t.Fatalf("fresh run: err = %v, want context.Canceled", err)
	}
	if got, want := checkpoints(t, freshDir), []string{train.CheckpointName(7)}; !slices.Equal(got, want) {
		t.Errorf("fresh run: the directory holds %q, want %q", got, want)
	}
	j.Progress, j.Resume = nil, true

	// Every checkpoint damaged: the error of the newest, saying so.
	brokenDir := t.TempDir()
	for _, n := range []string{train.CheckpointName(7), train.CheckpointName(14)} {
		os.WriteFile(filepath.Join(brokenDir, n), b, 0o644)
	}
	j.CheckpointDir = brokenDir
	_, err = train.Run(ctx, j)
	if !errors.Is(err, modelfile.ErrCorrupt) || !strings.Contains(err.Error(), train.CheckpointName(14)) || !strings.Contains(err.Error(), "1 older checkpoints") {
		t.Errorf("all checkpoints damaged: err = %v", err)
	}
	j.CheckpointDir = t.TempDir()
	if _, err := train.Run(ctx, j); !errors.Is(err, train.ErrNoCheckpoint) {
		t.Errorf("empty directory: err = %v, want ErrNoCheckpoint", err)
	}
	j.Resume, j.KeepCheckpoints = false, -1
	if _, err := train.Run(ctx, j); err == nil || !strings.Contains(err.Error(), "keep checkpoints") {
		t.Errorf("KeepCheckpoints -1: err = %v", err)
	}
}
