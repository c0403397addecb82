// Package modeltest is the conformance suite every dcrnn model passes:
// output shapes, a finite-difference gradient check of the whole model and
// its objective, determinism, and no allocation in a forward or backward
// pass after the first. RunAll runs it over every registered model.
package modeltest

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/nn"
	"github.com/dcrnn/dcrnn/internal/nn/nntest"
	"github.com/dcrnn/dcrnn/internal/tensor"
)

// TinySpec returns a small spec with a categorical, a multi-categorical and
// a numeric field; funnel makes the second task follow the first.
func TinySpec(funnel bool) model.Spec {
	after := -1
	if funnel {
		after = 0
	}
	return model.Spec{
		Fields: []feature.FieldSpec{
			{Name: "user", Kind: feature.Categorical, Vocab: 5},
			{Name: "tags", Kind: feature.MultiCategorical, Vocab: 6},
			{Name: "price", Kind: feature.Numeric},
			{Name: "item", Kind: feature.Categorical, Vocab: 4},
		},
		Tasks: []model.Task{{Name: "click", After: -1}, {Name: "conversion", After: after}},
	}
}

// TinyBatch returns a batch of n rows for spec with repeated ids, an empty
// multi-valued list, and labels where the second task implies the first.
func TinyBatch(spec model.Spec, n int, seed uint64) *feature.Batch {
	rng := rand.New(rand.NewPCG(seed, 1))
	b := nntest.Batch(spec.Fields, n, rng, 3)
	for range spec.Tasks {
		b.Labels = append(b.Labels, make([]float32, n))
	}
	for i := 0; i < n; i++ {
		if rng.IntN(2) == 0 {
			b.Labels[0][i] = 1
			if len(b.Labels) > 1 && rng.IntN(2) == 0 {
				b.Labels[1][i] = 1
			}
		}
	}
	return b
}

// Case is one configuration to check.
type Case struct {
	Name   string
	Cfg    model.Config
	Funnel bool
}

// Small fills the size keys that c leaves unset (zero, or nil for a list)
// with a few units, so that the gradient check of a whole model stays fast:
// embedding_dim 3, proj 4, deep [5], tower [4], state_size 4 (unless
// shared_hidden is set), cross_steps 2, experts 3, expert_hidden [4],
// cross_layers 2. An explicit empty list (deep: []) stays empty.
func Small(c model.Config) model.Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defList := func(v *[]int, d int) {
		if *v == nil {
			*v = []int{d}
		}
	}
	def(&c.EmbeddingDim, 3)
	def(&c.Proj, 4)
	defList(&c.Deep, 5)
	defList(&c.Tower, 4)
	if c.SharedHidden == 0 && c.PrivateHidden == 0 {
		def(&c.StateSize, 4)
	}
	def(&c.CrossSteps, 2)
	def(&c.Experts, 3)
	defList(&c.ExpertHidden, 4)
	def(&c.CrossLayers, 2)
	return c
}

// BaseCases are the cases every model passes: funnel and not, learned
// uncertainty weights with and without a funnel, and dropout (the gradient
// check replays the same mask), all at Small sizes.
func BaseCases() []Case {
	return []Case{
		{Name: "funnel", Funnel: true, Cfg: Small(model.Config{})},
		{Name: "nofunnel", Cfg: Small(model.Config{})},
		{Name: "uncertainty/funnel", Funnel: true, Cfg: Small(model.Config{LossWeighting: "uncertainty"})},
		{Name: "uncertainty/nofunnel", Cfg: Small(model.Config{LossWeighting: "uncertainty"})},
		{Name: "dropout", Funnel: true, Cfg: Small(model.Config{Dropout: 0.3})},
	}
}

// RunAll runs Run for every registered model (model.Names()) with
// BaseCases and then the model's own cases in extra (config keys only it
// reads). A model that is registered is checked without a line of test code
// of its own; extra must not name an unregistered model.
func RunAll(t *testing.T, extra map[string][]Case) {
	names := model.Names()
	for name := range extra {
		if model.Doc(name) == "" {
			t.Errorf("modeltest: extra cases for %q, which is not a registered model (have %v)", name, names)
		}
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			Run(t, name, append(BaseCases(), extra[name]...))
		})
	}
}

