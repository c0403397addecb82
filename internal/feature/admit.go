package feature

import (
	"encoding/base64"
	"fmt"
	"math"
	"math/bits"
)

// Frequency admission of hashed fields (see "Frequency admission" in the
// package doc). The fitter counts the values of a hashed field with an
// idCounter, bounded in memory whatever the number of distinct values; the
// fitted pipeline keeps the admitted values in a bloomFilter, which travels
// in the model file.

// Bounds of the counting of a hashed field's values during a fit.
const (
	// AdmitExactValues is the number of distinct values of one hashed field
	// that the fitter counts exactly (2²⁰ = 1,048,576), in a table of
	// 2·AdmitExactValues slots of 12 bytes (24 MiB at most; it starts small
	// and doubles).
	AdmitExactValues = 1 << 20
	// AdmitSketchDepth and AdmitSketchWidth shape the count-min sketch that
	// holds the counts the exact table has no room for: 4 rows of 2²²
	// one-byte counters (16 MiB), allocated the first time the table is
	// full, updated conservatively (only the counters at the minimum rise).
	AdmitSketchDepth = 4
	AdmitSketchWidth = 1 << 22
	// AdmitBloomBitsPerValue and AdmitBloomHashes size the Bloom filter of
	// admitted values kept by a fitted pipeline: 10 bits per admitted value
	// (rounded up to whole 64-bit words), 7 probes, so a value that was not
	// admitted passes with probability (1 − e^(−7/10))⁷ ≈ 0.82%.
	AdmitBloomBitsPerValue = 10
	AdmitBloomHashes       = 7
)

// sketchMax is the largest value of a sketch counter (they saturate).
const sketchMax = math.MaxUint8

// mix64 is the finaliser of splitmix64, a bijection of uint64 that spreads
// every input bit over the output.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// idCounter counts the values (by their Hash64) of one hashed field in
// bounded memory:
//
//   - While fewer than maxN distinct values have been seen, every value has
//     an exact count in the table.
//   - When a new value finds the table full, the table is pruned: the values
//     counted fewer than floor times (the promotion level in force, raised
//     further only if more than maxN/2 values are above it) move, with their
//     counts, to the count-min sketch.
//   - From then on a value not in the table is counted in the sketch; when
//     its estimate reaches the promotion level it enters the table with the
//     estimate as its count (an over-estimate: this is how a rare value can
//     be admitted by mistake) and is counted exactly from there on.
//
// Every value whose true count reaches the threshold the fit ends with is in
// the table at the end, as long as the promotion levels stayed at or below
// that threshold (see Fitter.admitLevel) and no prune had to raise the floor.
type idCounter struct {
	keys   []uint64 // Hash64 of the value; a slot is empty when its count is 0
	counts []uint32
	n      int // occupied slots
	maxN   int // at most this many values in the table

	sketch []uint8 // depth × width counters; nil until the first prune
	depth  int
	wshift uint // 64 − log2(width)

	floor   uint32 // a value outside the table enters it at this estimate
	highest uint32 // the largest floor ever used: untracked values were seen fewer times
	total   int64  // values counted
	prunes  int
}

// newIDCounter returns a counter holding at most maxN values exactly, then
// spilling into a depth × 2^widthLog2 sketch.
func newIDCounter(maxN, depth int, widthLog2 uint) *idCounter {
	slots := 16
	for slots < 2*maxN && slots < 1024 {
		slots *= 2
	}
	return &idCounter{keys: make([]uint64, slots), counts: make([]uint32, slots), maxN: maxN, depth: depth, wshift: 64 - widthLog2}
}

// slot returns the slot of h: the one holding it, or the empty one where it
// would go.
func (c *idCounter) slot(h uint64) int {
	mask := len(c.keys) - 1
	i := int(mix64(h)) & mask
	for c.counts[i] != 0 && c.keys[i] != h {
		i = (i + 1) & mask
	}
	return i
}

// add counts one occurrence of the value with hash h. level is the
// promotion level in force (≥ 1; values counted fewer times may be
// forgotten into the sketch).
func (c *idCounter) add(h uint64, level uint32) {
	c.total++
	i := c.slot(h)
	if c.counts[i] != 0 {
		if c.counts[i] < math.MaxUint32 {
			c.counts[i]++
		}
		return
	}
	n := uint32(1)
	if c.sketch != nil {
		lvl := min(max(level, c.floor), sketchMax)
		c.highest = max(c.highest, lvl)
		if n = c.sketchInc(h); n < lvl {
			return
		}
	}
	c.insertAt(i, h, n, level)
}

