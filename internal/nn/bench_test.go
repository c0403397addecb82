package nn_test

import (
	"math/rand/v2"
	"testing"

	"github.com/dcrnn/dcrnn/internal/bench"
	"github.com/dcrnn/dcrnn/internal/nn"
	"github.com/dcrnn/dcrnn/internal/tensor"
)

// benchOp times f on a training tape (forward and backward, with a unit
// gradient on the output) or an inference tape, on one thread, and reports
// the CPU time per op too (on a busy machine the wall time also counts the
// waits for a core).
func benchOp(b *testing.B, train bool, f func(tp *nn.Tape) *nn.Mat) {
	defer tensor.SetThreads(tensor.Threads())
	tensor.SetThreads(1)
	tp := nn.NewTape(train, 1)
	step := func() {
		tp.Reset()
		y := f(tp)
		if train {
			for i := range y.G {
				y.G[i] = 1
			}
			tp.Backward()
		}
	}
	step()
	b.ReportAllocs()
	cpu := bench.CPUTime()
	for b.Loop() {
		step()
	}
	if c := bench.CPUTime() - cpu; c > 0 {
		b.ReportMetric(float64(c.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkCrossStep is one DCRNN cross step at its default sizes (batch
// 1024, K = 64, a GRU of 32 units), from a state and from the zero state,
// fused (Linear.ForwardMul, a nil state) and as the ops it replaces
// (Mul of Linear.Forward, a cleared state matrix).
func BenchmarkCrossStep(b *testing.B) {
	const rows, k, h = 1024, 64, 32
	rng := rand.New(rand.NewPCG(1, 1))
	v, s := randMat(rng, rows, k), randMat(rng, rows, h)
	a := nn.NewLinear("A", h, k, nn.Identity, rng)
	cell, _ := nn.NewCell("gru", "c", k, h, rng)
	for _, mode := range []string{"infer", "train"} {
		train := mode == "train"
		b.Run("fused/state/"+mode, func(b *testing.B) {
			benchOp(b, train, func(tp *nn.Tape) *nn.Mat { return cell.Step(tp, a.ForwardMul(tp, s, v), s) })
		})
		b.Run("ops/state/"+mode, func(b *testing.B) {
			benchOp(b, train, func(tp *nn.Tape) *nn.Mat { return cell.Step(tp, nn.Mul(tp, v, a.Forward(tp, s)), s) })
		})
		b.Run("fused/zero/"+mode, func(b *testing.B) {
			benchOp(b, train, func(tp *nn.Tape) *nn.Mat { return cell.Step(tp, a.ForwardMul(tp, nil, v), nil) })
		})
		b.Run("ops/zero/"+mode, func(b *testing.B) {
			benchOp(b, train, func(tp *nn.Tape) *nn.Mat {
				z := tp.ZeroMat(rows, h)
				return cell.Step(tp, nn.Mul(tp, v, a.Forward(tp, z)), z)
			})
		})
	}
}

// BenchmarkCellStep is one step of each cell from a state, batch 1024,
// input 64, 32 units.
func BenchmarkCellStep(b *testing.B) {
	rng := rand.New(rand.NewPCG(2, 2))
	x := randMat(rng, 1024, 64)
	for _, kind := range []string{"gru", "lstm", "rnn"} {
		c, _ := nn.NewCell(kind, "c", 64, 32, rng)
		s := randMat(rng, 1024, c.StateSize())
		for _, mode := range []string{"infer", "train"} {
			b.Run(kind+"/"+mode, func(b *testing.B) {
				benchOp(b, mode == "train", func(tp *nn.Tape) *nn.Mat { return c.Step(tp, x, s) })
			})
		}
	}
}

// BenchmarkFieldProjection is DCRNN's per-field projection in fields mode
// (d = 16 of 40 fields to K = 64, batch 1024): in place
// (Linear.ForwardCols) and as Forward of SliceCols.
func BenchmarkFieldProjection(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 3))
	x0 := randMat(rng, 1024, 40*16)
	l := nn.NewLinear("p", 16, 64, nn.Identity, rng)
	for _, mode := range []string{"infer", "train"} {
		train := mode == "train"
		b.Run("forwardcols/"+mode, func(b *testing.B) {
			benchOp(b, train, func(tp *nn.Tape) *nn.Mat { return l.ForwardCols(tp, x0, 20*16) })
		})
		b.Run("slicecols/"+mode, func(b *testing.B) {
			benchOp(b, train, func(tp *nn.Tape) *nn.Mat { return l.Forward(tp, nn.SliceCols(tp, x0, 20*16, 21*16)) })
		})
	}
}
