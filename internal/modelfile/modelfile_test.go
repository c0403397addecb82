package modelfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// sample returns a small file using every feature: documents with characters
// that need escaping, all dtypes, a scalar, a zero-size tensor and special
// float values.
func sample() *File {
	return &File{
		Meta: map[string]string{
			"config":   `{"model":"dcrnn","towers":[64,32]}`,
			"pipeline": "{\"vocab\":[\"a\\\"b\",\"é\",\"\\u0001\"]}\n\ttab\x01ctl",
			"model":    `{"tasks":["ctr","cvr"]}`,
		},
		Tensors: []Tensor{
			{Name: "tower.0.W", Shape: []int{3, 2}, Data: []float32{1, -2, 0.5, float32(math.Inf(1)), float32(math.Copysign(0, -1)), 3.25}},
			{Name: "tower.0.b", Shape: []int{2}, Data: []float32{0.125, -7}},
			{Name: "bias", Shape: []int{}, Data: []float32{42}},
			{Name: "empty", Shape: []int{0, 5}, Data: []float32{}},
			{Name: "ids", DType: I64, Shape: []int{3}, Int64: []int64{-1, 1 << 40, 7}},
			{Name: "counts", DType: I32, Shape: []int{2, 1}, Int32: []int32{-5, 1 << 30}},
			{Name: "vocab", DType: U8, Shape: []int{5}, Uint8: []byte("a\xffb\x00c")},
			{Name: "emb/ü \"q\"", Shape: []int{1, 3}, Data: []float32{float32(math.NaN()), 1e-38, -1e38}},
		},
	}
}

// docExample is the file shown in doc.go.
func docExample() *File {
	return &File{
		Meta:    map[string]string{"config": "{}"},
		Tensors: []Tensor{{Name: "w", Shape: []int{2}, Data: []float32{1, -2}}},
	}
}

func encodeT(t *testing.T, f *File) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	sum, err := Encode(&buf, f)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return buf.Bytes(), sum
}

// sameTensors compares tensors by name, values bit for bit.
func sameTensors(t *testing.T, got, want []Tensor) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d tensors, want %d", len(got), len(want))
	}
	byName := map[string]Tensor{}
	for _, g := range got {
		byName[g.Name] = g
	}
	for _, w := range want {
		g, ok := byName[w.Name]
		if !ok {
			t.Errorf("tensor %q missing", w.Name)
			continue
		}
		wd := w.DType
		if wd == "" {
			wd = F32
		}
		if g.DType != wd {
			t.Errorf("tensor %q: dtype %q, want %q", w.Name, g.DType, wd)
		}
		if fmt.Sprint(g.Shape) != fmt.Sprint(w.Shape) {
			t.Errorf("tensor %q: shape %v, want %v", w.Name, g.Shape, w.Shape)
		}
		if string(g.Uint8) != string(w.Uint8) {
			t.Errorf("tensor %q: bytes %q, want %q", w.Name, g.Uint8, w.Uint8)
		}
		if len(g.Data) != len(w.Data) || len(g.Int64) != len(w.Int64) || len(g.Int32) != len(w.Int32) {
			t.Errorf("tensor %q: lengths %d/%d/%d, want %d/%d/%d", w.Name, len(g.Data), len(g.Int64), len(g.Int32), len(w.Data), len(w.Int64), len(w.Int32))
			continue
		}
		for i := range w.Data {
			if math.Float32bits(g.Data[i]) != math.Float32bits(w.Data[i]) {
				t.Errorf("tensor %q [%d]: %v, want %v", w.Name, i, g.Data[i], w.Data[i])
			}
		}
		for i := range w.Int64 {
			if g.Int64[i] != w.Int64[i] {
				t.Errorf("tensor %q [%d]: %v, want %v", w.Name, i, g.Int64[i], w.Int64[i])
			}
		}
		for i := range w.Int32 {
			if g.Int32[i] != w.Int32[i] {
				t.Errorf("tensor %q [%d]: %v, want %v", w.Name, i, g.Int32[i], w.Int32[i])
			}
		}
	}
}

