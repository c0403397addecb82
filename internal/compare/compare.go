// Package compare trains several multi-task models on the same data split
// with the same budget and early-stopping rule, several seeds each, and
// writes a comparison report: report.md, report.json and PNG plots (test AUC
// per task and model with error bars, DCRNN AUC and cost against the sharing
// ratio rho, validation curves per epoch). It backs `dcrnn compare`,
// including its DCRNN ablation (--ablate: named config overrides on top of
// the compared config, one table row each; ablation.go).
//
// Fairness rules: every model reads the same config (so the same embedding
// size, epochs, batch size, learning rate, patience and early-stopping
// metric), the same train/valid/test parts, and seeds 1..N for its weights,
// shuffle and dropout. Early stopping and the choice of the best epoch use
// the validation part only; the test part is scored once, with the best
// weights.
package compare

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/dcrnn/dcrnn/internal/data"
	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/score"
	"github.com/dcrnn/dcrnn/internal/train"
)

// SweepModel is the model the rho sweep trains.
const SweepModel = "dcrnn"

// Options says what to compare.
type Options struct {
	Schema *feature.Schema
	// Train, Valid and Test are the parts of the data; all three are required.
	Train, Valid train.Source
	Test         *train.Source
	// Models lists the models to compare, in report order (may be empty when
	// Sweep is set).
	Models []string
	// Seeds is the number of seeds per model (seeds 1..Seeds; default 1).
	Seeds int
	// Config is the config every model reads; its seed key is replaced by
	// the run's seed.
	Config train.Config
	// Sweep lists the rho values at which DCRNN is trained (with the
	// config's state_size fixed); nil for no sweep.
	Sweep []float64
	// Ablation lists the DCRNN variants to train, in table order, each with
	// the config it reads (the compared config plus the variant's
	// overrides); nil for no ablation.
	Ablation []Ablated
	// GateRows caps the test rows over which gate usage is averaged
	// (default 0: all of the test part).
	GateRows int
	BadRows  data.BadRows
	Logger   *slog.Logger
	// Progress, when not nil, receives each training run's progress.
	Progress func(train.Progress)
	// Meta is copied into the report (command, data, split; free-form).
	Meta Meta
}

// Ablated is an ablation variant with the config it trains with.
type Ablated struct {
	Variant
	Config train.Config
}

// Meta describes the comparison for the report.
type Meta struct {
	Command string `json:"command"`
	Date    string `json:"date"`
	Schema  string `json:"schema"`
	Data    string `json:"data"`
	Split   string `json:"split"`
	// SplitSeed is the seed of the train/valid/test split (the same for
	// every model).
	SplitSeed uint64 `json:"split_seed"`
	Threads   int    `json:"threads"`
	CPUs      int    `json:"cpus"`
	// LoadBefore and LoadAfter are the 1-minute load averages when the
	// comparison started and ended (0 when unknown): other work on the
	// machine slows the timings down.
	LoadBefore float64 `json:"load_before"`
	LoadAfter  float64 `json:"load_after"`
}

// Run is the result of one training run: one model, one seed and, in the
// sweep, one rho.
type Run struct {
	Model string   `json:"model"`
	Rho   *float64 `json:"rho,omitempty"`
	// Variant is the ablation variant's name ("" outside the ablation).
	Variant string `json:"variant,omitempty"`
	Seed    uint64 `json:"seed"`
	// Test holds the test metrics of the best (by validation) epoch.
	Test             *train.Report `json:"test"`
	Params           int           `json:"params"`
	TrainSeconds     Num           `json:"train_seconds"`
	SamplesPerSecond Num           `json:"train_samples_per_second"`
	Epochs           int           `json:"epochs"`
	BestEpoch        int           `json:"best_epoch"`
	// ValidAUC is the mean over tasks of the validation AUC after each epoch.
	ValidAUC []Num `json:"valid_auc"`
	// TrainLoss is the mean training loss of each epoch.
	TrainLoss []Num `json:"train_loss"`
	// ScoreUSPerRow is the wall time of train.Evaluate on the test part
	// (read, parse, transform, predict, metrics) divided by its rows, in µs.
	ScoreUSPerRow Num `json:"score_us_per_row"`
	// PredictUSPerRow is the time of the forward passes alone over the test
	// part, divided by its rows, in µs.
	PredictUSPerRow Num `json:"predict_us_per_row"`
	// Gates is the gate usage over the test part (MMoE, PLE), else nil.
	Gates []model.GateUsage `json:"gates,omitempty"`
	// SharedHidden and PrivateHidden are DCRNN's state sizes H_s and H_p.
	SharedHidden  int `json:"shared_hidden,omitempty"`
	PrivateHidden int `json:"private_hidden,omitempty"`
	// TrainRows and ValidRows are the sizes of the training and validation parts.
	TrainRows int64 `json:"train_rows"`
	ValidRows int   `json:"valid_rows"`
}

