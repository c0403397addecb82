// Package train is the training loop of dcrnn: it fits the feature pipeline
// on the training rows, trains a registered model with Adam (dense weights)
// and lazy sparse Adam (embedding rows), evaluates on the validation rows
// valid_per_epoch times per epoch, stops early on the selection score (the
// validation metric, optionally averaged over the last evaluations) and
// restores the best weights, fits the post-hoc calibration maps on the
// validation rows, then evaluates on the test rows.
//
// # Model selection
//
// Evaluation k of an epoch of S steps (k = 1..K, K = valid_per_epoch)
// happens after its step ⌈k·S/K⌉, S = ⌈training rows / batch_size⌉, the
// last one at the end of the epoch; K > S evaluates after every step. An
// evaluation scores the validation part with the model's own probabilities
// (model.Trained.PredictUncalibrated). Its selection score is the mean of
// the metric (higher is better; logloss is negated) over the last smooth
// evaluations, this one included (fewer at the start). The weights of the
// evaluation with the highest selection score are kept; training stops after
// patience evaluations in a row without a higher one. Evaluations use an
// inference tape and their own reader, so they never change the training
// itself: the weights after a step are the same whatever the schedule.
//
// # Threads
//
// A training step is data-parallel (Stepper): the batch is cut into blocks
// of block_rows rows (default DefaultBlockRows), and the --threads
// goroutines take the blocks in turn, each running the whole forward and
// backward pass of a block on a tape of its own, with single-threaded
// kernels. The loss is that of the whole batch (each row's gradient is
// divided by the batch's rows, the uncertainty weights' gradient comes from
// the whole batch's task losses), and the gradients are summed block 0, 1,
// 2, … before one optimizer step, which runs on all threads. The cut
// depends on the batch size and block_rows, never on the thread count, so
// the pure-Go build gives the same weights for any --threads (block_rows
// itself changes them, as batch_size does).
//
// A batch has ⌈batch_size / block_rows⌉ blocks, and more threads than that
// have nothing to do: on many cores, raise batch_size or lower block_rows
// (smaller blocks cost single-thread speed: each block packs the weights
// for its products again). Each block holds its own copy of the dense
// gradients, ⌈batch_size / block_rows⌉ times the dense parameters' memory
// in all; the embedding rows' gradients are merged straight into the
// tables' sparse gradients. The training rows are read, parsed and
// transformed on a goroutine of their own, two batches ahead of the step.
package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/dcrnn/dcrnn/internal/data"
	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/nn"
	"github.com/dcrnn/dcrnn/internal/offheap"
	"github.com/dcrnn/dcrnn/internal/optim"
)

// Job is one training run.
type Job struct {
	Schema *feature.Schema
	Train  Source
	Valid  Source
	Test   *Source // optional
	Model  string
	Config Config
	// BadRows is the malformed-row policy of every pass.
	BadRows data.BadRows
	Logger  *slog.Logger
	// Progress, when set, is called after every step.
	Progress func(Progress)
	// CheckpointDir, when set, receives a checkpoint (weights, optimizer
	// state, data position, RNG state) at the end of every epoch and every
	// CheckpointEvery steps, written atomically and named by the global step
	// (CheckpointName).
	CheckpointDir   string
	CheckpointEvery int
	// KeepCheckpoints is how many checkpoints CheckpointDir keeps: after
	// each write, all but the newest KeepCheckpoints are removed. 0 means
	// DefaultKeepCheckpoints.
	KeepCheckpoints int
	// Resume continues from the newest checkpoint in CheckpointDir that
	// reads and validates; a damaged newer one is skipped with a warning.
	Resume bool
	// Fit, when set, is the fit pass already run (dcrnn fit, read with
	// feature.UnmarshalFitState): training uses its pipeline and skips the
	// pass. Its schema must be Schema.
	Fit *feature.Fitter

	// onEval, when set (by the selection study in this package's tests), is
	// called after every validation evaluation with the model at the
	// weights just evaluated; it must not change them.
	onEval func(tr *model.Trained, ev EpochResult) error
}

