package optim

import (
	"math"
	"testing"

	"github.com/dcrnn/dcrnn/internal/nn"
)

// TestClipGradNorm: a dense gradient [3, 0] and a touched embedding row
// [0, 4] have global norm 5; clipping to 1 scales both by 1/(5 + 1e-6).
func TestClipGradNorm(t *testing.T) {
	tests := []struct {
		name    string
		maxNorm float64
		scale   float64
		after   float64 // norm after clipping
	}{
		{"clip", 1, 1 / (5 + 1e-6), 1},
		{"clip 2.5", 2.5, 2.5 / (5 + 1e-6), 2.5},
		{"below", 10, 1, 5},
		{"equal", 5, 1, 5},
		{"measure only", 0, 1, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := param("d", false, 0, 0)
			copy(d.G, []float32{3, 0})
			e := nn.NewSparseParam("e", 10, 2)
			touch(e, 7, 0, 4)
			dense, sparse := []*nn.Param{d}, []*nn.SparseParam{e}
			if n := ClipGradNorm(dense, sparse, tc.maxNorm); math.Abs(n-5) > 1e-12 {
				t.Fatalf("norm = %v, want 5", n)
			}
			near(t, "dense g", d.G[0], 3*tc.scale, 1e-7)
			near(t, "sparse g", e.G[1], 4*tc.scale, 1e-7)
			if got := GradNorm(dense, sparse); math.Abs(got-tc.after) > 1e-5 {
				t.Errorf("norm after = %v, want %v", got, tc.after)
			}
		})
	}
}

// TestClipGradNormNonFinite: a NaN or Inf gradient yields a non-finite norm
// and leaves the other gradients untouched.
func TestClipGradNormNonFinite(t *testing.T) {
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1))} {
		d := param("d", false, 0, 0)
		copy(d.G, []float32{3, bad})
		e := nn.NewSparseParam("e", 10, 2)
		touch(e, 7, 0, 4)
		n := ClipGradNorm([]*nn.Param{d}, []*nn.SparseParam{e}, 1)
		if !math.IsNaN(n) && !math.IsInf(n, 0) {
			t.Errorf("norm = %v, want non-finite", n)
		}
		if d.G[0] != 3 || e.G[1] != 4 {
			t.Errorf("gradients changed: %v %v", d.G, e.G)
		}
	}
}

// TestGradNormSum checks the four-way partial sums on odd lengths.
func TestGradNormSum(t *testing.T) {
	for n := range 11 {
		p := nn.NewParam("p", 1, n)
		var want float64
		for i := range p.G {
			p.G[i] = float32(i + 1)
			want += float64((i + 1) * (i + 1))
		}
		if got := GradNorm([]*nn.Param{p}, nil); got != math.Sqrt(want) {
			t.Errorf("n=%d: norm %v, want %v", n, got, math.Sqrt(want))
		}
	}
}

func TestAddL2(t *testing.T) {
	e := nn.NewSparseParam("e", 4, 2)
	copy(e.W, []float32{1, 2, 3, 4, 5, 6, 7, 8})
	touch(e, 2, 0.5, 0.25)
	AddL2([]*nn.SparseParam{e}, 0.1)
	near(t, "g0", e.G[0], 0.5+0.1*5, 1e-7)
	near(t, "g1", e.G[1], 0.25+0.1*6, 1e-7)
	if len(e.G) != 2 {
		t.Errorf("AddL2 touched other rows: G = %v", e.G)
	}
}
