package prepare

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/train"
)

// The fixture: 10 rows; color a (5×), b (3×), c (2×) with min_count 1 get ids
// 1, 2, 3 (decreasing count); tags hashed would hide the ids, so they use a
// vocabulary: x (4 tokens), y (2), z (1, below min_count 2: id 0); n is
// numeric without normalisation; q is bucketized at [0, 10] (ids: 0
// missing, 1 below 0, 2 in [0, 10), 3 at or above 10); click and buy form a
// funnel; g is the group_by column.
const fixtureSchema = `
format: {type: csv, header: true}
fields:
  - {name: color, type: categorical, min_count: 1}
  - {name: tags, type: multi_categorical, min_count: 2}
  - {name: n, type: numeric, normalize: none}
  - {name: q, type: numeric, buckets: [0, 10]}
tasks:
  - {name: click, label: click}
  - {name: buy, label: buy, after: click}
group_by: g
allow_leakage: true
`

const fixtureRows = `color,tags,n,q,click,buy,g
a,x|y,1.5,-3,1,1,u1
a,x,2,5,0,0,u1
b,,-1,12,1,0,u2
a,z,0.25,,0,0,u2
c,x|x,3,0,1,1,u3
b,y,4,9.5,0,0,u3
a,,5,10,1,0,u4
c,,6,100,0,0,u4
b,,7,-1,1,1,u5
a,,8,1,0,0,u5
`

// want is the transformed fixture, written by hand from the rules above.
var want = []map[string]any{
	{"color": int32(1), "tags": []int32{1, 2}, "n": float32(1.5), "q": int32(1), "__label_click": uint8(1), "__label_buy": uint8(1)},
	{"color": int32(1), "tags": []int32{1}, "n": float32(2), "q": int32(2), "__label_click": uint8(0), "__label_buy": uint8(0)},
	{"color": int32(2), "tags": []int32{}, "n": float32(-1), "q": int32(3), "__label_click": uint8(1), "__label_buy": uint8(0)},
	{"color": int32(1), "tags": []int32{0}, "n": float32(0.25), "q": int32(0), "__label_click": uint8(0), "__label_buy": uint8(0)},
	{"color": int32(3), "tags": []int32{1, 1}, "n": float32(3), "q": int32(2), "__label_click": uint8(1), "__label_buy": uint8(1)},
	{"color": int32(2), "tags": []int32{2}, "n": float32(4), "q": int32(2), "__label_click": uint8(0), "__label_buy": uint8(0)},
	{"color": int32(1), "tags": []int32{}, "n": float32(5), "q": int32(3), "__label_click": uint8(1), "__label_buy": uint8(0)},
	{"color": int32(3), "tags": []int32{}, "n": float32(6), "q": int32(3), "__label_click": uint8(0), "__label_buy": uint8(0)},
	{"color": int32(2), "tags": []int32{}, "n": float32(7), "q": int32(1), "__label_click": uint8(1), "__label_buy": uint8(1)},
	{"color": int32(1), "tags": []int32{}, "n": float32(8), "q": int32(2), "__label_click": uint8(0), "__label_buy": uint8(0)},
}

func fixture(t *testing.T) (string, *feature.Schema) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "rows.csv")
	if err := os.WriteFile(path, []byte(fixtureRows), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := feature.ParseSchema([]byte(fixtureSchema))
	if err != nil {
		t.Fatal(err)
	}
	return path, s
}

// readShard returns the rows of a shard.
func readShard(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := parquet.NewReader(f)
	defer r.Close()
	var rows []map[string]any
	for {
		row := map[string]any{}
		if err := r.Read(&row); errors.Is(err, io.EOF) {
			return rows
		} else if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row)
	}
}

