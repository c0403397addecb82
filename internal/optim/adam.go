package optim

import (
	"fmt"
	"math"

	"github.com/dcrnn/dcrnn/internal/nn"
	"github.com/dcrnn/dcrnn/internal/offheap"
	"github.com/dcrnn/dcrnn/internal/tensor"
)

// denseChunk is the smallest number of dense elements a goroutine updates.
const denseChunk = 16384

// AdamConfig configures Adam. A zero field means its default.
type AdamConfig struct {
	LR    float64 // learning rate, default 1e-3
	Beta1 float64 // first-moment decay, default 0.9
	Beta2 float64 // second-moment decay, default 0.999
	Eps   float64 // added to √v̂, default 1e-8
	// WeightDecay is the decay coefficient wd, default 0 (off). Parameters
	// with NoDecay (biases) are never decayed.
	WeightDecay float64
	// Decay selects decoupled (AdamW, the default) or L2 weight decay.
	Decay DecayMode
}

func (c AdamConfig) withDefaults() AdamConfig {
	if c.LR == 0 {
		c.LR = 1e-3
	}
	if c.Beta1 == 0 {
		c.Beta1 = 0.9
	}
	if c.Beta2 == 0 {
		c.Beta2 = 0.999
	}
	if c.Eps == 0 {
		c.Eps = 1e-8
	}
	return c
}

func (c AdamConfig) check(what string) error {
	if err := checkLR(what, c.LR); err != nil {
		return err
	}
	if err := checkBeta(what, "beta1", c.Beta1); err != nil {
		return err
	}
	if err := checkBeta(what, "beta2", c.Beta2); err != nil {
		return err
	}
	if err := checkNonNeg(what, "eps", c.Eps); err != nil {
		return err
	}
	if err := checkNonNeg(what, "weight decay", c.WeightDecay); err != nil {
		return err
	}
	if c.Decay != DecayDecoupled && c.Decay != DecayL2 {
		return fmt.Errorf("%w: %s: unknown weight decay mode %v", ErrConfig, what, c.Decay)
	}
	return nil
}

// Adam is the Adam optimizer for dense parameters (Kingma & Ba, "Adam: A
// Method for Stochastic Optimization", ICLR 2015), with the semantics of
// torch.optim.Adam (amsgrad off) and, with weight decay, torch.optim.AdamW.
// At step t (counted from 1), for every element with gradient g:
//
//	g ← g + wd·w                       (DecayL2 only, unless NoDecay)
//	w ← w·(1 − lr·wd)                  (DecayDecoupled only, unless NoDecay)
//	m ← β1·m + (1−β1)·g
//	v ← β2·v + (1−β2)·g²
//	w ← w − lr/(1−β1ᵗ) · m / (√v / √(1−β2ᵗ) + ε)
//
// The bias corrections are computed once per Step in float64; the element
// loop is float32. Every parameter is updated every Step, including one whose
// gradient is zero (its moments decay). Moments are allocated up front, two
// floats per element.
type Adam struct {
	clock
	cfg    AdamConfig
	params []*nn.Param
	m, v   [][]float32 // per parameter, same length as W
	off    []int       // off[i] = first flat element of params[i]; off[len] = total

	k   adamConsts
	run func(lo, hi int) // a.chunk, bound once so Step does not allocate
}

// adamConsts are the float32 constants of one dense Adam step.
type adamConsts struct {
	c1       float32 // 1 − β1
	b2, c2   float32 // β2, 1 − β2
	stepSize float32 // lr / (1 − β1ᵗ)
	invBc2   float32 // 1 / √(1 − β2ᵗ)
	eps      float32
	l2       float32 // wd for DecayL2, else 0
	keep     float32 // 1 − lr·wd for DecayDecoupled, else 1
}

// NewAdam returns an Adam optimizer over params with zero moments. It returns
// an error wrapping ErrConfig for an invalid configuration, a nil parameter
// or two parameters with the same name.
func NewAdam(params []*nn.Param, cfg AdamConfig) (*Adam, error) {
	cfg = cfg.withDefaults()
	if err := cfg.check("adam"); err != nil {
		return nil, err
	}
	names, nilAt := denseNames(params)
	if err := checkNames("adam", names, nilAt); err != nil {
		return nil, err
	}
	a := &Adam{clock: clock{lr: cfg.LR}, cfg: cfg, params: params, off: make([]int, len(params)+1)}
	for i, p := range params {
		a.off[i+1] = a.off[i] + len(p.W)
	}
	buf := offheap.Make[float32](a, 2*a.off[len(params)])
	a.m = make([][]float32, len(params))
	a.v = make([][]float32, len(params))
	for i := range params {
		n := a.off[i+1] - a.off[i]
		a.m[i] = buf[2*a.off[i] : 2*a.off[i]+n : 2*a.off[i]+n]
		a.v[i] = buf[2*a.off[i]+n : 2*a.off[i+1] : 2*a.off[i+1]]
	}
	a.run = a.chunk
	return a, nil
}

