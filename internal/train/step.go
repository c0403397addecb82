package train

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/nn"
	"github.com/dcrnn/dcrnn/internal/tensor"
)

// DefaultBlockRows is the default of the block_rows key: the rows of one
// block of a training batch (see Stepper).
const DefaultBlockRows = 256

// reduceChunk is the smallest number of dense gradient elements one
// goroutine of the reduction adds up.
const reduceChunk = 16384

// Stepper computes the gradient of a training batch with data parallelism:
// the batch is cut into blocks of blockRows rows (the last one smaller),
// a cut that depends only on the batch size, never on the thread count.
// Each block has a tape of its own with local gradients
// (nn.Tape.SetLocalGrads), and up to tensor.Threads() goroutines take the
// blocks one after another:
//
//  1. each block runs the model's forward pass on its rows, the objective
//     on its rows (Objective.LossPart: the gradient of the whole batch's
//     mean loss, whose task weights depend only on the parameters) and its
//     backward pass into its own gradients, while its activations are still
//     in the cache;
//  2. the per-task loss sums of the blocks are added block after block and
//     the objective is finished over the whole batch (Objective.LossTotal:
//     the means, and the uncertainty weights' gradient from them);
//  3. the embedding rows' gradients are merged into the tables' sparse
//     gradients block after block (nn.MergeSparse), and the dense
//     gradients are added into Param.G block after block, 0, 1, 2, ….
//
// While the blocks run, the kernels do not split their own work (the
// block tapes are nn.Tape.Serial, so a batch of one block runs on one core,
// and the process-wide tensor.SetThreads is left alone). Each block's arithmetic and the order of every sum are then
// the same whatever the thread count, so the gradient has the same bits
// for any --threads, in the OpenBLAS build too. The merge, the reduction
// and the optimizer step that follows run on all threads (element-wise:
// their split does not change a bit).
//
// Dropout in block k draws from a generator seeded by (the step's seed,
// k). A Stepper is not safe for concurrent use.
type Stepper struct {
	m         model.Model
	obj       *model.Objective
	dense     []*nn.Param // the model's own, whose gradients the blocks hold
	off       []int       // flat offsets of dense, len(dense)+1
	blockRows int
	blocks    []*block
	nb        int        // blocks of the current batch
	tapes     []*nn.Tape // their tapes
	packs     *nn.Packs  // the blocks' packed weights, of the current step

	sums []float64 // the whole batch's per-task loss sums

	panicked atomic.Pointer[blockPanic]
}

// block is one block of rows: its view of the batch, its tape and its
// dropout generator.
type block struct {
	lo, hi int
	b      feature.Batch
	tape   *nn.Tape
	pcg    *rand.PCG
	sums   []float64 // per-task loss sums of the block's rows
	both   []float32 // the funnel's joint labels
}

type blockPanic struct{ v any }

// NewStepper returns a Stepper for m and its objective with blocks of
// blockRows rows (≤ 0: DefaultBlockRows).
func NewStepper(m model.Model, obj *model.Objective, blockRows int) *Stepper {
	if blockRows <= 0 {
		blockRows = DefaultBlockRows
	}
	s := &Stepper{m: m, obj: obj, dense: m.Params(), blockRows: blockRows, sums: make([]float64, len(obj.Spec.Tasks)), packs: nn.NewPacks()}
	s.off = make([]int, len(s.dense)+1)
	for i, p := range s.dense {
		s.off[i+1] = s.off[i] + len(p.W)
	}
	return s
}

// BlockRows reports the rows of a block.
func (s *Stepper) BlockRows() int { return s.blockRows }

