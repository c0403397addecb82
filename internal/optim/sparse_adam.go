package optim

import (
	"math"
	"sync/atomic"

	"github.com/dcrnn/dcrnn/internal/nn"
	"github.com/dcrnn/dcrnn/internal/offheap"
	"github.com/dcrnn/dcrnn/internal/tensor"
)

// sparseChunk is the smallest number of touched rows a goroutine updates.
const sparseChunk = 1024

// SparseAdamConfig configures SparseAdam. A zero field means its default.
type SparseAdamConfig struct {
	LR    float64 // learning rate, default 1e-3
	Beta1 float64 // first-moment decay, default 0.9
	Beta2 float64 // second-moment decay, default 0.999
	Eps   float64 // added to √v, default 1e-8
	// L2 is the L2 regularization coefficient λ of the embedding rows,
	// default 0: λ·w is added to the gradient of every touched row at Step
	// time (after any clipping), as if λ/2·‖w‖² of the rows a batch used were
	// part of the loss. Untouched rows are not regularized. Use AddL2 instead
	// to regularize before clipping.
	L2 float64
}

func (c SparseAdamConfig) withDefaults() SparseAdamConfig {
	a := AdamConfig{LR: c.LR, Beta1: c.Beta1, Beta2: c.Beta2, Eps: c.Eps}.withDefaults()
	c.LR, c.Beta1, c.Beta2, c.Eps = a.LR, a.Beta1, a.Beta2, a.Eps
	return c
}

func (c SparseAdamConfig) check(what string) error {
	if err := (AdamConfig{LR: c.LR, Beta1: c.Beta1, Beta2: c.Beta2, Eps: c.Eps}).check(what); err != nil {
		return err
	}
	return checkNonNeg(what, "l2", c.L2)
}

// SparseAdam is lazy Adam for embedding tables, with the semantics of
// torch.optim.SparseAdam except for the step count: only the rows touched
// since the last Step are updated, and only their moments change; an
// untouched row keeps its values and moments bit for bit. Each row keeps its
// own step count t (the number of Steps in which it was touched), used for
// its bias correction, so a row seen for the second time at global step 5 is
// corrected as at t = 2; PyTorch's SparseAdam uses the table's global step,
// which over-corrects (damps) the early updates of rare ids. For a touched
// row, per element with gradient g:
//
//	t ← t + 1                                (once per row)
//	g ← g + λ·w                              (when L2 = λ > 0)
//	m ← m + (1−β1)·(g − m)
//	v ← v + (1−β2)·(g² − v)
//	w ← w − lr·√(1−β2ᵗ)/(1−β1ᵗ) · m / (√v + ε)
//
// Note that ε is added to √v without bias correction, exactly as in
// PyTorch's SparseAdam (dense Adam adds it to √v̂). The factor
// √(1−β2ᵗ)/(1−β1ᵗ) is tabulated in float64 at construction for every t until
// it rounds to 1 in float32, so Step computes no powers.
//
// State is allocated up front: the two moments interleaved per row
// (Rows×2×Cols float32, so a row's m and v are adjacent in memory) and one
// int32 step count per row. For a 100,000×16 table that is 12.8 MB + 0.4 MB,
// outside the Go heap (offheap.Make) and resident only for the rows trained.
type SparseAdam struct {
	clock
	cfg    SparseAdamConfig
	tables []*nn.SparseParam
	mv     [][]float32 // per table, Rows×2×Cols: row r holds m then v
	t      [][]int32   // per table, per row step counts
	bc     []float64   // bc[t] = √(1−β2ᵗ)/(1−β1ᵗ) for 1 ≤ t < len(bc); 1 beyond
	// bcCapped: bc was cut at maxBiasTable before the factor reached 1.
	bcCapped bool
	off      []int // off[i] = first flat touched row of tables[i] in this Step

	k   sparseAdamConsts
	run func(lo, hi int)
}

type sparseAdamConsts struct {
	lr     float64
	c1, c2 float32
	eps    float32
	l2     float32
}

// maxBiasTable bounds the bias-correction table (8 B per entry); beyond it,
// a row whose factor is not yet 1 computes it with math.Pow.
const maxBiasTable = 1 << 20

