package nn_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/nn"
	"github.com/dcrnn/dcrnn/internal/nn/nntest"
)

// foldFields are one field of each kind, and a categorical field too large
// to fold at the width foldTest uses (its table would exceed MaxFoldFloats).
func foldFields(out int) []feature.FieldSpec {
	return []feature.FieldSpec{
		{Name: "cat", Kind: feature.Categorical, Vocab: 7},
		{Name: "num", Kind: feature.Numeric},
		{Name: "multi", Kind: feature.MultiCategorical, Vocab: 5},
		{Name: "big", Kind: feature.Categorical, Vocab: nn.MaxFoldFloats/out + 1},
		{Name: "num2", Kind: feature.Numeric},
	}
}

// foldBatch is n rows of fields with uniform ids and lists of 0 to 3 ids
// (nntest.Batch).
func foldBatch(fields []feature.FieldSpec, n int, seed uint64) *feature.Batch {
	return nntest.Batch(fields, n, rand.New(rand.NewPCG(seed, 3)), 0)
}

// twoLayers is x0 → Linear(ReLU) → Linear on a tape: the first layer reads
// x0 (foldable), the second does not.
func twoLayers(t *nn.Tape, e *nn.Embeddings, l1, l2 *nn.Linear, b *feature.Batch) (h, y []float32) {
	x0 := e.Forward(t, b)
	hm := l1.Forward(t, x0)
	return append([]float32(nil), hm.V...), append([]float32(nil), l2.Forward(t, hm).V...)
}

// TestFoldedInputLayer: on an inference tape with Folds, a Linear layer on
// the embeddings' output gives the plain product's values within a relative
// 1e-5 (every field kind, empty lists, a field left unfolded for its size),
// row by row the same bits whatever the batch it is in, and layers that do
// not read x0, training tapes and tapes without Folds are not folded.
func TestFoldedInputLayer(t *testing.T) {
	const d, out = 4, 64
	fields := foldFields(out)
	r := rand.New(rand.NewPCG(1, 1))
	e, err := nn.NewEmbeddings("emb", fields, d, r)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range e.Params() { // the numeric biases start at zero
		for i := range p.W {
			p.W[i] = float32(r.NormFloat64())
		}
	}
	l1 := nn.NewLinear("l1", e.OutDim(), out, nn.ReLU, r)
	for i := range l1.B.W {
		l1.B.W[i] = float32(r.NormFloat64() * 0.1)
	}
	l2 := nn.NewLinear("l2", out, 3, nn.Identity, r)
	b := foldBatch(fields, 300, 2)

	plainH, plainY := twoLayers(nn.NewTape(false, 0), e, l1, l2, b)
	folds := nn.NewFolds()
	ft := nn.NewTape(false, 0)
	ft.Folds = folds
	foldH, foldY := twoLayers(ft, e, l1, l2, b)
	if folds.Len() != 1 {
		t.Fatalf("%d layers folded, want 1 (l1 reads x0, l2 does not)", folds.Len())
	}
	scale := 0.0
	for _, v := range plainH {
		scale = max(scale, math.Abs(float64(v)))
	}
	worst, same := 0.0, 0
	for i, v := range plainH {
		dv := math.Abs(float64(foldH[i]) - float64(v))
		worst = max(worst, dv)
		if foldH[i] == v {
			same++
		}
	}
	if worst > 1e-5*scale {
		t.Fatalf("folded layer differs from the product by %g (values up to %g)", worst, scale)
	}
	if same == len(plainH) {
		t.Fatalf("every value has the product's bits: the layer was not folded")
	}
	for i, v := range plainY {
		if dv := math.Abs(float64(foldY[i]) - float64(v)); dv > 1e-5*max(1, math.Abs(float64(v))) {
			t.Fatalf("second layer output %d: %v folded, %v plain", i, foldY[i], v)
		}
	}
	t.Logf("max |Δ| %.3g over values up to %.3g; %d of %d values with the same bits", worst, scale, same, len(plainH))

	// Row by row the same bits in a sub-batch, on a second tape that shares
	// the folds.
	var sub feature.Batch
	b.View(&sub, 117, 131)
	ft2 := nn.NewTape(false, 0)
	ft2.Folds = folds
	subH, _ := twoLayers(ft2, e, l1, l2, &sub)
	for i, v := range subH {
		if math.Float32bits(v) != math.Float32bits(foldH[117*out+i]) {
			t.Fatalf("row %d value %d: %v in a sub-batch, %v in the whole batch", 117+i/out, i%out, v, foldH[117*out+i])
		}
	}

	// A training tape with Folds computes the product.
	tt := nn.NewTape(true, 0)
	tt.Folds = nn.NewFolds()
	trainH, _ := twoLayers(tt, e, l1, l2, b)
	for i, v := range trainH {
		if math.Float32bits(v) != math.Float32bits(plainH[i]) {
			t.Fatalf("training tape value %d: %v, the product gives %v", i, v, plainH[i])
		}
	}
	if tt.Folds.Len() != 0 {
		t.Fatalf("a training tape folded %d layers", tt.Folds.Len())
	}
}

