package train_test

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/model/modeltest"
	"github.com/dcrnn/dcrnn/internal/nn"
	"github.com/dcrnn/dcrnn/internal/optim"
	"github.com/dcrnn/dcrnn/internal/tensor"
	"github.com/dcrnn/dcrnn/internal/train"
)

// grads is the gradient of one batch: every dense parameter's (the
// objective's last) and, per table, every touched row's.
type grads struct {
	loss   float64
	dense  [][]float32
	sparse []map[int32][]float32
	order  [][]int32 // the tables' touched rows in order
}

func gradsOf(m model.Model, obj *model.Objective, loss float64) grads {
	g := grads{loss: loss}
	for _, p := range append(m.Params(), obj.Params()...) {
		g.dense = append(g.dense, append([]float32(nil), p.G...))
	}
	for _, p := range m.SparseParams() {
		rows := map[int32][]float32{}
		for k, id := range p.Touched {
			rows[id] = append([]float32(nil), p.G[k*p.Cols:(k+1)*p.Cols]...)
		}
		g.sparse = append(g.sparse, rows)
		g.order = append(g.order, append([]int32(nil), p.Touched...))
	}
	return g
}

// oneTape is the gradient of b through one training tape over the whole
// batch (the path the finite-difference checks of modeltest validate).
func oneTape(t *testing.T, name string, cfg model.Config, spec model.Spec, b *feature.Batch) grads {
	m, obj := buildModel(t, name, cfg, spec)
	tape := nn.NewTape(true, 1)
	logits := m.Forward(tape, b)
	loss := obj.Loss(logits, b, nil)
	tape.Backward()
	return gradsOf(m, obj, loss)
}

func buildModel(t *testing.T, name string, cfg model.Config, spec model.Spec) (model.Model, *model.Objective) {
	t.Helper()
	m, err := model.New(name, &cfg, spec, 5)
	if err != nil {
		t.Fatal(err)
	}
	return m, model.NewObjective(&cfg, spec)
}

func closeTo(a, b float64) bool { return math.Abs(a-b) <= 2e-5*(1+math.Abs(b)) }

func sameGrads(t *testing.T, what string, got, want grads, exact bool) {
	t.Helper()
	eq := func(a, b float32) bool {
		if exact {
			return math.Float32bits(a) == math.Float32bits(b)
		}
		return closeTo(float64(a), float64(b))
	}
	if exact && math.Float64bits(got.loss) != math.Float64bits(want.loss) || !closeTo(got.loss, want.loss) {
		t.Fatalf("%s: loss %v, want %v", what, got.loss, want.loss)
	}
	for i := range want.dense {
		for j := range want.dense[i] {
			if !eq(got.dense[i][j], want.dense[i][j]) {
				t.Fatalf("%s: dense parameter %d element %d: gradient %v, want %v", what, i, j, got.dense[i][j], want.dense[i][j])
			}
		}
	}
	for i := range want.sparse {
		if fmt.Sprint(got.order[i]) != fmt.Sprint(want.order[i]) {
			t.Fatalf("%s: table %d: touched rows %v, want %v", what, i, got.order[i], want.order[i])
		}
		for id, w := range want.sparse[i] {
			for j := range w {
				if !eq(got.sparse[i][id][j], w[j]) {
					t.Fatalf("%s: table %d row %d element %d: gradient %v, want %v", what, i, id, j, got.sparse[i][id][j], w[j])
				}
			}
		}
	}
}

// TestStepperMatchesOneTape: for every model and every base case of the
// conformance suite without dropout (whose masks are drawn per block), the
// gradient that Stepper computes block by block equals, to float
// rounding, the gradient of one tape over the whole batch; and for a given
// block size it is the same to the bit on 1, 2, 3 and 4 threads.
func TestStepperMatchesOneTape(t *testing.T) {
	defer tensor.SetThreads(tensor.Threads())
	for _, name := range model.Names() {
		for _, c := range modeltest.BaseCases() {
			if c.Cfg.Dropout > 0 {
				continue
			}
			spec := modeltest.TinySpec(c.Funnel)
			b := modeltest.TinyBatch(spec, 37, 11)
			tensor.SetThreads(1)
			want := oneTape(t, name, c.Cfg, spec, b)
			for _, rows := range []int{37, 64, 10, 1} {
				var first grads
				for _, threads := range []int{1, 2, 3, 4} {
					tensor.SetThreads(threads)
					m, obj := buildModel(t, name, c.Cfg, spec)
					s := train.NewStepper(m, obj, rows)
					// Twice: the second step must not see the first's
					// gradients (the optimizer clears Param.G, here by hand).
					s.Gradient(b, 3)
					for _, p := range append(m.Params(), obj.Params()...) {
						p.ZeroGrad()
					}
					for _, p := range m.SparseParams() {
						p.ZeroGrad()
					}
					got := gradsOf(m, obj, s.Gradient(b, 3))
					what := fmt.Sprintf("%s/%s/block_rows=%d/threads=%d", name, c.Name, rows, threads)
					sameGrads(t, what, got, want, false)
					if threads == 1 {
						first = got
					} else {
						sameGrads(t, what+" against threads=1", got, first, true)
					}
				}
			}
		}
	}
}