func sameMeta(t *testing.T, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("meta has %d entries %v, want %d", len(got), got, len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("meta[%q] = %q, want %q", k, got[k], v)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		f    *File
	}{
		{"empty", &File{}},
		{"meta only", &File{Meta: map[string]string{"config": "{}"}}},
		{"doc example", docExample()},
		{"sample", sample()},
		{"ints only", &File{Tensors: []Tensor{{Name: "a", DType: I32, Shape: []int{1}, Int32: []int32{3}}, {Name: "b", DType: I64, Shape: []int{1}, Int64: []int64{-9}}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, sum := encodeT(t, c.f)
			got, gotSum, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if gotSum != sum {
				t.Errorf("Decode checksum %s, Encode said %s", gotSum, sum)
			}
			sameMeta(t, got.Meta, c.f.Meta)
			sameTensors(t, got.Tensors, c.f.Tensors)

			path := filepath.Join(t.TempDir(), "m.dcrnn")
			wsum, err := Write(path, c.f)
			if err != nil {
				t.Fatalf("Write: %v", err)
			}
			onDisk, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(onDisk, b) || wsum != sum {
				t.Errorf("Write produced different bytes or checksum than Encode")
			}
			got, rsum, err := Read(path)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if rsum != sum {
				t.Errorf("Read checksum %s, want %s", rsum, sum)
			}
			sameMeta(t, got.Meta, c.f.Meta)
			sameTensors(t, got.Tensors, c.f.Tensors)
		})
	}
}

func TestReadStorageOrderAndLookup(t *testing.T) {
	b, _ := encodeT(t, sample())
	f, _, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tn := range f.Tensors {
		names = append(names, tn.Name)
	}
	want := []string{"ids", "bias", "counts", "emb/ü \"q\"", "empty", "tower.0.W", "tower.0.b", "vocab"}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Errorf("tensor order %q, want %q", names, want)
	}
	if w := f.Tensor("tower.0.b"); w == nil || len(w.Data) != 2 || w.Data[1] != -7 {
		t.Errorf("Tensor(tower.0.b) = %+v", w)
	}
	if f.Tensor("nope") != nil {
		t.Errorf("Tensor(nope) != nil")
	}
}

func TestDecodeDoesNotAlias(t *testing.T) {
	b, _ := encodeT(t, docExample())
	f, _, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0
	}
	if f.Tensors[0].Data[0] != 1 || f.Tensors[0].Data[1] != -2 {
		t.Errorf("decoded tensor changed with the input buffer: %v", f.Tensors[0].Data)
	}
}

func TestDeterministic(t *testing.T) {
	a, _ := encodeT(t, sample())
	a2, _ := encodeT(t, sample())
	if !bytes.Equal(a, a2) {
		t.Fatal("encoding the same File twice gave different bytes")
	}
	// Same content, tensors in reverse order, meta built in another order.
	s := sample()
	rev := &File{Meta: map[string]string{}}
	for i := len(s.Tensors) - 1; i >= 0; i-- {
		rev.Tensors = append(rev.Tensors, s.Tensors[i])
	}
	for _, k := range []string{"pipeline", "model", "config"} {
		rev.Meta[k] = s.Meta[k]
	}
	b, _ := encodeT(t, rev)
	if !bytes.Equal(a, b) {
		t.Fatal("tensor or meta order changed the bytes")
	}
	// Encoding must not reorder the caller's slice.
	if rev.Tensors[0].Name != s.Tensors[len(s.Tensors)-1].Name {
		t.Error("Encode reordered the caller's Tensors")
	}
}

// TestDocExample pins the layout documented in doc.go with hand-written
// expectations, and compares against the golden file.
func TestDocExample(t *testing.T) {
	b, sum := encodeT(t, docExample())
	golden := filepath.Join("testdata", "example.dcrnn")
	if *update {
		if err := os.WriteFile(golden, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("encoding differs from %s at byte %d: the format changed; if intended, bump FormatVersion and run -update", golden, mismatchAt(b, want))
	}
	if len(b) != 224 {
		t.Fatalf("example is %d bytes, doc says 224", len(b))
	}
	if got := binary.LittleEndian.Uint64(b); got != 208 {
		t.Errorf("N = %d, doc says 208", got)
	}
	wantHeader := `{"__metadata__":{"checksum":"` + sum + `","config":"{}","format":"dcrnn","format_version":"1"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}` + "       "
	if got := string(b[8:216]); got != wantHeader {
		t.Errorf("header\n%s\nwant\n%s", got, wantHeader)
	}
	if got := b[216:]; !bytes.Equal(got, []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0}) {
		t.Errorf("data % x, want 00 00 80 3f 00 00 00 c0", got)
	}
	if !strings.HasPrefix(sum, "d151") || !strings.HasSuffix(sum, "1cf5") {
		t.Errorf("checksum %s, doc shows d151…1cf5", sum)
	}
	f, _, err := Decode(want)
	if err != nil {
		t.Fatalf("golden file no longer decodes: %v", err)
	}
	sameTensors(t, f.Tensors, docExample().Tensors)
}