// normalise turns a read row's list into []int32 (nil lists too).
func normalise(t *testing.T, row map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range row {
		if k == "__group" {
			continue
		}
		if k == "tags" {
			ids := []int32{}
			switch l := v.(type) {
			case []any:
				for _, x := range l {
					ids = append(ids, x.(int32))
				}
			case []int32:
				ids = append(ids, l...)
			case nil:
			default:
				t.Fatalf("tags read as %T", v)
			}
			v = ids
		}
		if u, ok := v.(uint32); ok && strings.HasPrefix(k, LabelPrefix) && u <= 1 {
			v = uint8(u) // parquet-go reads a UINT8 column as uint32
		}
		out[k] = v
	}
	return out
}

func TestPrepareRowsShardsManifest(t *testing.T) {
	path, s := fixture(t)
	out := t.TempDir()
	job := Job{Schema: s, Train: train.Source{Path: path, Name: "train"}, Valid: train.Source{Path: path, Name: "valid"},
		Describe: "fixture", Out: out, Shards: 3}
	m, err := Run(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	// Shard k holds rows [k·10/3, (k+1)·10/3): 3, 3, 4 rows.
	for _, sp := range m.Splits {
		var got []map[string]any
		for k, sh := range sp.Shards {
			if want := []int64{3, 3, 4}[k]; sh.Rows != want {
				t.Errorf("%s shard %d: %d rows in the manifest, want %d", sp.Name, k, sh.Rows, want)
			}
			rows := readShard(t, filepath.Join(out, sh.File))
			if int64(len(rows)) != sh.Rows {
				t.Errorf("%s: %d rows in the file, the manifest says %d", sh.File, len(rows), sh.Rows)
			}
			got = append(got, rows...)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d rows, want %d", sp.Name, len(got), len(want))
		}
		for i := range want {
			if g := normalise(t, got[i]); !reflect.DeepEqual(g, want[i]) {
				t.Errorf("%s row %d:\n got %v\nwant %v", sp.Name, i, g, want[i])
			}
			if g, w := got[i]["__group"], feature.GroupKey([]byte(fmt.Sprintf("u%d", i/2+1))); g != w {
				t.Errorf("%s row %d: group %v, want %v", sp.Name, i, g, w)
			}
		}
	}
	wantFields := []Field{{"color", "color", "categorical", 4}, {"tags", "tags", "multi_categorical", 3},
		{"n", "n", "numeric", 0}, {"q", "q", "categorical", 4}}
	if !reflect.DeepEqual(m.Fields, wantFields) {
		t.Errorf("fields %+v, want %+v", m.Fields, wantFields)
	}
	if m.Funnel == nil || *m.Funnel != (Funnel{First: "click", Then: "buy"}) || m.Tasks[1].After != "click" {
		t.Errorf("funnel %+v, tasks %+v", m.Funnel, m.Tasks)
	}
	// manifest.json on disk is the returned manifest; pipeline.json reads back.
	b, err := os.ReadFile(filepath.Join(out, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var disk Manifest
	if err := json.Unmarshal(b, &disk); err != nil {
		t.Fatal(err)
	}
	if disk.Plan != m.Plan || len(disk.Splits) != 2 || disk.Splits[1].Rows != 10 {
		t.Errorf("manifest.json: %+v", disk)
	}
	if _, err := LoadPipeline(filepath.Join(out, "pipeline.json")); err != nil {
		t.Fatal(err)
	}
	// Rows per id: color OOV 0, a 5, b 3, c 2; tags (tokens) OOV (z) 1, x 4, y 2.
	b, err = os.ReadFile(filepath.Join(out, disk.RowCounts))
	if err != nil {
		t.Fatal(err)
	}
	var counts map[string][]int64
	if err := json.Unmarshal(b, &counts); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(counts["color"], []int64{0, 5, 3, 2}) || !reflect.DeepEqual(counts["tags"], []int64{1, 4, 2}) {
		t.Errorf("row counts %v", counts)
	}
}

func TestPrepareResumesByShard(t *testing.T) {
	path, s := fixture(t)
	out := t.TempDir()
	job := Job{Schema: s, Train: train.Source{Path: path, Name: "train"}, Valid: train.Source{Path: path, Name: "valid"},
		Describe: "fixture", Out: out, Shards: 3}
	if _, err := Run(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	read := func(rel string) []byte {
		b, err := os.ReadFile(filepath.Join(out, rel))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	shard1 := read("train/part-00001.parquet")
	// A shard marked by us, to see that complete shards are kept as they are.
	keep := filepath.Join(out, "train/part-00000.parquet")
	old, err := os.Stat(keep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(out, "train/part-00001.parquet")); err != nil {
		t.Fatal(err)
	}
	// A damaged shard is not complete: it is written again.
	if err := os.WriteFile(filepath.Join(out, "train/part-00002.parquet"), []byte("PAR1 not really"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Run(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Splits[0].Shards[0].Resumed || m.Splits[0].Shards[1].Resumed || m.Splits[0].Shards[2].Resumed {
		t.Errorf("resumed flags: %+v", m.Splits[0].Shards)
	}
	if st, _ := os.Stat(keep); !st.ModTime().Equal(old.ModTime()) {
		t.Errorf("complete shard 0 was written again")
	}
	if !bytes.Equal(read("train/part-00001.parquet"), shard1) {
		t.Errorf("shard 1 written again differs from the first run's (not deterministic)")
	}
	if n := len(readShard(t, filepath.Join(out, "train/part-00002.parquet"))); n != 4 {
		t.Errorf("shard 2 rewritten with %d rows, want 4", n)
	}
	// Another plan (other shard count) replaces every shard.
	job.Shards = 2
	m, err = Run(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range m.Splits[0].Shards {
		if sh.Resumed || sh.Rows != 5 {
			t.Errorf("shards 2: %+v", sh)
		}
	}
}

func TestPrepareGivenPipelineAndErrors(t *testing.T) {
	path, s := fixture(t)
	out := t.TempDir()
	if _, err := Run(context.Background(), Job{Schema: s, Train: train.Source{Path: path, Name: "train"},
		Valid: train.Source{Path: path, Name: "valid"}, Out: out, Shards: 1}); err != nil {
		t.Fatal(err)
	}
	p, err := LoadPipeline(filepath.Join(out, "pipeline.json"))
	if err != nil {
		t.Fatal(err)
	}
	// Only the even rows for training: the given pipeline keeps the ids
	// fitted on all rows (a refit on the even rows would drop the tag y,
	// seen once there, to id 0), so the rows are the even rows of want.
	out2 := t.TempDir()
	even := func(r int64) bool { return r%2 == 0 }
	m, err := Run(context.Background(), Job{Pipeline: p, Schema: s, Train: train.Source{Path: path, Filter: even, Name: "train"},
		Valid: train.Source{Path: path, Name: "valid"}, Out: out2, Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	for _, sh := range m.Splits[0].Shards {
		got = append(got, readShard(t, filepath.Join(out2, sh.File))...)
	}
	if len(got) != 5 {
		t.Fatalf("%d training rows, want 5", len(got))
	}
	for i, row := range got {
		if g := normalise(t, row); !reflect.DeepEqual(g, want[2*i]) {
			t.Errorf("row %d: got %v, want %v", i, g, want[2*i])
		}
	}
	if _, err := Run(context.Background(), Job{Schema: s, Train: train.Source{Path: path, Name: "train"},
		Valid: train.Source{Path: path, Name: "valid"}, Out: t.TempDir(), Shards: 0}); err == nil || !strings.Contains(err.Error(), "--shards") {
		t.Errorf("shards 0: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.csv")
	if err := os.WriteFile(bad, []byte(strings.Replace(fixtureRows, "a,x,2,5", "a,x,two,5", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), Job{Pipeline: p, Train: train.Source{Path: bad, Name: "train"},
		Valid: train.Source{Path: path, Name: "valid"}, Out: t.TempDir(), Shards: 1})
	if err == nil || !strings.Contains(err.Error(), "bad.csv:3") {
		t.Errorf("bad row: %v, want an error naming bad.csv line 3", err)
	}
	if _, err := LoadPipeline(bad); err == nil {
		t.Errorf("LoadPipeline of a CSV: no error")
	}
}
