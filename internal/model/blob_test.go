package model_test

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/model/modeltest"
	"github.com/dcrnn/dcrnn/internal/modelfile"
)

// bigVocabPipeline fits a pipeline whose user field keeps n distinct values
// (over feature.BlobMinBytes of JSON for n ≳ 4,000).
func bigVocabPipeline(t *testing.T, n int) *feature.Pipeline {
	t.Helper()
	const schema = `format: {type: csv, header: true}
fields:
  - {name: user, type: categorical, min_count: 1}
  - {name: item, type: categorical, min_count: 1}
  - {name: price, type: numeric}
tasks:
  - {name: click, label: click}
`
	return modeltest.Fit(t, schema, []string{"user", "item", "price", "click"}, n, func(i int) []string {
		return []string{fmt.Sprintf("user-%07d", i), fmt.Sprint("i", i%7), fmt.Sprint(i % 13), fmt.Sprint(i % 2)}
	})
}

// TestSaveLargeVocabularyAsTensors: a vocabulary over BlobMinBytes is
// written as a U8 tensor of its bytes and an I64 tensor of offsets, not in
// the header; the file loads back with the same vocabulary, ids and
// weights, and the small vocabulary stays in the pipeline document.
func TestSaveLargeVocabularyAsTensors(t *testing.T) {
	const n = 30000
	tr, err := model.Build("shared_bottom", model.Config{}, bigVocabPipeline(t, n), 1)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.dcrnn")
	if _, err := model.Save(path, tr); err != nil {
		t.Fatal(err)
	}
	f, _, err := modelfile.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	bt, ot := f.Tensor("pipeline.user.vocab.bytes"), f.Tensor("pipeline.user.vocab.offsets")
	if bt == nil || ot == nil || bt.DType != modelfile.U8 || ot.DType != modelfile.I64 {
		t.Fatalf("vocabulary tensors: %+v %+v", bt, ot)
	}
	if len(bt.Uint8) != n*12 || len(ot.Int64) != n+1 || ot.Int64[1] != 12 || string(bt.Uint8[:12]) != tr.Pipeline.Vocabulary("user")[0] {
		t.Errorf("bytes %d (want %d), offsets %d (want %d)", len(bt.Uint8), n*12, len(ot.Int64), n+1)
	}
	if f.Tensor("pipeline.item.vocab.bytes") != nil {
		t.Error("the 7-value vocabulary left the document")
	}
	doc := f.Meta["pipeline"]
	if strings.Contains(doc, "user-0000001") || !strings.Contains(doc, `"vocab_size":30000`) || !strings.Contains(doc, `"vocab":["i0"`) {
		t.Errorf("pipeline document %.200s…", doc)
	}
	back, err := model.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Pipeline.Vocabulary("user"), tr.Pipeline.Vocabulary("user")) {
		t.Error("the user vocabulary differs after loading")
	}
	for _, u := range []string{"user-0000000", "user-0029999", "user-0012345", "nobody"} {
		rec := []string{u, "i3", "4", "1"}
		a, b := tr.Pipeline.NewBatch(1), back.Pipeline.NewBatch(1)
		if err := tr.Pipeline.TransformRecord(rec, a); err != nil {
			t.Fatal(err)
		}
		if err := back.Pipeline.TransformRecord(rec, b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a.Fields, b.Fields) {
			t.Errorf("%s: ids %+v after loading, %+v before", u, b.Fields, a.Fields)
		}
	}
	emb := back.Model.SparseParams()[0]
	if emb.Rows != n+1 && back.Model.SparseParams()[1].Rows != n+1 {
		t.Errorf("no embedding table of %d rows", n+1)
	}
	if err := model.CheckSavable(tr.Pipeline); err != nil {
		t.Errorf("CheckSavable: %v", err)
	}

	// A stray pipeline tensor, or a missing one, is refused.
	for _, c := range []struct {
		name string
		edit func(*modelfile.File)
		want string
	}{
		{"stray", func(f *modelfile.File) {
			f.Tensors = append(f.Tensors, modelfile.Tensor{Name: "pipeline.item.vocab.bytes", DType: modelfile.U8, Shape: []int{1}, Uint8: []byte{1}})
		}, `unexpected weight "pipeline.item.vocab.bytes"`},
		{"missing", func(f *modelfile.File) {
			f.Tensors = slicesDeleteName(f.Tensors, "pipeline.user.vocab.offsets")
		}, "user.vocab.offsets of 64-bit offsets is missing"},
		{"offsets as F32", func(f *modelfile.File) {
			ot := f.Tensor("pipeline.user.vocab.offsets")
			*ot = modelfile.Tensor{Name: ot.Name, Shape: ot.Shape, Data: make([]float32, len(ot.Int64))}
		}, "user.vocab.offsets of 64-bit offsets is missing"},
	} {
		g, _, err := modelfile.Read(path)
		if err != nil {
			t.Fatal(err)
		}
		c.edit(g)
		p2 := filepath.Join(t.TempDir(), "bad.dcrnn")
		if _, err := modelfile.Write(p2, g); err != nil {
			t.Fatal(err)
		}
		if _, err := model.Load(p2); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %s", c.name, err, c.want)
		}
	}
}

func slicesDeleteName(ts []modelfile.Tensor, name string) []modelfile.Tensor {
	var out []modelfile.Tensor
	for _, t := range ts {
		if t.Name != name {
			out = append(out, t)
		}
	}
	return out
}