// NewSparseAdam returns a lazy sparse Adam over tables with zero moments and
// zero row step counts. It returns an error wrapping ErrConfig for an invalid
// configuration, a nil table or two tables with the same name.
func NewSparseAdam(tables []*nn.SparseParam, cfg SparseAdamConfig) (*SparseAdam, error) {
	cfg = cfg.withDefaults()
	if err := cfg.check("sparse adam"); err != nil {
		return nil, err
	}
	names, nilAt := sparseNames(tables)
	if err := checkNames("sparse adam", names, nilAt); err != nil {
		return nil, err
	}
	s := &SparseAdam{
		clock: clock{lr: cfg.LR}, cfg: cfg, tables: tables,
		mv:  make([][]float32, len(tables)),
		t:   make([][]int32, len(tables)),
		off: make([]int, len(tables)+1),
	}
	s.bc, s.bcCapped = biasTable(cfg.Beta1, cfg.Beta2)
	for i, p := range tables {
		s.mv[i] = offheap.Make[float32](s, 2*p.Rows*p.Cols)
		s.t[i] = offheap.Make[int32](s, p.Rows)
	}
	s.run = s.chunk
	return s, nil
}

// biasFactor is √(1−β2ᵗ)/(1−β1ᵗ) in float64.
func biasFactor(b1, b2 float64, t int64) float64 {
	return math.Sqrt(1-math.Pow(b2, float64(t))) / (1 - math.Pow(b1, float64(t)))
}

// biasTable tabulates biasFactor for t = 1, 2, … up to the first t where both
// β1ᵗ and β2ᵗ are below 2⁻²⁶: from there on the factor is within 2⁻²⁵ of 1
// and rounds to exactly 1 in float32. Entry 0 is unused. capped reports that
// the table was cut at maxBiasTable entries before that point.
func biasTable(b1, b2 float64) (bc []float64, capped bool) {
	const tiny = 1.0 / (1 << 26)
	n := 1
	for _, b := range []float64{b1, b2} {
		if b > 0 {
			n = max(n, int(math.Ceil(math.Log(tiny)/math.Log(b)))+1)
		}
	}
	if n > maxBiasTable {
		n, capped = maxBiasTable, true
	}
	bc = make([]float64, n)
	for t := 1; t < n; t++ {
		bc[t] = biasFactor(b1, b2, int64(t))
	}
	return bc, capped
}

// factor returns the bias factor of row step count t ≥ 1.
func (s *SparseAdam) factor(t int32) float64 {
	if int(t) < len(s.bc) {
		return s.bc[t]
	}
	if !s.bcCapped {
		return 1
	}
	return biasFactor(s.cfg.Beta1, s.cfg.Beta2, int64(t))
}

// Step updates the touched rows of every table and resets the tables'
// gradients (SparseParam.ZeroGrad).
func (s *SparseAdam) Step() {
	s.step++
	s.k = sparseAdamConsts{
		lr:  s.lr,
		c1:  float32(1 - s.cfg.Beta1),
		c2:  float32(1 - s.cfg.Beta2),
		eps: float32(s.cfg.Eps),
		l2:  float32(s.cfg.L2),
	}
	for i, p := range s.tables {
		s.off[i+1] = s.off[i] + len(p.Touched)
	}
	tensor.Parallel(s.off[len(s.tables)], sparseChunk, s.run)
	for _, p := range s.tables {
		p.ZeroGrad()
	}
}

// chunk updates flat touched rows [lo, hi) across table boundaries.
func (s *SparseAdam) chunk(lo, hi int) {
	k := &s.k
	for i, p := range s.tables {
		b, e := s.off[i], s.off[i+1]
		if e <= lo || b == e {
			continue
		}
		if b >= hi {
			return
		}
		cols := p.Cols
		mv, ts := s.mv[i], s.t[i]
		r0, r1 := max(lo, b)-b, min(hi, e)-b
		for r := r0; r < r1; r++ {
			if (r-r0)%prefetchRows == 0 {
				touchAhead(p, mv, 2*cols, ts, r, min(r+prefetchRows, r1))
			}
			id := int(p.Touched[r])
			ts[id]++
			ss := float32(k.lr * s.factor(ts[id]))
			st := mv[2*id*cols : 2*(id+1)*cols]
			sparseAdamRow(k, ss, p.W[id*cols:(id+1)*cols], p.G[r*cols:(r+1)*cols], st[:cols], st[cols:])
		}
	}
}

