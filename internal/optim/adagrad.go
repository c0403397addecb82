package optim

import (
	"github.com/dcrnn/dcrnn/internal/nn"
	"github.com/dcrnn/dcrnn/internal/offheap"
	"github.com/dcrnn/dcrnn/internal/tensor"
)

// AdagradConfig configures Adagrad and SparseAdagrad. A zero field means its
// default.
type AdagradConfig struct {
	LR float64 // learning rate, default 0.01
	// InitialAccumulator is the starting value of every accumulator, default
	// 0 (PyTorch's initial_accumulator_value; TensorFlow uses 0.1).
	InitialAccumulator float64
	Eps                float64 // added to √sum, default 1e-10
	// WeightDecay (dense Adagrad only) adds wd·w to the gradient, as
	// torch.optim.Adagrad's weight_decay (L2); NoDecay parameters are
	// skipped. Default 0.
	WeightDecay float64
	// L2 (SparseAdagrad only) adds λ·w to the gradient of every touched row
	// at Step time; untouched rows are not regularized. Default 0.
	L2 float64
}

func (c AdagradConfig) withDefaults() AdagradConfig {
	if c.LR == 0 {
		c.LR = 0.01
	}
	if c.Eps == 0 {
		c.Eps = 1e-10
	}
	return c
}

func (c AdagradConfig) check(what string) error {
	if err := checkLR(what, c.LR); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"initial accumulator", c.InitialAccumulator}, {"eps", c.Eps}, {"weight decay", c.WeightDecay}, {"l2", c.L2}} {
		if err := checkNonNeg(what, f.name, f.v); err != nil {
			return err
		}
	}
	return nil
}

// adagradConsts are the float32 constants of one Adagrad step.
type adagradConsts struct {
	lr, eps, l2 float32
}

// adagradLoop is the element loop of Adagrad: g ← g + l2·w; sum ← sum + g²;
// w ← w − lr·g/(√sum + ε). It zeroes g when zero is set.
func adagradLoop(k *adagradConsts, w, g, sum []float32, zero bool) {
	n := len(w)
	g, sum = g[:n], sum[:n]
	lr, eps, l2 := k.lr, k.eps, k.l2
	for i := range n {
		gi := g[i]
		if l2 != 0 {
			gi += l2 * w[i]
		}
		si := sum[i] + gi*gi
		sum[i] = si
		w[i] -= lr * gi / (sqrt32(si) + eps)
		if zero {
			g[i] = 0
		}
	}
}

// Adagrad is the Adagrad optimizer for dense parameters (Duchi, Hazan &
// Singer, "Adaptive Subgradient Methods for Online Learning and Stochastic
// Optimization", JMLR 2011) with the semantics of torch.optim.Adagrad
// (lr_decay 0; use a Schedule instead). Per element with gradient g:
//
//	g ← g + wd·w            (unless NoDecay)
//	sum ← sum + g²
//	w ← w − lr · g / (√sum + ε)
//
// The accumulators (one float per element) are allocated up front.
type Adagrad struct {
	clock
	cfg    AdagradConfig
	params []*nn.Param
	sum    [][]float32
	off    []int

	k   adagradConsts
	run func(lo, hi int)
}

// NewAdagrad returns an Adagrad optimizer over params with every accumulator
// at cfg.InitialAccumulator. It returns an error wrapping ErrConfig for an
// invalid configuration, a nil parameter or two parameters with one name.
func NewAdagrad(params []*nn.Param, cfg AdagradConfig) (*Adagrad, error) {
	cfg = cfg.withDefaults()
	if err := cfg.check("adagrad"); err != nil {
		return nil, err
	}
	if cfg.L2 != 0 {
		return nil, errorConfig("adagrad: l2 is for embedding tables (SparseAdagrad); use weight decay")
	}
	names, nilAt := denseNames(params)
	if err := checkNames("adagrad", names, nilAt); err != nil {
		return nil, err
	}
	a := &Adagrad{clock: clock{lr: cfg.LR}, cfg: cfg, params: params, sum: make([][]float32, len(params)), off: make([]int, len(params)+1)}
	for i, p := range params {
		a.off[i+1] = a.off[i] + len(p.W)
	}
	buf := offheap.Make[float32](a, a.off[len(params)])
	fill(buf, float32(cfg.InitialAccumulator))
	for i := range params {
		a.sum[i] = buf[a.off[i]:a.off[i+1]:a.off[i+1]]
	}
	a.run = a.chunk
	return a, nil
}

func fill(s []float32, v float32) {
	for i := range s {
		s[i] = v
	}
}

// Step applies one Adagrad update to every parameter and zeroes its gradient.
func (a *Adagrad) Step() {
	a.step++
	a.k = adagradConsts{lr: float32(a.lr), eps: float32(a.cfg.Eps), l2: float32(a.cfg.WeightDecay)}
	tensor.Parallel(a.off[len(a.params)], denseChunk, a.run)
}

func (a *Adagrad) chunk(lo, hi int) {
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
			k.l2 = 0
		}
		adagradLoop(&k, p.W[from:to], p.G[from:to], a.sum[i][from:to], true)
	}
}

