package model_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/model/modeltest"
	"github.com/dcrnn/dcrnn/internal/nn"
	"github.com/dcrnn/dcrnn/internal/nn/nntest"
)

// tiny is modeltest.Small.
func tiny(c model.Config) model.Config { return modeltest.Small(c) }

// chainSpec has three tasks in a funnel, click → cart → buy, so that AITM
// transfers along a chain and PLE/MMoE have more than two gates.
func chainSpec() model.Spec {
	s := modeltest.TinySpec(true)
	s.Tasks = []model.Task{{Name: "click", After: -1}, {Name: "cart", After: 0}, {Name: "buy", After: 1}}
	return s
}

func TestZooThreeTasks(t *testing.T) {
	spec := chainSpec()
	b := modeltest.TinyBatch(spec, 5, 4)
	for i := range b.N { // buy implies cart implies click
		if b.Labels[1][i] == 1 && i%2 == 0 {
			b.Labels[2][i] = 1
		}
	}
	for _, name := range model.Names() {
		t.Run(name, func(t *testing.T) {
			cfg := tiny(model.Config{Levels: 2})
			m, err := model.New(name, &cfg, spec, 5)
			if err != nil {
				t.Fatal(err)
			}
			randomBiases(m)
			obj := model.NewObjective(&cfg, spec)
			logits := m.Forward(nn.NewTape(false, 1), b)
			if len(logits) != 3 {
				t.Fatalf("%d logit matrices, want 3", len(logits))
			}
			nntest.Check(t, func(tp *nn.Tape) float64 {
				return obj.Loss(m.Forward(tp, b), b, nil)
			}, nil, m.Params(), m.SparseParams(), nntest.Options{MaxPerArg: 8})
		})
	}
}

// randomBiases moves ReLU units off their kink (see modeltest.Run).
func randomBiases(m model.Model) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, p := range m.Params() {
		if p.NoDecay {
			for i := range p.W {
				p.W[i] = float32(rng.Float64() - 0.5)
			}
		}
	}
}

// TestZooParamNames: names are unique over dense and sparse parameters, and
// two builds list them in the same order.
func TestZooParamNames(t *testing.T) {
	for _, name := range model.Names() {
		for _, spec := range []model.Spec{modeltest.TinySpec(true), chainSpec()} {
			cfg := tiny(model.Config{Levels: 2})
			list := func() []string {
				m, err := model.New(name, &cfg, spec, 1)
				if err != nil {
					t.Fatal(err)
				}
				var ns []string
				for _, p := range m.Params() {
					ns = append(ns, p.Name)
				}
				for _, p := range m.SparseParams() {
					ns = append(ns, p.Name)
				}
				return ns
			}
			a, b := list(), list()
			seen := map[string]bool{}
			for i, n := range a {
				if seen[n] {
					t.Errorf("%s: parameter name %q used twice", name, n)
				}
				seen[n] = true
				if b[i] != n {
					t.Errorf("%s: parameter %d is %q in one build, %q in another", name, i, n, b[i])
				}
			}
		}
	}
}

// TestSingleSharesNothing: the click loss alone gives a gradient to click's
// parameters and to nothing of the conversion task's (embeddings included).
func TestSingleSharesNothing(t *testing.T) {
	spec := modeltest.TinySpec(false)
	cfg := tiny(model.Config{})
	m, err := model.New("single", &cfg, spec, 1)
	if err != nil {
		t.Fatal(err)
	}
	randomBiases(m)
	b := modeltest.TinyBatch(spec, 6, 1)
	tp := nn.NewTape(true, 1)
	logits := m.Forward(tp, b)
	nn.BCEWithLogits(logits[0], b.Labels[0], nil, 1)
	tp.Backward()
	own := 0
	for _, p := range m.Params() {
		nz := false
		for _, g := range p.G {
			nz = nz || g != 0
		}
		isClick := strings.Contains(p.Name, ".click.") || strings.HasPrefix(p.Name, "emb.click.")
		if nz && !isClick {
			t.Errorf("click loss reaches %s", p.Name)
		}
		if nz {
			own++
		}
	}
	for _, p := range m.SparseParams() {
		// Backward may register rows with a zero gradient: look at values.
		nz := false
		for _, g := range p.G {
			nz = nz || g != 0
		}
		if nz && !strings.HasPrefix(p.Name, "emb.click.") {
			t.Errorf("click loss reaches table %s", p.Name)
		}
		if nz {
			own++
		}
	}
	if own == 0 {
		t.Fatal("click loss reaches no parameter at all")
	}
}