// Step applies one Adam update to every parameter and zeroes its gradient.
func (a *Adam) Step() {
	a.step++
	t := float64(a.step)
	bc1 := 1 - math.Pow(a.cfg.Beta1, t)
	bc2 := 1 - math.Pow(a.cfg.Beta2, t)
	a.k = adamConsts{
		c1:       float32(1 - a.cfg.Beta1),
		b2:       float32(a.cfg.Beta2),
		c2:       float32(1 - a.cfg.Beta2),
		stepSize: float32(a.lr / bc1),
		invBc2:   float32(1 / math.Sqrt(bc2)),
		eps:      float32(a.cfg.Eps),
		keep:     1,
	}
	if a.cfg.WeightDecay != 0 {
		if a.cfg.Decay == DecayL2 {
			a.k.l2 = float32(a.cfg.WeightDecay)
		} else {
			a.k.keep = float32(1 - a.lr*a.cfg.WeightDecay)
		}
	}
	tensor.Parallel(a.off[len(a.params)], denseChunk, a.run)
}

// chunk updates flat elements [lo, hi) across parameter boundaries.
func (a *Adam) chunk(lo, hi int) {
	for i, p := range a.params {
		s, e := a.off[i], a.off[i+1]
		if e <= lo || s == e {
			continue
		}
		if s >= hi {
			return
		}
		from, to := max(lo, s)-s, min(hi, e)-s
		k := a.k
		if p.NoDecay {
			k.l2, k.keep = 0, 1
		}
		adamDense(&k, p.W[from:to], p.G[from:to], a.m[i][from:to], a.v[i][from:to])
	}
}

// adamDense is the element loop of a dense Adam step; it zeroes g. Without
// an L2 term it is tensor.AdamVec, the same expressions on AVX2.
func adamDense(k *adamConsts, w, g, m, v []float32) {
	if k.l2 == 0 {
		tensor.AdamVec(&tensor.AdamConsts{C1: k.c1, B2: k.b2, C2: k.c2, StepSize: k.stepSize, InvBc2: k.invBc2, Eps: k.eps, Keep: k.keep}, w, g, m, v)
		return
	}
	n := len(w)
	g, m, v = g[:n], m[:n], v[:n]
	c1, b2, c2, ss, ib, eps, l2, keep := k.c1, k.b2, k.c2, k.stepSize, k.invBc2, k.eps, k.l2, k.keep
	for i := range n {
		gi := g[i]
		wi := w[i]
		if l2 != 0 {
			gi += l2 * wi
		}
		if keep != 1 {
			wi *= keep
		}
		mi := m[i] + c1*(gi-m[i])
		vi := b2*v[i] + c2*gi*gi
		m[i], v[i] = mi, vi
		w[i] = wi - ss*mi/(sqrt32(vi)*ib+eps)
		g[i] = 0
	}
}

// State returns "step" (int64 scalar) then, per parameter in construction
// order, "<name>.exp_avg" and "<name>.exp_avg_sq" (float32, Rows×Cols).
// The slices alias the optimizer's buffers.
func (a *Adam) State() []Tensor {
	ts := make([]Tensor, 0, 1+2*len(a.params))
	ts = append(ts, stepTensor(a.step))
	for i, p := range a.params {
		shape := []int{p.Rows, p.Cols}
		ts = append(ts,
			Tensor{Name: p.Name + ".exp_avg", Shape: shape, F32: a.m[i]},
			Tensor{Name: p.Name + ".exp_avg_sq", Shape: shape, F32: a.v[i]})
	}
	return ts
}

// SetState restores a state exported by State. On error nothing changes.
func (a *Adam) SetState(ts []Tensor) error {
	return setDenseState("adam", ts, a.params, &a.step, []string{".exp_avg", ".exp_avg_sq"}, a.m, a.v)
}

// setDenseState validates ts against one float32 slot per suffix and
// parameter, then copies them in; slots[j][i] is the buffer of suffix j for
// parameter i.
func setDenseState(what string, ts []Tensor, params []*nn.Param, step *int64, suffixes []string, slots ...[][]float32) error {
	m, err := newStateMatcher(what, ts)
	if err != nil {
		return err
	}
	st, err := m.takeStep()
	if err != nil {
		return err
	}
	src := make([][]*Tensor, len(suffixes))
	for j, suf := range suffixes {
		src[j] = make([]*Tensor, len(params))
		for i, p := range params {
			if src[j][i], err = m.take(p.Name+suf, []int{p.Rows, p.Cols}, "f32"); err != nil {
				return err
			}
		}
	}
	if err := m.done(); err != nil {
		return err
	}
	*step = st
	for j := range suffixes {
		for i := range params {
			copy(slots[j][i], src[j][i].F32)
		}
	}
	return nil
}
