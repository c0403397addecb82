package feature

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// fnvBucket is the id a hashed value gets when admitted, computed with the
// standard library's FNV-1a (not with Hash64, the code under test).
func fnvBucket(v string, buckets uint64) int32 {
	h := fnv.New64a()
	h.Write([]byte(v))
	return int32(1 + h.Sum64()%buckets)
}

// admitSchema has a hashed field with an explicit threshold (h), one with
// the default (hd), a hashed multi-valued field (mh) and a vocabulary
// multi-valued field (mv), on 40 rows with 20 click positives, so the
// default min_count is max(2, 5/0.5 = 10) = 10.
const admitSchema = `
format: {type: csv, header: true}
fields:
  - {name: h, type: categorical, hash_buckets: 1000, min_count: 3}
  - {name: hd, type: categorical, hash_buckets: 1000}
  - {name: h1, type: categorical, hash_buckets: 1000, min_count: 1}
  - {name: mh, type: multi_categorical, hash_buckets: 500, min_count: 4}
  - {name: mv, type: multi_categorical, min_count: 4}
  - {name: v, type: categorical, min_count: 3}
tasks:
  - {name: click, label: y}
`

var admitColumns = []string{"h", "hd", "h1", "mh", "mv", "v", "y"}

// admitRows returns 40 rows with these counts:
//
//	h:  a ×20, b ×3, c ×2, d ×1, e ×14        (min_count 3: a, b, e)
//	hd: p ×10, q ×9, r ×21                    (default 10: p, r)
//	h1: one distinct value per row            (min_count 1: all)
//	mh: tokens x ×40, y ×4, z ×3, w ×1        (min_count 4: x, y)
//	mv: the same tokens as mh                 (min_count 4: x, y)
//	v:  a ×20, b ×3, c ×2, d ×1, e ×14        (min_count 3: a, b, e)
func admitRows() [][]string {
	var rows [][]string
	for i := range 40 {
		h := "a"
		switch {
		case i >= 20 && i < 23:
			h = "b"
		case i >= 23 && i < 25:
			h = "c"
		case i == 25:
			h = "d"
		case i > 25:
			h = "e"
		}
		hd := "r"
		switch {
		case i < 10:
			hd = "p"
		case i < 19:
			hd = "q"
		}
		m := "x"
		switch {
		case i < 4:
			m = "x|y"
		case i < 7:
			m = "x | z"
		case i == 7:
			m = "w|x"
		}
		rows = append(rows, []string{h, hd, fmt.Sprintf("u%d", i), m, m, h, fmt.Sprint(i % 2)})
	}
	return rows
}

