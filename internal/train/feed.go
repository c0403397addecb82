package train

import (
	"github.com/dcrnn/dcrnn/internal/feature"
)

// batchSource is what the feeder reads: a data.Batcher.
type batchSource interface {
	Next() (*feature.Batch, error)
	Close() error
}

// feedDepth is how many ready batches the feeder keeps ahead of the step.
const feedDepth = 2

// feeder reads, parses and transforms the training batches on a goroutine
// of its own, up to feedDepth batches ahead of the step, so that the step
// never waits for the reader while one is ready. Batches come out in the
// batcher's order (the stream is the same as reading it in line), copied
// into feedDepth+2 buffers that go round: one the step holds, the ready
// ones, and the one being filled.
type feeder struct {
	bt    batchSource
	ready chan fed
	free  chan *feature.Batch
	stop  chan struct{}
	done  chan struct{}
	cur   *feature.Batch // the batch the caller holds
	err   error          // the error that ended the stream, returned again
}

type fed struct {
	b   *feature.Batch
	err error
}

// newFeeder starts reading bt; Close stops it and closes bt.
func newFeeder(bt batchSource) *feeder {
	f := &feeder{bt: bt, ready: make(chan fed, feedDepth), free: make(chan *feature.Batch, feedDepth+2),
		stop: make(chan struct{}), done: make(chan struct{})}
	for range feedDepth + 2 {
		f.free <- new(feature.Batch)
	}
	go f.run()
	return f
}

func (f *feeder) run() {
	defer close(f.done)
	for {
		var dst *feature.Batch
		select {
		case dst = <-f.free:
		case <-f.stop:
			return
		}
		b, err := f.bt.Next()
		r := fed{err: err}
		if err == nil {
			copyBatch(dst, b)
			r.b = dst
		}
		select {
		case f.ready <- r:
		case <-f.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

// Next returns the next batch, valid until the following call, or the
// batcher's error (io.EOF at the end), which it keeps returning after.
func (f *feeder) Next() (*feature.Batch, error) {
	if f.cur != nil {
		f.free <- f.cur
		f.cur = nil
	}
	if f.err != nil {
		return nil, f.err
	}
	r := <-f.ready
	if r.err != nil {
		f.err = r.err
		return nil, r.err
	}
	f.cur = r.b
	return r.b, nil
}

// Close stops the goroutine and closes the batcher.
func (f *feeder) Close() error {
	close(f.stop)
	<-f.done
	return f.bt.Close()
}

// copyBatch makes dst a copy of src, reusing dst's buffers.
func copyBatch(dst, src *feature.Batch) {
	dst.N = src.N
	if len(dst.Fields) != len(src.Fields) {
		dst.Fields = make([]feature.FieldData, len(src.Fields))
	}
	for i := range src.Fields {
		s, d := &src.Fields[i], &dst.Fields[i]
		d.IDs = copyOrNil(d.IDs, s.IDs)
		d.Offsets = copyOrNil(d.Offsets, s.Offsets)
		d.Values = copyOrNil(d.Values, s.Values)
	}
	if len(dst.Labels) != len(src.Labels) {
		dst.Labels = make([][]float32, len(src.Labels))
	}
	for t := range src.Labels {
		dst.Labels[t] = copyOrNil(dst.Labels[t], src.Labels[t])
	}
	dst.Group = copyOrNil(dst.Group, src.Group)
}

// copyOrNil returns src copied into dst's storage, nil when src is nil.
func copyOrNil[T any](dst, src []T) []T {
	if src == nil {
		return nil
	}
	return append(dst[:0], src...)
}
