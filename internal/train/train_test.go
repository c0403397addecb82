package train_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dcrnn/dcrnn/internal/data"
	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/modelfile"
	"github.com/dcrnn/dcrnn/internal/nn"
	"github.com/dcrnn/dcrnn/internal/synth"
	"github.com/dcrnn/dcrnn/internal/tensor"
	"github.com/dcrnn/dcrnn/internal/train"
)

// synthJob writes a small synthetic funnel and returns a job over a 0.6/0.2/0.2 split.
func synthJob(t *testing.T, rows int64) train.Job {
	t.Helper()
	dir := t.TempDir()
	if _, err := synth.WriteDir(context.Background(), dir, synth.Config{Rows: rows, Seed: 3}, false); err != nil {
		t.Fatal(err)
	}
	s, err := feature.LoadSchema(filepath.Join(dir, "schema.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sp := data.Splitter{Ratios: []float64{0.6, 0.2, 0.2}, Seed: 1}
	part := func(k int) func(int64) bool { return func(r int64) bool { return sp.Part(r) == k } }
	path := filepath.Join(dir, "data.csv")
	shuffle := 500
	// One evaluation per epoch on the metric itself, as before mid-epoch
	// validation (midJob has the new schedule): patience 5 is then 5 epochs.
	cfg := train.Config{Epochs: 3, BatchSize: 256, Shuffle: &shuffle, Patience: 5, ValidPerEpoch: 1, Smooth: 1}
	cfg.Proj, cfg.StateSize, cfg.Deep, cfg.Tower, cfg.Dropout = 16, 16, []int{32}, []int{16}, 0.1
	return train.Job{Schema: s, Model: "dcrnn", Config: cfg,
		Train: train.Source{Path: path, Filter: part(0), Name: "train"},
		Valid: train.Source{Path: path, Filter: part(1), Name: "valid"},
		Test:  &train.Source{Path: path, Filter: part(2), Name: "test"}}
}

func weights(tr *model.Trained) [][]float32 {
	var out [][]float32
	for _, p := range tr.Model.Params() {
		out = append(out, append([]float32(nil), p.W...))
	}
	for _, p := range tr.Model.SparseParams() {
		out = append(out, append([]float32(nil), p.W...))
	}
	return out
}

func sameBits(t *testing.T, what string, a, b [][]float32) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d vs %d tensors", what, len(a), len(b))
	}
	for i := range a {
		for j := range a[i] {
			if math.Float32bits(a[i][j]) != math.Float32bits(b[i][j]) {
				t.Fatalf("%s: tensor %d element %d: %v vs %v", what, i, j, a[i][j], b[i][j])
			}
		}
	}
}

