package nn_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/nn"
	"github.com/dcrnn/dcrnn/internal/tensor"
)

func newTestEmb(t testing.TB) *nn.Embeddings {
	e, err := nn.NewEmbeddings("emb", testFields, 3, rand.New(rand.NewPCG(7, 7)))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestEmbeddingsValues compares x0 with a hand-written gather.
func TestEmbeddingsValues(t *testing.T) {
	e := newTestEmb(t)
	b := testBatch()
	x := e.Forward(nn.NewTape(true, 1), b)
	if x.Rows != 4 || x.Cols != 12 {
		t.Fatalf("x0 is %d×%d, want 4×12", x.Rows, x.Cols)
	}
	user, tags, item := e.Tables[0], e.Tables[1], e.Tables[3]
	v, bias := e.NumV[2].W, e.NumB[2].W
	lists := [][]int32{{1, 2, 2}, {}, {0}, {1, 3, 1}}
	for i := 0; i < 4; i++ {
		want := make([]float32, 0, 12)
		want = append(want, user.Row(b.Fields[0].IDs[i])...)
		mean := make([]float32, 3)
		for _, id := range lists[i] {
			for j := range mean {
				mean[j] += tags.Row(id)[j] / float32(len(lists[i]))
			}
		}
		want = append(want, mean...)
		for j := range 3 {
			want = append(want, b.Fields[2].Values[i]*v[j]+bias[j])
		}
		want = append(want, item.Row(b.Fields[3].IDs[i])...)
		for j, w := range want {
			if d := math.Abs(float64(x.At(i, j) - w)); d > 1e-6 {
				t.Errorf("x0[%d,%d] = %v, want %v", i, j, x.At(i, j), w)
			}
		}
	}
	// The empty list of row 1 is the zero vector.
	for j := 3; j < 6; j++ {
		if x.At(1, j) != 0 {
			t.Errorf("empty list: x0[1,%d] = %v, want 0", j, x.At(1, j))
		}
	}
}

// TestEmbeddingsSparseGrad: every distinct id gets one gradient row holding
// the sum of what its positions received; ids outside the rows' offsets are
// never touched.
func TestEmbeddingsSparseGrad(t *testing.T) {
	e := newTestEmb(t)
	tp := nn.NewTape(true, 1)
	x := e.Forward(tp, testBatch())
	for i := range x.G {
		x.G[i] = 1
	}
	tp.Backward()
	want := []map[int32]float32{
		0: {3: 3, 0: 1},
		1: {1: 1.0/3 + 2.0/3, 2: 2.0 / 3, 0: 1, 3: 1.0 / 3}, // id 9 lies before Offsets[0]
		3: {6: 2, 1: 1, 0: 1},
	}
	for f, w := range want {
		if w == nil {
			continue
		}
		tab := e.Tables[f]
		if len(tab.Touched) != len(w) {
			t.Errorf("%s: touched %v, want the %d rows of %v", tab.Name, tab.Touched, len(w), w)
		}
		for k, id := range tab.Touched {
			g, ok := w[id]
			if !ok {
				t.Errorf("%s: row %d touched", tab.Name, id)
				continue
			}
			for j := range 3 {
				if got := tab.G[k*3+j]; math.Abs(float64(got-g)) > 1e-6 {
					t.Errorf("%s: grad[%d][%d] = %v, want %v", tab.Name, id, j, got, g)
				}
			}
		}
	}
	// Numeric field: dv = Σ value, db = number of rows.
	if g := e.NumV[2].G[0]; math.Abs(float64(g-1.25)) > 1e-6 {
		t.Errorf("dv = %v, want 1.25", g)
	}
	if g := e.NumB[2].G[0]; g != 4 {
		t.Errorf("db = %v, want 4", g)
	}
}

func TestCheckBatch(t *testing.T) {
	e := newTestEmb(t)
	cases := map[string]func(b *feature.Batch){
		"ok":              nil,
		"missing field":   func(b *feature.Batch) { b.Fields = b.Fields[:3] },
		"short ids":       func(b *feature.Batch) { b.Fields[0].IDs = b.Fields[0].IDs[:3] },
		"id too large":    func(b *feature.Batch) { b.Fields[3].IDs[2] = 7 },
		"negative id":     func(b *feature.Batch) { b.Fields[0].IDs[0] = -1 },
		"list id large":   func(b *feature.Batch) { b.Fields[1].IDs[3] = 4 },
		"short offsets":   func(b *feature.Batch) { b.Fields[1].Offsets = b.Fields[1].Offsets[:4] },
		"offsets decline": func(b *feature.Batch) { b.Fields[1].Offsets[2] = 3 },
		"offsets past":    func(b *feature.Batch) { b.Fields[1].Offsets[4] = 9 },
		"short values":    func(b *feature.Batch) { b.Fields[2].Values = nil },
	}
	for name, mut := range cases {
		t.Run(name, func(t *testing.T) {
			b := testBatch()
			if mut != nil {
				mut(b)
			}
			err := e.CheckBatch(b)
			if (err == nil) != (mut == nil) {
				t.Fatalf("CheckBatch = %v", err)
			}
			if err != nil && !errors.Is(err, nn.ErrBatch) {
				t.Fatalf("error %v does not wrap ErrBatch", err)
			}
		})
	}
}

func TestNewEmbeddingsErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for name, c := range map[string]struct {
		fields []feature.FieldSpec
		dim    int
	}{
		"zero dim":   {testFields, 0},
		"no fields":  {nil, 4},
		"zero vocab": {[]feature.FieldSpec{{Name: "a", Kind: feature.Categorical}}, 4},
		"bad kind":   {[]feature.FieldSpec{{Name: "a", Kind: 9, Vocab: 3}}, 4},
	} {
		if _, err := nn.NewEmbeddings("e", c.fields, c.dim, rng); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestEmbeddingsInit: values lie in ±EmbeddingInit and are not all equal.
func TestEmbeddingsInit(t *testing.T) {
	e := newTestEmb(t)
	w := e.Tables[3].W
	distinct := map[float32]bool{}
	for _, v := range w {
		if math.Abs(float64(v)) > nn.EmbeddingInit {
			t.Fatalf("init value %v outside ±%v", v, nn.EmbeddingInit)
		}
		distinct[v] = true
	}
	if len(distinct) < len(w)/2 {
		t.Fatalf("init has only %d distinct values of %d", len(distinct), len(w))
	}
}

// TestEmbeddingsPanicsOnBadID: an id outside the vocabulary panics on the
// caller's goroutine (recoverable), whichever worker meets it.
func TestEmbeddingsPanicsOnBadID(t *testing.T) {
	for _, threads := range []int{1, 2} {
		for _, f := range []int{0, 1, 3} {
			func() {
				defer tensor.SetThreads(tensor.Threads())
				tensor.SetThreads(threads)
				e := newTestEmb(t)
				b := testBatch()
				b.Fields[f].IDs[2] = 100
				defer func() {
					if recover() == nil {
						t.Errorf("threads %d field %d: no panic on an id outside the vocabulary", threads, f)
					}
				}()
				e.Forward(nn.NewTape(true, 1), b)
			}()
		}
	}
}
