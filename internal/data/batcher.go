package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sync"

	"github.com/dcrnn/dcrnn/internal/feature"
)

// BadRows is the policy for malformed rows.
type BadRows int

const (
	// BadRowsError stops at the first malformed row (the default).
	BadRowsError BadRows = iota
	// BadRowsSkip skips malformed rows and counts them (--bad-rows skip).
	BadRowsSkip
)

// ParseBadRows parses the --bad-rows flag value (error|skip).
func ParseBadRows(s string) (BadRows, error) {
	switch s {
	case "error", "":
		return BadRowsError, nil
	case "skip":
		return BadRowsSkip, nil
	}
	return 0, fmt.Errorf("data: --bad-rows: want error or skip, got %q", s)
}

// Stats counts what a pass over a file did with its rows.
type Stats struct {
	Rows          int64    // rows delivered (or fitted)
	BadRows       int64    // malformed rows skipped under BadRowsSkip
	FunnelDropped int64    // funnel violations dropped (schema funnel_violations: drop)
	FirstBad      []string // up to 5 messages of skipped rows
}

func (s *Stats) bad(err error) {
	s.BadRows++
	if len(s.FirstBad) < 5 {
		s.FirstBad = append(s.FirstBad, err.Error())
	}
}

// BatchOptions configures a Batcher.
type BatchOptions struct {
	// BatchSize is the number of rows per batch (default 1024); the last
	// batch may be smaller.
	BatchSize int
	// ShuffleBuffer, when > 1, shuffles rows through a buffer of that many
	// rows (deterministic for a given Seed). 0 keeps file order.
	ShuffleBuffer int
	// Seed seeds the shuffle (use a different seed per epoch).
	Seed uint64
	// BadRows is the malformed-row policy.
	BadRows BadRows
	// Filter keeps only the data rows it returns true for (e.g. a split part).
	Filter func(rowIndex int64) bool
	// RequireLabels makes missing label columns an error (training,
	// evaluation); without it absent labels read as 0 (prediction).
	RequireLabels bool
	// Range keeps only the rows in a column range (a time-based split part).
	Range *ColumnRange
}

// slot is one buffered record of the shuffle buffer: the cells' bytes
// back to back and their end offsets (no per-cell pointers for the GC).
type slot struct {
	buf  []byte
	ends []int32
	pos  int64
	ids  []int32 // the source's ids of the record, when it gives them
}

func (s *slot) set(rec [][]byte, line int64) {
	if s.ends == nil {
		n := 0
		for _, f := range rec {
			n += len(f)
		}
		s.buf = make([]byte, 0, n+n/2+16)
		s.ends = make([]int32, 0, len(rec))
	}
	s.buf, s.ends = s.buf[:0], s.ends[:0]
	for _, f := range rec {
		s.buf = append(s.buf, f...)
		s.ends = append(s.ends, int32(len(s.buf)))
	}
	s.pos = line
}

// cells fills dst with views of the slot's cells.
func (s *slot) cells(dst [][]byte) [][]byte {
	dst = dst[:0]
	start := int32(0)
	for _, e := range s.ends {
		dst = append(dst, s.buf[start:e:e])
		start = e
	}
	return dst
}

// Batcher reads files through a Pipeline into a reusable Batch.
type Batcher struct {
	p     *feature.Pipeline
	r     rowSource
	opt   BatchOptions
	batch *feature.Batch
	stats Stats
	drop  bool

	slots   []slot
	cells   [][]byte
	n       int // filled slots
	pending int // slot handed out by take, refilled on the next take
	eof     bool
	rng     *rand.Rand
	ids     idSource  // set when the source gives categorical ids
	rowIDs  []int32   // ids of the record take returned
	rowNums []float64 // numbers of the record take returned (nil: parse the cells)
}

// idSource is a rowSource that can give the categorical ids of its cells
// (a Parquet reader, by dictionary entry) and the numbers of its numeric
// cells (a Parquet reader of typed columns), so that the pipeline need not
// look them up or parse them (feature.Pipeline.TransformRowValues).
type idSource interface {
	setIDs(fns []func([]byte) (int32, bool))
	ids() []int32
	setNums(cols []bool)
	nums() []float64
}

