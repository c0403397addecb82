// Package score holds dcrnn's one scoring loop: a Scorer turns rows into
// the probability of every task of a trained model (and the joint ctcvr of a
// funnel), reusing its inference tape and buffers from call to call.
//
// Every scorer of the project goes through it: eval and predict
// (train.Evaluate), compare, the calibration fit, the server, the bench
// inference step and the public package github.com/dcrnn/dcrnn. Rows come
// either as transformed batches (Batch, or Pass over a whole file) or as raw
// rows given as maps (Maps: feature name → value, as the server decodes
// /v1/predict) or as columns (Columns: one typed column per field, as the
// Open Inference Protocol carries them), which Maps and Columns transform
// with the model's pipeline in chunks.
//
// Probabilities are model.Trained.Predict's: calibration and the negative
// down-sampling correction applied (unless the Scorer is Uncalibrated, for
// the training loop's model selection), bit for bit the same whatever the
// batch or chunk size.
//
// The unit of parallel work is a block of BlockRows rows: every tape of a
// Scorer is nn.Tape.Serial (its kernels stay on the goroutine that runs
// it), and a batch of more than BlockRows rows is cut into blocks that up
// to tensor.Threads() goroutines score side by side. One big batch uses
// every core without synchronising inside each product, and a small one
// (a 100-row request) runs on its caller's goroutine alone, so concurrent
// requests do not split each other's products: on the Census handler
// benchmarks this took a 100-row request from 2.2 to 1.4 ms of CPU. A row's
// probability does not depend on the block it lands in.
//
// A Scorer is not safe for concurrent use: use one per goroutine.
package score

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/dcrnn/dcrnn/internal/data"
	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/nn"
	"github.com/dcrnn/dcrnn/internal/tensor"
)

// DefaultChunk is the most rows Maps transforms and scores at once when the
// Scorer's Chunk is 0: the scratch memory of a big request stays bounded.
const DefaultChunk = 512

// BlockRows is the rows of one block of a batch that several goroutines
// score side by side (the last block is smaller).
const BlockRows = 256

// Scorer is the scratch of one scoring goroutine for one model.
type Scorer struct {
	// Uncalibrated scores with the model's own probabilities
	// (model.Trained.PredictUncalibrated) instead of Predict's.
	Uncalibrated bool
	// Chunk is the most rows Maps scores in one forward pass (DefaultChunk
	// when 0).
	Chunk int
	// Timed makes the Scorer add the wall time of its forward passes
	// (model inference alone, without reading or transforming rows) to
	// PredictTime.
	Timed       bool
	PredictTime time.Duration

	tr     *model.Trained
	funnel bool
	tape   *nn.Tape
	probs  [][]float32 // per task
	ctcvr  []float32
	batch  *feature.Batch   // Maps' rows, created on first use
	ctx    *feature.Batch   // Maps' context check, one row
	cols   []feature.Column // Columns' chunk of the columns
	blocks blockJob         // the row blocks of a batch scored in parallel
}

// blockJob scores the blocks of one batch, one tensor.ParallelForThreads
// part per block (the parts are taken by the kernels' long-lived workers and
// by the caller, so a call allocates nothing once the blocks exist).
type blockJob struct {
	s        *Scorer
	blocks   []*block
	nb       int
	probs    [feature.MaxTasks][]float32 // a copy of predict's, which must not escape
	tasks    int
	ctcvr    []float32
	panicked atomic.Pointer[blockPanic]
}

// block is one block of rows: its view of the batch, its tape and its
// views of the probability buffers.
type block struct {
	b     feature.Batch
	tape  *nn.Tape
	probs [feature.MaxTasks][]float32
}

type blockPanic struct{ v any }

// Run implements tensor.Job: it scores blocks [lo, hi). A panic (a bug: the
// rows were checked) is kept for the caller to raise again, since a kernel
// worker has no one to recover it.
func (j *blockJob) Run(lo, hi int) {
	defer func() {
		if v := recover(); v != nil {
			j.panicked.CompareAndSwap(nil, &blockPanic{v})
		}
	}()
	for k := lo; k < hi; k++ {
		bl := j.blocks[k]
		start, end := k*BlockRows, k*BlockRows+bl.b.N
		for t := range j.tasks {
			bl.probs[t] = j.probs[t][start:end]
		}
		var cv []float32
		if j.ctcvr != nil {
			cv = j.ctcvr[start:end]
		}
		j.s.forward(bl.tape, &bl.b, bl.probs[:j.tasks], cv)
	}
}

// New returns a Scorer of tr. Maps needs tr.Pipeline; Batch and Pass do not.
func New(tr *model.Trained) *Scorer {
	_, _, funnel := tr.Spec.Funnel()
	t := nn.NewTape(false, 0)
	t.Serial = true
	s := &Scorer{tr: tr, funnel: funnel, tape: t}
	s.blocks.s = s
	return s
}