// stTensor is a tensor as seen by the minimal safetensors parser below.
type stTensor struct {
	dtype      string
	shape      []int
	begin, end int
	raw        []byte
}

// parseSafetensors is an independent, minimal safetensors reader written
// from the spec: it proves files are readable by other tools.
func parseSafetensors(t *testing.T, b []byte) (map[string]string, map[string]stTensor, []byte) {
	t.Helper()
	n := int(binary.LittleEndian.Uint64(b[:8]))
	if 8+n > len(b) {
		t.Fatalf("header length %d beyond file", n)
	}
	if (8+n)%8 != 0 {
		t.Errorf("data section starts at %d, not 8-byte aligned", 8+n)
	}
	hdr := b[8 : 8+n]
	if hdr[0] != '{' {
		t.Errorf("header starts with %q", hdr[0])
	}
	trimmed := bytes.TrimRight(hdr, " ")
	if len(hdr)-len(trimmed) >= 8 || trimmed[len(trimmed)-1] != '}' {
		t.Errorf("header padding wrong: %q", hdr[len(trimmed)-1:])
	}
	var top map[string]any
	if err := json.Unmarshal(hdr, &top); err != nil {
		t.Fatalf("header JSON: %v", err)
	}
	data := b[8+n:]
	meta := map[string]string{}
	for k, v := range top["__metadata__"].(map[string]any) {
		meta[k] = v.(string)
	}
	delete(top, "__metadata__")
	tensors := map[string]stTensor{}
	var spans [][2]int
	for name, v := range top {
		info := v.(map[string]any)
		var st stTensor
		st.dtype = info["dtype"].(string)
		for _, d := range info["shape"].([]any) {
			st.shape = append(st.shape, int(d.(float64)))
		}
		offs := info["data_offsets"].([]any)
		st.begin, st.end = int(offs[0].(float64)), int(offs[1].(float64))
		st.raw = data[st.begin:st.end]
		tensors[name] = st
		spans = append(spans, [2]int{st.begin, st.end})
	}
	sort.Slice(spans, func(i, j int) bool {
		return spans[i][0] < spans[j][0] || spans[i][0] == spans[j][0] && spans[i][1] < spans[j][1]
	})
	off := 0
	for _, s := range spans {
		if s[0] != off {
			t.Errorf("gap or overlap at data offset %d", off)
		}
		off = s[1]
	}
	if off != len(data) {
		t.Errorf("tensors cover %d of %d data bytes", off, len(data))
	}
	return meta, tensors, data
}

