// Package bench holds the reference benchmark workloads of dcrnn:
// the same model trained and scored on synthetic uniform ids by our engine
// here and by PyTorch in bench/mlp24.py, so the two can be compared on the
// same work.
//
// Workload "mlp24": 24 categorical fields of vocabulary 100,000, embedding
// size 16 (x0 = 384 floats), two task towers 384-256-128-64-1 with ReLU,
// sigmoid BCE on two independent labels (the sum of the two losses), batch
// 1024 (blocks of train.DefaultBlockRows rows, see train.Stepper), Adam
// (lr 1e-3) for the dense weights and lazy sparse Adam (lr 1e-3) for the
// embedding rows. It is built as the registered "shared_bottom" model
// with no bottom (deep: []) and towers [256, 128, 64], so the measured path is
// the training path of `dcrnn train` (model.New, model.Objective, the nn tape,
// optim.Adam and optim.SparseAdam).
//
// Workload "dcrnn24": the same input and tasks with the default DCRNN
// (model.New("dcrnn") with the default config).
//
// Ids are uniform in [0, vocab) and labels are Bernoulli(0.5), drawn from a
// fixed seed into a few pre-generated batches that are rotated.
package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"time"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/nn"
	"github.com/dcrnn/dcrnn/internal/optim"
	"github.com/dcrnn/dcrnn/internal/score"
	"github.com/dcrnn/dcrnn/internal/tensor"
	"github.com/dcrnn/dcrnn/internal/train"
)

// Workload names accepted by Options.Workload.
const (
	MLP24   = "mlp24"
	DCRNN24 = "dcrnn24"
)

// Workloads lists the workload names.
var Workloads = []string{MLP24, DCRNN24}

// ErrWorkload reports an unknown or unavailable workload.
var ErrWorkload = errors.New("bench: unknown workload")

// Options configures Run and NewWorkload. A zero field means its default.
type Options struct {
	// Workload is "mlp24" (default) or "dcrnn24".
	Workload string
	// Threads is the number of goroutines (tensor.SetThreads) that a
	// training step's blocks, the optimizers and the inference blocks
	// use; 0 keeps the current setting (default all cores).
	Threads int
	// TrainSeconds is the minimum timed training duration (default 3).
	TrainSeconds float64
	// InferSeconds is the minimum timed inference duration (default TrainSeconds).
	InferSeconds float64
	// WarmupSteps run before each timed phase (default 10; negative for none).
	WarmupSteps int
	// MaxSteps, when > 0, caps the timed steps of each phase (tests).
	MaxSteps int
	// Batch is the batch size (default 1024).
	Batch int
	// BlockRows is the rows of a block of a training batch (default
	// train.DefaultBlockRows; see train.Stepper).
	BlockRows int
	// Fields, Vocab and Dim shape the input (defaults 24, 100000, 16).
	Fields, Vocab, Dim int
	// Batches is the number of distinct pre-generated batches (default 8).
	Batches int
	// LR is the learning rate of both optimizers (default 1e-3).
	LR float64
	// Seed drives the weights and the synthetic data (default 1).
	Seed uint64
}