// insertAt puts h with count n in empty slot i, growing or pruning the
// table first when it is full.
func (c *idCounter) insertAt(i int, h uint64, n, level uint32) {
	switch {
	case c.n+1 > c.maxN:
		c.prune(level)
		i = c.slot(h)
	case c.n+1 > len(c.keys)/2:
		c.rehash(2 * len(c.keys))
		i = c.slot(h)
	}
	c.keys[i], c.counts[i] = h, n
	c.n++
}

// rehash moves the table to slots slots.
func (c *idCounter) rehash(slots int) {
	keys, counts := c.keys, c.counts
	c.keys, c.counts = make([]uint64, slots), make([]uint32, slots)
	for j, n := range counts {
		if n != 0 {
			i := c.slot(keys[j])
			c.keys[i], c.counts[i] = keys[j], n
		}
	}
}

// prune frees at least half the table: values counted fewer than floor
// times move to the sketch, floor being the promotion level, raised (in
// powers of two) only as far as needed to keep at most maxN/2 values.
func (c *idCounter) prune(level uint32) {
	c.prunes++
	if c.sketch == nil {
		c.sketch = make([]uint8, c.depth<<(64-c.wshift))
	}
	// hist[k]: values with a count in [2^k, 2^(k+1)).
	var hist [33]int
	for _, n := range c.counts {
		if n != 0 {
			hist[bits.Len32(n)-1]++
		}
	}
	f := max(level, c.floor, 1)
	above := func(f uint32) int { // values counted ≥ f, rounded up to whole hist bins
		s := 0
		for k := bits.Len32(f) - 1; k < len(hist); k++ {
			s += hist[k]
		}
		return s
	}
	for above(f) > c.maxN/2 && f < 1<<31 {
		f = uint32(1) << bits.Len32(f) // next power of two
	}
	c.floor = f
	c.highest = max(c.highest, min(f, sketchMax))
	keep := make([]uint64, 0, above(f))
	keepN := make([]uint32, 0, cap(keep))
	for j, n := range c.counts {
		switch {
		case n == 0:
		case n < f:
			c.sketchRaise(c.keys[j], n)
		default:
			keep, keepN = append(keep, c.keys[j]), append(keepN, n)
		}
	}
	clear(c.keys)
	clear(c.counts)
	c.n = 0
	for j, h := range keep {
		i := c.slot(h)
		c.keys[i], c.counts[i] = h, keepN[j]
		c.n++
	}
}

// sketchRow returns the counter index of h in sketch row r.
func (c *idCounter) sketchRow(h uint64, r int) int {
	return r<<(64-c.wshift) | int(mix64(h+uint64(r+1)*0x9e3779b97f4a7c15)>>c.wshift)
}

// sketchInc counts one more occurrence of h in the sketch and returns its
// new estimate. The update is conservative: the estimate e (the smallest of
// h's counters) becomes e+1 by raising only the counters below e+1, which
// keeps every counter at or above the count of each value mapped to it.
func (c *idCounter) sketchInc(h uint64) uint32 {
	return c.sketchRaise(h, c.sketchEstimate(h)+1)
}

// sketchRaise makes h's estimate at least n (capped at sketchMax) by raising
// its counters below n, and returns the new estimate. A value whose true
// count is n keeps a valid over-estimate; no other value's estimate drops.
func (c *idCounter) sketchRaise(h uint64, n uint32) uint32 {
	n = min(n, sketchMax)
	est := uint32(sketchMax)
	for r := 0; r < c.depth; r++ {
		i := c.sketchRow(h, r)
		if uint32(c.sketch[i]) < n {
			c.sketch[i] = uint8(n)
		}
		est = min(est, uint32(c.sketch[i]))
	}
	return est
}

// sketchEstimate returns the sketch's estimate of h's count (0 without a
// sketch).
func (c *idCounter) sketchEstimate(h uint64) uint32 {
	if c.sketch == nil {
		return 0
	}
	est := uint32(sketchMax)
	for r := 0; r < c.depth; r++ {
		est = min(est, uint32(c.sketch[c.sketchRow(h, r)]))
	}
	return est
}

// count returns h's count in the table (0 when it is not there).
func (c *idCounter) count(h uint64) uint32 { return c.counts[c.slot(h)] }

// each calls fn for every value in the table.
func (c *idCounter) each(fn func(h uint64, n uint32)) {
	for j, n := range c.counts {
		if n != 0 {
			fn(c.keys[j], n)
		}
	}
}