// NewBatcher opens the files of path (see Expand: one file, a list, globs,
// directories; text or Parquet) with the pipeline's schema format and
// returns a Batcher. With a shuffle buffer, the files are read in an order
// drawn from opt.Seed. Close it when done.
func NewBatcher(p *feature.Pipeline, path string, opt BatchOptions) (*Batcher, error) {
	files, err := Expand(path)
	if err != nil {
		return nil, err
	}
	so := SourceOptions{Filter: opt.Filter, Range: opt.Range}
	if opt.ShuffleBuffer > 1 {
		so.ShuffleFiles = opt.Seed | 1
	}
	s := p.Schema()
	r, err := openFiles(files, &s, so)
	if err != nil {
		return nil, err
	}
	b, err := newBatcher(p, r, opt)
	if err != nil {
		r.Close()
		return nil, err
	}
	return b, nil
}

// NewBatcherReader is NewBatcher on an open Reader (its Filter applies, not
// opt.Filter). Closing the Batcher closes r.
func NewBatcherReader(p *feature.Pipeline, r *Reader, opt BatchOptions) (*Batcher, error) {
	return newBatcher(p, r, opt)
}

func newBatcher(p *feature.Pipeline, r rowSource, opt BatchOptions) (*Batcher, error) {
	if opt.BatchSize <= 0 {
		opt.BatchSize = 1024
	}
	q, err := p.WithColumns(r.Columns(), opt.RequireLabels)
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", r.Name(), err)
	}
	b := &Batcher{p: q, r: r, opt: opt, batch: q.NewBatch(opt.BatchSize), pending: -1,
		drop: p.Schema().FunnelViolations == "drop"}
	if is, ok := r.(idSource); ok {
		is.setIDs(q.ColumnIDs())
		if opt.ShuffleBuffer <= 1 { // a slot keeps the cells, which give the same numbers
			is.setNums(q.ColumnNumbers())
		}
		b.ids = is
	}
	if opt.ShuffleBuffer > 1 {
		b.slots = make([]slot, opt.ShuffleBuffer)
		b.rng = rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x9e3779b97f4a7c15))
	}
	return b, nil
}

// Pipeline returns the pipeline bound to this file's columns.
func (b *Batcher) Pipeline() *feature.Pipeline { return b.p }

// Stats returns the counts so far.
func (b *Batcher) Stats() Stats { return b.stats }

// Close closes the file.
func (b *Batcher) Close() error { return b.r.Close() }

// readGood returns the next well-formed record from the reader, applying the
// bad-row policy to malformed ones. It returns io.EOF at the end.
func (b *Batcher) readGood() ([][]byte, error) {
	for {
		rec, err := b.r.Next()
		if err == nil || err == io.EOF {
			return rec, err
		}
		if b.opt.BadRows == BadRowsSkip && errors.Is(err, ErrBadRow) && !b.r.broken() {
			b.stats.bad(err)
			continue
		}
		return nil, err
	}
}

// setIDs copies the source's ids of the record just read into s.
func (b *Batcher) setIDs(s *slot) {
	if b.ids != nil {
		s.ids = append(s.ids[:0], b.ids.ids()...)
	}
}

// take returns the next record (from the shuffle buffer when enabled); it
// stays valid until the next take.
func (b *Batcher) take() ([][]byte, int64, error) {
	if b.slots == nil {
		rec, err := b.readGood()
		if err != nil {
			return nil, 0, err
		}
		if b.ids != nil {
			b.rowIDs, b.rowNums = b.ids.ids(), b.ids.nums()
		}
		return rec, b.r.Pos(), nil
	}
	if b.pending >= 0 { // refill the slot handed out last time
		j := b.pending
		b.pending = -1
		var rec [][]byte
		err := io.EOF
		if !b.eof {
			rec, err = b.readGood()
		}
		switch {
		case err == io.EOF:
			b.eof = true
			b.n--
			b.slots[j], b.slots[b.n] = b.slots[b.n], b.slots[j]
		case err != nil:
			return nil, 0, err
		default:
			b.slots[j].set(rec, b.r.Pos())
			b.setIDs(&b.slots[j])
		}
	}
	for !b.eof && b.n < len(b.slots) {
		rec, err := b.readGood()
		if err == io.EOF {
			b.eof = true
			break
		}
		if err != nil {
			return nil, 0, err
		}
		b.slots[b.n].set(rec, b.r.Pos())
		b.setIDs(&b.slots[b.n])
		b.n++
	}
	if b.n == 0 {
		return nil, 0, io.EOF
	}
	j := b.rng.IntN(b.n)
	b.pending = j
	b.cells = b.slots[j].cells(b.cells)
	b.rowIDs = b.slots[j].ids
	return b.cells, b.slots[j].pos, nil
}

