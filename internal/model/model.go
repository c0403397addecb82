// Package model holds the multi-task ranking models of dcrnn and their
// shared objective.
//
// A new model is one file and nothing else: a type implementing Model with
// its forward pass only (the backward pass comes from the nn tape; lists of
// matrices come from Tape.Mats, so that a pass allocates nothing), a Builder,
// and one register(name, doc, builder) call in the file's init. The tests
// find it through Names(): TestConformance runs the modeltest suite on it
// (logit shapes, determinism, zero allocations per pass after warm-up, the
// finite-difference gradient check of the model and its objective) with the
// base cases, and the other tests of this package check its model-file round
// trip, unique parameter names, that every parameter gets a gradient, three
// tasks and that it learns a synthetic problem. A test of its own is needed
// only for a config key that no other model reads: add cases for it to the
// map in TestConformance.
//
// Every model maps a batch to one logit per task. The objective (Objective)
// turns logits into the training loss, the same for every model: per-task
// binary cross-entropy, or for a funnel (a task declared `after` another,
// such as conversion after click) the entire-space loss of ESMM, with fixed
// or learned uncertainty weights.
//
// Trained.Predict is the one prediction path of every scorer (eval,
// predict, serve, compare): the sigmoid of each logit, then the task's
// post-hoc calibration map when the model file has a "calibration" document
// (Calibration; fitted on the validation part by package train), then, when
// the training log down-sampled the first task's negatives (the schema's
// negative_sampling), the correction of that task back to the full
// population; a funnel's ctcvr is the product of the final steps. A model
// file holds the documents "model", "pipeline", "info" and, optionally,
// "calibration" (see Trained and Calibration).
package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/nn"
)

// Task is one prediction target as the models see it.
type Task struct {
	Name string
	// After is the index of the task this one follows in a funnel (the
	// conversion task follows the click task), or -1.
	After int
}

// Spec is what a model is built from: the transformed input fields and the tasks.
type Spec struct {
	Fields []feature.FieldSpec
	Tasks  []Task
}

// Funnel returns the (earlier, later) task indices of the first funnel pair,
// or ok false when no task is declared after another.
func (s Spec) Funnel() (a, b int, ok bool) {
	for i, t := range s.Tasks {
		if t.After >= 0 {
			return t.After, i, true
		}
	}
	return -1, -1, false
}

// Model is a multi-task ranking model.
type Model interface {
	// Forward returns one logit matrix [B×1] per task, in task order. For the
	// later task of a funnel the logit is that of the conditional
	// probability (conversion given click).
	Forward(t *nn.Tape, b *feature.Batch) []*nn.Mat
	// Params lists the dense parameters, SparseParams the embedding tables,
	// each in a fixed order with unique names.
	Params() []*nn.Param
	SparseParams() []*nn.SparseParam
}

// Builder makes a model with freshly initialised weights drawn from rng.
type Builder func(cfg *Config, spec Spec, rng *rand.Rand) (Model, error)

var registry = map[string]registered{}

type registered struct {
	build Builder
	doc   string
}

// register adds a model under name; doc is a one-line description with its paper.
func register(name, doc string, b Builder) { registry[name] = registered{b, doc} }