// censusSpec is a census-like schema: 30 categorical fields of vocabulary 50
// and 10 numeric fields, two tasks.
func censusSpec() model.Spec {
	var fs []feature.FieldSpec
	for i := range 30 {
		fs = append(fs, feature.FieldSpec{Name: fmt.Sprintf("c%d", i), Kind: feature.Categorical, Vocab: 50})
	}
	for i := range 10 {
		fs = append(fs, feature.FieldSpec{Name: fmt.Sprintf("n%d", i), Kind: feature.Numeric})
	}
	return model.Spec{Fields: fs, Tasks: []model.Task{{Name: "income", After: -1}, {Name: "marital", After: -1}}}
}

// TestZooParamCount checks the parameter counts at the default config on the
// census-like spec against counts worked out by hand from the architectures
// (DCRNN: projection, shared and per-task A and GRU, towers on [s; p; deep],
// one transfer gate).
func TestZooParamCount(t *testing.T) {
	const d, D = 16, 40 * 16
	lin := func(in, out int) int { return in*out + out }
	mlp := func(in int, sizes ...int) int {
		n := 0
		for _, s := range sizes {
			n += lin(in, s)
			in = s
		}
		return n
	}
	emb := 30*50*d + 10*2*d
	tower := func(in int) int { return mlp(in, 64) + lin(64, 1) }
	deep := mlp(D, 256, 128)
	gru := func(in, h int) int { return in*3*h + h*3*h + 2*3*h }
	const k, hs, hp = 64, 32, 32
	want := map[string]int{
		"dcrnn": emb + deep + lin(D, k) + lin(hs, k) + gru(k, hs) + 2*(lin(hs+hp, k)+gru(k, hp)) +
			2*tower(hs+hp+128) + lin(2*64, 64),
		"shared_bottom": emb + deep + 2*tower(128),
		"single":        2 * (emb + deep + tower(128)),
		"esmm":          emb + 2*(deep+tower(128)),
		"mmoe":          emb + 4*deep + 2*(lin(D, 4)+tower(128)),
		"ple":           emb + (2+2*1)*deep + 2*(lin(D, 1+2)+tower(128)),
		"aitm":          emb + 2*deep + lin(128, 128) + 128*3*128 + 2*tower(128),
		"dcnv2":         emb + 3*lin(D, D) + deep + 2*tower(D+128),
	}
	for _, name := range model.Names() {
		var cfg model.Config
		m, err := model.New(name, &cfg, censusSpec(), 1)
		if err != nil {
			t.Fatal(err)
		}
		got := model.CountParams(m)
		t.Logf("%-13s %9d parameters at the default config on the census-like spec", name, got)
		if _, ok := want[name]; !ok {
			t.Logf("%s: no count worked out by hand to compare with", name)
			continue
		}
		if got != want[name] {
			t.Errorf("%s: %d parameters, want %d", name, got, want[name])
		}
	}
}

func TestZooExpertHiddenEmpty(t *testing.T) {
	for _, name := range []string{"mmoe", "ple"} {
		cfg := model.Config{ExpertHidden: []int{}}
		_, err := model.New(name, &cfg, modeltest.TinySpec(false), 1)
		if err == nil || !strings.Contains(err.Error(), "expert_hidden") {
			t.Errorf("%s with expert_hidden []: error %v, want one naming expert_hidden", name, err)
		}
	}
}

// learnSpec is the synthetic problem of the learnability test: the click
// depends on field a, the conversion on field b (and on the click in the
// funnel case); field noise and the numeric field carry no signal.
func learnSpec(funnel bool) model.Spec {
	after := -1
	if funnel {
		after = 0
	}
	return model.Spec{
		Fields: []feature.FieldSpec{
			{Name: "a", Kind: feature.Categorical, Vocab: 8},
			{Name: "b", Kind: feature.Categorical, Vocab: 8},
			{Name: "noise", Kind: feature.Categorical, Vocab: 5},
			{Name: "x", Kind: feature.Numeric},
		},
		Tasks: []model.Task{{Name: "click", After: -1}, {Name: "conversion", After: after}},
	}
}