// Run checks model name under every case: logits have shape [B×1] per task
// and are finite; two builds with one seed give bit-identical logits; after
// a warm-up, an inference Forward and a training step (Forward, objective,
// Backward) on one and two threads allocate nothing (CheckAllocs); the gradient of
// the objective (with uncertainty weighting when the case asks for it)
// matches central differences for every parameter, embedding row and
// numeric input.
func Run(t *testing.T, name string, cases []Case) {
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			spec := TinySpec(c.Funnel)
			cfg := c.Cfg
			m, err := model.New(name, &cfg, spec, 1)
			if err != nil {
				t.Fatal(err)
			}
			obj := model.NewObjective(&cfg, spec)
			if obj.LogVar != nil {
				for i := range obj.LogVar.W {
					obj.LogVar.W[i] = 0.3 * float32(i+1)
				}
			}
			b := TinyBatch(spec, 5, 2)
			logits := m.Forward(nn.NewTape(false, 1), b)
			if len(logits) != len(spec.Tasks) {
				t.Fatalf("%d logit matrices, want %d", len(logits), len(spec.Tasks))
			}
			for i, z := range logits {
				if z.Rows != b.N || z.Cols != 1 {
					t.Fatalf("task %d logits %d×%d, want %d×1", i, z.Rows, z.Cols, b.N)
				}
				for _, v := range z.V {
					if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
						t.Fatalf("task %d: non-finite logit %v", i, v)
					}
				}
			}
			m2, err := model.New(name, &cfg, spec, 1)
			if err != nil {
				t.Fatal(err)
			}
			l1 := m.Forward(nn.NewTape(false, 1), b)
			l2 := m2.Forward(nn.NewTape(false, 1), b)
			for i := range l1 {
				for j := range l1[i].V {
					if math.Float32bits(l1[i].V[j]) != math.Float32bits(l2[i].V[j]) {
						t.Fatalf("same seed, different logits: task %d row %d: %v vs %v", i, j, l1[i].V[j], l2[i].V[j])
					}
				}
			}
			CheckAllocs(t, m, obj, b)
			// Biases start at zero: a row whose ReLU inputs are all zero then
			// sits exactly on the kink, where no finite difference agrees
			// with any derivative. Random biases move every unit off it.
			params := append(m.Params(), obj.Params()...)
			brng := rand.New(rand.NewPCG(3, 3))
			for _, p := range m.Params() {
				if p.NoDecay {
					for i := range p.W {
						p.W[i] = float32(brng.Float64() - 0.5)
					}
				}
			}
			nntest.Check(t, func(tp *nn.Tape) float64 {
				return obj.Loss(m.Forward(tp, b), b, nil)
			}, nil, params, m.SparseParams(), nntest.Options{MaxPerArg: 12})

		})
	}
}

// CheckAllocs fails t unless, after two warm-up passes, an inference
// Forward and a training step (Reset, Forward, the objective, Backward and
// the gradient reset) make no heap allocation, on one thread and on two
// (where the embeddings, the cells and the gemms hand parts to tensor's
// workers). Everything a pass needs comes from the tape's arena (Tape.Mat,
// Tape.Floats, Tape.Scratch, Tape.Mats) or from buffers the layers keep.
func CheckAllocs(t *testing.T, m model.Model, obj *model.Objective, b *feature.Batch) {
	t.Helper()
	defer tensor.SetThreads(tensor.Threads())
	params, sparse := append(m.Params(), obj.Params()...), m.SparseParams()
	inf, tr := nn.NewTape(false, 1), nn.NewTape(true, 1)
	infer := func() {
		inf.Reset()
		m.Forward(inf, b)
	}
	train := func() {
		tr.Reset()
		obj.Loss(m.Forward(tr, b), b, nil)
		tr.Backward()
		for _, p := range params {
			p.ZeroGrad()
		}
		for _, p := range sparse {
			p.ZeroGrad()
		}
	}
	for _, threads := range []int{1, 2} {
		tensor.SetThreads(threads)
		for _, c := range []struct {
			what string
			fn   func()
		}{{"inference Forward", infer}, {"training step", train}} {
			c.fn()
			c.fn()
			if a := testing.AllocsPerRun(10, c.fn); a != 0 {
				t.Errorf("%s on %d threads: %v allocations per pass after warm-up, want 0", c.what, threads, a)
			}
		}
	}
}
