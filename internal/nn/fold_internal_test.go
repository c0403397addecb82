package nn

import (
	"math/rand/v2"
	"testing"

	"github.com/dcrnn/dcrnn/internal/feature"
)

// TestFoldTotalBounded: once a Folds' tables hold its limit, further fields
// keep their products (and layers with nothing left to fold are not
// folded), and the tables never hold more than the limit.
func TestFoldTotalBounded(t *testing.T) {
	const d, out = 2, 8
	fields := []feature.FieldSpec{
		{Name: "a", Kind: feature.Categorical, Vocab: 10},
		{Name: "b", Kind: feature.Categorical, Vocab: 10},
		{Name: "c", Kind: feature.Categorical, Vocab: 10},
	}
	r := rand.New(rand.NewPCG(1, 1))
	e, err := NewEmbeddings("emb", fields, d, r)
	if err != nil {
		t.Fatal(err)
	}
	l1 := NewLinear("l1", e.OutDim(), out, Identity, r)
	l2 := NewLinear("l2", e.OutDim(), out, Identity, r)
	fs := NewFolds()
	fs.limit = 2*10*out + 5 // two of the three tables of l1
	f1 := fs.get(l1, e)
	if f1 == nil || len(f1.cats) != 2 || len(f1.rest) != 1 {
		t.Fatalf("l1: folded %v, rest %v; want two fields folded, one left", f1 != nil && len(f1.cats) > 0, f1)
	}
	if f2 := fs.get(l2, e); f2 != nil {
		t.Fatalf("l2 folded %d fields past the limit", len(f2.cats))
	}
	if u := fs.used.Load(); u != 2*10*out {
		t.Fatalf("tables hold %d floats, want %d", u, 2*10*out)
	}
	if fs.Len() != 1 {
		t.Fatalf("%d layers folded, want 1", fs.Len())
	}
}