// Next returns the next batch (valid until the following call), or io.EOF
// when the file is exhausted. Errors name file, line and column.
func (b *Batcher) Next() (*feature.Batch, error) {
	bt := b.batch
	bt.Reset()
	for bt.N < b.opt.BatchSize {
		rec, line, err := b.take()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if err := b.p.TransformRowValues(rec, b.rowIDs, b.rowNums, bt); err != nil {
			switch {
			case errors.Is(err, feature.ErrFunnelViolation) && b.drop:
				b.stats.FunnelDropped++
				continue
			case errors.Is(err, ErrBadRow) && b.opt.BadRows == BadRowsSkip:
				b.stats.bad(b.r.errAt(line, err))
				continue
			}
			return nil, b.r.errAt(line, err)
		}
		b.stats.Rows++
	}
	if bt.N == 0 {
		return nil, io.EOF
	}
	return bt, nil
}

// FitOptions configures FitPipeline, Fit and Inspect.
type FitOptions struct {
	// Filter keeps only the training rows (e.g. a split part); see
	// SourceOptions.Filter for its key over several files.
	Filter func(rowIndex int64) bool
	// Range keeps only the rows in a column range (a time-based split part).
	Range *ColumnRange
	// BadRows is the malformed-row policy.
	BadRows BadRows
	// Logger, when set, receives progress and summary lines.
	Logger *slog.Logger
	// Workers bounds the files fitted at once (default GOMAXPROCS).
	Workers int
	// Progress, when set, receives the bytes read from the files as they
	// go (from several goroutines at once).
	Progress func(bytes int64)
}

// FitPipeline streams the training rows of path (those passing opt.Filter
// and opt.Range; see Expand for several files) and fits the schema's
// pipeline on them.
func FitPipeline(ctx context.Context, s *feature.Schema, path string, opt FitOptions) (*feature.Pipeline, Stats, error) {
	f, st, err := Fit(ctx, s, path, opt)
	if err != nil {
		return nil, st, err
	}
	p, err := f.Finish()
	if err != nil {
		return nil, st, fmt.Errorf("data: %s: %w", path, err)
	}
	if opt.Logger != nil {
		opt.Logger.Info("fitted feature pipeline", "file", path, "rows", st.Rows, "bad_rows", st.BadRows, "funnel_dropped", st.FunnelDropped)
	}
	return p, st, nil
}

// Fit runs the fit pass over the rows of path and returns the Fitter (to
// finish, to merge with others or to save as a fit state). Several files
// are fitted in parallel, one Fitter each, merged in file order: the result
// is that of one Fitter over all the rows (see Fitter.Merge).
func Fit(ctx context.Context, s *feature.Schema, path string, opt FitOptions) (*feature.Fitter, Stats, error) {
	return fitRows(ctx, s, path, opt, false)
}