func TestHashedAndVocabularyAdmission(t *testing.T) {
	p := fitTest(t, admitSchema, admitColumns, admitRows())
	for _, c := range []struct {
		field    string
		minCount int
		admitted int
	}{{"h", 3, 3}, {"hd", 10, 2}, {"h1", 1, -1}, {"mh", 4, 2}, {"mv", 4, -1}, {"v", 3, -1}} {
		if got := p.MinCount(c.field); got != c.minCount {
			t.Errorf("MinCount(%s) = %d, want %d", c.field, got, c.minCount)
		}
		if got := p.AdmittedValues(c.field); got != c.admitted {
			t.Errorf("AdmittedValues(%s) = %d, want %d", c.field, got, c.admitted)
		}
	}
	wantSpecs := []FieldSpec{{"h", Categorical, 1001}, {"hd", Categorical, 1001}, {"h1", Categorical, 1001},
		{"mh", MultiCategorical, 501}, {"mv", MultiCategorical, 3}, {"v", Categorical, 4}}
	if got := p.Fields(); !reflect.DeepEqual(got, wantSpecs) {
		t.Errorf("Fields() = %+v, want %+v", got, wantSpecs)
	}
	// One row per case; "zz" and "never" were never seen.
	rows := [][]string{
		{"a", "p", "u3", "x|y", "x|y", "a", "0"},
		{"b", "r", "new", "z|w", "z|w", "b", "0"},
		{"c", "q", "u39", "never", "never", "c", "0"},
		{"d", "zz", "", "", "", "d", "0"},
		{"zz", "", "u0", "x", "x", "zz", "0"},
	}
	hb := func(v string) int32 { return fnvBucket(v, 1000) }
	mb := func(v string) int32 { return fnvBucket(v, 500) }
	want := [][]int32{
		{hb("a"), hb("b"), 0, 0, 0},                        // h: a, b admitted; c (2), d (1), zz (0) OOV
		{hb("p"), hb("r"), 0, 0, 0},                        // hd: p (10), r (21) admitted; q (9), zz, "" OOV
		{hb("u3"), hb("new"), hb("u39"), hb(""), hb("u0")}, // h1: min_count 1 admits all, unseen too
		{mb("x"), mb("y"), 0, 0, 0, mb("x")},               // mh tokens: z (3), w (1), never OOV
		{1, 2, 0, 0, 0, 1},                                 // mv: x (40) is 1, y (4) is 2
		{1, 3, 0, 0, 0},                                    // v: a (20) 1, e (14) 2, b (3) 3
	}
	b := p.NewBatch(len(rows))
	for i, r := range rows {
		if err := p.TransformRecord(r, b); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
	}
	for f, w := range want {
		if got := b.Fields[f].IDs; !slices.Equal(got, w) {
			t.Errorf("field %s: ids %v, want %v", wantSpecs[f].Name, got, w)
		}
	}
	if got, w := b.Fields[3].Offsets, []int32{0, 2, 4, 5, 5, 6}; !slices.Equal(got, w) {
		t.Errorf("mh offsets %v, want %v", got, w)
	}

	// Row counts: kept values' counts, OOV the rest.
	rc := p.RowCounts()
	if len(rc) != 6 {
		t.Fatalf("RowCounts: %d fields", len(rc))
	}
	check := func(name string, counts []int64, want map[int32]int64) {
		t.Helper()
		var sum int64
		for id, n := range want {
			if counts[id] != n {
				t.Errorf("RowCounts %s[%d] = %d, want %d", name, id, counts[id], n)
			}
			sum += n
		}
		var all int64
		for _, n := range counts {
			all += n
		}
		if all != sum {
			t.Errorf("RowCounts %s: total %d, want %d", name, all, sum)
		}
	}
	check("h", rc[0], map[int32]int64{0: 3, hb("a"): 20, hb("b"): 3, hb("e"): 14})
	check("hd", rc[1], map[int32]int64{0: 9, hb("p"): 10, hb("r"): 21})
	check("mh", rc[3], map[int32]int64{0: 4, mb("x"): 40, mb("y"): 4})
	check("mv", rc[4], map[int32]int64{0: 4, 1: 40, 2: 4})
	check("v", rc[5], map[int32]int64{0: 3, 1: 20, 2: 14, 3: 3})
	var h1 int64
	for _, n := range rc[2] {
		h1 += n
	}
	if h1 != 40 || rc[2][0] != 0 {
		t.Errorf("RowCounts h1: %d rows, %d on id 0; want 40 and 0", h1, rc[2][0])
	}
}