// Compare trains every model of o.Models for every seed, then DCRNN at
// every rho of o.Sweep and in every variant of o.Ablation for every seed,
// and summarises the runs. A sweep point or variant whose config equals
// that of a run already made (the same model, config and seed) reuses that
// run instead of training it again.
func Compare(ctx context.Context, o Options) (*Report, error) {
	if o.Schema == nil {
		return nil, errors.New("compare: no schema")
	}
	if o.Test == nil {
		return nil, errors.New("compare: the test part is missing (--split needs three ratios, e.g. 0.5,0.25,0.25)")
	}
	if len(o.Models) == 0 && len(o.Sweep) == 0 && len(o.Ablation) == 0 {
		return nil, errors.New("compare: no model to train (give --models, --sweep or --ablate)")
	}
	for _, m := range o.Models {
		if !slices.Contains(model.Names(), m) {
			return nil, fmt.Errorf("compare: --models: unknown model %q (have %v)", m, model.Names())
		}
	}
	for i, m := range o.Models {
		if slices.Contains(o.Models[:i], m) {
			return nil, fmt.Errorf("compare: --models: %q is listed twice", m)
		}
	}
	for _, r := range o.Sweep {
		if !(r >= 0 && r <= 1) {
			return nil, fmt.Errorf("compare: --sweep: rho must be in [0, 1], got %g", r)
		}
	}
	sameAs, err := checkAblation(o.Ablation, len(o.Schema.Tasks))
	if err != nil {
		return nil, err
	}
	if o.Seeds <= 0 {
		o.Seeds = 1
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base := o.Config
	base.Defaults()
	if err := base.Validate(); err != nil {
		return nil, err
	}
	type job struct {
		model   string
		rho     *float64
		variant string
		cfg     train.Config
	}
	var jobs []job
	for _, m := range o.Models {
		jobs = append(jobs, job{model: m, cfg: o.Config})
	}
	for _, rho := range o.Sweep {
		cfg := sweepConfig(o.Config, rho)
		jobs = append(jobs, job{model: SweepModel, rho: &rho, cfg: cfg})
	}
	for _, a := range o.Ablation {
		jobs = append(jobs, job{model: AblationModel, variant: a.Name, cfg: a.Config})
	}
	total := len(jobs) * o.Seeds
	done := map[string]*Run{} // model + effective config + seed -> run
	var runs []Run
	start := time.Now()
	k := 0
	for _, j := range jobs {
		for seed := uint64(1); seed <= uint64(o.Seeds); seed++ {
			k++
			cfg := j.cfg
			cfg.Seed = seed
			key, err := runKey(j.model, cfg)
			if err != nil {
				return nil, err
			}
			if prev, ok := done[key]; ok {
				r := *prev
				r.Rho, r.Variant = j.rho, j.variant
				runs = append(runs, r)
				log.Info("compare: reusing an identical run", "run", k, "of", total, "model", j.model, "rho", fmtRho(j.rho),
					"variant", j.variant, "seed", seed)
				continue
			}
			log.Info("compare: training", "run", k, "of", total, "model", j.model, "rho", fmtRho(j.rho), "variant", j.variant,
				"seed", seed, "elapsed", time.Since(start).Round(time.Second).String())
			r, err := runOne(ctx, o, j.model, cfg)
			if err != nil {
				return nil, fmt.Errorf("compare: %s (seed %d%s%s): %w", j.model, seed, rhoSuffix(j.rho), variantSuffix(j.variant), err)
			}
			r.Rho, r.Variant = j.rho, j.variant
			log.Info("compare: trained", "model", j.model, "rho", fmtRho(j.rho), "variant", j.variant, "seed", seed, "test", aucString(r.Test),
				"epochs", r.Epochs, "best_epoch", r.BestEpoch, "seconds", math.Round(float64(r.TrainSeconds)))
			runs = append(runs, *r)
			done[key] = r
		}
	}
	var variants []string
	for _, a := range o.Ablation {
		variants = append(variants, a.Name)
	}
	rep := Summarize(runs, o.Models, o.Sweep, variants, taskNames(o.Schema))
	for i := range rep.Ablation {
		for _, a := range o.Ablation {
			if a.Name == rep.Ablation[i].Variant {
				rep.Ablation[i].Set, rep.Ablation[i].SameAs = a.Set, sameAs[a.Name]
			}
		}
	}
	rep.Meta = o.Meta
	rep.Config = base
	rep.Config.Seed = 0
	rep.Seeds = o.Seeds
	rep.WallSeconds = time.Since(start).Seconds()
	return rep, nil
}

// checkAblation checks the variants (unique names, a valid training and
// model config for ntasks tasks, no seed) before anything is trained, and
// returns, for each variant whose config equals that of an earlier one, the
// earlier one's name.
func checkAblation(vs []Ablated, ntasks int) (map[string]string, error) {
	sameAs := map[string]string{}
	first := map[string]string{} // run key -> first variant
	for i, a := range vs {
		if a.Name == "" {
			return nil, errors.New("compare: --ablate: a variant has no name")
		}
		for _, b := range vs[:i] {
			if b.Name == a.Name {
				return nil, fmt.Errorf("compare: --ablate: %q is listed twice", a.Name)
			}
		}
		if a.Config.Seed != 0 {
			return nil, fmt.Errorf("compare: --ablate %s: the config sets seed; the seeds are 1..--seeds", a.Name)
		}
		cfg := a.Config
		cfg.Defaults()
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("compare: --ablate %s: %w", a.Name, err)
		}
		if err := cfg.Config.Validate(ntasks); err != nil {
			return nil, fmt.Errorf("compare: --ablate %s: %w", a.Name, err)
		}
		key, err := runKey(AblationModel, cfg)
		if err != nil {
			return nil, err
		}
		if f, ok := first[key]; ok {
			sameAs[a.Name] = f
		} else {
			first[key] = a.Name
		}
	}
	return sameAs, nil
}