// bloomFilter is a Bloom filter of 64-bit value hashes (Hash64), probed at
// k positions g_i = a + i·b mod 2⁶⁴ (Kirsch–Mitzenmacher double hashing: a =
// mix64(Hash64 ^ 0x2545f4914f6cdd1d), b = a rotated by 32 bits, with its low
// bit set), each reduced to a bit index in [0, 64·words) as the high word of
// g_i·64·words. A nil *bloomFilter holds nothing.
type bloomFilter struct {
	bits []uint64
	k    int
	n    int // values added
}

// newBloomFilter returns an empty filter sized for n values
// (AdmitBloomBitsPerValue bits each, at least one word).
func newBloomFilter(n int) *bloomFilter {
	words := max(1, (n*AdmitBloomBitsPerValue+63)/64)
	return &bloomFilter{bits: make([]uint64, words), k: AdmitBloomHashes}
}

func (b *bloomFilter) probes(h uint64) (a, step, m uint64) {
	x := mix64(h ^ 0x2545f4914f6cdd1d)
	return x, bits.RotateLeft64(x, 32) | 1, uint64(len(b.bits)) * 64
}

func (b *bloomFilter) add(h uint64) {
	a, s, m := b.probes(h)
	for range b.k {
		i, _ := bits.Mul64(a, m)
		b.bits[i>>6] |= 1 << (i & 63)
		a += s
	}
	b.n++
}

// has reports whether h may have been added (always true when it was).
func (b *bloomFilter) has(h uint64) bool {
	if b == nil || len(b.bits) == 0 {
		return false
	}
	a, s, m := b.probes(h)
	for range b.k {
		i, _ := bits.Mul64(a, m)
		if b.bits[i>>6]&(1<<(i&63)) == 0 {
			return false
		}
		a += s
	}
	return true
}

// bloomJSON is a filter's form in the pipeline JSON: the bit array as
// base64 of its 64-bit words, little-endian; or, in a version 3 pipeline,
// no bits and the words in a blob (fromBlob).
type bloomJSON struct {
	Values int    `json:"values"`
	Hashes int    `json:"hashes"`
	Words  int    `json:"words"`
	Bits   string `json:"bits,omitempty"`
	// words, when set, are the bits read from a blob.
	words []uint64
}

// fromBlob takes the filter's words from the blob of that name.
func (j *bloomJSON) fromBlob(name string, blob func(string) (Blob, bool)) error {
	b, ok := blob(name)
	if !ok || b.Bytes != nil {
		return fmt.Errorf("admitted values stored outside the JSON, but their blob %s is missing or not 64-bit words", name)
	}
	if len(b.Ints) != j.Words {
		return fmt.Errorf("admitted values: %d words in the blob, %d in the JSON", len(b.Ints), j.Words)
	}
	j.words = make([]uint64, len(b.Ints))
	for i, w := range b.Ints {
		j.words[i] = uint64(w)
	}
	return nil
}

func (b *bloomFilter) toJSON() *bloomJSON {
	raw := make([]byte, 8*len(b.bits))
	for i, w := range b.bits {
		for j := range 8 {
			raw[8*i+j] = byte(w >> (8 * j))
		}
	}
	return &bloomJSON{Values: b.n, Hashes: b.k, Words: len(b.bits), Bits: base64.StdEncoding.EncodeToString(raw)}
}

func (j *bloomJSON) filter() (*bloomFilter, error) {
	if j.words != nil {
		if j.Words < 1 || j.Hashes < 1 || j.Hashes > 64 || j.Values < 0 {
			return nil, fmt.Errorf("admitted values: %d words, %d hashes, %d values", j.Words, j.Hashes, j.Values)
		}
		return &bloomFilter{bits: j.words, k: j.Hashes, n: j.Values}, nil
	}
	raw, err := base64.StdEncoding.DecodeString(j.Bits)
	if err != nil {
		return nil, fmt.Errorf("admitted values: %w", err)
	}
	if j.Words < 1 || len(raw) != 8*j.Words || j.Hashes < 1 || j.Hashes > 64 || j.Values < 0 {
		return nil, fmt.Errorf("admitted values: %d bytes for %d words, %d hashes, %d values", len(raw), j.Words, j.Hashes, j.Values)
	}
	b := &bloomFilter{bits: make([]uint64, j.Words), k: j.Hashes, n: j.Values}
	for i := range b.bits {
		for k := range 8 {
			b.bits[i] |= uint64(raw[8*i+k]) << (8 * k)
		}
	}
	return b, nil
}