// Frozen holds what the Scorers of one model whose weights no longer change
// (a loaded model file, a finished training) share: its weights packed for
// the matrix kernels (nn.Packs) and the layers that read the embeddings
// folded into tables (nn.Folds), each made on first use, once for all of
// them. It is the one way to give a Scorer both caches (Share), so that
// every scoring path of a fixed model runs the same pass. Both are copies of
// the weights: after a change to them, make a new Frozen.
type Frozen struct {
	packs *nn.Packs
	folds *nn.Folds
}

// NewFrozen returns an empty Frozen.
func NewFrozen() *Frozen { return &Frozen{packs: nn.NewPacks(), folds: nn.NewFolds()} }

// Folded reports the number of layers folded so far (nn.Folds.Len).
func (f *Frozen) Folded() int { return f.folds.Len() }

// Share makes the Scorer's passes use f, which any number of Scorers of the
// same model may share. The packs do not change a probability by a bit; the
// folds change them in their last bits (the tests hold them within 10⁻⁵ of
// a Scorer without f), the same for any batch, block split or thread count.
func (s *Scorer) Share(f *Frozen) { s.setCaches(f.packs, f.folds) }

// SharePacks makes the Scorer's tapes keep the model's weights packed in p
// (see nn.Packs), without folds, for a model whose weights still change:
// its only writer calls p.Invalidate after every write, before the
// Scorer's next call (the bench workload's training step, whose inference
// is compared with PyTorch's like for like). A model whose weights are
// fixed is scored through Share.
func (s *Scorer) SharePacks(p *nn.Packs) { s.setCaches(p, nil) }

// setCaches sets the packs and folds of every tape of the Scorer; the block
// tapes made later copy them from s.tape.
func (s *Scorer) setCaches(p *nn.Packs, f *nn.Folds) {
	s.tape.Packs, s.tape.Folds = p, f
	for _, bl := range s.blocks.blocks {
		bl.tape.Packs, bl.tape.Folds = p, f
	}
}

// Model returns the model the Scorer scores with.
func (s *Scorer) Model() *model.Trained { return s.tr }

// Tape returns the inference tape (for a model's gate usage after Batch).
func (s *Scorer) Tape() *nn.Tape { return s.tape }

// grow makes room for n rows in every probability buffer.
func (s *Scorer) grow(n int) {
	if len(s.probs) != len(s.tr.Spec.Tasks) {
		s.probs = make([][]float32, len(s.tr.Spec.Tasks))
	}
	for t := range s.probs {
		if cap(s.probs[t]) < n {
			s.probs[t] = make([]float32, n)
		}
		s.probs[t] = s.probs[t][:n]
	}
	if s.funnel {
		if cap(s.ctcvr) < n {
			s.ctcvr = make([]float32, n)
		}
		s.ctcvr = s.ctcvr[:n]
	}
}

// Batch scores the b.N rows of b and returns probs[t][i], the probability
// of task t (Spec order; the conditional one for the later task of a
// funnel) for row i, and, for a funnel, ctcvr[i] (nil otherwise). Both are
// the Scorer's buffers, of length b.N, valid until its next call.
func (s *Scorer) Batch(b *feature.Batch) (probs [][]float32, ctcvr []float32) {
	s.grow(b.N)
	s.predict(b, s.probs, s.ctcvr)
	return s.probs, s.ctcvr
}

func (s *Scorer) predict(b *feature.Batch, probs [][]float32, ctcvr []float32) {
	if s.Timed {
		t0 := time.Now()
		defer func() { s.PredictTime += time.Since(t0) }()
	}
	nb := (b.N + BlockRows - 1) / BlockRows
	if min(tensor.Threads(), nb) <= 1 {
		s.forward(s.tape, b, probs, ctcvr)
		return
	}
	j := &s.blocks
	for len(j.blocks) < nb {
		t := nn.NewTape(false, 0)
		t.Serial = true
		t.Packs, t.Folds = s.tape.Packs, s.tape.Folds
		j.blocks = append(j.blocks, &block{tape: t})
	}
	j.nb = nb
	for k, bl := range j.blocks[:nb] {
		b.View(&bl.b, k*BlockRows, min((k+1)*BlockRows, b.N))
	}
	j.tasks = copy(j.probs[:], probs)
	j.ctcvr = ctcvr
	tensor.ParallelForThreads(nb, nb, 1, j)
	clear(j.probs[:])
	j.ctcvr = nil
	if p := j.panicked.Swap(nil); p != nil {
		panic(p.v)
	}
}

// forward scores b on tape t into probs and ctcvr.
func (s *Scorer) forward(t *nn.Tape, b *feature.Batch, probs [][]float32, ctcvr []float32) {
	if s.Uncalibrated {
		s.tr.PredictUncalibrated(t, b, probs, ctcvr)
	} else {
		s.tr.Predict(t, b, probs, ctcvr)
	}
}

// RowError is a raw row Maps could not transform: Row is its index in the
// rows (-1 for the context) and Err the pipeline's error (usually a
// *feature.FieldError naming the key).
type RowError struct {
	Row int
	Err error
}

