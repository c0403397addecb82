package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/nn"
	"github.com/dcrnn/dcrnn/internal/nn/nntest"
	"github.com/dcrnn/dcrnn/internal/tensor"
)

// refForward is DCRNN's forward pass as first written: one Linear, one Mul
// and one cell step per cell and cross step, from an explicit zero state.
// TestDCRNNMatchesReference holds the optimised Forward to it bit for bit.
func (m *DCRNN) refForward(t *nn.Tape, b *feature.Batch) []*nn.Mat {
	x0 := m.emb.Forward(t, b)
	deep := runMLP(t, m.deep, x0)
	var u *nn.Mat
	if m.inProj != nil {
		u = m.inProj.Forward(t, x0)
	}
	nt := len(m.spec.Tasks)
	var s *nn.Mat
	if m.sharedCell != nil {
		s = t.ZeroMat(b.N, m.sharedCell.StateSize())
	}
	p := make([]*nn.Mat, nt)
	for i, c := range m.taskCell {
		p[i] = t.ZeroMat(b.N, c.StateSize())
	}
	for l := 0; l < m.steps; l++ {
		v := u
		if v == nil {
			v = m.fieldPrj[l].Forward(t, nn.SliceCols(t, x0, l*m.dim, (l+1)*m.dim))
		}
		var sh *nn.Mat
		if s != nil {
			sh = m.sharedCell.Output(t, s)
		}
		for i := range p {
			if p[i] == nil {
				continue
			}
			in := m.taskCell[i].Output(t, p[i])
			if sh != nil {
				in = nn.Concat(t, sh, in)
			}
			c := nn.Mul(t, v, m.taskA[i].Forward(t, in))
			p[i] = m.taskCell[i].Step(t, c, p[i])
		}
		if s != nil {
			c := nn.Mul(t, v, m.sharedA.Forward(t, sh))
			s = m.sharedCell.Step(t, c, s)
		}
	}
	var sL *nn.Mat
	if s != nil {
		sL = m.sharedCell.Output(t, s)
	}
	hidden := make([]*nn.Mat, nt)
	out := make([]*nn.Mat, nt)
	for i, tw := range m.towers {
		parts := make([]*nn.Mat, 0, 3)
		if sL != nil {
			parts = append(parts, sL)
		}
		if p[i] != nil {
			parts = append(parts, m.taskCell[i].Output(t, p[i]))
		}
		parts = append(parts, deep)
		h := tw.hidden(t, nn.Concat(t, parts...))
		if g := m.gates[i]; g != nil {
			ha := hidden[predecessor(m.spec, i)]
			h = nn.Add(t, h, nn.Mul(t, g.Forward(t, nn.Concat(t, ha, h)), ha))
		}
		hidden[i] = h
		out[i] = tw.logit(t, h)
	}
	return out
}

// refSpec has every field kind, three tasks with a funnel and a batch large
// enough that the kernels take their blocked and multi-threaded paths.
func refSpec() Spec {
	var fs []feature.FieldSpec
	for i := range 5 {
		fs = append(fs, feature.FieldSpec{Name: fmt.Sprintf("c%d", i), Kind: feature.Categorical, Vocab: 30})
	}
	fs = append(fs, feature.FieldSpec{Name: "m", Kind: feature.MultiCategorical, Vocab: 20},
		feature.FieldSpec{Name: "x", Kind: feature.Numeric})
	return Spec{Fields: fs, Tasks: []Task{{Name: "click", After: -1}, {Name: "conv", After: 0}, {Name: "other", After: -1}}}
}

func refBatch(spec Spec, n int, seed uint64) *feature.Batch {
	rng := rand.New(rand.NewPCG(seed, 9))
	b := nntest.Batch(spec.Fields, n, rng, 0)
	for range spec.Tasks {
		y := make([]float32, n)
		for i := range y {
			y[i] = float32(rng.IntN(2))
		}
		b.Labels = append(b.Labels, y)
	}
	return b
}

// TestDCRNNMatchesReference: for every cell, cross mode and sharing ratio,
// the logits, the loss and every gradient (dense parameters, embedding rows)
// of Forward equal those of refForward bit for bit, on 1 and 2 threads, at a
// batch size where the gemms split across threads.
func TestDCRNNMatchesReference(t *testing.T) {
	defer tensor.SetThreads(tensor.Threads())
	spec := refSpec()
	b := refBatch(spec, 1103, 1)
	for _, threads := range []int{1, 2} {
		tensor.SetThreads(threads)
		for _, mode := range []string{"depth", "fields"} {
			for _, cell := range []string{"gru", "lstm", "rnn"} {
				for _, rho := range []float64{0, 0.5, 1} {
					name := fmt.Sprintf("threads=%d/%s/%s/rho=%g", threads, mode, cell, rho)
					t.Run(name, func(t *testing.T) {
						r := rho
						cfg := Config{EmbeddingDim: 8, CrossMode: mode, Cell: cell, Rho: &r, StateSize: 24, Proj: 40, Dropout: 0.1}
						mi, err := New("dcrnn", &cfg, spec, 3)
						if err != nil {
							t.Fatal(err)
						}
						m := mi.(*DCRNN)
						brng := rand.New(rand.NewPCG(4, 4))
						for _, p := range m.Params() {
							if p.NoDecay {
								for i := range p.W {
									p.W[i] = float32(brng.Float64() - 0.5)
								}
							}
						}
						obj := NewObjective(&cfg, spec)
						type result struct {
							logits [][]float32
							loss   float64
							dense  [][]float32
							sparse [][]float32
						}
						run := func(fwd func(*nn.Tape, *feature.Batch) []*nn.Mat, train bool) result {
							for _, p := range m.Params() {
								p.ZeroGrad()
							}
							for _, p := range m.SparseParams() {
								p.ZeroGrad()
							}
							var r result
							tp := nn.NewTape(train, 5)
							for range 2 { // the second pass runs on reused buffers
								tp.Reset()
								for _, p := range m.Params() {
									p.ZeroGrad()
								}
								for _, p := range m.SparseParams() {
									p.ZeroGrad()
								}
								logits := fwd(tp, b)
								r.logits = r.logits[:0]
								for _, z := range logits {
									r.logits = append(r.logits, append([]float32(nil), z.V...))
								}
								r.loss = obj.Loss(logits, b, nil)
								if train {
									tp.Backward()
								}
							}
							for _, p := range m.Params() {
								r.dense = append(r.dense, append([]float32(nil), p.G...))
							}
							for _, p := range m.SparseParams() {
								r.sparse = append(r.sparse, append([]float32(nil), p.G...))
							}
							return r
						}
						same := func(what string, a, b []float32) {
							t.Helper()
							if len(a) != len(b) {
								t.Fatalf("%s: %d values, reference %d", what, len(a), len(b))
							}
							for i := range a {
								if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
									t.Fatalf("%s[%d] = %v, reference %v", what, i, a[i], b[i])
								}
							}
						}
						for _, train := range []bool{false, true} {
							got, want := run(m.Forward, train), run(m.refForward, train)
							for i := range want.logits {
								same(fmt.Sprintf("train=%v logits %d", train, i), got.logits[i], want.logits[i])
							}
							if got.loss != want.loss {
								t.Fatalf("train=%v loss %v, reference %v", train, got.loss, want.loss)
							}
							if !train {
								continue
							}
							for i, p := range m.Params() {
								same("grad "+p.Name, got.dense[i], want.dense[i])
							}
							for i, p := range m.SparseParams() {
								same("grad "+p.Name, got.sparse[i], want.sparse[i])
							}
						}
					})
				}
			}
		}
	}
}
