package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/dcrnn/dcrnn/internal/data"
	"github.com/dcrnn/dcrnn/internal/feature"
)

const feedSchema = `
format: {type: csv, header: true}
fields:
  - {name: id, type: categorical, min_count: 1}
  - {name: tags, type: multi_categorical, separator: "|", min_count: 1}
  - {name: x, type: numeric, normalize: none}
tasks:
  - {name: click, label: click, negative: ["0"]}
`

// feedFile writes rows rows; row bad (0-based), when ≥ 0, has a bad number.
func feedFile(t *testing.T, rows, bad int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("id,tags,x,click\n")
	for i := range rows {
		x := fmt.Sprint(i)
		if i == bad {
			x = "abc"
		}
		tags := strings.Repeat(fmt.Sprintf("t%d|", i%5), i%4) // 0 to 3 tags
		fmt.Fprintf(&b, "id%d,%s,%s,%d\n", i%7, strings.TrimSuffix(tags, "|"), x, i%2)
	}
	p := filepath.Join(t.TempDir(), "rows.csv")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func feedPipeline(t *testing.T, path string) *feature.Pipeline {
	t.Helper()
	s, err := feature.ParseSchema([]byte(feedSchema))
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := data.FitPipeline(context.Background(), s, path, data.FitOptions{BadRows: data.BadRowsSkip})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// drain reads every batch of next, deep-copied, and the error that ends
// the stream.
func drain(t *testing.T, next func() (*feature.Batch, error)) ([]feature.Batch, error) {
	t.Helper()
	var out []feature.Batch
	for {
		b, err := next()
		if err != nil {
			return out, err
		}
		c := feature.Batch{N: b.N, Group: slices.Clone(b.Group)}
		for _, f := range b.Fields {
			c.Fields = append(c.Fields, feature.FieldData{IDs: slices.Clone(f.IDs), Offsets: slices.Clone(f.Offsets), Values: slices.Clone(f.Values)})
		}
		for _, y := range b.Labels {
			c.Labels = append(c.Labels, slices.Clone(y))
		}
		out = append(out, c)
	}
}

// TestFeederSameStream: the feeder hands out the batcher's batches in its
// order, with the same content (ids, list offsets, values, labels), over
// more batches than it has buffers; it ends with the batcher's own error
// (io.EOF, or the bad row's, named by line) and keeps returning it; and it
// can be closed mid-stream.
func TestFeederSameStream(t *testing.T) {
	for _, bad := range []int{-1, 83} {
		path := feedFile(t, 100, bad)
		p := feedPipeline(t, path)
		opt := data.BatchOptions{BatchSize: 9, ShuffleBuffer: 20, Seed: 4, RequireLabels: true}
		direct, err := data.NewBatcher(p, path, opt)
		if err != nil {
			t.Fatal(err)
		}
		want, wantErr := drain(t, direct.Next)
		direct.Close()
		bt, err := data.NewBatcher(p, path, opt)
		if err != nil {
			t.Fatal(err)
		}
		f := newFeeder(bt)
		got, gotErr := drain(t, f.Next)
		if len(want) < feedDepth+3 {
			t.Fatalf("only %d batches: the buffers did not go round", len(want))
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("bad row %d: the feeder's batches differ from the batcher's", bad)
		}
		if gotErr == nil || gotErr.Error() != wantErr.Error() {
			t.Fatalf("bad row %d: feeder ended with %v, the batcher with %v", bad, gotErr, wantErr)
		}
		if bad < 0 && !errors.Is(gotErr, io.EOF) || bad >= 0 && !strings.Contains(gotErr.Error(), "rows.csv:85") {
			t.Fatalf("bad row %d: error %v", bad, gotErr)
		}
		if _, err := f.Next(); err != gotErr {
			t.Fatalf("after the end: %v, want %v again", err, gotErr)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	path := feedFile(t, 100, -1)
	bt, err := data.NewBatcher(feedPipeline(t, path), path, data.BatchOptions{BatchSize: 5})
	if err != nil {
		t.Fatal(err)
	}
	f := newFeeder(bt)
	if _, err := f.Next(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil { // with the reader blocked on full buffers
		t.Fatal(err)
	}
}