func TestSafetensorsCompatible(t *testing.T) {
	f := sample()
	b, sum := encodeT(t, f)
	meta, tensors, _ := parseSafetensors(t, b)
	if meta["format"] != "dcrnn" || meta["format_version"] != "1" || meta["checksum"] != sum {
		t.Errorf("reserved metadata wrong: %v", meta)
	}
	for k, v := range f.Meta {
		if meta[k] != v {
			t.Errorf("meta %q = %q, want %q", k, meta[k], v)
		}
	}
	for _, w := range f.Tensors {
		st, ok := tensors[w.Name]
		if !ok {
			t.Errorf("tensor %q missing", w.Name)
			continue
		}
		if fmt.Sprint(st.shape) != fmt.Sprint(w.Shape) && !(len(st.shape) == 0 && len(w.Shape) == 0) {
			t.Errorf("tensor %q: shape %v, want %v", w.Name, st.shape, w.Shape)
		}
		switch st.dtype {
		case "F32":
			if len(st.raw) != 4*len(w.Data) {
				t.Fatalf("tensor %q: %d bytes for %d floats", w.Name, len(st.raw), len(w.Data))
			}
			for i, x := range w.Data {
				if got := binary.LittleEndian.Uint32(st.raw[4*i:]); got != math.Float32bits(x) {
					t.Errorf("tensor %q [%d]: bits %08x, want %08x", w.Name, i, got, math.Float32bits(x))
				}
			}
			if st.begin%4 != 0 {
				t.Errorf("tensor %q unaligned at %d", w.Name, st.begin)
			}
		case "I64":
			if len(st.raw) != 8*len(w.Int64) || w.DType != I64 {
				t.Fatalf("tensor %q: %d bytes for %d int64", w.Name, len(st.raw), len(w.Int64))
			}
			for i, x := range w.Int64 {
				if got := int64(binary.LittleEndian.Uint64(st.raw[8*i:])); got != x {
					t.Errorf("tensor %q [%d]: %d, want %d", w.Name, i, got, x)
				}
			}
			if st.begin%8 != 0 {
				t.Errorf("tensor %q unaligned at %d", w.Name, st.begin)
			}
		case "I32":
			if len(st.raw) != 4*len(w.Int32) || w.DType != I32 {
				t.Fatalf("tensor %q: %d bytes for %d int32", w.Name, len(st.raw), len(w.Int32))
			}
			for i, x := range w.Int32 {
				if got := int32(binary.LittleEndian.Uint32(st.raw[4*i:])); got != x {
					t.Errorf("tensor %q [%d]: %d, want %d", w.Name, i, got, x)
				}
			}
		case "U8":
			if string(st.raw) != string(w.Uint8) || w.DType != U8 {
				t.Errorf("tensor %q: bytes %q, want %q", w.Name, st.raw, w.Uint8)
			}
		default:
			t.Errorf("tensor %q: dtype %q", w.Name, st.dtype)
		}
	}
}

// TestChecksumRecipe recomputes the checksum following the recipe in the
// package doc, from the bytes a generic parser sees.
func TestChecksumRecipe(t *testing.T) {
	b, sum := encodeT(t, sample())
	meta, tensors, data := parseSafetensors(t, b)
	var buf bytes.Buffer
	u64 := func(v int) { binary.Write(&buf, binary.LittleEndian, uint64(v)) }
	str := func(s string) { u64(len(s)); buf.WriteString(s) }
	var keys []string
	for k := range meta {
		if k != "checksum" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	u64(len(keys))
	for _, k := range keys {
		str(k)
		str(meta[k])
	}
	size := map[string]int{"F32": 4, "I32": 4, "I64": 8, "U8": 1}
	var names []string
	for k := range tensors {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		si, sj := size[tensors[names[i]].dtype], size[tensors[names[j]].dtype]
		return si > sj || si == sj && names[i] < names[j]
	})
	u64(len(names))
	for _, k := range names {
		st := tensors[k]
		str(k)
		str(st.dtype)
		u64(len(st.shape))
		for _, d := range st.shape {
			u64(d)
		}
		u64(st.begin)
		u64(st.end)
	}
	buf.Write(data)
	h := sha256.Sum256(buf.Bytes())
	if got := hex.EncodeToString(h[:]); got != sum || meta["checksum"] != sum {
		t.Errorf("recipe gives %s, file says %s, Encode returned %s", got, meta["checksum"], sum)
	}
}

func TestTruncationRefused(t *testing.T) {
	b, _ := encodeT(t, sample())
	for n := 0; n < len(b); n++ {
		_, _, err := Decode(b[:n])
		want := ErrCorrupt
		if n < 9 {
			want = ErrNotModelFile
		}
		if !errors.Is(err, want) {
			t.Fatalf("prefix of %d/%d bytes: err = %v, want %v", n, len(b), err, want)
		}
	}
	// Appended bytes are refused too.
	if _, _, err := Decode(append(bytes.Clone(b), 0)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("one extra byte: err = %v, want ErrCorrupt", err)
	}
}

func TestByteFlipsRefused(t *testing.T) {
	b, _ := encodeT(t, sample())
	masks := []byte{0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff}
	for i := range b {
		for _, m := range masks {
			c := bytes.Clone(b)
			c[i] ^= m
			_, _, err := Decode(c)
			if err == nil {
				t.Fatalf("byte %d ^ %#02x accepted", i, m)
			}
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNotModelFile) && !errors.Is(err, ErrVersion) {
				t.Fatalf("byte %d ^ %#02x: error %v wraps no sentinel", i, m, err)
			}
		}
	}
}