func (o Options) withDefaults() Options {
	if o.Workload == "" {
		o.Workload = MLP24
	}
	if o.TrainSeconds == 0 {
		o.TrainSeconds = 3
	}
	if o.InferSeconds == 0 {
		o.InferSeconds = o.TrainSeconds
	}
	if o.WarmupSteps == 0 {
		o.WarmupSteps = 10
	}
	if o.Batch == 0 {
		o.Batch = 1024
	}
	if o.BlockRows == 0 {
		o.BlockRows = train.DefaultBlockRows
	}
	if o.Fields == 0 {
		o.Fields = 24
	}
	if o.Vocab == 0 {
		o.Vocab = 100_000
	}
	if o.Dim == 0 {
		o.Dim = 16
	}
	if o.Batches == 0 {
		o.Batches = 8
	}
	if o.LR == 0 {
		o.LR = 1e-3
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	return o
}

func (o Options) check() error {
	for _, c := range []struct {
		name string
		v    int
	}{{"batch", o.Batch}, {"block rows", o.BlockRows}, {"fields", o.Fields}, {"vocab", o.Vocab}, {"dim", o.Dim}, {"batches", o.Batches}} {
		if c.v <= 0 {
			return fmt.Errorf("bench: %s must be positive, got %d", c.name, c.v)
		}
	}
	if o.Threads < 0 {
		return fmt.Errorf("bench: threads must be ≥ 0, got %d", o.Threads)
	}
	if !(o.TrainSeconds > 0) || !(o.InferSeconds > 0) || math.IsInf(o.TrainSeconds, 0) || math.IsInf(o.InferSeconds, 0) {
		return fmt.Errorf("bench: seconds must be positive and finite, got %g and %g", o.TrainSeconds, o.InferSeconds)
	}
	if !(o.LR > 0) {
		return fmt.Errorf("bench: learning rate must be positive, got %g", o.LR)
	}
	return nil
}

// Result is what Run measured. The JSON keys train_samples_per_second,
// infer_samples_per_second and peak_rss_bytes are its stable JSON keys.
type Result struct {
	Workload     string  `json:"workload"`
	Backend      string  `json:"backend"`
	Threads      int     `json:"threads"`
	Batch        int     `json:"batch"`
	BlockRows    int     `json:"block_rows"`
	Params       int     `json:"params"`
	TrainSteps   int     `json:"train_steps"`
	TrainSeconds float64 `json:"train_seconds"`
	InferSteps   int     `json:"infer_steps"`
	InferSeconds float64 `json:"infer_seconds"`
	// TrainCPUSeconds and InferCPUSeconds are the process CPU time (user +
	// system, all threads) spent in each timed phase; with the wall time they
	// show whether the run had its cores to itself (CPU ≈ threads·wall).
	TrainCPUSeconds       float64 `json:"train_cpu_seconds"`
	InferCPUSeconds       float64 `json:"infer_cpu_seconds"`
	LastLoss              float64 `json:"last_loss"`
	TrainSamplesPerSecond float64 `json:"train_samples_per_second"`
	InferSamplesPerSecond float64 `json:"infer_samples_per_second"`
	// PeakRSSBytes is the process's peak resident set (VmHWM of
	// /proc/self/status), 0 where that file does not exist.
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
}

// Workload is a built benchmark: a model, its objective and optimizers, the
// training step (train.Stepper), an inference tape and the pre-generated
// batches. It is not safe for concurrent use.
type Workload struct {
	Opts   Options
	Spec   model.Spec
	Model  model.Model
	obj    *model.Objective
	adam   *optim.Adam
	sparse *optim.SparseAdam
	train  *train.Stepper
	infer  *score.Scorer
	packs  *nn.Packs // infer's packed weights, invalidated by every TrainStep
	data   []*feature.Batch
}

// NewWorkload builds the workload o asks for (defaults filled in). It does
// not change the thread setting; Run does.
func NewWorkload(o Options) (*Workload, error) {
	o = o.withDefaults()
	if err := o.check(); err != nil {
		return nil, err
	}
	spec := model.Spec{Tasks: []model.Task{{Name: "task0", After: -1}, {Name: "task1", After: -1}}}
	for f := range o.Fields {
		spec.Fields = append(spec.Fields, feature.FieldSpec{Name: fmt.Sprintf("f%02d", f), Kind: feature.Categorical, Vocab: o.Vocab})
	}
	var name string
	cfg := &model.Config{EmbeddingDim: o.Dim}
	switch o.Workload {
	case MLP24:
		name = "shared_bottom"
		cfg.Deep = []int{} // no bottom: the towers read x0
		cfg.Tower = []int{256, 128, 64}
	case DCRNN24:
		name = "dcrnn"
	default:
		return nil, fmt.Errorf("%w %q (want one of %v)", ErrWorkload, o.Workload, Workloads)
	}
	m, err := model.New(name, cfg, spec, o.Seed)
	if err != nil {
		return nil, fmt.Errorf("bench: workload %s: %w", o.Workload, err)
	}
	obj := model.NewObjective(cfg, spec)
	adam, err := optim.NewAdam(append(m.Params(), obj.Params()...), optim.AdamConfig{LR: o.LR})
	if err != nil {
		return nil, fmt.Errorf("bench: workload %s: %w", o.Workload, err)
	}
	sparse, err := optim.NewSparseAdam(m.SparseParams(), optim.SparseAdamConfig{LR: o.LR})
	if err != nil {
		return nil, fmt.Errorf("bench: workload %s: %w", o.Workload, err)
	}
	w := &Workload{
		Opts: o, Spec: spec, Model: m, obj: obj, adam: adam, sparse: sparse,
		train: train.NewStepper(m, obj, o.BlockRows),
		// No calibration and no pipeline: the served path, without the
		// steps a trained model adds.
		infer: score.New(&model.Trained{Name: name, Spec: spec, Model: m}),
		data:  SyntheticBatches(o.Batches, o.Batch, o.Fields, o.Vocab, len(spec.Tasks), o.Seed),
		packs: nn.NewPacks(),
	}
	// As the server does, the scorer keeps the weights packed from batch to
	// batch; TrainStep, the only writer, invalidates them.
	w.infer.SharePacks(w.packs)
	return w, nil
}

// SyntheticBatches returns n batches of rows rows: fields categorical fields
// with ids uniform in [0, vocab) and tasks labels, each 1 with probability
// 0.5, drawn from seed.
func SyntheticBatches(n, rows, fields, vocab, tasks int, seed uint64) []*feature.Batch {
	rng := rand.New(rand.NewPCG(seed, 0xbe4c))
	out := make([]*feature.Batch, n)
	for i := range out {
		b := &feature.Batch{N: rows, Fields: make([]feature.FieldData, fields), Labels: make([][]float32, tasks)}
		for f := range b.Fields {
			ids := make([]int32, rows)
			for r := range ids {
				ids[r] = int32(rng.IntN(vocab))
			}
			b.Fields[f].IDs = ids
		}
		for t := range b.Labels {
			y := make([]float32, rows)
			for r := range y {
				if rng.Uint64()&1 == 1 {
					y[r] = 1
				}
			}
			b.Labels[t] = y
		}
		out[i] = b
	}
	return out
}

// Batch returns the i-th batch of the rotation.
func (w *Workload) Batch(i int) *feature.Batch { return w.data[i%len(w.data)] }

// TrainStep runs one training step on batch i as `dcrnn train` does
// (train.Stepper: forward, loss and backward block by block across the
// threads, then the Adam and sparse Adam updates) and returns the loss.
func (w *Workload) TrainStep(i int) float64 {
	b := w.Batch(i)
	loss := w.train.Gradient(b, uint64(i))
	w.adam.Step()
	w.sparse.Step()
	w.packs.Invalidate()
	return loss
}

// InferStep scores batch i with the scorer every command uses (package
// score: forward and sigmoid on an inference tape) and returns the per-task
// probabilities, valid until the next InferStep.
func (w *Workload) InferStep(i int) [][]float32 {
	probs, _ := w.infer.Batch(w.Batch(i))
	return probs
}

// Run builds the workload, sets the thread count (restored on return), runs
// warm-up steps and then timed training steps for at least TrainSeconds,
// then the same for inference, and reports throughput and peak RSS. It stops
// early with ctx's error when ctx is cancelled.
func Run(ctx context.Context, o Options) (Result, error) {
	o = o.withDefaults()
	if err := o.check(); err != nil {
		return Result{}, err
	}
	if o.Threads > 0 {
		prev := tensor.Threads()
		tensor.SetThreads(o.Threads)
		defer tensor.SetThreads(prev)
	}
	w, err := NewWorkload(o)
	if err != nil {
		return Result{}, err
	}
	res := Result{Workload: o.Workload, Backend: tensor.Backend(), Threads: tensor.Threads(), Batch: o.Batch, BlockRows: o.BlockRows, Params: model.CountParams(w.Model)}

	var loss float64
	n, el, cpu, err := timed(ctx, o.WarmupSteps, o.MaxSteps, o.TrainSeconds, func(i int) { loss = w.TrainStep(i) })
	if err != nil {
		return res, err
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return res, fmt.Errorf("bench: workload %s: training loss is %v after %d steps", o.Workload, loss, n)
	}
	res.TrainSteps, res.TrainSeconds, res.TrainCPUSeconds, res.LastLoss = n, el, cpu, loss
	res.TrainSamplesPerSecond = float64(n*o.Batch) / el

	n, el, cpu, err = timed(ctx, o.WarmupSteps, o.MaxSteps, o.InferSeconds, func(i int) { w.InferStep(i) })
	if err != nil {
		return res, err
	}
	res.InferSteps, res.InferSeconds, res.InferCPUSeconds = n, el, cpu
	res.InferSamplesPerSecond = float64(n*o.Batch) / el
	res.PeakRSSBytes = PeakRSS()
	return res, nil
}

// timed runs warmup untimed steps, then steps until seconds have passed (or
// maxSteps steps when maxSteps > 0), and returns the timed step count, the
// wall time and the process CPU time of the timed steps, in seconds.
func timed(ctx context.Context, warmup, maxSteps int, seconds float64, step func(i int)) (n int, wall, cpu float64, err error) {
	for i := range max(warmup, 0) {
		if err := ctx.Err(); err != nil {
			return 0, 0, 0, err
		}
		step(i)
	}
	start, cpu0 := time.Now(), CPUTime()
	for {
		if err := ctx.Err(); err != nil {
			return 0, 0, 0, err
		}
		step(n)
		n++
		wall = time.Since(start).Seconds()
		if maxSteps > 0 && n >= maxSteps || maxSteps <= 0 && wall >= seconds {
			return n, wall, (CPUTime() - cpu0).Seconds(), nil
		}
	}
}

// PeakRSS returns the peak resident set size of the process in bytes (VmHWM
// in /proc/self/status), or 0 when it cannot be read.
func PeakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	return parseVmHWM(b)
}

// parseVmHWM extracts "VmHWM:  123 kB" from a /proc/PID/status text, in bytes.
func parseVmHWM(status []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		line := sc.Bytes()
		rest, ok := bytes.CutPrefix(line, []byte("VmHWM:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0
		}
		return kb * 1024
	}
	return 0
}