// sweepConfig returns cfg with rho set; the state size stays fixed: the
// config's state_size, or else shared_hidden + private_hidden when both
// were given, or else the default.
func sweepConfig(cfg train.Config, rho float64) train.Config {
	if cfg.StateSize == 0 && cfg.Rho == nil && cfg.SharedHidden+cfg.PrivateHidden > 0 {
		cfg.StateSize = cfg.SharedHidden + cfg.PrivateHidden
	}
	cfg.SharedHidden, cfg.PrivateHidden = 0, 0
	cfg.Rho = &rho
	return cfg
}

// runKey identifies a run by its model and effective config.
func runKey(name string, cfg train.Config) (string, error) {
	cfg.Defaults()
	b, err := json.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("compare: config: %w", err)
	}
	return name + " " + string(b), nil
}

// runOne trains one model and measures it on the test part.
func runOne(ctx context.Context, o Options, name string, cfg train.Config) (*Run, error) {
	res, err := train.Run(ctx, train.Job{Schema: o.Schema, Train: o.Train, Valid: o.Valid, Test: o.Test, Model: name,
		Config: cfg, BadRows: o.BadRows, Logger: o.Logger, Progress: o.Progress})
	if err != nil {
		return nil, err
	}
	tr := res.Trained
	r := &Run{Model: name, Seed: cfg.Seed, Test: res.Test, Params: model.CountParams(tr.Model),
		TrainSeconds: Num(res.Info.Seconds), SamplesPerSecond: Num(res.Info.SamplesPerSecond),
		Epochs: res.Info.Epochs, BestEpoch: res.Info.BestEpoch, TrainRows: res.Stats.Rows, ValidRows: res.Valid.Rows}
	if name == SweepModel {
		r.SharedHidden, r.PrivateHidden = tr.Config.SharedHidden, tr.Config.PrivateHidden
	}
	for _, e := range res.Epochs {
		r.ValidAUC = append(r.ValidAUC, Num(meanAUC(e.Valid, tr.Spec)))
		r.TrainLoss = append(r.TrainLoss, Num(e.Loss))
	}
	batch := cfg.BatchSize
	if batch <= 0 {
		batch = 1024
	}
	t0 := time.Now()
	rep, err := train.Evaluate(ctx, tr, *o.Test, train.EvalOptions{BatchSize: batch, BadRows: o.BadRows})
	if err != nil {
		return nil, err
	}
	if rep.Rows > 0 {
		r.ScoreUSPerRow = Num(float64(time.Since(t0).Microseconds()) / float64(rep.Rows))
	}
	if err := predictPass(ctx, o, tr, batch, r); err != nil {
		return nil, err
	}
	return r, nil
}