// Progress reports the state of training after a step.
type Progress struct {
	Epoch, Epochs    int
	Step             int     // steps done in total
	Rows             int64   // training rows seen in this epoch
	EpochRows        int64   // rows per epoch (0 in the first epoch, when unknown)
	Loss             float64 // running mean loss of this epoch
	SamplesPerSecond float64
}

// EpochResult is the outcome of one validation evaluation.
type EpochResult struct {
	Epoch int     `json:"epoch"`      // the epoch it happened in, from 1
	Loss  float64 `json:"train_loss"` // mean training loss of the epoch so far
	Score float64 `json:"valid_score"`
	// Step is the number of training steps done in all; Select the
	// selection score (Score averaged over the last smooth evaluations);
	// EpochEnd is true for the evaluation at the end of an epoch.
	Step     int     `json:"step"`
	Select   float64 `json:"select_score"`
	EpochEnd bool    `json:"epoch_end"`
	Valid    *Report `json:"valid"` // the model's own probabilities (uncalibrated)
}

// Result is what Run returns.
type Result struct {
	Trained *model.Trained
	// Valid holds the validation metrics of the best weights as every
	// scorer sees them (after calibration and the negative down-sampling
	// correction, when the model has them; the calibration is fitted on
	// these rows, so they flatter it); ValidUncalibrated those of the
	// model's own probabilities, which the selection used.
	Valid             *Report
	ValidUncalibrated *Report
	Test              *Report // test metrics of the best weights (nil without a test part)
	// Epochs holds the end-of-epoch evaluations, Evaluations every one
	// (mid-epoch ones too), in order.
	Epochs      []EpochResult
	Evaluations []EpochResult
	Info        TrainInfo
	Stats       data.Stats // of the pipeline fit pass
}

// ErrNonFinite reports a loss or weight that became NaN or Inf.
var ErrNonFinite = errors.New("non-finite value")

