package feature

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// blobSchema has a vocabulary field (v, every value kept), a hashed field
// with admission (h) and a small vocabulary (s) that stays in the JSON.
const blobSchema = `
format: {type: csv, header: true}
fields:
  - {name: v, type: categorical, min_count: 1}
  - {name: h, type: categorical, hash_buckets: 1000, min_count: 2}
  - {name: s, type: categorical, min_count: 1}
tasks:
  - {name: click, label: y}
`

// blobRows gives v n distinct values of 12 bytes or more (one with bytes
// that are not UTF-8, which JSON could not keep), h n/2 values seen twice,
// and s three values.
func blobRows(n int) [][]string {
	rows := make([][]string, n)
	for i := range rows {
		v := fmt.Sprintf("value-%06d", i)
		if i == 7 {
			v = "bad\xff\xfeutf8"
		}
		rows[i] = []string{v, fmt.Sprintf("h%d", i/2), fmt.Sprint("s", i%3), fmt.Sprint(i % 2)}
	}
	return rows
}

func blobMap(blobs []Blob) func(string) (Blob, bool) {
	m := map[string]Blob{}
	for _, b := range blobs {
		m[b.Name] = b
	}
	return func(name string) (Blob, bool) { b, ok := m[name]; return b, ok }
}

// TestBlobsRoundTrip: a vocabulary and a filter over BlobMinBytes leave
// the JSON as blobs (version 3), the small vocabulary stays, and the
// pipeline read back transforms every value as the fitted one does; the
// vocabulary's bytes come back exactly, invalid UTF-8 included.
func TestBlobsRoundTrip(t *testing.T) {
	const n = 12000 // v: 12000 values × (12+3) bytes = 180 KB of JSON
	p := fitTest(t, blobSchema, []string{"v", "h", "s", "y"}, blobRows(n))
	full, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	doc, blobs, err := p.MarshalWithBlobs()
	if err != nil {
		t.Fatal(err)
	}
	if d, err := p.DocumentJSON(); err != nil || string(d) != string(doc) {
		t.Errorf("DocumentJSON differs from MarshalWithBlobs' document (err %v)", err)
	}
	var names []string
	for _, b := range blobs {
		names = append(names, b.Name)
	}
	// h admits 6000 values: 60,000 bits = 938 words = 10 KB of base64, under
	// BlobMinBytes, so it stays in the JSON.
	if want := []string{"v.vocab.bytes", "v.vocab.offsets"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("blobs %v, want %v", names, want)
	}
	if !strings.HasPrefix(string(doc), `{"version":3,`) || strings.Contains(string(doc), "value-000001") || !strings.Contains(string(doc), `"vocab_size":12000`) || !strings.Contains(string(doc), `"vocab":["s0","s1","s2"]`) {
		t.Errorf("document %.300s…: want version 3, v's vocab_size and no values, s's vocabulary inline", doc)
	}
	if len(doc) > len(full)/10 {
		t.Errorf("document of %d bytes for a full JSON of %d", len(doc), len(full))
	}
	offs := blobs[1].Ints
	if len(offs) != n+1 || offs[0] != 0 || int(offs[n]) != len(blobs[0].Bytes) {
		t.Fatalf("offsets %d..%d of %d for %d bytes", offs[0], offs[len(offs)-1], len(offs), len(blobs[0].Bytes))
	}
	q, err := UnmarshalPipelineWithBlobs(doc, blobMap(blobs))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(q.Vocabulary("v"), p.Vocabulary("v")) {
		t.Error("vocabulary of v differs after the round trip")
	}
	if !slicesContain(q.Vocabulary("v"), "bad\xff\xfeutf8") {
		t.Error("the value with invalid UTF-8 did not come back byte for byte")
	}
	for _, v := range []string{"value-000000", "value-011999", "bad\xff\xfeutf8", "never", "h17", "s2", ""} {
		rec := []string{v, v, v, "0"}
		a, b := p.NewBatch(1), q.NewBatch(1)
		if err := p.TransformRecord(rec, a); err != nil {
			t.Fatal(err)
		}
		if err := q.TransformRecord(rec, b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a.Fields, b.Fields) {
			t.Errorf("value %q: %+v after the round trip, %+v fitted", v, b.Fields, a.Fields)
		}
	}
	// Without blobs nothing moves: a small pipeline's two forms are equal.
	small := fitTest(t, blobSchema, []string{"v", "h", "s", "y"}, blobRows(100))
	d1, b1, _ := small.MarshalWithBlobs()
	d2, _ := json.Marshal(small)
	if len(b1) != 0 || string(d1) != string(d2) {
		t.Errorf("100 rows: %d blobs, documents equal %v", len(b1), string(d1) == string(d2))
	}
	// The plain reader refuses a document with blobs, naming them.
	if _, err := UnmarshalPipeline(doc); err == nil || !strings.Contains(err.Error(), "v.vocab.bytes") {
		t.Errorf("UnmarshalPipeline of a document with blobs: %v", err)
	}
}

