package nn_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/nn"
	"github.com/dcrnn/dcrnn/internal/nn/nntest"
	"github.com/dcrnn/dcrnn/internal/tensor"
)

// tinyModel is Embeddings → MLP → BCEWithLogits, trained by plain SGD.
type tinyModel struct {
	emb *nn.Embeddings
	mlp *nn.MLP
	tp  *nn.Tape
	// dense and sparse are the parameters, collected once.
	dense  []*nn.Param
	sparse []*nn.SparseParam
}

func newTinyModel(tb testing.TB, fields []feature.FieldSpec, dim int, hidden []int, dropout float32, seed uint64) *tinyModel {
	rng := rand.New(rand.NewPCG(seed, 1))
	emb, err := nn.NewEmbeddings("emb", fields, dim, rng)
	if err != nil {
		tb.Fatal(err)
	}
	sizes := append([]int{emb.OutDim()}, hidden...)
	sizes = append(sizes, 1)
	mlp, err := nn.NewMLP("mlp", sizes, nn.ReLU, nn.Identity, dropout, rng)
	if err != nil {
		tb.Fatal(err)
	}
	return &tinyModel{emb: emb, mlp: mlp, tp: nn.NewTape(true, seed),
		dense: append(mlp.Params(), emb.Params()...), sparse: emb.SparseParams()}
}

// step runs forward and backward and returns the loss and the logits; the
// gradients stay in the parameters until sgd.
func (m *tinyModel) step(b *feature.Batch) (float64, *nn.Mat) {
	m.tp.Reset()
	z := m.mlp.Forward(m.tp, m.emb.Forward(m.tp, b))
	loss := nn.BCEWithLogits(z, b.Labels[0], nil, 1)
	m.tp.Backward()
	return loss, z
}

// sgd applies w -= lr·g to every dense weight and touched embedding row, and
// clears the gradients.
func (m *tinyModel) sgd(lr float32) {
	for _, p := range m.dense {
		for i, g := range p.G {
			p.W[i] -= lr * g
		}
		p.ZeroGrad()
	}
	for _, p := range m.sparse {
		for k, id := range p.Touched {
			row := p.Row(id)
			for j, g := range p.G[k*p.Cols : (k+1)*p.Cols] {
				row[j] -= lr * g
			}
		}
		p.ZeroGrad()
	}
}

// synthBatch fills a batch of n rows over testFields whose label is a
// deterministic function of the features (an interaction of user and item
// plus the sign of the numeric field and a tag), so it can be learned.
func synthBatch(rng *rand.Rand, n int) *feature.Batch {
	b := &feature.Batch{N: n, Fields: make([]feature.FieldData, 4), Labels: [][]float32{make([]float32, n)}}
	b.Fields[1].Offsets = []int32{0}
	for i := 0; i < n; i++ {
		u, it := rng.Int32N(5), rng.Int32N(7)
		price := float32(rng.Float64()*2 - 1)
		k := rng.IntN(3)
		hasTag3 := false
		for range k {
			tag := rng.Int32N(4)
			hasTag3 = hasTag3 || tag == 3
			b.Fields[1].IDs = append(b.Fields[1].IDs, tag)
		}
		b.Fields[0].IDs = append(b.Fields[0].IDs, u)
		b.Fields[1].Offsets = append(b.Fields[1].Offsets, int32(len(b.Fields[1].IDs)))
		b.Fields[2].Values = append(b.Fields[2].Values, price)
		b.Fields[3].IDs = append(b.Fields[3].IDs, it)
		score := 0
		if (u+it)%2 == 0 {
			score += 2
		}
		if price > 0 {
			score++
		}
		if hasTag3 {
			score++
		}
		if score >= 2 {
			b.Labels[0][i] = 1
		}
	}
	return b
}

// TestTinyModelLearns: the loss of Embeddings → MLP → BCE falls well below
// the loss of a constant predictor on a learnable problem.
func TestTinyModelLearns(t *testing.T) {
	m := newTinyModel(t, testFields, 6, []int{32, 16}, 0, 3)
	rng := rand.New(rand.NewPCG(9, 9))
	test := synthBatch(rng, 512)
	var pos float64
	for _, y := range test.Labels[0] {
		pos += float64(y)
	}
	p := pos / 512
	constLoss := -(p*math.Log(p) + (1-p)*math.Log(1-p))
	eval := func() float64 {
		tp := nn.NewTape(false, 0)
		return nn.BCEWithLogits(m.mlp.Forward(tp, m.emb.Forward(tp, test)), test.Labels[0], nil, 1)
	}
	before := eval()
	for range 600 {
		m.step(synthBatch(rng, 64))
		m.sgd(0.3)
	}
	after := eval()
	t.Logf("test loss %.4f → %.4f (constant predictor %.4f)", before, after, constLoss)
	if after > 0.35*constLoss {
		t.Fatalf("test loss %.4f after training, want < %.4f (35%% of the constant predictor's)", after, 0.35*constLoss)
	}
}