func learnBatch(n int) *feature.Batch {
	rng := rand.New(rand.NewPCG(11, 12))
	b := &feature.Batch{N: n, Fields: make([]feature.FieldData, 4), Labels: make([][]float32, 2)}
	for i := 0; i < n; i++ {
		a, bb := int32(rng.IntN(8)), int32(rng.IntN(8))
		b.Fields[0].IDs = append(b.Fields[0].IDs, a)
		b.Fields[1].IDs = append(b.Fields[1].IDs, bb)
		b.Fields[2].IDs = append(b.Fields[2].IDs, int32(rng.IntN(5)))
		b.Fields[3].Values = append(b.Fields[3].Values, float32(rng.NormFloat64()))
		var click, conv float32
		if a < 4 {
			click = 1
			if bb%2 == 0 {
				conv = 1
			}
		}
		b.Labels[0] = append(b.Labels[0], click)
		b.Labels[1] = append(b.Labels[1], conv)
	}
	return b
}

// TestZooLearns trains each model with plain full-batch SGD on the synthetic
// problem and wants the training loss to fall by more than 20%.
func TestZooLearns(t *testing.T) {
	const steps, lr = 300, 0.2
	b := learnBatch(256)
	for _, name := range model.Names() {
		for _, funnel := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/funnel=%v", name, funnel), func(t *testing.T) {
				spec := learnSpec(funnel)
				cfg := model.Config{EmbeddingDim: 4, Deep: []int{16}, Tower: []int{8}, ExpertHidden: []int{16}, Experts: 3, CrossLayers: 2}
				m, err := model.New(name, &cfg, spec, 7)
				if err != nil {
					t.Fatal(err)
				}
				obj := model.NewObjective(&cfg, spec)
				loss := func() float64 { return obj.Loss(m.Forward(nn.NewTape(false, 1), b), b, nil) }
				before := loss()
				tp := nn.NewTape(true, 1)
				for range steps {
					tp.Reset()
					l := obj.Loss(m.Forward(tp, b), b, nil)
					if math.IsNaN(l) {
						t.Fatal("loss is NaN")
					}
					tp.Backward()
					sgd(m, lr)
				}
				after := loss()
				t.Logf("loss %.4f -> %.4f", before, after)
				if !(after < 0.8*before) {
					t.Errorf("loss %.4f -> %.4f after %d SGD steps, want a fall of more than 20%%", before, after, steps)
				}
			})
		}
	}
}

// sgd applies W -= lr·G to the dense parameters and the touched embedding
// rows (the loss is a batch mean, so lr is per example), then clears the gradients.
func sgd(m model.Model, lr float32) {
	for _, p := range m.Params() {
		for i, g := range p.G {
			p.W[i] -= lr * g
		}
		p.ZeroGrad()
	}
	for _, p := range m.SparseParams() {
		for k, id := range p.Touched {
			row := p.Row(id)
			for j, g := range p.G[k*p.Cols : (k+1)*p.Cols] {
				row[j] -= lr * g
			}
		}
		p.ZeroGrad()
	}
}

// TestZooEveryParamUsed: every dense parameter and every embedding table gets
// a non-zero gradient from the objective, on two and three tasks, so no
// built layer is left out of the forward pass.
func TestZooEveryParamUsed(t *testing.T) {
	for _, name := range model.Names() {
		for _, spec := range []model.Spec{modeltest.TinySpec(true), modeltest.TinySpec(false), chainSpec()} {
			cfg := tiny(model.Config{Levels: 2})
			m, err := model.New(name, &cfg, spec, 1)
			if err != nil {
				t.Fatal(err)
			}
			// Positive biases keep every ReLU unit alive: a unit dead on
			// the whole tiny batch would look unused.
			for _, p := range m.Params() {
				if p.NoDecay {
					for i := range p.W {
						p.W[i] = 0.1 + 0.5*float32(i%3)
					}
				}
			}
			b := modeltest.TinyBatch(spec, 8, 3)
			tp := nn.NewTape(true, 1)
			model.NewObjective(&cfg, spec).Loss(m.Forward(tp, b), b, nil)
			tp.Backward()
			nonzero := func(g []float32) bool {
				for _, v := range g {
					if v != 0 {
						return true
					}
				}
				return false
			}
			for _, p := range m.Params() {
				if !nonzero(p.G) {
					t.Errorf("%s, %d tasks: %s gets no gradient", name, len(spec.Tasks), p.Name)
				}
			}
			for _, p := range m.SparseParams() {
				if !nonzero(p.G) {
					t.Errorf("%s, %d tasks: table %s gets no gradient", name, len(spec.Tasks), p.Name)
				}
			}
		}
	}
}