func (e *RowError) Error() string { return e.Err.Error() }
func (e *RowError) Unwrap() error { return e.Err }

// Maps transforms raw rows (feature name → value: strings, numbers, lists
// for multi-valued fields, nil or absent for missing; see
// feature.Pipeline.TransformMapWith) and scores them, Chunk rows per
// forward pass. A key missing from a row is looked up in context (nil for
// none), so a row's own value wins; context is checked once, first, and its
// errors have Row -1. check, when not nil, sees the context (i = -1, when
// there is one) and every row before it is transformed (the server's strict
// mode); its error is returned as it is.
// The results are as for Batch, of length len(rows). On error it returns
// no probabilities, and the error is a *RowError unless check made it.
func (s *Scorer) Maps(rows []map[string]any, context map[string]any, check func(i int, m map[string]any) error) (probs [][]float32, ctcvr []float32, err error) {
	p := s.tr.Pipeline
	chunk := s.chunkRows()
	if context != nil {
		if check != nil {
			if err := check(-1, context); err != nil {
				return nil, nil, err
			}
		}
		if s.ctx == nil {
			s.ctx = p.NewBatch(1)
		}
		s.ctx.Reset()
		if err := p.TransformMapWith(context, nil, s.ctx); err != nil {
			return nil, nil, &RowError{Row: -1, Err: err}
		}
	}
	s.grow(len(rows))
	for start := 0; start < len(rows); start += chunk {
		end := min(start+chunk, len(rows))
		s.batch.Reset()
		for i := start; i < end; i++ {
			if check != nil {
				if err := check(i, rows[i]); err != nil {
					return nil, nil, err
				}
			}
			if err := p.TransformMapWith(rows[i], context, s.batch); err != nil {
				return nil, nil, &RowError{Row: i, Err: err}
			}
		}
		s.predictRows(start, end)
	}
	s.batch.Reset()
	return s.probs, s.ctcvr, nil
}

// chunkRows returns the rows of one forward pass of Maps and Columns,
// creating their batch on first use.
func (s *Scorer) chunkRows() int {
	chunk := s.Chunk
	if chunk <= 0 {
		chunk = DefaultChunk
	}
	if s.batch == nil {
		s.batch = s.tr.Pipeline.NewBatch(min(chunk, 128))
	}
	return chunk
}

// predictRows scores s.batch, the rows [start, end) of a Maps or Columns
// call, into that range of the probability buffers.
func (s *Scorer) predictRows(start, end int) {
	var views [feature.MaxTasks][]float32
	for t := range s.probs {
		views[t] = s.probs[t][start:end]
	}
	var cv []float32
	if s.funnel {
		cv = s.ctcvr[start:end]
	}
	s.predict(s.batch, views[:len(s.probs)], cv)
}

// Columns scores n raw rows given column by column, one feature.Column per
// field in the pipeline's Fields order (see
// feature.Pipeline.TransformColumns), Chunk rows per forward pass. The
// results are as for Batch, of length n, and the same, bit for bit, as Maps
// gives for the rows as maps. On error it returns no probabilities and a
// *RowError naming the first bad row (its Err the pipeline's
// *feature.FieldError), or the pipeline's error for columns that do not
// fit n rows.
func (s *Scorer) Columns(n int, cols []feature.Column) (probs [][]float32, ctcvr []float32, err error) {
	p := s.tr.Pipeline
	chunk := s.chunkRows()
	if cap(s.cols) < len(cols) {
		s.cols = make([]feature.Column, len(cols))
	}
	part := s.cols[:len(cols)]
	defer clear(part) // drop the references to the caller's values
	for i := range cols {
		if err := cols[i].Check(n); err != nil {
			return nil, nil, fmt.Errorf("score: column %d: %v", i, err)
		}
	}
	s.grow(n)
	for start := 0; start < n; start += chunk {
		end := min(start+chunk, n)
		s.batch.Reset()
		for i := range cols {
			part[i] = cols[i].Slice(start, end)
		}
		if row, err := p.TransformColumns(end-start, part, s.batch); err != nil {
			if row < 0 {
				return nil, nil, err
			}
			return nil, nil, &RowError{Row: start + row, Err: err}
		}
		s.predictRows(start, end)
	}
	s.batch.Reset()
	return s.probs, s.ctcvr, nil
}

// Pass scores every batch of bt in file order and calls fn with each batch,
// its probabilities (as Batch returns them) and the index of its first row
// among the rows scored so far. It returns the number of rows scored; it
// stops early with ctx's error or fn's.
func (s *Scorer) Pass(ctx context.Context, bt *data.Batcher, fn func(b *feature.Batch, probs [][]float32, ctcvr []float32, offset int) error) (rows int, err error) {
	for {
		if err := ctx.Err(); err != nil {
			return rows, err
		}
		b, err := bt.Next()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return rows, err
		}
		probs, ctcvr := s.Batch(b)
		if fn != nil {
			if err := fn(b, probs, ctcvr, rows); err != nil {
				return rows, err
			}
		}
		rows += b.N
	}
}