// Run trains j.Model on j.Train, early-stopping on j.Valid.
func Run(ctx context.Context, j Job) (*Result, error) {
	cfg := j.Config
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if j.KeepCheckpoints < 0 {
		return nil, fmt.Errorf("train: keep checkpoints must be ≥ 0 (0: %d), not %d", DefaultKeepCheckpoints, j.KeepCheckpoints)
	}
	log := j.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p, fitStats, err := fitPass(ctx, j, log)
	if err != nil {
		return nil, err
	}
	// A saved fit's counts (every value of every field, a sketch of a
	// hashed one) are not needed once the pipeline exists: dropping them
	// keeps them out of the training phase's live heap, which the GC lets
	// grow to twice its size (100M generated rows: 187 → 141 MB live).
	j.Fit = nil
	if err := model.CheckSavable(p); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if fitStats.Rows == 0 {
		return nil, fmt.Errorf("train: %s: no training rows", j.Train.Path)
	}
	tr, err := model.Build(j.Model, cfg.Config, p, cfg.Seed)
	if err != nil {
		return nil, err
	}
	cfg.Config = tr.Config
	if name, ok := strings.CutPrefix(cfg.Metric, "auc:"); ok && !slices.ContainsFunc(tr.Spec.Tasks, func(t model.Task) bool { return t.Name == name }) {
		return nil, fmt.Errorf("config: metric %q: the schema has no task %q", cfg.Metric, name)
	}
	dense := tr.DenseParams()
	sparse := tr.Model.SparseParams()
	adam, err := optim.NewAdam(dense, optim.AdamConfig{LR: cfg.LR, WeightDecay: cfg.WeightDecay})
	if err != nil {
		return nil, err
	}
	sadam, err := optim.NewSparseAdam(sparse, optim.SparseAdamConfig{LR: cfg.LR, L2: cfg.EmbeddingL2})
	if err != nil {
		return nil, err
	}
	lambdaCount := float32(*cfg.EmbeddingL2Count)
	var countScale [][]float32
	if lambdaCount > 0 {
		if countScale, err = countScales(p, sparse); err != nil {
			return nil, err
		}
	}
	sched := optim.Schedule{Base: cfg.LR, Warmup: cfg.WarmupSteps, Gamma: cfg.Gamma}
	if sched.Kind, err = optim.ParseScheduleKind(cfg.Decay); err != nil {
		return nil, err
	}
	if sched.Kind == optim.Cosine {
		// The number of steps is known once the fit pass has counted the rows.
		perEpoch := (int(fitStats.Rows) + cfg.BatchSize - 1) / cfg.BatchSize
		sched.Total = max(perEpoch*cfg.Epochs, cfg.WarmupSteps+1)
	}
	if err := sched.Validate(); err != nil {
		return nil, err
	}
	log.Info("training", "model", j.Model, "params", model.CountParams(tr.Model), "train_rows", fitStats.Rows, "fields", len(tr.Spec.Fields), "tasks", len(tr.Spec.Tasks))

	st := &state{res: &Result{Trained: tr, Stats: fitStats}, best: newSnapshot(dense, sparse), sel: newSelector(cfg.Smooth, cfg.Patience), epoch: 1}
	pcg := rand.NewPCG(cfg.Seed, 0x7a9e)
	rng := rand.New(pcg) // one dropout seed per step
	stepper := NewStepper(tr.Model, tr.Objective, cfg.BlockRows)
	keep := j.KeepCheckpoints
	if keep == 0 {
		keep = DefaultKeepCheckpoints
	}
	ck := &checkpointer{dir: j.CheckpointDir, every: j.CheckpointEvery, keep: keep, log: log, tr: tr, adam: adam, sadam: sadam, pcg: pcg,
		dense: dense, sparse: sparse, sel: selectKeysOf(cfg)}
	if j.Resume {
		path, err := ck.load(st)
		if err != nil {
			return nil, err
		}
		log.Info("resumed from checkpoint", "file", path, "epoch", st.epoch, "steps_in_epoch", st.stepInEpoch, "step", st.step)
	}
	shuffle := 0 // 0 or 1 in the config: file order
	if *cfg.Shuffle > 1 {
		shuffle = *cfg.Shuffle
	}
	epochSteps := (int(fitStats.Rows) + cfg.BatchSize - 1) / cfg.BatchSize
	// evaluate scores the validation part with the current weights and
	// applies the selection rule.
	evaluate := func(epoch int, end bool) error {
		if err := checkFinite(dense, sparse); err != nil {
			return fmt.Errorf("train: epoch %d step %d: %w", epoch, st.step, err)
		}
		valid, err := Evaluate(ctx, tr, j.Valid, EvalOptions{BatchSize: cfg.BatchSize, BadRows: j.BadRows, Uncalibrated: true})
		if err != nil {
			return err
		}
		valid.Split = "valid"
		sc, err := score(valid, tr.Spec, cfg.Metric)
		if err != nil {
			return err
		}
		improved, stop := st.sel.add(sc)
		meanLoss := st.lossSum / float64(max(st.rows, 1))
		st.res.Evaluations = append(st.res.Evaluations, EpochResult{Epoch: epoch, Loss: meanLoss, Score: sc, Step: st.step,
			Select: st.sel.last, EpochEnd: end, Valid: valid})
		log.Info("validation", "epoch", epoch, "step", st.step, "train_loss", meanLoss, "valid_"+cfg.Metric, sc, "select_score", st.sel.last)
		if improved {
			st.best.save(dense, sparse)
			st.res.Valid = valid
		}
		if j.onEval != nil {
			if err := j.onEval(tr, st.res.Evaluations[len(st.res.Evaluations)-1]); err != nil {
				return err
			}
		}
		if stop {
			b := st.res.Evaluations[st.sel.best]
			log.Info("early stop", "epoch", epoch, "step", st.step, "best_epoch", b.Epoch, "best_step", b.Step)
			st.stopped = true
		}
		return nil
	}
	for ; st.epoch <= cfg.Epochs && !st.stopped; st.epoch++ {
		epoch := st.epoch
		batcher, err := data.NewBatcher(p, j.Train.Path, data.BatchOptions{BatchSize: cfg.BatchSize, ShuffleBuffer: shuffle,
			Seed: cfg.Seed*1000003 + uint64(epoch), BadRows: j.BadRows, Filter: j.Train.Filter, Range: j.Train.Range, RequireLabels: true})
		if err != nil {
			return nil, err
		}
		bt := newFeeder(batcher)
		// On resume, replay the batches this epoch had already trained on:
		// the stream is deterministic, so the next batch is the one the
		// interrupted run would have taken.
		for k := 0; k < st.stepInEpoch; k++ {
			if _, err := bt.Next(); err != nil {
				bt.Close()
				return nil, fmt.Errorf("train: resume: replaying batch %d of epoch %d: %w", k+1, epoch, err)
			}
		}
		t0 := time.Now()
		for !st.stopped {
			if err := ctx.Err(); err != nil {
				bt.Close()
				return nil, err
			}
			b, err := bt.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				bt.Close()
				return nil, err
			}
			loss := stepper.Gradient(b, rng.Uint64())
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				bt.Close()
				return nil, fmt.Errorf("train: epoch %d step %d: loss is %v (%w); try a lower lr (now %g) or clip_norm", epoch, st.step+1, loss, ErrNonFinite, cfg.LR)
			}
			optim.AddCountL2(sparse, countScale, lambdaCount)
			if cfg.ClipNorm > 0 {
				optim.ClipGradNorm(dense, sparse, cfg.ClipNorm)
			}
			lr := sched.LR(st.step)
			adam.SetLR(lr)
			sadam.SetLR(lr)
			adam.Step()
			sadam.Step()
			st.step++
			st.stepInEpoch++
			st.lossSum += loss * float64(b.N)
			st.rows += int64(b.N)
			st.trainRows += int64(b.N)
			// A mid-epoch evaluation comes before the checkpoint of the
			// same step, so a resume from it does not evaluate again.
			if midEpochEval(st.stepInEpoch, epochSteps, cfg.ValidPerEpoch) {
				st.trainDur += time.Since(t0)
				err := evaluate(epoch, false)
				t0 = time.Now()
				if err != nil {
					bt.Close()
					return nil, err
				}
			}
			if ck.every > 0 && st.step%ck.every == 0 {
				st.trainDur += time.Since(t0)
				t0 = time.Now()
				if err := ck.save(st); err != nil {
					bt.Close()
					return nil, err
				}
			}
			if j.Progress != nil {
				j.Progress(Progress{Epoch: epoch, Epochs: cfg.Epochs, Step: st.step, Rows: st.rows, EpochRows: st.fullEpochRows,
					Loss: st.lossSum / float64(st.rows), SamplesPerSecond: float64(st.trainRows) / (st.trainDur + time.Since(t0)).Seconds()})
			}
		}
		bt.Close()
		st.trainDur += time.Since(t0)
		if !st.stopped { // the epoch ran to its end
			st.fullEpochRows = st.rows
			if err := evaluate(epoch, true); err != nil {
				return nil, err
			}
		}
		st.stepInEpoch, st.lossSum, st.rows = 0, 0, 0
		if ck.dir != "" {
			st.epoch++ // the checkpoint resumes at the next epoch
			err := ck.save(st)
			st.epoch--
			if err != nil {
				return nil, err
			}
		}
	}
	res := st.res
	secs := st.trainDur.Seconds()
	st.best.restore(dense, sparse)
	res.Epochs = epochEnds(res.Evaluations)
	if res.Valid == nil || st.sel.best < 0 {
		return nil, fmt.Errorf("train: no evaluation was scored (the validation score was never finite: does the validation part hold both classes of every task?)")
	}
	best := res.Evaluations[st.sel.best]
	last := res.Evaluations[len(res.Evaluations)-1]
	res.Info = TrainInfo{Seconds: secs, SamplesPerSecond: float64(st.trainRows) / secs, Epochs: last.Epoch, BestEpoch: best.Epoch,
		BestStep: best.Step, Evaluations: len(res.Evaluations), Calibration: cfg.Calibration}
	res.ValidUncalibrated = res.Valid
	if cfg.Calibration != "none" {
		c, err := FitCalibration(ctx, tr, j.Valid, cfg.Calibration, EvalOptions{BatchSize: cfg.BatchSize, BadRows: j.BadRows}, log)
		if err != nil {
			return nil, err
		}
		tr.Calibration = c
	}
	if tr.Calibration != nil || tr.NegativeSampling() != 1 {
		valid, err := Evaluate(ctx, tr, j.Valid, EvalOptions{BatchSize: cfg.BatchSize, BadRows: j.BadRows})
		if err != nil {
			return nil, err
		}
		valid.Split = "valid"
		res.Valid = valid
	}
	if j.Test != nil {
		test, err := Evaluate(ctx, tr, *j.Test, EvalOptions{BatchSize: cfg.BatchSize, BadRows: j.BadRows})
		if err != nil {
			return nil, err
		}
		test.Split = "test"
		res.Test = test
	}
	return res, nil
}