func fitRows(ctx context.Context, s *feature.Schema, path string, opt FitOptions, inspect bool) (*feature.Fitter, Stats, error) {
	files, err := Expand(path)
	if err != nil {
		return nil, Stats{}, err
	}
	// The first file fixes the columns every other must have.
	first, err := openFiles(files[:1], s, SourceOptions{Filter: opt.Filter, Range: opt.Range, Progress: opt.Progress})
	if err != nil {
		return nil, Stats{}, err
	}
	columns := first.Columns()
	if len(files) == 1 {
		defer first.Close()
		return fitSource(ctx, s, first, opt, inspect)
	}
	first.Close()
	type result struct {
		f    *feature.Fitter
		st   Stats
		err  error
		done bool
	}
	res := make([]result, len(files))
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fitOne := func(i int) (*feature.Fitter, Stats, error) {
		if err := ctx.Err(); err != nil {
			return nil, Stats{}, err
		}
		fs := &fileSource{files: files, order: []int{i}, format: s.Format, uses: usesWith(s, opt.Range), columns: columns,
			opt: SourceOptions{Filter: opt.Filter, Range: opt.Range, Progress: opt.Progress}}
		if err := fs.open(0); err != nil {
			return nil, Stats{}, err
		}
		defer fs.Close()
		if opt.Range != nil {
			if fs.rng, err = newRangeFilter(opt.Range, columns); err != nil {
				return nil, Stats{}, fmt.Errorf("data: %s: %w", files[i], err)
			}
		}
		return fitSource(ctx, s, fs, opt, inspect)
	}
	// Fits are merged in file order as soon as a prefix of the files is
	// done, and no file starts more than 2·workers ahead of that prefix, so
	// few Fitters are alive at once whatever the number of files.
	var (
		mu     sync.Mutex
		moved  = sync.NewCond(&mu)
		merged int // files merged into acc
		acc    *feature.Fitter
	)
	finish := func(i int) {
		mu.Lock()
		defer mu.Unlock()
		res[i].done = true
		if res[i].err != nil {
			cancel()
		}
		for merged < len(res) && res[merged].done && res[merged].err == nil {
			if acc == nil {
				acc = res[merged].f
			} else if err := acc.Merge(res[merged].f); err != nil {
				res[merged].err = fmt.Errorf("data: %s: %w", files[merged], err)
				cancel()
				break
			}
			res[merged].f = nil
			merged++
		}
		moved.Broadcast()
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, len(files)) {
		wg.Go(func() {
			for i := range next {
				mu.Lock()
				for i-merged >= 2*workers && ctx.Err() == nil {
					moved.Wait()
				}
				mu.Unlock()
				res[i].f, res[i].st, res[i].err = fitOne(i)
				finish(i)
			}
		})
	}
	stop := context.AfterFunc(ctx, func() { // wake waiting workers on cancel
		mu.Lock()
		moved.Broadcast()
		mu.Unlock()
	})
	defer stop()
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()
	var st Stats
	for i := range res { // the first failing file's error, not a cancellation
		if res[i].err != nil && !errors.Is(res[i].err, context.Canceled) {
			return nil, st, res[i].err
		}
	}
	for i := range res {
		if res[i].err != nil {
			return nil, st, res[i].err
		}
	}
	for i := range res {
		r := res[i].st
		st.Rows += r.Rows
		st.BadRows += r.BadRows
		st.FunnelDropped += r.FunnelDropped
		for _, m := range r.FirstBad {
			if len(st.FirstBad) < 5 {
				st.FirstBad = append(st.FirstBad, m)
			}
		}
	}
	return acc, st, nil
}

// fitSource feeds the rows of r to a new Fitter.
func fitSource(ctx context.Context, s *feature.Schema, r rowSource, opt FitOptions, inspect bool) (*feature.Fitter, Stats, error) {
	var st Stats
	f, err := feature.NewFitter(s, r.Columns())
	if err != nil {
		return nil, st, fmt.Errorf("data: %s: %w", r.Name(), err)
	}
	f.KeepFunnelViolations = inspect
	if inspect { // OOV rates of every hashed field, min_count 1 too
		f.CountHashedValues()
	}
	drop := s.FunnelViolations == "drop"
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err == nil {
			if st.Rows&0xffff == 0 && ctx.Err() != nil {
				return nil, st, ctx.Err()
			}
			err = f.Add(rec)
			if err == nil {
				st.Rows++
				continue
			}
			if errors.Is(err, feature.ErrFunnelViolation) && drop {
				st.FunnelDropped++
				continue
			}
			err = r.errAt(r.Pos(), err)
		}
		if opt.BadRows == BadRowsSkip && errors.Is(err, ErrBadRow) && !r.broken() {
			st.bad(err)
			continue
		}
		return nil, st, err
	}
	return f, st, nil
}