// Names lists the registered models, sorted.
func Names() []string {
	n := make([]string, 0, len(registry))
	for k := range registry {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Doc returns the one-line description of a model.
func Doc(name string) string { return registry[name].doc }

// New builds the named model; cfg gets its defaults filled in and is validated.
func New(name string, cfg *Config, spec Spec, seed uint64) (Model, error) {
	r, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("model: unknown model %q (have %v)", name, Names())
	}
	if len(spec.Tasks) == 0 {
		return nil, fmt.Errorf("model: %s: the schema declares no task", name)
	}
	if len(spec.Fields) == 0 {
		return nil, fmt.Errorf("model: %s: the schema declares no feature field", name)
	}
	cfg.Defaults()
	if err := cfg.Validate(len(spec.Tasks)); err != nil {
		return nil, err
	}
	return r.build(cfg, spec, rand.New(rand.NewPCG(seed, 0xdc7)))
}

// CountParams returns the number of trainable scalars of m.
func CountParams(m Model) int {
	n := 0
	for _, p := range m.Params() {
		n += len(p.W)
	}
	for _, p := range m.SparseParams() {
		n += len(p.W)
	}
	return n
}

// Objective computes the multi-task training loss from the logits.
type Objective struct {
	Spec Spec
	// Weights are fixed task weights (nil: all 1).
	Weights []float64
	// LogVar, when not nil, holds learned log-variances s_t, one per task
	// (uncertainty weighting, Kendall et al. 2018): loss = Σ exp(-s_t)·L_t + s_t.
	LogVar *nn.Param

	both []float32 // reused buffer for the funnel's joint labels
}

// NewObjective makes the objective that cfg asks for.
func NewObjective(cfg *Config, spec Spec) *Objective {
	o := &Objective{Spec: spec, Weights: cfg.TaskWeights}
	if cfg.LossWeighting == "uncertainty" {
		o.LogVar = nn.NewParam("loss.log_var", 1, len(spec.Tasks))
		o.LogVar.NoDecay = true
	}
	return o
}

// Params returns the learned loss weights, if any.
func (o *Objective) Params() []*nn.Param {
	if o.LogVar == nil {
		return nil
	}
	return []*nn.Param{o.LogVar}
}

// Loss returns the total loss and the per-task losses of a batch, and on a
// training tape seeds the gradients of the logits (call t.Backward next).
// For the later task of a funnel the task loss is the entire-space loss
// BCE(σ(z_a)·σ(z_b), y_a·y_b) on all impressions, never on clicked rows only.
func (o *Objective) Loss(logits []*nn.Mat, b *feature.Batch, perTask []float64) float64 {
	var total float64
	for ti, task := range o.Spec.Tasks {
		w := o.taskWeight(ti)
		var l float64
		if task.After >= 0 {
			o.both = jointLabels(o.both, b.Labels[ti], b.Labels[task.After])
			l = nn.FunnelBCE(logits[task.After], logits[ti], o.both, nil, float32(w))
		} else {
			l = nn.BCEWithLogits(logits[ti], b.Labels[ti], nil, float32(w))
		}
		if perTask != nil {
			perTask[ti] = l
		}
		total += w * l
		if o.LogVar != nil {
			s := float64(o.LogVar.W[ti])
			total += s
			if o.LogVar.G != nil {
				o.LogVar.G[ti] += float32(1 - w*l)
			}
		}
	}
	return total
}

// taskWeight returns the weight of task ti in the total loss: its fixed
// weight times exp(-s_t) under uncertainty weighting.
func (o *Objective) taskWeight(ti int) float64 {
	w := 1.0
	if o.Weights != nil {
		w = o.Weights[ti]
	}
	if o.LogVar != nil {
		w *= math.Exp(-float64(o.LogVar.W[ti]))
	}
	return w
}

// jointLabels returns y·ya row by row in dst's storage.
func jointLabels(dst, y, ya []float32) []float32 {
	dst = dst[:0]
	for i := range y {
		dst = append(dst, y[i]*ya[i])
	}
	return dst
}

// LossPart is Loss for one block of rows of a batch of total rows, so that
// blocks can run at the same time: it seeds the gradients of the block's
// logits exactly as Loss over the whole batch seeds those rows (the task
// weights depend only on the parameters, and every row's gradient is
// divided by total), and adds each task's loss summed over the block's
// rows, not divided, to sums[t]. It leaves the uncertainty weights'
// gradient to LossTotal, which needs the whole batch's losses. both is the
// block's buffer for the funnel's joint labels. Blocks may call it
// concurrently; nothing may change the objective's parameters meanwhile.
func (o *Objective) LossPart(logits []*nn.Mat, b *feature.Batch, total int, sums []float64, both *[]float32) {
	for ti, task := range o.Spec.Tasks {
		w := float32(o.taskWeight(ti))
		if task.After >= 0 {
			*both = jointLabels(*both, b.Labels[ti], b.Labels[task.After])
			sums[ti] += nn.FunnelBCEPart(logits[task.After], logits[ti], *both, nil, w, total)
		} else {
			sums[ti] += nn.BCEWithLogitsPart(logits[ti], b.Labels[ti], nil, w, total)
		}
	}
}

// LossTotal returns the total loss of a batch of total rows from the
// per-task loss sums of all its rows (LossPart's, added up block after
// block) and writes the per-task losses (the means) into perTask when it is
// not nil; under uncertainty weighting it adds the gradient of the log
// variances, 1 − exp(-s_t)·L_t with L_t the whole batch's mean, to
// LogVar.G.
func (o *Objective) LossTotal(sums []float64, total int, perTask []float64) float64 {
	var loss float64
	for ti := range o.Spec.Tasks {
		w := o.taskWeight(ti)
		l := sums[ti] / float64(total)
		if perTask != nil {
			perTask[ti] = l
		}
		loss += w * l
		if o.LogVar != nil {
			loss += float64(o.LogVar.W[ti])
			o.LogVar.G[ti] += float32(1 - w*l)
		}
	}
	return loss
}

// Probs converts logits into per-task probabilities, written into dst[t]
// (resized to B): σ(z_t) for every task (for the later task of a funnel this
// is the conditional probability, e.g. CVR), and, when the spec has a funnel,
// the joint probability σ(z_a)·σ(z_b) (CTCVR) into ctcvr. ctcvr may be nil.
func Probs(spec Spec, logits []*nn.Mat, dst [][]float32, ctcvr []float32) {
	for ti, z := range logits {
		d := dst[ti][:z.Rows]
		for i, v := range z.V {
			d[i] = nn.Sigmoid32(v)
		}
	}
	if a, b, ok := spec.Funnel(); ok && ctcvr != nil {
		for i := range ctcvr[:logits[a].Rows] {
			ctcvr[i] = dst[a][i] * dst[b][i]
		}
	}
}
