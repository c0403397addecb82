package nn

import (
	"math/rand/v2"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/tensor"
)

// Op is a recorded layer or function: Backward reads r.Out.G and accumulates
// into the gradients of r.In and of the op's parameters.
type Op interface {
	Backward(t *Tape, r *Record)
}

// Record is one call on a tape. In holds up to four inputs (unused ones nil),
// Out the result, Buf an op-specific saved buffer from the arena, Aux an
// op-specific integer.
type Record struct {
	Op  Op
	In  [4]*Mat
	Out *Mat
	Buf []float32
	Aux int
}

// Tape records the layer calls of one forward pass and replays them in
// reverse for the backward pass. It also owns an arena of activation buffers
// that is reused from step to step: the i-th Mat requested in a pass reuses
// the i-th buffer of the previous pass.
//
// A tape with Train false records nothing and gives matrices without
// gradient buffers (the inference path). Train also switches dropout on.
type Tape struct {
	Train bool
	// Rng drives dropout; it is seeded by NewTape and may be replaced.
	Rng *rand.Rand
	// Serial makes the tape's ops run every kernel on the calling goroutine
	// alone, whatever tensor.Threads() says: for tapes that run side by side,
	// one goroutine each, on row blocks of one batch (the training step's,
	// the scorer's). A kernel's result does not depend on it.
	Serial bool
	// Packs, when not nil, keeps the weights the tape's layers multiply by
	// packed from pass to pass; its owner invalidates it whenever they
	// change (see Packs). Several tapes may share one.
	Packs *Packs
	// Folds, when not nil, lets an inference pass run the Linear layers
	// that read the input layer's output as table lookups (see Folds).
	Folds *Folds

	// x0, x0Batch and x0Emb are the last output of an Embeddings layer on
	// this inference tape with Folds, its batch and the layer (Reset clears
	// them): a Linear.Forward on x0 runs folded.
	x0      *Mat
	x0Batch *feature.Batch
	x0Emb   *Embeddings

	recs   []Record
	mats   []*Mat
	nmats  int
	floats [][]float32
	nfl    int
	lists  [][]*Mat
	nlists int

	scratch []float32 // Scratch's buffer
	zeros   []float32 // zeroRow's buffer, never written but for growth
	jobs    tapeJobs  // the element-wise kernels' tensor.Jobs, one per kind

	// local, grads and deferred: see SetLocalGrads.
	local    bool
	grads    map[*Param][]float32
	deferred []deferredSparse
}

// NewTape returns an empty tape; seed drives dropout masks.
func NewTape(train bool, seed uint64) *Tape {
	return &Tape{Train: train, Rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}
}

// Reset starts a new pass, keeping every buffer for reuse.
func (t *Tape) Reset() {
	t.x0, t.x0Batch, t.x0Emb = nil, nil, nil
	clear(t.recs)
	t.recs = t.recs[:0]
	t.nmats = 0
	t.nfl = 0
	for _, l := range t.lists[:t.nlists] {
		clear(l[:cap(l)])
	}
	t.nlists = 0
	clear(t.deferred)
	t.deferred = t.deferred[:0]
}

// SetLocalGrads makes the tape keep gradients of its own, so that several
// tapes can run the backward passes of parts of one batch at the same time,
// each on its own goroutine, without sharing a buffer:
//   - the gradient of each dense parameter its ops touch goes into a buffer
//     of the tape (LocalGrad), never into Param.G; the buffers keep their
//     content across Reset, so the caller adds them up and clears them;
//   - the embedding tables' part of Embeddings.Backward is not run by
//     Backward but kept until MergeSparse, which runs it for every tape into
//     the tables' own sparse gradients, tape after tape.
//
// It must be set before the first pass that uses it.
func (t *Tape) SetLocalGrads(on bool) {
	t.local = on
	if on && t.grads == nil {
		t.grads = map[*Param][]float32{}
	}
}

// Grad returns the buffer that the tape's ops accumulate p's gradient into:
// p.G, or with SetLocalGrads the tape's own buffer for p (created zero on
// first use).
func (t *Tape) Grad(p *Param) []float32 {
	if !t.local {
		return p.G
	}
	g, ok := t.grads[p]
	if !ok {
		g = make([]float32, len(p.W))
		t.grads[p] = g
	}
	return g
}

// LocalGrad returns the tape's own gradient buffer for p, nil when the tape
// has none (no SetLocalGrads, or no op of its passes touched p).
func (t *Tape) LocalGrad(p *Param) []float32 { return t.grads[p] }

// deferredSparse is the table part of an Embeddings backward pass that a
// tape with local gradients leaves to MergeSparse; scratch is its slot
// buffer.
type deferredSparse struct {
	e       *Embeddings
	rec     *Record
	scratch []float32
}

