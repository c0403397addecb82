package nn_test

import (
	"testing"

	"github.com/dcrnn/dcrnn/internal/nn"
)

// TestTapeMats: Mats hands out nil-filled lists of the asked length and
// capacity, distinct within a pass, reused after Reset without allocating.
func TestTapeMats(t *testing.T) {
	tp := nn.NewTape(false, 1)
	x := nn.NewMat(1, 1)
	pass := func() ([]*nn.Mat, []*nn.Mat) {
		tp.Reset()
		a, b := tp.Mats(3), tp.Mats(2)
		for _, l := range [][]*nn.Mat{a, b} {
			for i, m := range l {
				if m != nil {
					t.Fatalf("entry %d is %p, want nil", i, m)
				}
			}
		}
		if len(a) != 3 || cap(a) != 3 || len(b) != 2 || cap(b) != 2 {
			t.Fatalf("len/cap %d/%d and %d/%d, want 3/3 and 2/2", len(a), cap(a), len(b), cap(b))
		}
		a[0], a[2], b[1] = x, x, x
		if b[0] != nil {
			t.Fatal("lists of one pass overlap")
		}
		return a, b
	}
	a1, _ := pass()
	a2, _ := pass()
	if &a1[0] != &a2[0] {
		t.Error("Mats did not reuse its buffer after Reset")
	}
	if n := testing.AllocsPerRun(10, func() { pass() }); n != 0 {
		t.Errorf("%v allocations per pass, want 0", n)
	}
}