// TestAdmissionRoundTrip checks that a pipeline read back from its JSON
// gives the same ids as the fitted one for admitted, rare and unseen values,
// through TransformRow and TransformMap alike, and that the JSON holds a
// base64 filter per admitting hashed field (version 2) and none otherwise.
func TestAdmissionRoundTrip(t *testing.T) {
	p := fitTest(t, admitSchema, admitColumns, admitRows())
	js, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Version int
		Fields  []map[string]json.RawMessage
	}
	if err := json.Unmarshal(js, &raw); err != nil {
		t.Fatal(err)
	}
	if raw.Version != 2 {
		t.Errorf("version %d, want 2 (a filter is present)", raw.Version)
	}
	for i, hasFilter := range []bool{true, true, false, true, false, false} {
		if _, ok := raw.Fields[i]["admitted"]; ok != hasFilter {
			t.Errorf("field %d: admitted present %v, want %v", i, ok, hasFilter)
		}
	}
	var f0 bloomJSON
	if err := json.Unmarshal(raw.Fields[0]["admitted"], &f0); err != nil {
		t.Fatal(err)
	}
	// 3 values × 10 bits = 30 bits: one 64-bit word, 12 base64 characters.
	if f0.Values != 3 || f0.Hashes != 7 || f0.Words != 1 || len(f0.Bits) != 12 {
		t.Errorf("filter of h = %+v, want 3 values, 7 hashes, 1 word", f0)
	}
	q, err := UnmarshalPipeline(js)
	if err != nil {
		t.Fatal(err)
	}
	if js2, _ := json.Marshal(q); string(js2) != string(js) {
		t.Error("second marshal differs")
	}
	if q.RowCounts() != nil {
		t.Error("a pipeline read from JSON has row counts")
	}
	vals := []string{"a", "b", "c", "d", "e", "p", "q", "r", "x", "y", "z", "w", "u1", "", "never", "zz"}
	for _, v := range vals {
		rec := []string{v, v, v, v + "|x", v, v, "0"}
		m := map[string]any{"h": v, "hd": v, "h1": v, "mh": []any{v, "x"}, "mv": v, "v": v}
		var got [4]*Batch
		for k, pp := range []*Pipeline{p, q} {
			br, bm := pp.NewBatch(1), pp.NewBatch(1)
			if err := pp.TransformRecord(rec, br); err != nil {
				t.Fatal(err)
			}
			if _, err := pp.TransformMap(m, bm); err != nil {
				t.Fatal(err)
			}
			got[2*k], got[2*k+1] = br, bm
		}
		for k := 1; k < 4; k++ {
			if !reflect.DeepEqual(got[0].Fields, got[k].Fields) {
				t.Errorf("value %q: transform %d differs from the fitted pipeline's row transform:\n%+v\n%+v", v, k, got[0].Fields, got[k].Fields)
			}
		}
	}
	// Damaged filters are refused.
	for _, bad := range []string{
		strings.Replace(string(js), `"version":2`, `"version":1`, 1),
		strings.Replace(string(js), `"hashes":7`, `"hashes":0`, 1),
		strings.Replace(string(js), `"words":1`, `"words":2`, 1),
		strings.Replace(string(js), `"min_count":3,"admitted"`, `"min_count":1,"admitted"`, 1),
	} {
		if bad == string(js) {
			t.Fatal("replacement did not apply")
		}
		if _, err := UnmarshalPipeline([]byte(bad)); err == nil {
			t.Errorf("UnmarshalPipeline accepted %.200s", bad)
		}
	}
	// Without an admitting field the pipeline stays version 1.
	one := strings.NewReplacer("min_count: 3}", "min_count: 1}", "hash_buckets: 1000}", "hash_buckets: 1000, min_count: 1}", "min_count: 4}", "min_count: 1}").Replace(admitSchema)
	p1 := fitTest(t, one, admitColumns, admitRows())
	js1, _ := json.Marshal(p1)
	if !strings.HasPrefix(string(js1), `{"version":1,`) || strings.Contains(string(js1), `"admitted"`) {
		t.Errorf("min_count 1 everywhere: %.60s…, want version 1 and no filter", js1)
	}
}