// TestTrainSameBitsAnyThreads: every model, trained with dropout on
// batches of several blocks, ends with the same weights to the bit on 1,
// 2, 3 and 4 threads.
func TestTrainSameBitsAnyThreads(t *testing.T) {
	if testing.Short() {
		t.Skip("trains every model four times")
	}
	defer tensor.SetThreads(tensor.Threads())
	ctx := context.Background()
	job := synthJob(t, 2500)
	for _, name := range model.Names() {
		j := job
		j.Model = name
		j.Config.Config = modeltest.Small(model.Config{Dropout: 0.2})
		j.Config.Epochs, j.Config.BatchSize, j.Config.BlockRows, j.Config.Calibration = 2, 200, 48, "none"
		var first [][]float32
		for _, threads := range []int{1, 2, 3, 4} {
			tensor.SetThreads(threads)
			r, err := train.Run(ctx, j)
			if err != nil {
				t.Fatalf("%s, %d threads: %v", name, threads, err)
			}
			w := weights(r.Trained)
			if threads == 1 {
				first = w
				continue
			}
			sameBits(t, fmt.Sprintf("%s, %d threads against 1", name, threads), w, first)
		}
	}
}

// TestStepperPacksFollowTheOptimizer: the Stepper's packed weights
// (nn.Packs, packed once per step for all its blocks) give the same
// gradients and, after Adam updates, the same weights to the bit as
// multiplying by the weights themselves, step after step, for every model
// and cell on 1 and 2 threads. A pack left stale by an update would give
// the old weights' gradients from the second step on.
func TestStepperPacksFollowTheOptimizer(t *testing.T) {
	defer tensor.SetThreads(tensor.Threads())
	cases := append(modeltest.BaseCases(),
		modeltest.Case{Name: "lstm", Cfg: modeltest.Small(model.Config{Cell: "lstm"})},
		modeltest.Case{Name: "rnn", Funnel: true, Cfg: modeltest.Small(model.Config{Cell: "rnn"})})
	for _, name := range model.Names() {
		for _, c := range cases {
			if name != "dcrnn" && (c.Name == "lstm" || c.Name == "rnn") {
				continue
			}
			spec := modeltest.TinySpec(c.Funnel)
			b := modeltest.TinyBatch(spec, 150, 11)
			for _, threads := range []int{1, 2} {
				tensor.SetThreads(threads)
				what := fmt.Sprintf("%s/%s/threads=%d", name, c.Name, threads)
				type run struct {
					m     model.Model
					obj   *model.Objective
					s     *train.Stepper
					dense *optim.Adam
					sp    *optim.SparseAdam
				}
				mk := func(packs bool) *run {
					m, obj := buildModel(t, name, c.Cfg, spec)
					r := &run{m: m, obj: obj, s: train.NewStepper(m, obj, 48)}
					r.s.Gradient(b, 1) // grows the blocks, so NoPacks reaches them
					zeroGrads(m, obj)
					if !packs {
						r.s.NoPacks()
					}
					var err error
					if r.dense, err = optim.NewAdam(append(m.Params(), obj.Params()...), optim.AdamConfig{LR: 0.05}); err != nil {
						t.Fatal(err)
					}
					if r.sp, err = optim.NewSparseAdam(m.SparseParams(), optim.SparseAdamConfig{LR: 0.05}); err != nil {
						t.Fatal(err)
					}
					return r
				}
				packed, plain := mk(true), mk(false)
				for step := range 4 {
					g1 := gradsOf(packed.m, packed.obj, packed.s.Gradient(b, uint64(step)))
					g2 := gradsOf(plain.m, plain.obj, plain.s.Gradient(b, uint64(step)))
					sameGrads(t, fmt.Sprintf("%s step %d", what, step), g1, g2, true)
					for _, r := range []*run{packed, plain} {
						r.dense.Step()
						r.sp.Step()
					}
				}
				sameBits(t, what+" weights", modelWeights(packed.m), modelWeights(plain.m))
			}
		}
	}
}

func zeroGrads(m model.Model, obj *model.Objective) {
	for _, p := range append(m.Params(), obj.Params()...) {
		p.ZeroGrad()
	}
	for _, p := range m.SparseParams() {
		p.ZeroGrad()
	}
}

func modelWeights(m model.Model) [][]float32 {
	var w [][]float32
	for _, p := range m.Params() {
		w = append(w, append([]float32(nil), p.W...))
	}
	for _, p := range m.SparseParams() {
		w = append(w, append([]float32(nil), p.W...))
	}
	return w
}