// midEpochEval reports whether the validation part is scored after step s
// (from 1) of an epoch of steps steps with perEpoch evaluations per epoch,
// besides the one at its end: after step ⌈k·steps/perEpoch⌉ for k = 1 ..
// perEpoch-1, when that is before the last step.
func midEpochEval(s, steps, perEpoch int) bool {
	if s >= steps {
		return false
	}
	for k := 1; k < perEpoch; k++ {
		if (k*steps+perEpoch-1)/perEpoch == s {
			return true
		}
	}
	return false
}

// epochEnds returns the end-of-epoch evaluations of evs.
func epochEnds(evs []EpochResult) []EpochResult {
	var out []EpochResult
	for _, e := range evs {
		if e.EpochEnd {
			out = append(out, e)
		}
	}
	return out
}

// selector applies the selection rule to the sequence of validation scores
// (see "Model selection" in the package doc).
type selector struct {
	smooth, patience int
	scores           []float64 // every raw score, in order
	last             float64   // selection score of the last one
	best             int       // index of the best evaluation, -1 before the first
	bestScore        float64   // its selection score
	bad              int       // evaluations since the best one
}

func newSelector(smooth, patience int) *selector {
	return &selector{smooth: max(smooth, 1), patience: patience, best: -1, bestScore: math.Inf(-1)}
}