// craft builds a safetensors file from a header (padded here) and data.
func craft(header string, data []byte) []byte {
	for (len(header))%8 != 0 {
		header += " "
	}
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

const okSum = `"checksum":"0000000000000000000000000000000000000000000000000000000000000000"`

func TestDecodeErrors(t *testing.T) {
	md := `{"__metadata__":{` + okSum + `,"format":"dcrnn","format_version":"1"}`
	cases := []struct {
		name string
		b    []byte
		want error
		msg  string
	}{
		{"empty", nil, ErrNotModelFile, "0 bytes is too short"},
		{"text file", []byte("user,item,click\n1,2,0\n"), ErrNotModelFile, "no safetensors JSON header"},
		{"foreign safetensors", craft(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), ErrNotModelFile, "without __metadata__"},
		{"pytorch safetensors", craft(`{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), ErrNotModelFile, `format "pt"`},
		{"newer version", craft(`{"__metadata__":{`+okSum+`,"format":"dcrnn","format_version":"2"}}`, nil), ErrVersion, "format_version 2 is newer than this build of dcrnn reads (1): upgrade dcrnn"},
		{"odd version", craft(`{"__metadata__":{`+okSum+`,"format":"dcrnn","format_version":"v1"}}`, nil), ErrVersion, `unknown format_version "v1"`},
		{"no version", craft(`{"__metadata__":{`+okSum+`,"format":"dcrnn"}}`, nil), ErrCorrupt, "no format_version"},
		{"bad checksum field", craft(`{"__metadata__":{"checksum":"ABC","format":"dcrnn","format_version":"1"}}`, nil), ErrCorrupt, "not 64 lowercase hex"},
		{"header past end", append(binary.LittleEndian.AppendUint64(nil, 1000), "{}"...), ErrCorrupt, "header length 1000 runs past the end of the 10-byte file: file truncated?"},
		{"bad json", craft(`{"__metadata__":{`, nil), ErrCorrupt, "header JSON"},
		{"non-string meta", craft(`{"__metadata__":{"format":1}}`, nil), ErrCorrupt, "__metadata__"},
		{"offsets beyond data", craft(md+`,"tower.0.W":{"dtype":"F32","shape":[10,10],"data_offsets":[0,400]}}`, make([]byte, 256)), ErrCorrupt,
			`tensor "tower.0.W": data_offsets [0 400] beyond data section of 256 bytes: file truncated?`},
		{"size mismatch", craft(md+`,"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, make([]byte, 8)), ErrCorrupt, "hold 8 bytes, dtype F32 shape [3] needs 12"},
		{"unknown dtype", craft(md+`,"w":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}}`, make([]byte, 8)), ErrCorrupt, `unsupported dtype "F16"`},
		{"negative dim", craft(md+`,"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}`, nil), ErrCorrupt, "bad dimension -1"},
		{"huge shape", craft(md+`,"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, nil), ErrCorrupt, "too large"},
		{"missing field", craft(md+`,"w":{"dtype":"F32","shape":[0]}}`, nil), ErrCorrupt, "want dtype, shape and data_offsets"},
		{"extra field", craft(md+`,"w":{"dtype":"F32","shape":[0],"data_offsets":[0,0],"x":1}}`, nil), ErrCorrupt, `unknown field "x"`},
		{"three offsets", craft(md+`,"w":{"dtype":"F32","shape":[0],"data_offsets":[0,0,0]}}`, nil), ErrCorrupt, "want [begin, end]"},
		{"reversed offsets", craft(md+`,"w":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}`, make([]byte, 4)), ErrCorrupt, "end before they begin"},
		{"gap", craft(md+`,"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8)), ErrCorrupt, "should begin at 0"},
		{"overlap", craft(md+`,"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8)), ErrCorrupt, `tensor "b": data_offsets [4 8] should begin at 8`},
		{"trailing data", craft(md+`,"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 8)), ErrCorrupt, "data section has 8 bytes, tensors cover 4"},
		{"not canonical", craft(md+`, "w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), ErrCorrupt, "not in canonical form at byte"},
		{"checksum mismatch", craft(md+`,"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), ErrCorrupt, "checksum mismatch: header says 0000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, sum, err := Decode(c.b)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if f != nil || sum != "" {
				t.Errorf("returned content along with an error")
			}
			if !strings.Contains(err.Error(), c.msg) || !strings.HasPrefix(err.Error(), "modelfile: ") {
				t.Errorf("err = %q, want it to contain %q", err, c.msg)
			}
		})
	}
}

func TestReadErrorNamesPath(t *testing.T) {
	b, _ := encodeT(t, sample())
	path := filepath.Join(t.TempDir(), "model.dcrnn")
	if err := os.WriteFile(path, b[:len(b)-3], 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := Read(path)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want ErrCorrupt", err)
	}
	want := "modelfile: " + path + `: tensor "vocab": data_offsets [80 85] beyond data section of 82 bytes: file truncated?`
	if err.Error() != want {
		t.Errorf("err = %q\nwant  %q", err, want)
	}
	if _, _, err := Read(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v, want ErrNotExist", err)
	}
}

func TestEncodeErrors(t *testing.T) {
	cases := []struct {
		name string
		f    *File
		msg  string
	}{
		{"reserved meta", &File{Meta: map[string]string{"checksum": "x"}}, `meta key "checksum" is reserved`},
		{"reserved meta format", &File{Meta: map[string]string{"format": "x"}}, `meta key "format" is reserved`},
		{"bad utf8 meta", &File{Meta: map[string]string{"config": "\xff"}}, `meta "config": value is not valid UTF-8`},
		{"empty name", &File{Tensors: []Tensor{{Shape: []int{0}, Data: []float32{}}}}, `invalid name ""`},
		{"metadata name", &File{Tensors: []Tensor{{Name: "__metadata__", Shape: []int{0}}}}, "invalid name"},
		{"bad utf8 name", &File{Tensors: []Tensor{{Name: "a\xffb", Shape: []int{0}}}}, "invalid name"},
		{"duplicate", &File{Tensors: []Tensor{{Name: "a", Shape: []int{1}, Data: []float32{1}}, {Name: "a", Shape: []int{1}, Data: []float32{2}}}}, `tensor "a" appears twice`},
		{"shape mismatch", &File{Tensors: []Tensor{{Name: "w", Shape: []int{2, 3}, Data: make([]float32, 5)}}}, `tensor "w": shape [2 3] holds 6 elements, F32 slice has 5`},
		{"wrong slice", &File{Tensors: []Tensor{{Name: "w", DType: I64, Shape: []int{1}, Int64: []int64{1}, Data: []float32{1}}}}, `dtype I64, but the F32 slice is not empty`},
		{"unknown dtype", &File{Tensors: []Tensor{{Name: "w", DType: "F16"}}}, `unsupported dtype "F16"`},
		{"negative dim", &File{Tensors: []Tensor{{Name: "w", Shape: []int{-2}}}}, "negative dimension -2"},
		{"documents too large", &File{Meta: map[string]string{"pipeline": strings.Repeat("x", MaxHeaderSize)}}, "exceed the safetensors header limit"},
		{"header too large", &File{Meta: map[string]string{"pipeline": strings.Repeat("x", MaxHeaderSize-20)}}, "exceeds the safetensors limit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			_, err := Encode(&buf, c.f)
			if err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("err = %v, want it to contain %q", err, c.msg)
			}
			if buf.Len() != 0 {
				t.Errorf("wrote %d bytes before failing", buf.Len())
			}
		})
	}
}

// dirNames lists the names in dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.dcrnn")
	good, _ := encodeT(t, docExample())
	if _, err := Write(path, docExample()); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}

	failures := []struct {
		name string
		run  func() error
	}{
		{"invalid file", func() error {
			_, err := Write(path, &File{Meta: map[string]string{"format": "x"}})
			return err
		}},
	}
	for _, c := range failures {
		t.Run(c.name, func(t *testing.T) {
			if err := c.run(); err == nil {
				t.Fatal("no error")
			}
			got, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(got, good) {
				t.Errorf("existing file damaged (err %v)", err)
			}
			if names := dirNames(t, dir); len(names) != 1 || names[0] != "model.dcrnn" {
				t.Errorf("directory holds %q, want only model.dcrnn", names)
			}
		})
	}

	t.Run("target is a directory", func(t *testing.T) {
		sub := filepath.Join(dir, "sub")
		if err := os.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, "keep"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Write(sub, docExample()); err == nil {
			t.Fatal("renaming over a non-empty directory succeeded")
		}
		if names := dirNames(t, dir); len(names) != 2 {
			t.Errorf("directory holds %q, want model.dcrnn and sub", names)
		}
	})

	t.Run("replace", func(t *testing.T) {
		sum, err := Write(path, sample())
		if err != nil {
			t.Fatal(err)
		}
		f, rsum, err := Read(path)
		if err != nil || rsum != sum {
			t.Fatalf("Read after replace: %v, checksum %s want %s", err, rsum, sum)
		}
		sameTensors(t, f.Tensors, sample().Tensors)
		if names := dirNames(t, dir); len(names) != 2 {
			t.Errorf("directory holds %q, want model.dcrnn and sub", names)
		}
	})

	t.Run("missing directory", func(t *testing.T) {
		_, err := Write(filepath.Join(dir, "nope", "m.dcrnn"), docExample())
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("err = %v, want ErrNotExist", err)
		}
	})
}

