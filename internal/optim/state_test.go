package optim

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/dcrnn/dcrnn/internal/nn"
	"github.com/dcrnn/dcrnn/internal/tensor"
)

// rig is a small model (dense params + tables) with its optimizers and a
// deterministic gradient source, for trajectory comparisons.
type rig struct {
	dense  []*nn.Param
	tables []*nn.SparseParam
	opts   []Optimizer
}

func newRig(t testing.TB, kind string, sizes [2]int) *rig {
	rng := rand.New(rand.NewPCG(7, 8))
	r := &rig{}
	for i, n := range []int{sizes[0], 7, sizes[0] / 3} {
		p := nn.NewParam(string(rune('a'+i)), 1, n)
		for j := range p.W {
			p.W[j] = float32(rng.NormFloat64())
		}
		p.NoDecay = i == 1
		r.dense = append(r.dense, p)
	}
	for i := range 3 {
		r.tables = append(r.tables, table(string(rune('x'+i)), sizes[1], 5, rng))
	}
	var d, s Optimizer
	var err error
	switch kind {
	case "adam":
		if d, err = NewAdam(r.dense, AdamConfig{LR: 0.01, WeightDecay: 0.1}); err != nil {
			t.Fatal(err)
		}
		s, err = NewSparseAdam(r.tables, SparseAdamConfig{LR: 0.02, L2: 1e-3})
	case "adam-l2":
		if d, err = NewAdam(r.dense, AdamConfig{LR: 0.01, WeightDecay: 0.1, Decay: DecayL2}); err != nil {
			t.Fatal(err)
		}
		s, err = NewSparseAdam(r.tables, SparseAdamConfig{LR: 0.02})
	case "adagrad":
		if d, err = NewAdagrad(r.dense, AdagradConfig{LR: 0.05, WeightDecay: 0.1, InitialAccumulator: 0.1}); err != nil {
			t.Fatal(err)
		}
		s, err = NewSparseAdagrad(r.tables, AdagradConfig{LR: 0.05, L2: 1e-3})
	}
	if err != nil {
		t.Fatal(err)
	}
	r.opts = []Optimizer{d, s}
	return r
}

// step fills gradients from a generator seeded by step, so two rigs see the
// same gradients for the same weights, and applies both optimizers.
func (r *rig) step(step int) {
	rng := rand.New(rand.NewPCG(uint64(step), 99))
	for _, p := range r.dense {
		for j := range p.G {
			p.G[j] = float32(rng.NormFloat64()) + 0.1*p.W[j]
		}
	}
	for _, p := range r.tables {
		n := p.Rows / 2
		for range n {
			g := p.GradRow(int32(rng.IntN(p.Rows)))
			for j := range g {
				g[j] += float32(rng.NormFloat64())
			}
		}
	}
	for _, o := range r.opts {
		o.Step()
	}
}

// touchAll gives every table row a gradient without allocating (after the
// first call) and leaves the dense gradients as they are.
func (r *rig) touchAll() {
	for _, p := range r.tables {
		for id := range int32(p.Rows) {
			p.GradRow(id)[0] = 0.5
		}
	}
}

func (r *rig) weights() [][]float32 {
	var ws [][]float32
	for _, p := range r.dense {
		ws = append(ws, p.W)
	}
	for _, p := range r.tables {
		ws = append(ws, p.W)
	}
	return ws
}

func sameBits(t *testing.T, what string, a, b [][]float32) {
	t.Helper()
	for i := range a {
		for j := range a[i] {
			if math.Float32bits(a[i][j]) != math.Float32bits(b[i][j]) {
				t.Fatalf("%s: tensor %d element %d: %v vs %v", what, i, j, a[i][j], b[i][j])
			}
		}
	}
}

func copyState(ts []Tensor) []Tensor {
	out := make([]Tensor, len(ts))
	for i, t := range ts {
		out[i] = Tensor{Name: t.Name, Shape: slices.Clone(t.Shape), F32: slices.Clone(t.F32), I32: slices.Clone(t.I32), I64: slices.Clone(t.I64)}
	}
	return out
}