// add records the next raw score. It reports whether its selection score is
// the best so far (strictly higher than every earlier one) and whether
// training should stop (patience evaluations in a row without a new best).
// A NaN score never improves.
func (s *selector) add(score float64) (improved, stop bool) {
	s.scores = append(s.scores, score)
	w := s.scores[max(0, len(s.scores)-s.smooth):]
	var sum float64
	for _, v := range w {
		sum += v
	}
	s.last = sum / float64(len(w))
	if s.last > s.bestScore {
		s.best, s.bestScore, s.bad = len(s.scores)-1, s.last, 0
		return true, false
	}
	s.bad++
	return false, s.bad >= s.patience
}

// countScales returns, per embedding table, the scales 1/n_j of
// optim.AddCountL2 from the row counts of the fitted pipeline. A table
// belongs to the field whose name ends its own ("emb.user_id",
// "emb.click.user_id"), the longest such name, with as many rows.
func countScales(p *feature.Pipeline, sparse []*nn.SparseParam) ([][]float32, error) {
	counts := p.RowCounts()
	if counts == nil {
		return nil, fmt.Errorf("train: embedding_l2_count: the pipeline has no row counts (it was not fitted in this run)")
	}
	fields := p.Fields()
	out := make([][]float32, len(sparse))
	for i, tab := range sparse {
		best := -1
		for f, fs := range fields {
			if counts[f] != nil && len(counts[f]) == tab.Rows && strings.HasSuffix(tab.Name, "."+fs.Name) && (best < 0 || len(fs.Name) > len(fields[best].Name)) {
				best = f
			}
		}
		if best < 0 {
			return nil, fmt.Errorf("train: embedding_l2_count: no field's row counts match embedding table %s (%d rows)", tab.Name, tab.Rows)
		}
		out[i] = optim.CountScales(counts[best])
	}
	return out, nil
}

