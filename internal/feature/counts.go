package feature

import (
	"cmp"
	"slices"
	"unsafe"
)

// valueCounts counts the distinct raw values of a vocabulary field during
// the fit: per value, width counts (the rows holding it, then for a
// single-valued field its positives per task). The values' bytes are kept
// back to back in large chunks, a value's index sits in one map, and the
// counts in blocks of countBlock values, so that a value costs its map
// slot, its bytes and its counts, not a string allocation and a slice of
// its own, and the collector has one pointer per value to follow, not two
// (BenchmarkFitDistinct: heap bytes per 16-byte value with two tasks). A
// field of 10⁷ distinct values makes that difference in gigabytes.
type valueCounts struct {
	width  int
	idx    map[string]int // value → index; the keys point into the chunks
	blocks [][]int64      // countBlock values' counts each, width per value
	nvals  int
	chunk  []byte // the current chunk of the values' bytes
}

const (
	valueChunk = 1 << 20 // size of the chunks holding the values' bytes
	countBlock = 1 << 16 // values per block of counts
)

func newValueCounts(width int) *valueCounts {
	return &valueCounts{width: width, idx: map[string]int{}}
}

// len returns the number of distinct values.
func (c *valueCounts) len() int { return c.nvals }

// counts returns the counts of the value of index i.
func (c *valueCounts) counts(i int) []int64 {
	b, o := i/countBlock, i%countBlock*c.width
	return c.blocks[b][o : o+c.width : o+c.width]
}

// at returns the counts of v, adding v (with zero counts) when it is new.
func (c *valueCounts) at(v []byte) []int64 {
	if i, ok := c.idx[string(v)]; ok {
		return c.counts(i)
	}
	return c.add(intern(c, v), nil)
}

// get returns the counts of v, nil when v was not seen.
func (c *valueCounts) get(v string) []int64 {
	if i, ok := c.idx[v]; ok {
		return c.counts(i)
	}
	return nil
}

// add adds the new value v with counts n (zeros when nil) and returns its
// counts.
func (c *valueCounts) add(v string, n []int64) []int64 {
	i := c.nvals
	if c.nvals%countBlock == 0 {
		c.blocks = append(c.blocks, make([]int64, countBlock*c.width))
	}
	c.nvals++
	c.idx[v] = i
	m := c.counts(i)
	copy(m, n)
	return m
}

// intern copies v's bytes into the current chunk and returns them as a
// string; chunks are never written again where a string points.
func intern[T string | []byte](c *valueCounts, v T) string {
	if len(v) == 0 {
		return ""
	}
	if len(v) > valueChunk/16 {
		return string(v)
	}
	if len(c.chunk)+len(v) > cap(c.chunk) {
		c.chunk = make([]byte, 0, valueChunk)
	}
	start := len(c.chunk)
	c.chunk = append(c.chunk, v...)
	return unsafe.String(&c.chunk[start], len(v))
}

// each calls fn with every value and its counts, in no particular order
// (what the callers compute does not depend on it).
func (c *valueCounts) each(fn func(v string, n []int64)) {
	for v, i := range c.idx {
		fn(v, c.counts(i))
	}
}

// merge adds o's counts into c.
func (c *valueCounts) merge(o *valueCounts) {
	o.each(func(v string, n []int64) {
		if m := c.get(v); m != nil {
			addInts(m, n)
			return
		}
		c.add(intern(c, v), n)
	})
}

// kept returns the values counted at least minCount times, by count
// descending then value ascending (the vocabulary's id order), as strings
// of their own (one buffer for all), so that the vocabulary does not keep
// the chunks of the values it dropped. The sort compares the counts it
// carries, not map lookups: with 10⁷ values that is seconds, not minutes.
func (c *valueCounts) kept(minCount int) []string {
	type vc struct {
		v string
		n int64
	}
	var ks []vc
	c.each(func(v string, n []int64) {
		if n[0] >= int64(minCount) {
			ks = append(ks, vc{v, n[0]})
		}
	})
	slices.SortFunc(ks, func(a, b vc) int {
		if a.n != b.n {
			return cmp.Compare(b.n, a.n)
		}
		return cmp.Compare(a.v, b.v)
	})
	size := 0
	for _, k := range ks {
		size += len(k.v)
	}
	buf := make([]byte, 0, size)
	for _, k := range ks {
		buf = append(buf, k.v...)
	}
	all := unsafe.String(unsafe.SliceData(buf), len(buf))
	out := make([]string, len(ks))
	off := 0
	for i, k := range ks {
		out[i] = all[off : off+len(k.v)]
		off += len(k.v)
	}
	return out
}