// State returns "step" (int64 scalar) then, per parameter in construction
// order, "<name>.sum" (float32, Rows×Cols). The sum slices alias the
// optimizer's buffers.
func (a *Adagrad) State() []Tensor {
	ts := make([]Tensor, 0, 1+len(a.params))
	ts = append(ts, stepTensor(a.step))
	for i, p := range a.params {
		ts = append(ts, Tensor{Name: p.Name + ".sum", Shape: []int{p.Rows, p.Cols}, F32: a.sum[i]})
	}
	return ts
}

// SetState restores a state exported by State. On error nothing changes.
func (a *Adagrad) SetState(ts []Tensor) error {
	return setDenseState("adagrad", ts, a.params, &a.step, []string{".sum"}, a.sum)
}

// SparseAdagrad is Adagrad for embedding tables with the semantics of
// torch.optim.Adagrad on a sparse gradient: only the rows touched since the
// last Step are updated, with the dense formula and L2 = λ in place of the
// weight decay; untouched rows keep their values and accumulators bit for bit.
// The accumulators (Rows×Cols float32 per table) are allocated up front.
type SparseAdagrad struct {
	clock
	cfg    AdagradConfig
	tables []*nn.SparseParam
	sum    [][]float32
	off    []int

	k   adagradConsts
	run func(lo, hi int)
}

// NewSparseAdagrad returns a sparse Adagrad over tables with every
// accumulator at cfg.InitialAccumulator. cfg.WeightDecay must be 0 (use L2).
// It returns an error wrapping ErrConfig for an invalid configuration, a nil
// table or two tables with one name.
func NewSparseAdagrad(tables []*nn.SparseParam, cfg AdagradConfig) (*SparseAdagrad, error) {
	cfg = cfg.withDefaults()
	if err := cfg.check("sparse adagrad"); err != nil {
		return nil, err
	}
	if cfg.WeightDecay != 0 {
		return nil, errorConfig("sparse adagrad: weight decay is not defined for embedding tables; use L2")
	}
	names, nilAt := sparseNames(tables)
	if err := checkNames("sparse adagrad", names, nilAt); err != nil {
		return nil, err
	}
	s := &SparseAdagrad{clock: clock{lr: cfg.LR}, cfg: cfg, tables: tables, sum: make([][]float32, len(tables)), off: make([]int, len(tables)+1)}
	for i, p := range tables {
		s.sum[i] = offheap.Make[float32](s, p.Rows*p.Cols)
		fill(s.sum[i], float32(cfg.InitialAccumulator))
	}
	s.run = s.chunk
	return s, nil
}

// Step updates the touched rows of every table and resets the tables'
// gradients (SparseParam.ZeroGrad).
func (s *SparseAdagrad) Step() {
	s.step++
	s.k = adagradConsts{lr: float32(s.lr), eps: float32(s.cfg.Eps), l2: float32(s.cfg.L2)}
	for i, p := range s.tables {
		s.off[i+1] = s.off[i] + len(p.Touched)
	}
	tensor.Parallel(s.off[len(s.tables)], sparseChunk, s.run)
	for _, p := range s.tables {
		p.ZeroGrad()
	}
}

func (s *SparseAdagrad) chunk(lo, hi int) {
	for i, p := range s.tables {
		b, e := s.off[i], s.off[i+1]
		if e <= lo || b == e {
			continue
		}
		if b >= hi {
			return
		}
		cols := p.Cols
		r0, r1 := max(lo, b)-b, min(hi, e)-b
		for r := r0; r < r1; r++ {
			if (r-r0)%prefetchRows == 0 {
				touchAhead(p, s.sum[i], cols, nil, r, min(r+prefetchRows, r1))
			}
			id := int(p.Touched[r])
			adagradLoop(&s.k, p.W[id*cols:(id+1)*cols], p.G[r*cols:(r+1)*cols], s.sum[i][id*cols:(id+1)*cols], false)
		}
	}
}

// State returns "step" (int64 scalar) then, per table in construction order,
// "<name>.sum" (float32, Rows×Cols). The sum slices alias the optimizer's
// buffers.
func (s *SparseAdagrad) State() []Tensor {
	ts := make([]Tensor, 0, 1+len(s.tables))
	ts = append(ts, stepTensor(s.step))
	for i, p := range s.tables {
		ts = append(ts, Tensor{Name: p.Name + ".sum", Shape: []int{p.Rows, p.Cols}, F32: s.sum[i]})
	}
	return ts
}

// SetState restores a state exported by State. On error nothing changes.
func (s *SparseAdagrad) SetState(ts []Tensor) error {
	m, err := newStateMatcher("sparse adagrad", ts)
	if err != nil {
		return err
	}
	st, err := m.takeStep()
	if err != nil {
		return err
	}
	src := make([]*Tensor, len(s.tables))
	for i, p := range s.tables {
		if src[i], err = m.take(p.Name+".sum", []int{p.Rows, p.Cols}, "f32"); err != nil {
			return err
		}
	}
	if err := m.done(); err != nil {
		return err
	}
	s.step = st
	for i := range s.tables {
		copy(s.sum[i], src[i].F32)
	}
	return nil
}