// prefetchRows is how many rows the sparse optimizers load ahead in one
// burst (see touchAhead). Measured on the mlp24 tables (24×100,000×16, ≈1019
// scattered rows each): 16 rows cut the sparse Adam step 2–3× against none.
const prefetchRows = 16

// prefetchSink keeps touchAhead's loads alive.
var prefetchSink atomic.Uint32

// touchAhead loads one word of every cache line that the update of touched
// rows [r, end) will read: the weights row, the stride floats of state per
// row (m and v, or the Adagrad sum) and, when ts is not nil, the row's step
// count. The loads are independent and issued back to back, so their cache
// misses overlap instead of being paid one row at a time: the rows of an
// embedding batch are scattered over tables far larger than the cache. Go
// has no prefetch instruction; plain loads folded into a sink do the same.
func touchAhead(p *nn.SparseParam, state []float32, stride int, ts []int32, r, end int) {
	cols := p.Cols
	var x uint32
	for ; r < end; r++ {
		id := int(p.Touched[r])
		if ts != nil {
			x ^= uint32(ts[id])
		}
		for j := 0; j < cols; j += 16 {
			x ^= math.Float32bits(p.W[id*cols+j])
		}
		for j := 0; j < stride; j += 16 {
			x ^= math.Float32bits(state[id*stride+j])
		}
	}
	if x == 0x9e3779b9 {
		prefetchSink.Add(1)
	}
}

// sparseAdamRow updates one embedding row with step size ss.
func sparseAdamRow(k *sparseAdamConsts, ss float32, w, g, m, v []float32) {
	n := len(w)
	g, m, v = g[:n], m[:n], v[:n]
	c1, c2, eps, l2 := k.c1, k.c2, k.eps, k.l2
	for j := range n {
		gj := g[j]
		if l2 != 0 {
			gj += l2 * w[j]
		}
		mj := m[j] + c1*(gj-m[j])
		vj := v[j] + c2*(gj*gj-v[j])
		m[j], v[j] = mj, vj
		w[j] -= ss * mj / (sqrt32(vj) + eps)
	}
}

// State returns "step" (int64 scalar: Steps so far) then, per table in
// construction order, "<name>.moments" (float32, Rows×2×Cols: row r holds m then v) and
// "<name>.row_step" (int32, Rows: each row's step count). The slices alias
// the optimizer's buffers.
func (s *SparseAdam) State() []Tensor {
	ts := make([]Tensor, 0, 1+2*len(s.tables))
	ts = append(ts, stepTensor(s.step))
	for i, p := range s.tables {
		ts = append(ts,
			Tensor{Name: p.Name + ".moments", Shape: []int{p.Rows, 2, p.Cols}, F32: s.mv[i]},
			Tensor{Name: p.Name + ".row_step", Shape: []int{p.Rows}, I32: s.t[i]})
	}
	return ts
}

// SetState restores a state exported by State. Row step counts must be ≥ 0.
// On error nothing changes.
func (s *SparseAdam) SetState(ts []Tensor) error {
	m, err := newStateMatcher("sparse adam", ts)
	if err != nil {
		return err
	}
	st, err := m.takeStep()
	if err != nil {
		return err
	}
	mv := make([]*Tensor, len(s.tables))
	rs := make([]*Tensor, len(s.tables))
	for i, p := range s.tables {
		if mv[i], err = m.take(p.Name+".moments", []int{p.Rows, 2, p.Cols}, "f32"); err != nil {
			return err
		}
		if rs[i], err = m.take(p.Name+".row_step", []int{p.Rows}, "i32"); err != nil {
			return err
		}
		for r, c := range rs[i].I32 {
			if c < 0 {
				return errorStateRow("sparse adam", p.Name+".row_step", r, c)
			}
		}
	}
	if err := m.done(); err != nil {
		return err
	}
	s.step = st
	for i := range s.tables {
		copy(s.mv[i], mv[i].F32)
		copy(s.t[i], rs[i].I32)
	}
	return nil
}