// TestPipelineV1HashedReadsAsBefore checks that a hashed field of a version
// 1 pipeline (no min_count, no filter) admits every value.
func TestPipelineV1HashedReadsAsBefore(t *testing.T) {
	js := `{"version":1,"schema":{"format":{"type":"csv","separator":",","header":true},"fields":[{"name":"h","type":"categorical","hash_buckets":10}],"tasks":[{"name":"t","label":"y","positive":["1"]}]},"columns":["h","y"],"rows":3,"fields":[{"name":"h"}]}`
	p, err := UnmarshalPipeline([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	b := p.NewBatch(1)
	if err := p.TransformRecord([]string{"never seen", "0"}, b); err != nil {
		t.Fatal(err)
	}
	if got, want := b.Fields[0].IDs[0], fnvBucket("never seen", 10); got != want {
		t.Errorf("id %d, want %d", got, want)
	}
}

// TestIDCounterSpillsAndPromotes runs a counter with room for 64 values
// exactly on a stream of 2,000 values seen once and 30 values seen 12 times
// each, interleaved: the table must overflow, and at the end every frequent
// value is in it with a count of at least 12 (none lost to the sketch),
// while no value seen once has 12.
func TestIDCounterSpillsAndPromotes(t *testing.T) {
	c := newIDCounter(64, 4, 12)
	var stream []uint64
	for i := range 2000 {
		stream = append(stream, uint64(1_000_000+i))
	}
	for i := range 30 {
		for range 12 {
			stream = append(stream, uint64(i))
		}
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(stream), func(i, j int) { stream[i], stream[j] = stream[j], stream[i] })
	for _, h := range stream {
		c.add(h, 3)
	}
	if c.sketch == nil || c.prunes == 0 {
		t.Fatalf("the table never overflowed (%d values)", c.n)
	}
	if c.n > 64 {
		t.Errorf("table holds %d values, budget 64", c.n)
	}
	for i := range 30 {
		if n := c.count(uint64(i)); n < 12 {
			t.Errorf("frequent value %d: count %d, want ≥ 12", i, n)
		}
	}
	for i := range 2000 {
		if n := c.count(uint64(1_000_000 + i)); n >= 12 {
			t.Errorf("value seen once: count %d", n)
		}
	}
}

// sketchBound is the documented bound of the false-admission rate of a
// value seen c times at threshold m after s values were counted into a
// sketch of the default shape: (s / (width·(m−c)))^depth.
func sketchBound(s int64, c, m int) float64 {
	return math.Pow(float64(s)/(float64(AdmitSketchWidth)*float64(m-c)), AdmitSketchDepth)
}

// TestSketchFalseAdmissionRate streams 10⁷ values through a counter of the
// default size, most of them seen once, and measures the share of rare
// values (seen 1, 2 or 5 times) that reach a threshold of 10 and would be
// admitted, against the documented bound; frequent values must all reach
// it.
func TestSketchFalseAdmissionRate(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 10⁷ values (a few seconds)")
	}
	const m = 10
	classes := []struct{ times, values int }{{1, 6_000_000}, {2, 800_000}, {5, 200_000}, {20, 50_000}}
	var stream []uint32 // class index × 2^26 + value index
	for k, cl := range classes {
		for v := range cl.values {
			for range cl.times {
				stream = append(stream, uint32(k)<<26|uint32(v))
			}
		}
	}
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(stream), func(i, j int) { stream[i], stream[j] = stream[j], stream[i] })
	key := func(x uint32) uint64 { return mix64(uint64(x) + 0x1234567) }
	c := newHashCounter()
	for _, x := range stream {
		c.add(key(x), m)
	}
	if c.sketch == nil {
		t.Fatal("the table never overflowed")
	}
	total := int64(len(stream))
	t.Logf("%d values counted, %d prunes, %d values in the table, floor %d", total, c.prunes, c.n, c.floor)
	for k, cl := range classes {
		admitted := 0
		for v := range cl.values {
			if c.count(key(uint32(k)<<26|uint32(v))) >= m {
				admitted++
			}
		}
		rate := float64(admitted) / float64(cl.values)
		if cl.times >= m {
			if admitted != cl.values {
				t.Errorf("values seen %d times: %d of %d admitted, want all", cl.times, admitted, cl.values)
			}
			continue
		}
		bound := sketchBound(total, cl.times, m)
		t.Logf("values seen %d times: %d of %d falsely admitted (%.5f%%), bound %.4f%%", cl.times, admitted, cl.values, 100*rate, 100*bound)
		if rate > bound {
			t.Errorf("values seen %d times: false-admission rate %.5f, above the bound %.5f", cl.times, rate, bound)
		}
	}
}

// TestHashedFitMemoryBounded fits a hashed field over 10⁷ rows of distinct
// values and checks that the live heap stays within the documented budget
// (table + sketch + the field's per-bucket arrays), far below what exact
// counts of 10⁷ strings would take (over 500 MB).
func TestHashedFitMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("fits 10⁷ rows (several seconds)")
	}
	s, err := ParseSchema([]byte("format: {header: true}\nfields: [{name: id, type: categorical, hash_buckets: 1000}]\ntasks: [{name: t, label: y}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	f, err := NewFitter(s, []string{"id", "y"})
	if err != nil {
		t.Fatal(err)
	}
	const budget = 12*2*AdmitExactValues + AdmitSketchDepth*AdmitSketchWidth + 8<<20 // 24 + 16 + 8 MiB slack
	var peak uint64
	buf := make([]byte, 0, 32)
	one, zero := []byte("1"), []byte("0")
	rec := [][]byte{nil, zero}
	for i := range 10_000_000 {
		buf = fmt.Appendf(buf[:0], "req-%d", i)
		rec[0] = buf
		rec[1] = zero
		if i%97 == 0 {
			rec[1] = one
		}
		if err := f.Add(rec); err != nil {
			t.Fatal(err)
		}
		if i%1_000_000 == 999_999 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc-min(base, ms.HeapAlloc))
		}
	}
	p, err := f.Finish()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("live heap during the fit: at most %.1f MiB (budget %.1f MiB); min_count %d admits %d values", float64(peak)/(1<<20), float64(budget)/(1<<20), p.MinCount("id"), p.AdmittedValues("id"))
	if peak > budget {
		t.Errorf("live heap %d bytes during the fit, budget %d", peak, budget)
	}
	if p.AdmittedValues("id") != 0 {
		t.Errorf("%d values admitted, want 0 (each was seen once)", p.AdmittedValues("id"))
	}
	runtime.KeepAlive(f)
}

