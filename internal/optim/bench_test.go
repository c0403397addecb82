package optim

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/dcrnn/dcrnn/internal/nn"
	"github.com/dcrnn/dcrnn/internal/tensor"
)

// mlp24Dense returns the dense parameters of the mlp24 workload (package internal/bench):
// two towers 384-256-128-64-1, 279,554 floats, with random gradients.
func mlp24Dense() []*nn.Param {
	rng := rand.New(rand.NewPCG(1, 2))
	var ps []*nn.Param
	for tower := range 2 {
		dims := []int{384, 256, 128, 64, 1}
		for l := 0; l+1 < len(dims); l++ {
			w := nn.NewParam(fmt.Sprintf("t%d.l%d.w", tower, l), dims[l], dims[l+1])
			b := nn.NewParam(fmt.Sprintf("t%d.l%d.b", tower, l), 1, dims[l+1])
			b.NoDecay = true
			ps = append(ps, w, b)
		}
	}
	for _, p := range ps {
		for i := range p.W {
			p.W[i] = float32(rng.NormFloat64() * 0.05)
		}
	}
	return ps
}

func fillDenseGrads(ps []*nn.Param) {
	for _, p := range ps {
		for i := range p.G {
			p.G[i] = float32(i%7) * 1e-3
		}
	}
}

// mlp24Tables returns the 24 embedding tables of mlp24 (100,000×16) and
// 8 batches, each with 1024 uniform ids per table (≈1019 distinct rows), so
// that successive steps touch different, mostly uncached rows as in training.
func mlp24Tables() ([]*nn.SparseParam, [][][]int32) {
	rng := rand.New(rand.NewPCG(3, 4))
	tables := make([]*nn.SparseParam, 24)
	for i := range tables {
		tables[i] = nn.NewSparseParam(fmt.Sprintf("emb%d", i), 100_000, 16)
	}
	batches := make([][][]int32, 8)
	for k := range batches {
		batches[k] = make([][]int32, len(tables))
		for i := range tables {
			batches[k][i] = make([]int32, 1024)
			for j := range batches[k][i] {
				batches[k][i][j] = int32(rng.IntN(100_000))
			}
		}
	}
	return tables, batches
}

// warmTables touches every row once and steps, so that the optimizer state
// pages are mapped (as after the first steps of training) before timing.
func warmTables(tables []*nn.SparseParam, o Optimizer) {
	for _, p := range tables {
		for id := range int32(p.Rows) {
			p.GradRow(id)[0] = 1e-3
		}
	}
	o.Step()
}

func touchBatch(tables []*nn.SparseParam, ids [][]int32) {
	for i, p := range tables {
		for _, id := range ids[i] {
			g := p.GradRow(id)
			for j := range g {
				g[j] += 1e-3
			}
		}
	}
}

func threadCounts(b *testing.B, f func(b *testing.B)) {
	defer tensor.SetThreads(0)
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", n), func(b *testing.B) {
			tensor.SetThreads(n)
			f(b)
		})
	}
}

// BenchmarkAdamMLP24 is the dense Adam step of mlp24 (279,554 floats); the
// gradients are refilled outside the timer.
func BenchmarkAdamMLP24(b *testing.B) {
	threadCounts(b, func(b *testing.B) {
		ps := mlp24Dense()
		a, err := NewAdam(ps, AdamConfig{WeightDecay: 1e-4})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			// Refill: with zero gradients the moments decay into float32
			// subnormals, which are many times slower on x86.
			b.StopTimer()
			fillDenseGrads(ps)
			b.StartTimer()
			a.Step()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(a.off[len(ps)]), "ns/float")
	})
}

// BenchmarkSparseAdamMLP24 is the lazy sparse Adam step of mlp24: 24 tables
// of 100,000×16, one batch of 1024 uniform ids each (≈24×1019 rows, cycling
// through 8 batches). The touch (GradRow) is outside the timer.
func BenchmarkSparseAdamMLP24(b *testing.B) {
	threadCounts(b, func(b *testing.B) {
		tables, batches := mlp24Tables()
		s, err := NewSparseAdam(tables, SparseAdamConfig{})
		if err != nil {
			b.Fatal(err)
		}
		benchSparse(b, tables, batches, s)
	})
}

// BenchmarkSparseAdagradMLP24 is BenchmarkSparseAdamMLP24 with Adagrad.
func BenchmarkSparseAdagradMLP24(b *testing.B) {
	threadCounts(b, func(b *testing.B) {
		tables, batches := mlp24Tables()
		s, err := NewSparseAdagrad(tables, AdagradConfig{})
		if err != nil {
			b.Fatal(err)
		}
		benchSparse(b, tables, batches, s)
	})
}

func benchSparse(b *testing.B, tables []*nn.SparseParam, batches [][][]int32, o Optimizer) {
	warmTables(tables, o)
	rows, k := 0, 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		touchBatch(tables, batches[k%len(batches)])
		k++
		for _, p := range tables {
			rows += len(p.Touched)
		}
		b.StartTimer()
		o.Step()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rows), "ns/row")
}

// BenchmarkClipGradNormMLP24 measures and clips the mlp24 gradients (dense
// and one batch of touched rows).
func BenchmarkClipGradNormMLP24(b *testing.B) {
	ps := mlp24Dense()
	fillDenseGrads(ps)
	tables, batches := mlp24Tables()
	touchBatch(tables, batches[0])
	b.ReportAllocs()
	for b.Loop() {
		ClipGradNorm(ps, tables, 1e9) // measure only: the gradients stay the same
	}
}