// predictPass times the forward passes alone over the test part and, for a
// model with expert gates, averages its gate usage over the first
// o.GateRows test rows (all when 0).
func predictPass(ctx context.Context, o Options, tr *model.Trained, batch int, r *Run) error {
	bt, err := data.NewBatcher(tr.Pipeline, o.Test.Path, data.BatchOptions{BatchSize: batch, BadRows: o.BadRows, Filter: o.Test.Filter, Range: o.Test.Range})
	if err != nil {
		return err
	}
	defer bt.Close()
	gr, _ := tr.Model.(model.GateReporter)
	sc := score.New(tr)
	sc.Share(score.NewFrozen()) // tr is a trained model: its weights are fixed
	sc.Timed = true
	var (
		gateRows int
		sums     []model.GateUsage
	)
	rows, err := sc.Pass(ctx, bt, func(b *feature.Batch, _ [][]float32, _ []float32, _ int) error {
		if gr != nil && (o.GateRows <= 0 || gateRows < o.GateRows) {
			sc.Tape().Reset()
			sums = addGates(sums, gr.GateUsage(sc.Tape(), b), float64(b.N))
			gateRows += b.N
		}
		return nil
	})
	if err != nil {
		return err
	}
	predict := sc.PredictTime
	if rows > 0 {
		r.PredictUSPerRow = Num(float64(predict.Microseconds()) / float64(rows))
	}
	if gateRows > 0 {
		for i := range sums {
			for e := range sums[i].Weights {
				sums[i].Weights[e] /= float64(gateRows)
			}
		}
		r.Gates = sums
	}
	return nil
}

// addGates adds w times each weight of g to sums (allocated on first use).
func addGates(sums, g []model.GateUsage, w float64) []model.GateUsage {
	if sums == nil {
		sums = make([]model.GateUsage, len(g))
		for i, u := range g {
			sums[i] = model.GateUsage{Gate: u.Gate, Experts: u.Experts, Weights: make([]float64, len(u.Weights))}
		}
	}
	for i, u := range g {
		for e, v := range u.Weights {
			sums[i].Weights[e] += w * v
		}
	}
	return sums
}

// meanAUC is the mean over tasks of a report's AUC.
func meanAUC(r *train.Report, spec model.Spec) float64 {
	if r == nil || len(spec.Tasks) == 0 {
		return math.NaN()
	}
	var s float64
	for _, t := range spec.Tasks {
		s += float64(r.Tasks[t.Name].AUC)
	}
	return s / float64(len(spec.Tasks))
}

func taskNames(s *feature.Schema) []string {
	var n []string
	for _, t := range s.Tasks {
		n = append(n, t.Name)
	}
	return n
}

func fmtRho(r *float64) string {
	if r == nil {
		return "-"
	}
	return fmt.Sprintf("%g", *r)
}

func rhoSuffix(r *float64) string {
	if r == nil {
		return ""
	}
	return fmt.Sprintf(", rho %g", *r)
}

func variantSuffix(v string) string {
	if v == "" {
		return ""
	}
	return ", variant " + v
}

func aucString(r *train.Report) string {
	if r == nil {
		return ""
	}
	s := ""
	for _, name := range slices.Sorted(maps.Keys(r.Tasks)) {
		s += fmt.Sprintf("%s=%.4f ", name, float64(r.Tasks[name].AUC))
	}
	return s
}
