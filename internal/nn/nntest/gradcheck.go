// Package nntest holds the finite-difference gradient check that every layer
// and every model of dcrnn must pass, the random feature batches (Batch)
// that the tests of layers and models run on, and the comparisons of their
// outputs (SameBits, and SameScore for a row scored in two batch layouts).
package nntest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/dcrnn/dcrnn/internal/nn"
)

// Loss runs one forward pass on a fresh training tape and returns the loss.
// It must also seed the gradients of its outputs (the loss functions of
// package nn do; see Projected for a plain output), so that tape.Backward
// yields ∂loss/∂everything. It must be deterministic: the same parameter
// values give the same loss (dropout masks drawn from the tape's Rng are, as
// every call gets a tape with the same seed).
type Loss func(t *nn.Tape) float64

// Projected turns a layer output into a scalar loss Σ r⊙out with a fixed
// random r (seeded by seed) and seeds out.G = r. Use it inside a Loss.
func Projected(out *nn.Mat, seed uint64) float64 {
	rng := rand.New(rand.NewPCG(seed, 7))
	var s float64
	for i, v := range out.V {
		r := rng.Float64()*2 - 1
		s += r * float64(v)
		if out.G != nil {
			out.G[i] += float32(r)
		}
	}
	return s
}

// Options tune the check. Zero values take the defaults.
type Options struct {
	Eps       float64 // central-difference step; default 1e-2, with retries at 3e-3 and 1e-3
	RelTol    float64 // default 2e-2
	AbsTol    float64 // default 2e-3
	MaxPerArg int     // coordinates checked per tensor (sampled); default 40
	Seed      uint64
}

// Check compares the gradients from tape.Backward with float64 central
// differences of loss, for every input matrix, every dense parameter and the
// touched rows of every sparse parameter. A coordinate passes when analytic
// and numeric gradients agree within AbsTol + RelTol·max(|a|, |n|) at one of
// three step sizes (a ReLU kink crossed at one step does not fail the check).
// It fails the test if any coordinate disagrees, or if every gradient is zero
// (a check that cannot fail proves nothing).
func Check(tb testing.TB, loss Loss, inputs []*nn.Mat, params []*nn.Param, sparse []*nn.SparseParam, o Options) {
	tb.Helper()
	if o.Eps == 0 {
		o.Eps = 1e-2
	}
	if o.RelTol == 0 {
		o.RelTol = 2e-2
	}
	if o.AbsTol == 0 {
		o.AbsTol = 2e-3
	}
	if o.MaxPerArg == 0 {
		o.MaxPerArg = 40
	}
	eval := func() float64 {
		t := nn.NewTape(true, 12345)
		return loss(t)
	}
	// Analytic gradients.
	for _, m := range inputs {
		clear(m.G)
	}
	for _, p := range params {
		p.ZeroGrad()
	}
	for _, p := range sparse {
		p.ZeroGrad()
	}
	t := nn.NewTape(true, 12345)
	l0 := loss(t)
	t.Backward()

	type coord struct {
		name string
		val  *float32
		grad float64
	}
	var coords []coord
	rng := rand.New(rand.NewPCG(o.Seed, 99))
	pick := func(n int) []int {
		idx := rng.Perm(n)
		if len(idx) > o.MaxPerArg {
			idx = idx[:o.MaxPerArg]
		}
		return idx
	}
	for k, m := range inputs {
		for _, i := range pick(len(m.V)) {
			coords = append(coords, coord{fmt.Sprintf("input %d [%d]", k, i), &m.V[i], float64(m.G[i])})
		}
	}
	for _, p := range params {
		for _, i := range pick(len(p.W)) {
			coords = append(coords, coord{fmt.Sprintf("%s[%d]", p.Name, i), &p.W[i], float64(p.G[i])})
		}
	}
	for _, p := range sparse {
		if len(p.Touched) == 0 {
			tb.Errorf("gradcheck: sparse %s: no row touched", p.Name)
		}
		for _, s := range pick(len(p.Touched) * p.Cols) {
			row, col := p.Touched[s/p.Cols], s%p.Cols
			coords = append(coords, coord{fmt.Sprintf("%s[row %d, col %d]", p.Name, row, col), &p.Row(row)[col], float64(p.G[s])})
		}
	}
	var nonzero, kinks int
	fails := 0
	for _, c := range coords {
		if c.grad != 0 {
			nonzero++
		}
		ok := false
		var nums []float64
		var fwd, bwd float64 // one-sided differences at the last step
		for _, eps := range []float64{o.Eps, o.Eps * 0.3, o.Eps * 0.1} {
			orig := *c.val
			*c.val = orig + float32(eps)
			hi := float64(*c.val) - float64(orig)
			lp := eval()
			*c.val = orig - float32(eps)
			lo := float64(orig) - float64(*c.val)
			lm := eval()
			*c.val = orig
			num := (lp - lm) / (hi + lo)
			nums = append(nums, num)
			fwd, bwd = (lp-l0)/hi, (l0-lm)/lo
			if math.Abs(num-c.grad) <= o.AbsTol+o.RelTol*math.Max(math.Abs(num), math.Abs(c.grad)) {
				ok = true
				break
			}
		}
		if ok {
			continue
		}
		// Where the finite differences at the three steps disagree with each
		// other, or the one-sided differences do, the loss is not smooth
		// around this point (a ReLU kink lies within a step, or exactly at
		// it): no derivative can be checked there.
		lo, hi := slices.Min(nums), slices.Max(nums)
		if hi-lo > o.AbsTol+o.RelTol*math.Max(math.Abs(lo), math.Abs(hi)) ||
			math.Abs(fwd-bwd) > o.AbsTol+o.RelTol*math.Max(math.Abs(fwd), math.Abs(bwd)) {
			kinks++
			continue
		}
		fails++
		if fails <= 10 {
			tb.Errorf("gradcheck: %s: analytic %.6g, numeric %.6g", c.name, c.grad, nums[0])
		}
	}
	if kinks*5 > len(coords) {
		tb.Errorf("gradcheck: %d of %d coordinates sit on non-smooth points; the check proves too little", kinks, len(coords))
	}
	if fails > 10 {
		tb.Errorf("gradcheck: %d of %d coordinates disagree", fails, len(coords))
	}
	if len(coords) == 0 || nonzero == 0 {
		tb.Errorf("gradcheck: all %d checked gradients are zero", len(coords))
	}
}
