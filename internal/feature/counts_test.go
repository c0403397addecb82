package feature

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestValueCounts counts values of many lengths (empty, across chunk
// boundaries, longer than a chunk's share) against a plain map, and checks
// get, each, merge and kept (count descending, then value).
func TestValueCounts(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	want := map[string][2]int64{}
	c, d := newValueCounts(2), newValueCounts(2)
	var vals []string
	for i := range 3000 {
		n := rng.IntN(40)
		switch i % 500 {
		case 0:
			n = valueChunk/16 + 1 + rng.IntN(100) // kept outside the chunks
		case 1:
			n = 0
		}
		vals = append(vals, fmt.Sprintf("%d:", i%700)+strings.Repeat("x", n))
	}
	for k := range 100_000 {
		v := vals[rng.IntN(len(vals))]
		into := c
		if k%3 == 0 {
			into = d
		}
		m := into.at([]byte(v))
		m[0]++
		m[1] += int64(k % 2)
		w := want[v]
		w[0]++
		w[1] += int64(k % 2)
		want[v] = w
	}
	c.merge(d)
	if c.len() != len(want) {
		t.Fatalf("%d values, want %d", c.len(), len(want))
	}
	seen := 0
	c.each(func(v string, n []int64) {
		seen++
		if w := want[v]; n[0] != w[0] || n[1] != w[1] || len(n) != 2 {
			t.Errorf("%.20q: counts %v, want %v", v, n, w)
		}
	})
	if seen != len(want) {
		t.Errorf("each gave %d values, want %d", seen, len(want))
	}
	if c.get("never") != nil {
		t.Error("get of an unseen value")
	}
	var wantKept []string
	for v, w := range want {
		if w[0] >= 20 {
			wantKept = append(wantKept, v)
		}
	}
	slices.SortFunc(wantKept, func(a, b string) int {
		if want[a][0] != want[b][0] {
			return int(want[b][0] - want[a][0])
		}
		return strings.Compare(a, b)
	})
	if got := c.kept(20); !slices.Equal(got, wantKept) {
		t.Errorf("kept(20): %d values, want %d (or a different order)", len(got), len(wantKept))
	}
}
