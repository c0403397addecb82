package nn

import (
	"sync"
	"sync/atomic"

	"github.com/dcrnn/dcrnn/internal/tensor"
)

// Packs holds the weights that the layers of some tapes multiply by,
// packed once for the kernels (tensor.Packed), so that a pass does not pack
// every weight again on every product (on the 100-row Census requests that
// packing was a tenth of the CPU).
//
// A weight is packed on its first product after NewPacks or Invalidate, by
// whichever tape gets there first, and the pack is then shared, read-only,
// by every tape that has the Packs, on any goroutine: one per weight (and
// per way of using it: the backward pass multiplies by its transpose) however
// many tapes run. The products have the same bits as without Packs.
//
// The packs are copies: a weight that changes while its pack is in use
// would go on being multiplied by its old values. So a Packs has an owner
// that knows when the weights change and calls Invalidate before the next
// pass after every change: the training step at its own start (the
// optimizer writes between steps), a server never (its model is read-only
// once loaded). Weights are recognised by their storage (the slice's first
// element and the product's shape), never by their values; a pack keeps its
// weight's storage alive, so no other weight can take that address.
type Packs struct {
	gen atomic.Uint64 // current generation: a pack of another one is stale
	mu  sync.RWMutex
	m   map[packKey]*packEntry
}

type packKey struct {
	w      *float32
	transB bool
	k, n   int
	ldw    int
}

type packEntry struct {
	gen atomic.Uint64 // the generation p was packed in (0: never)
	mu  sync.Mutex    // held while packing
	p   tensor.Packed
}

// NewPacks returns an empty Packs.
func NewPacks() *Packs {
	c := &Packs{m: map[packKey]*packEntry{}}
	c.gen.Store(1)
	return c
}

// Invalidate makes every pack stale: the next product of each weight packs
// it again (into the same buffer). No pass may be running on a tape with
// these Packs meanwhile.
func (c *Packs) Invalidate() { c.gen.Add(1) }

// Len reports the number of weights (and ways of using them) packed so far.
func (c *Packs) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// get returns op(w) [k×n] packed in the current generation, packing it if
// needed.
func (c *Packs) get(transB bool, k, n int, w []float32, ldw int) *tensor.Packed {
	key := packKey{&w[0], transB, k, n, ldw}
	c.mu.RLock()
	e := c.m[key]
	c.mu.RUnlock()
	if e == nil {
		c.mu.Lock()
		if e = c.m[key]; e == nil {
			e = &packEntry{}
			c.m[key] = e
		}
		c.mu.Unlock()
	}
	gen := c.gen.Load()
	if e.gen.Load() != gen {
		e.mu.Lock()
		if e.gen.Load() != gen {
			e.p.Repack(transB, k, n, w, ldw)
			e.gen.Store(gen)
		}
		e.mu.Unlock()
	}
	return &e.p
}