// TestDeterministic: two runs with the same seed on one thread give
// bit-identical outputs and gradients, dropout included.
func TestDeterministic(t *testing.T) {
	defer tensor.SetThreads(tensor.Threads())
	tensor.SetThreads(1)
	run := func() (outs [][]float32, grads [][]float32) {
		m := newTinyModel(t, testFields, 4, []int{8}, 0.25, 5)
		rng := rand.New(rand.NewPCG(2, 2))
		for range 3 {
			_, z := m.step(synthBatch(rng, 16))
			outs = append(outs, slices.Clone(z.V))
			for _, p := range append(m.mlp.Params(), m.emb.Params()...) {
				grads = append(grads, slices.Clone(p.G))
			}
			for _, p := range m.emb.SparseParams() {
				grads = append(grads, slices.Clone(p.G))
			}
			m.sgd(0.1)
		}
		return outs, grads
	}
	o1, g1 := run()
	o2, g2 := run()
	eq := func(a, b [][]float32) bool {
		return slices.EqualFunc(a, b, nntest.SameBits)
	}
	if !eq(o1, o2) {
		t.Error("outputs differ between two runs with the same seed")
	}
	if !eq(g1, g2) {
		t.Error("gradients differ between two runs with the same seed")
	}
	var nz int
	for _, g := range g1 {
		for _, v := range g {
			if v != 0 {
				nz++
			}
		}
	}
	if nz == 0 {
		t.Fatal("all gradients are zero: the comparison proves nothing")
	}
}

// TestDropout: about rate of the elements are dropped, the others scaled by
// 1/(1-rate); inference and rate 0 return the input itself.
func TestDropout(t *testing.T) {
	x := nn.NewMat(100, 100)
	for i := range x.V {
		x.V[i] = 1
	}
	tp := nn.NewTape(true, 3)
	y := nn.Dropout(tp, x, 0.2)
	zeros := 0
	for _, v := range y.V {
		switch v {
		case 0:
			zeros++
		case 1.25:
		default:
			t.Fatalf("dropout value %v, want 0 or 1.25", v)
		}
	}
	if zeros < 1800 || zeros > 2200 { // 2000 ± 5σ (σ = 40)
		t.Fatalf("%d of 10000 dropped at rate 0.2", zeros)
	}
	if nn.Dropout(nn.NewTape(false, 3), x, 0.2) != x || nn.Dropout(tp, x, 0) != x {
		t.Fatal("dropout is not the identity on inference or at rate 0")
	}
}

func TestNewMLPErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for name, c := range map[string]struct {
		sizes []int
		drop  float32
	}{
		"one size":  {[]int{3}, 0},
		"zero size": {[]int{3, 0, 1}, 0},
		"dropout 1": {[]int{3, 1}, 1},
		"negative":  {[]int{3, 1}, -0.1},
	} {
		if _, err := nn.NewMLP("m", c.sizes, nn.ReLU, nn.Identity, c.drop, rng); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := nn.NewCell("transformer", "c", 2, 2, rng); err == nil {
		t.Error("NewCell accepted an unknown kind")
	}
}

// TestCellUnrollShapes: the state widths of the three cells and the LSTM
// forget-gate bias.
func TestCellUnrollShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for kind, want := range map[string]int{"gru": 5, "lstm": 10, "rnn": 5} {
		c, err := nn.NewCell(kind, "c", 3, 5, rng)
		if err != nil {
			t.Fatal(err)
		}
		tp := nn.NewTape(true, 1)
		s := tp.ZeroMat(2, c.StateSize())
		for range 3 {
			s = c.Step(tp, randMat(rng, 2, 3), s)
		}
		if s.Cols != want || c.Output(tp, s).Cols != 5 {
			t.Errorf("%s: state width %d (want %d), output width %d (want 5)", kind, s.Cols, want, c.Output(tp, s).Cols)
		}
	}
	c, _ := nn.NewCell("lstm", "c", 3, 2, rng)
	if b := c.(*nn.LSTM).B.W; b[2] != 1 || b[3] != 1 || b[0] != 0 {
		t.Errorf("LSTM bias %v, want forget part (columns 2..4) = 1", b)
	}
}

// refFields is the reference workload's input: 24 categorical fields of
// 100,000 ids (the mlp24 workload of package internal/bench).
func refFields() []feature.FieldSpec {
	fs := make([]feature.FieldSpec, 24)
	for f := range fs {
		fs[f] = feature.FieldSpec{Name: "c" + string(rune('a'+f)), Kind: feature.Categorical, Vocab: 100000}
	}
	return fs
}