// Mat returns a rows×cols matrix from the arena. Its values are unspecified
// (the caller overwrites them); its gradient, on a training tape, is zero.
func (t *Tape) Mat(rows, cols int) *Mat {
	n := rows * cols
	if t.nmats == len(t.mats) {
		t.mats = append(t.mats, &Mat{})
	}
	m := t.mats[t.nmats]
	t.nmats++
	m.Rows, m.Cols = rows, cols
	if cap(m.V) < n {
		m.V = make([]float32, n)
	}
	m.V = m.V[:n]
	if t.Train {
		if cap(m.G) < n {
			m.G = make([]float32, n)
		}
		m.G = m.G[:n]
		clear(m.G)
	} else {
		m.G = nil
	}
	return m
}

// ZeroMat is Mat with its values cleared too.
func (t *Tape) ZeroMat(rows, cols int) *Mat {
	m := t.Mat(rows, cols)
	clear(m.V)
	return m
}

// Floats returns a scratch buffer of n floats from the arena, with
// unspecified content, valid until the next Reset.
func (t *Tape) Floats(n int) []float32 {
	if t.nfl == len(t.floats) {
		t.floats = append(t.floats, nil)
	}
	b := t.floats[t.nfl]
	t.nfl++
	if cap(b) < n {
		b = make([]float32, n)
		t.floats[t.nfl-1] = b
	}
	return b[:n]
}

// Mats returns a slice of n nil matrix pointers from the arena, valid until
// the next Reset (its capacity is n: appending beyond it reallocates). Models
// hold their per-task and per-expert lists in it, so that a forward pass
// allocates nothing after the first.
func (t *Tape) Mats(n int) []*Mat {
	if t.nlists == len(t.lists) {
		t.lists = append(t.lists, nil)
	}
	l := t.lists[t.nlists]
	if cap(l) < n {
		l = make([]*Mat, n)
		t.lists[t.nlists] = l
	}
	t.nlists++
	return l[:n:n]
}

// Scratch returns a buffer of n floats with unspecified content for an op's
// temporaries (gate pre-activations, gradients that go straight into a
// gemm). Every op of the tape shares it, so it stays in cache from op to op:
// it is valid only until the next call to Scratch or Reset, and an op must
// not call another op while it holds it.
func (t *Tape) Scratch(n int) []float32 {
	if cap(t.scratch) < n {
		t.scratch = make([]float32, n)
	}
	return t.scratch[:n]
}

// zeroRow returns n zeros, shared and read-only: the state row of a
// recurrence that starts from zero.
func (t *Tape) zeroRow(n int) []float32 {
	if len(t.zeros) < n {
		t.zeros = make([]float32, n)
	}
	return t.zeros[:n]
}

// Record appends a call to the tape; it is a no-op on an inference tape.
func (t *Tape) Record(r Record) {
	if t.Train {
		t.recs = append(t.recs, r)
	}
}

// Len reports the number of recorded calls.
func (t *Tape) Len() int { return len(t.recs) }

// Backward replays the recorded calls in reverse. The caller has set the
// gradient of the loss with respect to the outputs it cares about (for
// example with BCEWithLogits, which does it itself).
func (t *Tape) Backward() {
	for i := len(t.recs) - 1; i >= 0; i-- {
		r := &t.recs[i]
		r.Op.Backward(t, r)
	}
}

// threads is the most goroutines the tape's kernels may use: 1 for a
// Serial tape, tensor.Threads() otherwise.
func (t *Tape) threads() int {
	if t.Serial {
		return 1
	}
	return tensor.Threads()
}

// gemm is tensor.Gemm on t's threads.
func (t *Tape) gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	tensor.GemmThreads(t.threads(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmW is gemm for a product by a weight w, op(w) [k×n]: with the
// tape's Packs, w is packed once and the product reads the pack (the same
// bits). Products by activations, which change every pass, use gemm.
func (t *Tape) gemmW(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, w []float32, ldw int, beta float32, c []float32, ldc int) {
	if t.Packs == nil || m == 0 || n == 0 || k == 0 {
		t.gemm(transA, transB, m, n, k, alpha, a, lda, w, ldw, beta, c, ldc)
		return
	}
	tensor.GemmPacked(t.threads(), transA, m, alpha, a, lda, t.Packs.get(transB, k, n, w, ldw), beta, c, ldc)
}

// parallelFor is tensor.ParallelFor on t's threads.
func (t *Tape) parallelFor(n, minChunk int, j tensor.Job) {
	tensor.ParallelForThreads(t.threads(), n, minChunk, j)
}
