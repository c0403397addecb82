package model_test

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/dcrnn/dcrnn/internal/bench"
	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/nn"
	"github.com/dcrnn/dcrnn/internal/tensor"
)

// censusBatch returns n rows for censusSpec: ids uniform over each
// vocabulary, standard normal numeric values, Bernoulli(0.5) labels.
func censusBatch(spec model.Spec, n int) *feature.Batch {
	rng := rand.New(rand.NewPCG(1, 2))
	b := &feature.Batch{N: n, Fields: make([]feature.FieldData, len(spec.Fields))}
	for f, fs := range spec.Fields {
		fd := &b.Fields[f]
		for range n {
			if fs.Kind == feature.Numeric {
				fd.Values = append(fd.Values, float32(rng.NormFloat64()))
			} else {
				fd.IDs = append(fd.IDs, rng.Int32N(int32(fs.Vocab)))
			}
		}
	}
	for range spec.Tasks {
		y := make([]float32, n)
		for i := range y {
			y[i] = float32(rng.IntN(2))
		}
		b.Labels = append(b.Labels, y)
	}
	return b
}

// BenchmarkModelTrain is one training step without the optimizer (forward,
// objective, backward, gradient reset) of every registered model at its
// default config on the census-like spec, batch 1024, on GOMAXPROCS threads
// (set with -cpu: tensor's thread count is set from it here, since tensor
// reads GOMAXPROCS once at start-up, before -cpu applies).
func BenchmarkModelTrain(b *testing.B) {
	spec := censusSpec()
	batch := censusBatch(spec, 1024)
	for _, name := range model.Names() {
		b.Run(name, func(b *testing.B) {
			defer tensor.SetThreads(tensor.Threads())
			tensor.SetThreads(runtime.GOMAXPROCS(0))
			var cfg model.Config
			m, err := model.New(name, &cfg, spec, 1)
			if err != nil {
				b.Fatal(err)
			}
			obj := model.NewObjective(&cfg, spec)
			tp := nn.NewTape(true, 1)
			params, sparse := m.Params(), m.SparseParams()
			step := func() {
				tp.Reset()
				obj.Loss(m.Forward(tp, batch), batch, nil)
				tp.Backward()
				for _, p := range params {
					p.ZeroGrad()
				}
				for _, p := range sparse {
					p.ZeroGrad()
				}
			}
			step()
			b.ReportAllocs()
			b.ResetTimer()
			cpu := bench.CPUTime()
			for b.Loop() {
				step()
			}
			reportRows(b, batch.N, cpu)
		})
	}
}

// BenchmarkModelInfer is one inference forward pass of every registered
// model, as BenchmarkModelTrain.
func BenchmarkModelInfer(b *testing.B) {
	spec := censusSpec()
	batch := censusBatch(spec, 1024)
	for _, name := range model.Names() {
		b.Run(name, func(b *testing.B) {
			defer tensor.SetThreads(tensor.Threads())
			tensor.SetThreads(runtime.GOMAXPROCS(0))
			var cfg model.Config
			m, err := model.New(name, &cfg, spec, 1)
			if err != nil {
				b.Fatal(err)
			}
			tp := nn.NewTape(false, 1)
			tp.Reset()
			m.Forward(tp, batch)
			b.ReportAllocs()
			b.ResetTimer()
			cpu := bench.CPUTime()
			for b.Loop() {
				tp.Reset()
				m.Forward(tp, batch)
			}
			reportRows(b, batch.N, cpu)
		})
	}
}

// reportRows reports rows/s and the process CPU time per op since cpu0 (all
// threads; on a machine shared with other jobs it moves less than the wall
// time, which also counts the time spent waiting for a core).
func reportRows(b *testing.B, rows int, cpu0 time.Duration) {
	b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "rows/s")
	if c := bench.CPUTime() - cpu0; c > 0 {
		b.ReportMetric(float64(c.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
