// Package optim holds the optimizers of the dcrnn engine: Adam for dense
// parameters, lazy sparse Adam for embedding tables, Adagrad (dense and
// sparse), global gradient-norm clipping, L2 regularization of embedding rows
// and a small learning-rate schedule.
//
// Semantics follow PyTorch (torch.optim.Adam, AdamW, SparseAdam, Adagrad)
// with two deliberate differences, both documented on the types: sparse Adam
// keeps a step count per embedding row for its bias correction (PyTorch's
// SparseAdam uses one global count per table), and every Step clears the
// gradients it consumed (dense gradients are zeroed inside the update loop,
// sparse tables are reset with SparseParam.ZeroGrad), so a training loop does
// not call ZeroGrad itself.
//
// All updates are element-wise, in float32. Step splits the dense elements
// and the touched embedding rows across tensor.Threads() goroutines with
// tensor.Parallel; because no element's update depends on another's, the
// result is bit-identical whatever the thread count. After the first Step,
// Step allocates nothing when it runs on one thread (tensor.Parallel itself
// allocates its goroutine closures when it splits).
//
// Optimizer state (moments, accumulators, step counts) is exported by State as
// a list of named tensors in a fixed order and restored by SetState, for
// checkpoints; a restored optimizer continues the exact same trajectory.
// State buffers are allocated with offheap.Make, outside the Go heap once
// they pass offheap.MinBytes: they live as long as the optimizer and hold no
// pointers, and on the heap the collector's headroom would double them a
// second time. The slices State returns stay valid while the optimizer is
// reachable.
package optim

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/dcrnn/dcrnn/internal/nn"
)

// Optimizer is what a training loop drives: Step applies one update from the
// current gradients and clears them.
type Optimizer interface {
	// Step applies one update using the gradients accumulated since the last
	// Step, then zeroes those gradients.
	Step()
	// LR returns the current learning rate.
	LR() float64
	// SetLR sets the learning rate used by the following Steps (a schedule
	// calls it before each Step).
	SetLR(lr float64)
	// Steps returns how many Steps have been applied.
	Steps() int64
	// State returns the optimizer state as named tensors in a fixed order.
	// The moment, accumulator and row-step slices alias the optimizer's
	// buffers (no copy of a large table): they change at the next Step and
	// must not be modified; copy them to keep a snapshot. The step scalar is
	// a copy.
	State() []Tensor
	// SetState restores a state exported by State of an optimizer built over
	// parameters of the same names and shapes. It copies the values.
	SetState(ts []Tensor) error
}

// Tensor is one named array of optimizer state, row-major with the given
// Shape (an empty Shape is a scalar of one element). Exactly one of F32, I32
// and I64 holds the values. Names are "step" for the optimizer's step count
// and "<param name>.<slot>" for per-parameter state; a caller that stores the
// state of several optimizers in one file prefixes them.
type Tensor struct {
	Name  string
	Shape []int
	F32   []float32
	I32   []int32
	I64   []int64
}

// ErrState is returned (wrapped) by SetState when the given state does not
// match the optimizer: a missing, unexpected or mis-shaped tensor.
var ErrState = errors.New("optim: state does not match the optimizer")

// ErrConfig is returned (wrapped) by the constructors for an invalid
// configuration (negative learning rate, beta outside [0, 1), ...).
var ErrConfig = errors.New("optim: invalid configuration")

// DecayMode selects how a dense optimizer applies WeightDecay.
type DecayMode uint8

const (
	// DecayDecoupled is AdamW's decoupled weight decay (Loshchilov & Hutter,
	// "Decoupled Weight Decay Regularization", ICLR 2019):
	// w ← w·(1 − lr·wd) before the update, outside the adaptive moments.
	// It is the default.
	DecayDecoupled DecayMode = iota
	// DecayL2 adds wd·w to the gradient before the update, as the
	// weight_decay of torch.optim.Adam and torch.optim.Adagrad does.
	DecayL2
)

func (d DecayMode) String() string {
	switch d {
	case DecayDecoupled:
		return "decoupled"
	case DecayL2:
		return "l2"
	}
	return fmt.Sprintf("DecayMode(%d)", uint8(d))
}

// ParseDecayMode parses "decoupled" (also "adamw") or "l2".
func ParseDecayMode(s string) (DecayMode, error) {
	switch s {
	case "decoupled", "adamw":
		return DecayDecoupled, nil
	case "l2":
		return DecayL2, nil
	}
	return 0, fmt.Errorf("%w: weight decay mode %q: want \"decoupled\" or \"l2\"", ErrConfig, s)
}

// sqrt32 is a single-precision square root (the compiler emits SQRTSS).
func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }

// clock is what every optimizer keeps besides its moments: the learning rate
// of the next Step and the number of Steps applied. Embedding it provides the
// LR, SetLR and Steps methods of Optimizer.
type clock struct {
	lr   float64
	step int64
}