func slicesContain(vs []string, v string) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}

// TestBlobsFilter: a hashed field admitting enough values stores its Bloom
// filter as a blob of words, and reads back admitting the same values.
func TestBlobsFilter(t *testing.T) {
	const n = 120000 // h admits 60,000 values: 9,375 words, 100 KB of base64
	p := fitTest(t, blobSchema, []string{"v", "h", "s", "y"}, blobRows(n))
	doc, blobs, err := p.MarshalWithBlobs()
	if err != nil {
		t.Fatal(err)
	}
	bm := blobMap(blobs)
	w, ok := bm("h.admitted")
	if !ok || len(w.Ints) != 9375 {
		t.Fatalf("h.admitted: %v, %d words, want 9375", ok, len(w.Ints))
	}
	if strings.Contains(string(doc), `"bits"`) {
		t.Error("the document still holds the filter's bits")
	}
	q, err := UnmarshalPipelineWithBlobs(doc, bm)
	if err != nil {
		t.Fatal(err)
	}
	js1, _ := json.Marshal(p)
	js2, _ := json.Marshal(q)
	if string(js1) != string(js2) {
		t.Error("the full JSON of the pipeline read back differs from the fitted one's")
	}
	// A filter blob of the wrong length is refused.
	short := Blob{Name: "h.admitted", Ints: w.Ints[:10]}
	if _, err := UnmarshalPipelineWithBlobs(doc, func(name string) (Blob, bool) {
		if name == short.Name {
			return short, true
		}
		return bm(name)
	}); err == nil || !strings.Contains(err.Error(), "10 words") {
		t.Errorf("short filter blob: %v", err)
	}
}

// TestBlobsDamaged: every inconsistency between the document and its blobs
// is an error that names the field, never a panic or a silently shorter
// vocabulary.
func TestBlobsDamaged(t *testing.T) {
	p := fitTest(t, blobSchema, []string{"v", "h", "s", "y"}, blobRows(12000))
	doc, blobs, err := p.MarshalWithBlobs()
	if err != nil {
		t.Fatal(err)
	}
	bytesB, offsB := blobs[0], blobs[1]
	with := func(b ...Blob) func(string) (Blob, bool) { return blobMap(b) }
	cp := func(x []int64) []int64 { return append([]int64(nil), x...) }
	dec := cp(offsB.Ints)
	dec[5], dec[6] = dec[6], dec[5]
	long := cp(offsB.Ints)
	long[len(long)-1]++
	cases := []struct {
		name string
		doc  string
		blob func(string) (Blob, bool)
		want string
	}{
		{"no blobs", string(doc), nil, "missing"},
		{"no offsets", string(doc), with(bytesB), "missing"},
		{"bytes as ints", string(doc), with(Blob{Name: bytesB.Name, Ints: []int64{1}}, offsB), "not bytes"},
		{"decreasing offsets", string(doc), with(bytesB, Blob{Name: offsB.Name, Ints: dec}), "decrease"},
		{"offsets past the bytes", string(doc), with(bytesB, Blob{Name: offsB.Name, Ints: long}), "offsets"},
		{"fewer offsets", string(doc), with(bytesB, Blob{Name: offsB.Name, Ints: offsB.Ints[:100]}), "offsets"},
		{"version 2", strings.Replace(string(doc), `"version":3`, `"version":2`, 1), with(blobs...), "vocab_size"},
		{"negative size", strings.Replace(string(doc), `"vocab_size":12000`, `"vocab_size":-1`, 1), with(blobs...), "vocab_size"},
		{"size and values", strings.Replace(string(doc), `"vocab_size":12000`, `"vocab_size":12000,"vocab":["a"]`, 1), with(blobs...), "vocab_size"},
	}
	for _, c := range cases {
		_, err := UnmarshalPipelineWithBlobs([]byte(c.doc), c.blob)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `"v"`) {
			t.Errorf("%s: %v, want an error about field \"v\" saying %q", c.name, err, c.want)
		}
	}
}