func TestTrainDeterministicResumeAndReload(t *testing.T) {
	if testing.Short() {
		t.Skip("trains three small models")
	}
	tensor.SetThreads(1)
	defer tensor.SetThreads(0)
	ctx := context.Background()
	job := synthJob(t, 12000)

	r1, err := train.Run(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	if r1.Test == nil || !(float64(r1.Test.Tasks["click"].AUC) > 0.6) {
		t.Fatalf("click test AUC %v: the model did not learn", r1.Test.Tasks["click"].AUC)
	}
	if r1.Test.Funnel == nil || r1.Test.Tasks["conversion"].AUCClicked == nil {
		t.Fatal("funnel metrics missing from the report")
	}
	// Same seed, one thread: bit-identical weights.
	r2, err := train.Run(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	sameBits(t, "rerun", weights(r1.Trained), weights(r2.Trained))

	// Interrupted at step 40 (mid-epoch 2), then resumed: same final weights.
	ckdir := t.TempDir()
	j3 := job
	j3.CheckpointDir, j3.CheckpointEvery = ckdir, 7
	cctx, cancel := context.WithCancel(ctx)
	j3.Progress = func(p train.Progress) {
		if p.Step == 40 {
			cancel()
		}
	}
	if _, err := train.Run(cctx, j3); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: err = %v, want context.Canceled", err)
	}
	j3.Progress, j3.Resume = nil, true
	r3, err := train.Run(ctx, j3)
	if err != nil {
		t.Fatal(err)
	}
	sameBits(t, "resumed", weights(r1.Trained), weights(r3.Trained))
	if r3.Test.Tasks["click"].AUC != r1.Test.Tasks["click"].AUC {
		t.Fatalf("resumed test AUC %v, uninterrupted %v", r3.Test.Tasks["click"].AUC, r1.Test.Tasks["click"].AUC)
	}

	// Save, load, evaluate the test part: the same metrics to the last digit.
	path := filepath.Join(t.TempDir(), "m.dcrnn")
	if _, err := model.Save(path, r1.Trained); err != nil {
		t.Fatal(err)
	}
	loaded, err := model.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := train.Evaluate(ctx, loaded, *job.Test, train.EvalOptions{BatchSize: job.Config.BatchSize})
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range r1.Test.Tasks {
		if rep.Tasks[name] != m && !(name == "conversion" && *rep.Tasks[name].AUCClicked == *m.AUCClicked && rep.Tasks[name].AUC == m.AUC && rep.Tasks[name].LogLoss == m.LogLoss) {
			t.Fatalf("task %s: reloaded %+v, trained %+v", name, rep.Tasks[name], m)
		}
	}

	// A corrupted or truncated file is refused, never half-loaded.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"truncated", b[:len(b)-100]},
		{"flipped", func() []byte { c := append([]byte(nil), b...); c[len(c)-5] ^= 0x10; return c }()},
	} {
		bad := filepath.Join(t.TempDir(), c.name+".dcrnn")
		if err := os.WriteFile(bad, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := model.Load(bad); !errors.Is(err, modelfile.ErrCorrupt) {
			t.Fatalf("%s model file: err = %v, want ErrCorrupt", c.name, err)
		}
	}
}

func TestNonFiniteLossStops(t *testing.T) {
	job := synthJob(t, 3000)
	job.Config.LR = 1e30 // guaranteed to blow up
	job.Config.Epochs = 2
	_, err := train.Run(context.Background(), job)
	if !errors.Is(err, train.ErrNonFinite) {
		t.Fatalf("err = %v, want ErrNonFinite", err)
	}
}

func TestConfigSet(t *testing.T) {
	c, err := train.LoadConfig("", []string{"rho=0.25", "tower=[32, 16]", "epochs=4", "cell=lstm"})
	if err != nil {
		t.Fatal(err)
	}
	if *c.Rho != 0.25 || len(c.Tower) != 2 || c.Tower[1] != 16 || c.Epochs != 4 || c.Cell != "lstm" {
		t.Fatalf("config %+v", c)
	}
	for _, bad := range []string{"nokey=1", "epochs=abc", "rho"} {
		if _, err := train.LoadConfig("", []string{bad}); err == nil {
			t.Fatalf("--set %s accepted", bad)
		}
	}
	_ = nn.ReLU
}

// midJob is synthJob(t, 12000) validated 4 times per epoch, selecting on
// the mean AUC averaged over the last 2 evaluations, patience 8 evaluations.
func midJob(t *testing.T) train.Job {
	j := synthJob(t, 12000)
	j.Config.ValidPerEpoch, j.Config.Smooth, j.Config.Patience = 4, 2, 8
	return j
}

var uninterruptedMid struct {
	once sync.Once
	r    *train.Result
	err  error
}

// uninterruptedMidRun returns midJob trained in one go under one thread
// (computed once per test binary).
func uninterruptedMidRun(t *testing.T) *train.Result {
	t.Helper()
	uninterruptedMid.once.Do(func() {
		uninterruptedMid.r, uninterruptedMid.err = train.Run(context.Background(), midJob(t))
	})
	if uninterruptedMid.err != nil {
		t.Fatal(uninterruptedMid.err)
	}
	return uninterruptedMid.r
}

// sameEvaluations requires two runs to have made the same evaluations, at
// the same steps, with the same scores to the bit.
func sameEvaluations(t *testing.T, what string, want, got []train.EpochResult) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d evaluations, the uninterrupted run made %d", what, len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if g.Epoch != w.Epoch || g.Step != w.Step || g.EpochEnd != w.EpochEnd ||
			math.Float64bits(g.Score) != math.Float64bits(w.Score) || math.Float64bits(g.Select) != math.Float64bits(w.Select) {
			t.Fatalf("%s: evaluation %d is %+v, the uninterrupted run's %+v", what, i, g, w)
		}
	}
}