func uniformBatch(rng *rand.Rand, fields []feature.FieldSpec, n int) *feature.Batch {
	b := &feature.Batch{N: n, Fields: make([]feature.FieldData, len(fields)), Labels: [][]float32{make([]float32, n)}}
	for f, fs := range fields {
		b.Fields[f].IDs = make([]int32, n)
		for i := range n {
			b.Fields[f].IDs[i] = rng.Int32N(int32(fs.Vocab))
		}
	}
	for i := range n {
		b.Labels[0][i] = float32(rng.IntN(2))
	}
	return b
}

// TestZeroAllocs: after warm-up a training step of Embeddings + MLP
// (forward, loss, backward, update) allocates nothing, on one thread and on
// two (the embeddings split their fields with tensor.ParallelFor).
func TestZeroAllocs(t *testing.T) {
	defer tensor.SetThreads(tensor.Threads())
	for _, threads := range []int{1, 2} {
		tensor.SetThreads(threads)
		zeroAllocs(t, threads)
	}
}

func zeroAllocs(t *testing.T, threads int) {
	fields := append(refFields()[:6], testFields[1:3]...)
	for f := range 6 {
		fields[f].Vocab = 1000
	}
	rng := rand.New(rand.NewPCG(1, 2))
	m := newTinyModel(t, fields, 8, []int{32, 16}, 0.1, 1)
	b := synthBatch(rng, 64)
	u := uniformBatch(rng, fields[:6], 64)
	// Merge: 6 uniform categorical fields + the list and numeric fields.
	b.Fields = append(u.Fields, b.Fields[1:3]...)
	step := func() {
		m.step(b)
		m.sgd(0.01)
	}
	step()
	if a := testing.AllocsPerRun(20, step); a != 0 {
		t.Fatalf("%d threads: %v allocations per step, want 0", threads, a)
	}
}

// BenchmarkEmbeddings is the embedding forward+backward (and gradient reset)
// of the reference workload: 24 fields × batch 1024 × d 16, vocabulary
// 100,000 each.
func BenchmarkEmbeddings(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	fields := refFields()
	e, err := nn.NewEmbeddings("emb", fields, 16, rng)
	if err != nil {
		b.Fatal(err)
	}
	batch := uniformBatch(rng, fields, 1024)
	tp := nn.NewTape(true, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		tp.Reset()
		x := e.Forward(tp, batch)
		for i := range x.G {
			x.G[i] = 1e-3
		}
		tp.Backward()
		for _, p := range e.SparseParams() {
			p.ZeroGrad()
		}
	}
	b.ReportMetric(float64(b.N*1024)/b.Elapsed().Seconds(), "samples/s")
}

// BenchmarkMLP24Step is one training step (no optimizer) of one reference
// tower: Embeddings → 384-256-128-64-1 ReLU → BCE, batch 1024.
func BenchmarkMLP24Step(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	fields := refFields()
	m := newTinyModel(b, fields, 16, []int{256, 128, 64}, 0, 1)
	batch := uniformBatch(rng, fields, 1024)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		m.step(batch)
		for _, p := range m.mlp.Params() {
			p.ZeroGrad()
		}
		for _, p := range m.emb.SparseParams() {
			p.ZeroGrad()
		}
	}
	b.ReportMetric(float64(b.N*1024)/b.Elapsed().Seconds(), "samples/s")
}

// TestEmptyBatch: a batch of zero rows runs forward and backward through
// every layer kind without panicking and gives zero-row outputs.
func TestEmptyBatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	m := newTinyModel(t, testFields, 4, []int{8}, 0.2, 1)
	b := &feature.Batch{N: 0, Fields: []feature.FieldData{{}, {Offsets: []int32{0}}, {}, {}}, Labels: [][]float32{{}}}
	if err := m.emb.CheckBatch(b); err != nil {
		t.Fatal(err)
	}
	_, z := m.step(b)
	if z.Rows != 0 || z.Cols != 1 {
		t.Fatalf("logits %d×%d, want 0×1", z.Rows, z.Cols)
	}
	tp := nn.NewTape(true, 1)
	for _, kind := range []string{"gru", "lstm", "rnn"} {
		c, _ := nn.NewCell(kind, "c", 3, 2, rng)
		s := c.Output(tp, c.Step(tp, tp.ZeroMat(0, 3), tp.ZeroMat(0, c.StateSize())))
		if s.Rows != 0 {
			t.Fatalf("%s: %d rows", kind, s.Rows)
		}
	}
	g := nn.NewSoftmaxGate("g", 3, 2, rng)
	x := tp.ZeroMat(0, 3)
	mix := nn.MixExperts(tp, g.Forward(tp, x), []*nn.Mat{tp.ZeroMat(0, 2), tp.ZeroMat(0, 2)})
	nn.NewSigmoidGate("s", 2, 3, rng).Forward(tp, mix, x)
	nn.NewPairAttention("a", 2, rng).Forward(tp, mix, mix)
	tp.Backward()
}