// big returns a file with about n floats spread over a few tensors.
func big(n int) *File {
	f := &File{Meta: map[string]string{"config": `{"model":"big"}`}}
	sizes := []int{n / 2, n / 4, n / 8, n - n/2 - n/4 - n/8}
	for i, s := range sizes {
		d := make([]float32, s)
		for j := range d {
			d[j] = float32(j%1000) * 0.001 * float32(i+1)
		}
		f.Tensors = append(f.Tensors, Tensor{Name: fmt.Sprintf("layer.%d", i), Shape: []int{s}, Data: d})
	}
	return f
}

func TestLargeWriteRead(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 120 MB; skipped with -short")
	}
	f := big(30_000_000)
	path := filepath.Join(t.TempDir(), "big.dcrnn")
	sum, err := Write(path, f)
	if err != nil {
		t.Fatal(err)
	}
	got, rsum, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if rsum != sum {
		t.Errorf("checksum %s, want %s", rsum, sum)
	}
	sameTensors(t, got.Tensors, f.Tensors)
}

func BenchmarkEncode30M(b *testing.B) {
	f := big(30_000_000)
	b.SetBytes(4 * 30_000_000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(io.Discard, f); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode30M(b *testing.B) {
	var buf bytes.Buffer
	if _, err := Encode(&buf, big(30_000_000)); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Decode(buf.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWrite30M(b *testing.B) {
	f := big(30_000_000)
	path := filepath.Join(b.TempDir(), "big.dcrnn")
	b.SetBytes(4 * 30_000_000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Write(path, f); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRead30M(b *testing.B) {
	path := filepath.Join(b.TempDir(), "big.dcrnn")
	if _, err := Write(path, big(30_000_000)); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(4 * 30_000_000)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Read(path); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	var buf bytes.Buffer
	Encode(&buf, sample())
	f.Add(buf.Bytes())
	f.Add(buf.Bytes()[:100])
	buf.Reset()
	Encode(&buf, docExample())
	f.Add(buf.Bytes())
	buf.Reset()
	Encode(&buf, &File{})
	f.Add(buf.Bytes())
	f.Add(craft(`{"__metadata__":{`+okSum+`,"format":"dcrnn","format_version":"1"},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)))
	f.Add([]byte("{}"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		file, sum, err := Decode(b)
		if !bytes.Equal(in, b) {
			t.Fatal("Decode modified its input")
		}
		// Reading the same bytes from a file, in bounded steps, reaches
		// the same verdict and content.
		path := filepath.Join(dir, "fuzz.dcrnn")
		if werr := os.WriteFile(path, b, 0o644); werr != nil {
			t.Fatal(werr)
		}
		rfile, rsum, rerr := Read(path)
		if (rerr == nil) != (err == nil) || rsum != sum {
			t.Fatalf("Read and Decode disagree: %v / %v", rerr, err)
		}
		if err != nil && errors.Is(err, ErrCorrupt) != errors.Is(rerr, ErrCorrupt) {
			t.Fatalf("Read and Decode give different kinds of error: %v / %v", rerr, err)
		}
		if err == nil && !reflect.DeepEqual(rfile, file) {
			t.Fatal("Read and Decode return different content")
		}
		if err != nil {
			if file != nil || sum != "" {
				t.Fatal("content returned with an error")
			}
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNotModelFile) && !errors.Is(err, ErrVersion) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		// Anything accepted is canonical: it re-encodes to the same bytes.
		var out bytes.Buffer
		sum2, err := Encode(&out, file)
		if err != nil {
			t.Fatalf("re-encode accepted file: %v", err)
		}
		if sum2 != sum || !bytes.Equal(out.Bytes(), b) {
			t.Fatal("accepted file does not re-encode to the same bytes")
		}
	})
}