// LR returns the current learning rate.
func (c *clock) LR() float64 { return c.lr }

// SetLR sets the learning rate of the following Steps.
func (c *clock) SetLR(lr float64) { c.lr = lr }

// Steps returns how many Steps have been applied.
func (c *clock) Steps() int64 { return c.step }

func checkLR(what string, lr float64) error {
	if !(lr >= 0) || math.IsInf(lr, 0) {
		return fmt.Errorf("%w: %s: learning rate %v: want a finite value ≥ 0", ErrConfig, what, lr)
	}
	return nil
}

func checkBeta(what, name string, b float64) error {
	if !(b >= 0 && b < 1) {
		return fmt.Errorf("%w: %s: %s %v: want 0 ≤ %s < 1", ErrConfig, what, name, b, name)
	}
	return nil
}

func checkNonNeg(what, name string, x float64) error {
	if !(x >= 0) || math.IsInf(x, 0) {
		return fmt.Errorf("%w: %s: %s %v: want a finite value ≥ 0", ErrConfig, what, name, x)
	}
	return nil
}

// checkNames rejects nil and duplicate parameters, which would make the
// exported state ambiguous.
func checkNames(what string, names []string, nils int) error {
	if nils >= 0 {
		return fmt.Errorf("%w: %s: parameter %d is nil", ErrConfig, what, nils)
	}
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if seen[n] {
			return fmt.Errorf("%w: %s: two parameters named %q", ErrConfig, what, n)
		}
		seen[n] = true
	}
	return nil
}

func denseNames(ps []*nn.Param) ([]string, int) {
	names := make([]string, len(ps))
	for i, p := range ps {
		if p == nil {
			return nil, i
		}
		names[i] = p.Name
	}
	return names, -1
}

func sparseNames(ps []*nn.SparseParam) ([]string, int) {
	names := make([]string, len(ps))
	for i, p := range ps {
		if p == nil {
			return nil, i
		}
		names[i] = p.Name
	}
	return names, -1
}

// stepTensor exports a step count (a copy).
func stepTensor(step int64) Tensor {
	return Tensor{Name: "step", Shape: []int{}, I64: []int64{step}}
}

// stateMatcher checks a list of state tensors against the expected ones.
type stateMatcher struct {
	what   string
	byName map[string]*Tensor
	used   map[string]bool
}

func newStateMatcher(what string, ts []Tensor) (*stateMatcher, error) {
	m := &stateMatcher{what: what, byName: make(map[string]*Tensor, len(ts)), used: make(map[string]bool, len(ts))}
	for i := range ts {
		t := &ts[i]
		if _, dup := m.byName[t.Name]; dup {
			return nil, fmt.Errorf("%w: %s: tensor %q given twice", ErrState, what, t.Name)
		}
		m.byName[t.Name] = t
	}
	return m, nil
}

// take returns the tensor named name after checking its shape and kind
// (want is "f32", "i32" or "i64").
func (m *stateMatcher) take(name string, shape []int, want string) (*Tensor, error) {
	t, ok := m.byName[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s: missing tensor %q", ErrState, m.what, name)
	}
	if !slices.Equal(t.Shape, shape) {
		return nil, fmt.Errorf("%w: %s: tensor %q has shape %v, want %v", ErrState, m.what, name, t.Shape, shape)
	}
	n := 1
	for _, d := range shape {
		n *= d
	}
	var got int
	switch want {
	case "f32":
		got = len(t.F32)
	case "i32":
		got = len(t.I32)
	case "i64":
		got = len(t.I64)
	}
	if got != n {
		return nil, fmt.Errorf("%w: %s: tensor %q: want %d %s values, have %d", ErrState, m.what, name, n, want, got)
	}
	m.used[name] = true
	return t, nil
}

// done reports tensors that the optimizer does not know.
func (m *stateMatcher) done() error {
	var extra []string
	for name := range m.byName {
		if !m.used[name] {
			extra = append(extra, name)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	slices.Sort(extra)
	return fmt.Errorf("%w: %s: unexpected tensors %q", ErrState, m.what, extra)
}

// takeStep restores a step count, which must be ≥ 0.
func (m *stateMatcher) takeStep() (int64, error) {
	t, err := m.take("step", []int{}, "i64")
	if err != nil {
		return 0, err
	}
	if t.I64[0] < 0 {
		return 0, fmt.Errorf("%w: %s: step %d < 0", ErrState, m.what, t.I64[0])
	}
	return t.I64[0], nil
}

func errorStateRow(what, name string, row int, c int32) error {
	return fmt.Errorf("%w: %s: tensor %q row %d: step count %d < 0", ErrState, what, name, row, c)
}

func errorConfig(msg string) error { return fmt.Errorf("%w: %s", ErrConfig, msg) }
