package nn_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dcrnn/dcrnn/internal/nn"
	"github.com/dcrnn/dcrnn/internal/nn/nntest"
	"github.com/dcrnn/dcrnn/internal/tensor"
)

// fusedCase computes one output from inputs ins and parameters ps in two
// ways that must agree bit for bit: with a fused op and with the ops it
// replaces.
type fusedCase struct {
	name          string
	ins           []*nn.Mat
	ps            []*nn.Param
	fused, simple func(tp *nn.Tape) *nn.Mat
}

func fusedCases(rng *rand.Rand, rows int) []fusedCase {
	var cs []fusedCase
	for _, act := range []nn.Activation{nn.Identity, nn.ReLU, nn.Tanh, nn.Sigmoid} {
		l := nn.NewLinear("l", 37, 21, act, rng)
		randomize(rng, 0.5, l.Params()...)
		x, v := randMat(rng, rows, 37), randMat(rng, rows, 21)
		cs = append(cs,
			fusedCase{"forwardmul/" + act.String(), []*nn.Mat{x, v}, l.Params(),
				func(tp *nn.Tape) *nn.Mat { return l.ForwardMul(tp, x, v) },
				func(tp *nn.Tape) *nn.Mat { return nn.Mul(tp, v, l.Forward(tp, x)) }},
			fusedCase{"forwardmul/zero/" + act.String(), []*nn.Mat{v}, l.Params(),
				func(tp *nn.Tape) *nn.Mat { return l.ForwardMul(tp, nil, v) },
				func(tp *nn.Tape) *nn.Mat { return nn.Mul(tp, v, l.Forward(tp, tp.ZeroMat(rows, 37))) }})
		wide := randMat(rng, rows, 50)
		lc := nn.NewLinear("c", 16, 300, act, rng) // k of dx's gemm beyond one block
		randomize(rng, 0.5, lc.Params()...)
		cs = append(cs, fusedCase{"forwardcols/" + act.String(), []*nn.Mat{wide}, lc.Params(),
			func(tp *nn.Tape) *nn.Mat { return lc.ForwardCols(tp, wide, 17) },
			func(tp *nn.Tape) *nn.Mat { return lc.Forward(tp, nn.SliceCols(tp, wide, 17, 33)) }})
	}
	for _, kind := range []string{"gru", "lstm", "rnn"} {
		c, err := nn.NewCell(kind, "c", 24, 13, rng)
		if err != nil {
			panic(err)
		}
		randomize(rng, 0.6, c.Params()...)
		x1, x2 := randMat(rng, rows, 24), randMat(rng, rows, 24)
		cs = append(cs, fusedCase{"cell/zerostate/" + kind, []*nn.Mat{x1, x2}, c.Params(),
			func(tp *nn.Tape) *nn.Mat { return c.Step(tp, x2, c.Step(tp, x1, nil)) },
			func(tp *nn.Tape) *nn.Mat { return c.Step(tp, x2, c.Step(tp, x1, tp.ZeroMat(rows, c.StateSize()))) }})
	}
	return cs
}

// TestFusedOpsExact: ForwardMul equals Mul of Forward, ForwardCols equals
// Forward of SliceCols, and a cell stepped from a nil state equals one
// stepped from a zero matrix, in values and in every gradient, bit for bit,
// on one and two threads, at a batch large enough to split across threads.
func TestFusedOpsExact(t *testing.T) {
	defer tensor.SetThreads(tensor.Threads())
	for _, threads := range []int{1, 2} {
		tensor.SetThreads(threads)
		rng := rand.New(rand.NewPCG(8, 8))
		for _, c := range fusedCases(rng, 1031) {
			t.Run(fmt.Sprintf("threads=%d/%s", threads, c.name), func(t *testing.T) {
				run := func(f func(*nn.Tape) *nn.Mat) (out []float32, grads [][]float32) {
					for _, m := range c.ins {
						clear(m.G)
					}
					for _, p := range c.ps {
						p.ZeroGrad()
					}
					tp := nn.NewTape(true, 1)
					y := f(tp)
					nntest.Projected(y, 3)
					tp.Backward()
					out = append(out, y.V...)
					for _, m := range c.ins {
						grads = append(grads, append([]float32(nil), m.G...))
					}
					for _, p := range c.ps {
						grads = append(grads, append([]float32(nil), p.G...))
					}
					return out, grads
				}
				fo, fg := run(c.fused)
				so, sg := run(c.simple)
				same := func(what string, a, b []float32) {
					t.Helper()
					for i := range b {
						if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
							t.Fatalf("%s[%d]: fused %v, reference %v", what, i, a[i], b[i])
						}
					}
				}
				same("output", fo, so)
				for i := range sg {
					same(fmt.Sprintf("gradient %d", i), fg[i], sg[i])
				}
			})
		}
	}
}