// state is everything a checkpoint must restore besides the weights and
// the optimizer.
type state struct {
	res           *Result
	best          *snapshot
	sel           *selector // rebuilt on resume from the scores of res.Evaluations
	stopped       bool
	epoch         int // current epoch, from 1
	stepInEpoch   int // batches trained in the current epoch
	step          int // batches trained in total
	lossSum       float64
	rows          int64 // rows trained in the current epoch
	trainRows     int64 // rows trained in total
	fullEpochRows int64 // rows of a full epoch, once known
	trainDur      time.Duration
}

// snapshot holds a copy of every weight (the best evaluation's), outside the
// Go heap where large (offheap.Make): it lives as long as the run and holds
// no pointers, so on the heap it would cost twice its size.
type snapshot struct{ dense, sparse [][]float32 }

func newSnapshot(dense []*nn.Param, sparse []*nn.SparseParam) *snapshot {
	s := &snapshot{}
	for _, p := range dense {
		s.dense = append(s.dense, offheap.Make[float32](s, len(p.W)))
	}
	for _, p := range sparse {
		s.sparse = append(s.sparse, offheap.Make[float32](s, len(p.W)))
	}
	return s
}

func (s *snapshot) save(dense []*nn.Param, sparse []*nn.SparseParam) {
	for i, p := range dense {
		copy(s.dense[i], p.W)
	}
	for i, p := range sparse {
		copy(s.sparse[i], p.W)
	}
}

func (s *snapshot) restore(dense []*nn.Param, sparse []*nn.SparseParam) {
	for i, p := range dense {
		copy(p.W, s.dense[i])
	}
	for i, p := range sparse {
		copy(p.W, s.sparse[i])
	}
}

func checkFinite(dense []*nn.Param, sparse []*nn.SparseParam) error {
	for _, p := range dense {
		for i, v := range p.W {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("weight %s[%d] is %v (%w)", p.Name, i, v, ErrNonFinite)
			}
		}
	}
	for _, p := range sparse {
		for i, v := range p.W {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("embedding %s row %d is %v (%w)", p.Name, i/p.Cols, v, ErrNonFinite)
			}
		}
	}
	return nil
}

// fitPass returns the job's feature pipeline and the counts of the rows it
// was fitted on: from j.Fit when given, else by a fit pass over the
// training rows.
func fitPass(ctx context.Context, j Job, log *slog.Logger) (*feature.Pipeline, data.Stats, error) {
	if j.Fit != nil {
		p, err := j.Fit.Finish()
		if err != nil {
			return nil, data.Stats{}, fmt.Errorf("train: the given fit: %w", err)
		}
		log.Info("feature pipeline from a saved fit", "rows", p.FitRows())
		return p, data.Stats{Rows: p.FitRows()}, nil
	}
	return data.FitPipeline(ctx, j.Schema, j.Train.Path, data.FitOptions{Filter: j.Train.Filter, Range: j.Train.Range, BadRows: j.BadRows, Logger: log})
}