// TestStateRoundTrip: an optimizer restored from State continues the exact
// trajectory of the original, bit for bit.
func TestStateRoundTrip(t *testing.T) {
	for _, kind := range []string{"adam", "adam-l2", "adagrad"} {
		t.Run(kind, func(t *testing.T) {
			a := newRig(t, kind, [2]int{40, 30})
			for s := range 6 {
				a.step(s)
			}
			b := newRig(t, kind, [2]int{40, 30})
			for i, w := range a.weights() {
				copy(b.weights()[i], w)
			}
			for i, o := range a.opts {
				st := copyState(o.State())
				names := make([]string, len(st))
				for k, x := range st {
					names[k] = x.Name
				}
				if u := slices.Compact(slices.Sorted(slices.Values(names))); len(u) != len(names) {
					t.Fatalf("duplicate state names %v", names)
				}
				if err := b.opts[i].SetState(st); err != nil {
					t.Fatal(err)
				}
				if b.opts[i].Steps() != 6 {
					t.Errorf("restored Steps = %d, want 6", b.opts[i].Steps())
				}
			}
			for s := 6; s < 12; s++ {
				a.step(s)
				b.step(s)
			}
			sameBits(t, "continued", a.weights(), b.weights())
			// A fresh optimizer without the state diverges (the test can fail).
			c := newRig(t, kind, [2]int{40, 30})
			for i, w := range a.weights() {
				copy(c.weights()[i], w)
			}
			a.step(12)
			c.step(12)
			if slices.Equal(a.weights()[0], c.weights()[0]) {
				t.Errorf("fresh optimizer matches the restored one: state has no effect?")
			}
		})
	}
}

func TestSetStateErrors(t *testing.T) {
	r := newRig(t, "adam", [2]int{8, 6})
	r.step(0)
	for i, o := range r.opts {
		good := copyState(o.State())
		mutate := map[string]func([]Tensor) []Tensor{
			"missing": func(ts []Tensor) []Tensor { return ts[:len(ts)-1] },
			"extra":   func(ts []Tensor) []Tensor { return append(ts, Tensor{Name: "zzz", Shape: []int{1}, F32: []float32{1}}) },
			"dup":     func(ts []Tensor) []Tensor { return append(ts, ts[1]) },
			"shape":   func(ts []Tensor) []Tensor { ts[1].Shape = []int{1, 2, 3}; return ts },
			"short":   func(ts []Tensor) []Tensor { ts[1].F32 = ts[1].F32[:1]; ts[1].I32 = nil; return ts },
			"kind":    func(ts []Tensor) []Tensor { ts[0].I64, ts[0].I32 = nil, []int32{1}; return ts },
			"step<0":  func(ts []Tensor) []Tensor { ts[0].I64 = []int64{-1}; return ts },
		}
		for name, f := range mutate {
			before := copyState(o.State())
			if err := o.SetState(f(copyState(good))); !errors.Is(err, ErrState) {
				t.Errorf("opt %d %s: err = %v, want ErrState", i, name, err)
			}
			after := o.State()
			for k := range before {
				if !slices.Equal(before[k].F32, after[k].F32) || !slices.Equal(before[k].I64, after[k].I64) || !slices.Equal(before[k].I32, after[k].I32) {
					t.Errorf("opt %d %s: failed SetState changed %s", i, name, before[k].Name)
				}
			}
		}
	}
	st := copyState(r.opts[1].State())
	st[2].I32[0] = -3
	if err := r.opts[1].SetState(st); !errors.Is(err, ErrState) {
		t.Errorf("negative row step: err = %v, want ErrState", err)
	}
}

// TestThreadInvariance: the same steps on 1 and 2 threads give bit-identical
// weights and state (sizes large enough for tensor.Parallel to split).
func TestThreadInvariance(t *testing.T) {
	defer tensor.SetThreads(0)
	for _, kind := range []string{"adam", "adagrad"} {
		var runs [2]*rig
		for k, threads := range []int{1, 2} {
			tensor.SetThreads(threads)
			r := newRig(t, kind, [2]int{3 * denseChunk, 3 * sparseChunk})
			for s := range 3 {
				r.step(s)
			}
			runs[k] = r
		}
		sameBits(t, kind, runs[0].weights(), runs[1].weights())
		for i := range runs[0].opts {
			s0, s1 := runs[0].opts[i].State(), runs[1].opts[i].State()
			for k := range s0 {
				if !slices.Equal(s0[k].F32, s1[k].F32) || !slices.Equal(s0[k].I32, s1[k].I32) {
					t.Errorf("%s: state %s differs between thread counts", kind, s0[k].Name)
				}
			}
		}
	}
}

// TestStepNoAlloc: after the first Step, a Step on one thread allocates
// nothing; with two threads only tensor.Parallel's goroutine closures.
func TestStepNoAlloc(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation")
	}
	defer tensor.SetThreads(0)
	for _, threads := range []int{1, 2} {
		tensor.SetThreads(threads)
		for _, kind := range []string{"adam", "adagrad"} {
			r := newRig(t, kind, [2]int{3 * denseChunk, 3 * sparseChunk})
			r.step(0)
			allocs := testing.AllocsPerRun(20, func() {
				r.touchAll()
				for _, o := range r.opts {
					o.Step()
				}
			})
			if threads == 1 && allocs != 0 {
				t.Errorf("%s, 1 thread: %v allocations per Step, want 0", kind, allocs)
			}
			t.Logf("%s, %d threads: %v allocations per dense+sparse Step", kind, threads, allocs)
		}
	}
}
