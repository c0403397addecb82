package nn_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dcrnn/dcrnn/internal/nn"
	"github.com/dcrnn/dcrnn/internal/tensor"
)

// linearPass runs a forward and backward pass of l on x (a fresh tape with
// packs, nil for none) and returns y, dx and l's weight gradient.
func linearPass(l *nn.Linear, packs *nn.Packs, x []float32, rows int) (y, dx, dw []float32) {
	t := nn.NewTape(true, 1)
	t.Packs = packs
	in := nn.NewMat(rows, l.In)
	copy(in.V, x)
	out := l.Forward(t, in)
	for i := range out.G {
		out.G[i] = float32(i%7) - 3
	}
	l.W.ZeroGrad()
	l.B.ZeroGrad()
	t.Backward()
	return append([]float32(nil), out.V...), append([]float32(nil), in.G...), append([]float32(nil), l.W.G...)
}

// TestPacksInvalidate: a layer on a tape with Packs gives the bits it gives
// without, forward (W packed) and backward (Wᵀ packed); after its weights
// change, Invalidate makes the next pass use the new ones; without it the
// pass would still multiply by the old ones, which is why every owner of
// a Packs invalidates it after a write.
func TestPacksInvalidate(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	const rows = 70
	l := nn.NewLinear("l", 300, 40, nn.ReLU, r)
	x := make([]float32, rows*l.In)
	for i := range x {
		x[i] = r.Float32()*2 - 1
	}
	check := func(what string, got, want [3][]float32) {
		t.Helper()
		for k, name := range []string{"y", "dx", "dW"} {
			for i := range want[k] {
				if math.Float32bits(got[k][i]) != math.Float32bits(want[k][i]) {
					t.Fatalf("%s: %s[%d] = %v, want %v", what, name, i, got[k][i], want[k][i])
				}
			}
		}
	}
	pass := func(p *nn.Packs) [3][]float32 {
		y, dx, dw := linearPass(l, p, x, rows)
		return [3][]float32{y, dx, dw}
	}
	packs := nn.NewPacks()
	old := pass(nil)
	check("packed", pass(packs), old)
	if tensor.Backend() == "go-avx2" && packs.Len() != 2 {
		t.Fatalf("%d packs, want W and Wᵀ", packs.Len())
	}
	for i := range l.W.W {
		l.W.W[i] *= -0.75 // an optimizer step
	}
	updated := pass(nil)
	if tensor.Backend() == "go-avx2" {
		stale := pass(packs)
		if fmt.Sprint(stale[0]) != fmt.Sprint(old[0]) {
			t.Fatalf("a pack is not a copy: it followed the write without Invalidate")
		}
	}
	packs.Invalidate()
	check("after Invalidate", pass(packs), updated)
}