// TestMidEpochValidationResume: with validation 4 times per epoch, a run
// interrupted right after a mid-epoch evaluation that was checkpointed, or
// between checkpoints, and resumed, makes the same evaluations (none twice,
// none skipped), selects the same step and ends with the same weights as an
// uninterrupted one; a resume with other selection keys is refused.
func TestMidEpochValidationResume(t *testing.T) {
	if testing.Short() {
		t.Skip("trains five small models")
	}
	tensor.SetThreads(1)
	defer tensor.SetThreads(0)
	ctx := context.Background()
	ref := uninterruptedMidRun(t)
	evs := ref.Evaluations
	if len(evs) < 5 || evs[0].EpochEnd || !evs[3].EpochEnd || evs[3].Epoch != 1 {
		t.Fatalf("evaluations %+v: want three mid-epoch ones, then the end of epoch 1", evs)
	}
	if len(ref.Epochs) != ref.Info.Epochs && len(ref.Epochs) != ref.Info.Epochs-1 {
		t.Fatalf("%d end-of-epoch results for %d epochs", len(ref.Epochs), ref.Info.Epochs)
	}
	best := -1
	for i, e := range evs {
		if best < 0 || e.Select > evs[best].Select {
			best = i
		}
	}
	if ref.Info.BestStep != evs[best].Step || ref.Info.Evaluations != len(evs) {
		t.Fatalf("info %+v, want best step %d of %d evaluations", ref.Info, evs[best].Step, len(evs))
	}
	first := evs[0].Step // the first mid-epoch evaluation
	for _, c := range []struct {
		name        string
		every, stop int
	}{
		{"checkpointed at a mid-epoch evaluation", first, first + 2},
		{"between checkpoints", 7, 40},
	} {
		j := midJob(t)
		j.CheckpointDir, j.CheckpointEvery = t.TempDir(), c.every
		cctx, cancel := context.WithCancel(ctx)
		j.Progress = func(p train.Progress) {
			if p.Step == c.stop {
				cancel()
			}
		}
		if _, err := train.Run(cctx, j); !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: interrupted run: err = %v, want context.Canceled", c.name, err)
		}
		j.Progress, j.Resume = nil, true
		r, err := train.Run(ctx, j)
		if err != nil {
			t.Fatal(err)
		}
		sameEvaluations(t, c.name, evs, r.Evaluations)
		sameBits(t, c.name, weights(ref.Trained), weights(r.Trained))
		if r.Info.BestStep != ref.Info.BestStep || r.Test.Tasks["click"].AUC != ref.Test.Tasks["click"].AUC {
			t.Fatalf("%s: best step %d, test AUC %v; uninterrupted %d, %v", c.name, r.Info.BestStep, r.Test.Tasks["click"].AUC,
				ref.Info.BestStep, ref.Test.Tasks["click"].AUC)
		}
		if c.every == 7 {
			j.Config.Smooth = 3
			if _, err := train.Run(ctx, j); err == nil || !strings.Contains(err.Error(), "selection keys") {
				t.Errorf("resume with smooth 3 after smooth 2: err = %v", err)
			}
		}
	}
}

// TestSavedFitDroppedBeforeTraining: Run lets a saved fit (Job.Fit, whose
// counts grow with the distinct values of the data) go once it has built
// the pipeline, so that the training phase's heap does not hold it.
func TestSavedFitDroppedBeforeTraining(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a small model")
	}
	ctx := context.Background()
	job := synthJob(t, 3000)
	job.Config.Epochs = 1
	f, _, err := data.Fit(ctx, job.Schema, job.Train.Path, data.FitOptions{Filter: job.Train.Filter})
	if err != nil {
		t.Fatal(err)
	}
	var freed atomic.Bool
	runtime.SetFinalizer(f, func(*feature.Fitter) { freed.Store(true) })
	job.Fit, f = f, nil
	var during atomic.Bool
	job.Progress = func(p train.Progress) {
		if p.Step != 2 {
			return
		}
		for range 50 {
			runtime.GC()
			if freed.Load() {
				during.Store(true)
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	run := job
	job.Fit = nil
	if _, err := train.Run(ctx, run); err != nil {
		t.Fatal(err)
	}
	if !during.Load() {
		t.Error("the saved fit was still reachable during training")
	}
}