// TestFoldNeedsAFoldableField: a layer on x0 whose only fields are too
// large to fold keeps the plain product, bit for bit.
func TestFoldNeedsAFoldableField(t *testing.T) {
	const d, out = 2, 32
	fields := []feature.FieldSpec{{Name: "big", Kind: feature.Categorical, Vocab: nn.MaxFoldFloats/out + 1}}
	r := rand.New(rand.NewPCG(4, 4))
	e, err := nn.NewEmbeddings("emb", fields, d, r)
	if err != nil {
		t.Fatal(err)
	}
	l1 := nn.NewLinear("l1", e.OutDim(), out, nn.Identity, r)
	l2 := nn.NewLinear("l2", out, 1, nn.Identity, r)
	b := foldBatch(fields, 50, 5)
	plain, _ := twoLayers(nn.NewTape(false, 0), e, l1, l2, b)
	ft := nn.NewTape(false, 0)
	ft.Folds = nn.NewFolds()
	got, _ := twoLayers(ft, e, l1, l2, b)
	if ft.Folds.Len() != 0 {
		t.Fatalf("%d layers folded, want none", ft.Folds.Len())
	}
	for i, v := range got {
		if math.Float32bits(v) != math.Float32bits(plain[i]) {
			t.Fatalf("value %d: %v, the product gives %v", i, v, plain[i])
		}
	}
}

// TestForwardFor: on a folded inference tape, Embeddings.ForwardFor writes
// only the columns of the fields its readers still multiply (here the one
// too large to fold), the reader gives the bits it gives after a full
// Forward, a bad id of a skipped field still panics with its name, and
// without Folds or on a training tape every column is written.
func TestForwardFor(t *testing.T) {
	const d, out = 4, 64
	fields := foldFields(out)
	const big = 3 // the field too large to fold
	r := rand.New(rand.NewPCG(5, 1))
	e, err := nn.NewEmbeddings("emb", fields, d, r)
	if err != nil {
		t.Fatal(err)
	}
	l := nn.NewLinear("l", e.OutDim(), out, nn.ReLU, r)
	b1, b2 := foldBatch(fields, 50, 1), foldBatch(fields, 50, 2)

	ft := nn.NewTape(false, 0)
	ft.Folds = nn.NewFolds()
	x := e.Forward(ft, b2)
	full := append([]float32(nil), x.V...)
	wantY := append([]float32(nil), l.Forward(ft, x).V...)

	ft.Reset()
	stale := append([]float32(nil), e.Forward(ft, b1).V...) // the buffer ForwardFor gets next
	ft.Reset()
	x = e.ForwardFor(ft, b2, l, nil)
	w := e.OutDim()
	for i := range b2.N {
		for f := range fields {
			for j := f * d; j < (f+1)*d; j++ {
				got, want := x.V[i*w+j], stale[i*w+j]
				if f == big {
					want = full[i*w+j]
				}
				if got != want {
					t.Fatalf("row %d field %d column %d: %v, want %v (written: field %d only)", i, f, j, got, want, big)
				}
			}
		}
	}
	if y := l.Forward(ft, x).V; !nntest.SameBits(y, wantY) {
		t.Fatal("the reader's output after ForwardFor differs from its output after Forward")
	}

	for _, tp := range []*nn.Tape{nn.NewTape(false, 0), nn.NewTape(true, 0)} {
		tp.Reset()
		e.Forward(tp, b1)
		tp.Reset()
		if got := e.ForwardFor(tp, b2, l).V; !nntest.SameBits(got, full) {
			t.Fatalf("train=%v, no Folds: ForwardFor did not write every column", tp.Train)
		}
	}

	bad := foldBatch(fields, 50, 2)
	bad.Fields[0].IDs[7] = int32(fields[0].Vocab)
	func() {
		defer func() {
			msg, _ := recover().(string)
			if !strings.Contains(msg, `field "cat"`) || !strings.Contains(msg, "id 7 outside [0, 7)") {
				t.Fatalf("bad id of a folded field: panic %q, want one naming field cat and id 7", msg)
			}
		}()
		ft.Reset()
		e.ForwardFor(ft, bad, l)
	}()
}