// Gradient runs the forward and backward passes of b, leaving the gradient
// of the loss in the dense parameters' G (added to what is there: the
// optimizer clears it after each step) and in the tables' sparse
// gradients, and returns the loss of the whole batch. seed drives dropout.
func (s *Stepper) Gradient(b *feature.Batch, seed uint64) float64 {
	if b.N == 0 {
		return 0
	}
	s.cut(b)
	// The weights may have changed since the last call (the optimizer
	// writes them between steps): every block of this step packs them
	// afresh, once for all the blocks (nn.Packs), and nothing writes them
	// until the step is over.
	if s.packs != nil {
		s.packs.Invalidate()
	}
	workers := min(tensor.Threads(), s.nb)
	s.each(workers, func(k int, bl *block) {
		bl.tape.Reset()
		bl.pcg.Seed(seed, uint64(k))
		logits := s.m.Forward(bl.tape, &bl.b)
		if len(logits) != len(s.sums) {
			panic(fmt.Sprintf("train: the model gave %d logits for %d tasks", len(logits), len(s.sums)))
		}
		clear(bl.sums)
		s.obj.LossPart(logits, &bl.b, b.N, bl.sums, &bl.both)
		bl.tape.Backward()
	})
	clear(s.sums)
	for _, bl := range s.blocks[:s.nb] {
		for t, v := range bl.sums {
			s.sums[t] += v
		}
	}
	loss := s.obj.LossTotal(s.sums, b.N, nil)
	s.tapes = s.tapes[:0]
	for _, bl := range s.blocks[:s.nb] {
		s.tapes = append(s.tapes, bl.tape)
	}
	nn.MergeSparse(s.tapes)
	tensor.Parallel(s.off[len(s.dense)], reduceChunk, s.reduce)
	return loss
}

// cut splits b into blocks, growing the block list as needed.
func (s *Stepper) cut(b *feature.Batch) {
	s.nb = (b.N + s.blockRows - 1) / s.blockRows
	for len(s.blocks) < s.nb {
		t := nn.NewTape(true, 0)
		t.Serial = true
		t.Packs = s.packs
		t.SetLocalGrads(true)
		pcg := rand.NewPCG(0, 0)
		t.Rng = rand.New(pcg)
		s.blocks = append(s.blocks, &block{tape: t, pcg: pcg, sums: make([]float64, len(s.sums))})
	}
	for k, bl := range s.blocks[:s.nb] {
		bl.lo, bl.hi = k*s.blockRows, min((k+1)*s.blockRows, b.N)
		b.View(&bl.b, bl.lo, bl.hi)
	}
}

// reduce adds the blocks' dense gradients of flat elements [lo, hi) into
// Param.G, block 0 first, and clears them.
func (s *Stepper) reduce(lo, hi int) {
	for i, p := range s.dense {
		st, en := s.off[i], s.off[i+1]
		if en <= lo || st == en {
			continue
		}
		if st >= hi {
			return
		}
		from, to := max(lo, st)-st, min(hi, en)-st
		dst := p.G[from:to]
		for _, bl := range s.blocks[:s.nb] {
			g := bl.tape.LocalGrad(p)
			if g == nil {
				continue
			}
			g = g[from:to]
			tensor.AddVec(dst, dst, g) // element-wise: the same bits as dst[j] += g[j]
			clear(g)
		}
	}
}

// each runs fn on every block of the current batch, on workers goroutines
// (the caller's included) that take blocks in turn. A panic in fn is raised
// again on the caller.
func (s *Stepper) each(workers int, fn func(k int, bl *block)) {
	if workers <= 1 {
		for k, bl := range s.blocks[:s.nb] {
			fn(k, bl)
		}
		return
	}
	var next atomic.Int64
	run := func() {
		defer func() {
			if v := recover(); v != nil {
				s.panicked.CompareAndSwap(nil, &blockPanic{v})
				next.Store(int64(s.nb)) // the others stop at their next block
			}
		}()
		for {
			k := int(next.Add(1) - 1)
			if k >= s.nb {
				return
			}
			fn(k, s.blocks[k])
		}
	}
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run()
		}()
	}
	run()
	wg.Wait()
	if p := s.panicked.Swap(nil); p != nil {
		panic(p.v)
	}
}