// TestBloomFalsePositiveRate measures the filter's false-positive rate on
// 10⁶ values never added, for 10⁵ added values: the documented rate is
// (1 − e^(−7/10))⁷ ≈ 0.82%; the measured one must lie within 0.6–1.1%, and
// every added value must pass.
func TestBloomFalsePositiveRate(t *testing.T) {
	const n, probes = 100_000, 1_000_000
	b := newBloomFilter(n)
	for i := range n {
		b.add(Hash64(fmt.Appendf(nil, "in-%d", i)))
	}
	for i := range n {
		if !b.has(Hash64(fmt.Appendf(nil, "in-%d", i))) {
			t.Fatalf("added value %d does not pass", i)
		}
	}
	fp := 0
	for i := range probes {
		if b.has(Hash64(fmt.Appendf(nil, "out-%d", i))) {
			fp++
		}
	}
	rate := float64(fp) / probes
	want := math.Pow(1-math.Exp(-float64(AdmitBloomHashes)/AdmitBloomBitsPerValue), AdmitBloomHashes)
	t.Logf("false positives: %d of %d (%.3f%%), documented %.3f%%; %d words for %d values", fp, probes, 100*rate, 100*want, len(b.bits), n)
	if rate < 0.006 || rate > 0.011 {
		t.Errorf("false-positive rate %.4f, want 0.006–0.011 (documented %.4f)", rate, want)
	}
}

// TestHashedOOVBounds checks the OOV rates of a field whose counts spilled
// into the sketch: 1,000 values seen once and 10 seen 20 times (1,200
// cells), a table of 64 values and promotion level 5. At thresholds ≥ 5
// the rate is exact (1,000/1,200 of the cells are rare); below, the true
// rate lies within [RateMin, Rate].
func TestHashedOOVBounds(t *testing.T) {
	ff := &fitField{ids: newIDCounter(64, 4, 12)}
	var stream []uint64
	for i := range 1000 {
		stream = append(stream, uint64(1000+i))
	}
	for i := range 10 {
		for range 20 {
			stream = append(stream, uint64(i))
		}
	}
	rand.New(rand.NewPCG(7, 8)).Shuffle(len(stream), func(i, j int) { stream[i], stream[j] = stream[j], stream[i] })
	for _, h := range stream {
		ff.ids.add(h, 5)
	}
	if ff.ids.sketch == nil {
		t.Fatal("no spill")
	}
	truth := map[int]float64{1: 0, 2: 1000.0 / 1200, 5: 1000.0 / 1200, 10: 1000.0 / 1200, 20: 1000.0 / 1200, 50: 1}
	for _, r := range ff.hashedOOV([]int{1, 2, 5, 10, 20, 50}, 1200) {
		want := truth[r.MinCount]
		if r.MinCount >= 5 && (math.Abs(r.Rate-want) > 1e-12 || r.RateMin != r.Rate) {
			t.Errorf("min_count %d: rate [%v, %v], want exactly %v", r.MinCount, r.RateMin, r.Rate, want)
		}
		if r.RateMin > want+1e-12 || r.Rate < want-1e-12 {
			t.Errorf("min_count %d: true rate %v outside [%v, %v]", r.MinCount, want, r.RateMin, r.Rate)
		}
		if r.MinCount == 2 && !(r.RateMin < r.Rate) {
			t.Errorf("min_count 2: rate %v given as exact, though values seen once were forgotten", r.Rate)
		}
	}
}
