package modeltest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/nn"
)

const tinySchema = `format: {type: csv, separator: ",", header: true}
fields:
  - {name: user, type: categorical, min_count: 1}
  - {name: tags, type: multi_categorical, separator: "|", min_count: 1}
  - {name: price, type: numeric, normalize: standard}
  - {name: item, type: categorical, min_count: 1}
tasks:
  - {name: click, label: click, positive: ["1"]}
  - {name: conversion, label: conversion, positive: ["1"], after: click}
allow_leakage: true
`

// TinyPipeline fits a pipeline on 60 random rows shaped like TinySpec(true).
func TinyPipeline(tb testing.TB) *feature.Pipeline {
	tb.Helper()
	rng := rand.New(rand.NewPCG(4, 4))
	return Fit(tb, tinySchema, []string{"click", "conversion", "user", "tags", "price", "item"}, 60, func(int) []string {
		click := rng.IntN(2)
		conv := click * rng.IntN(2)
		return []string{fmt.Sprint(click), fmt.Sprint(conv), fmt.Sprintf("u%d", rng.IntN(5)),
			fmt.Sprintf("t%d|t%d", rng.IntN(6), rng.IntN(6)), fmt.Sprintf("%.2f", rng.Float64()*10), fmt.Sprintf("i%d", rng.IntN(4))}
	})
}

// Fit fits a pipeline of schema on n rows of the given columns, row i being
// row(i) (called in order).
func Fit(tb testing.TB, schema string, columns []string, n int, row func(i int) []string) *feature.Pipeline {
	tb.Helper()
	s, err := feature.ParseSchema([]byte(schema))
	if err != nil {
		tb.Fatal(err)
	}
	f, err := feature.NewFitter(s, columns)
	if err != nil {
		tb.Fatal(err)
	}
	rec := make([][]byte, len(columns))
	for i := range n {
		for j, v := range row(i) {
			rec[j] = []byte(v)
		}
		if err := f.Add(rec); err != nil {
			tb.Fatal(err)
		}
	}
	p, err := f.Finish()
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// FileRoundTrip builds model name with cfg on TinyPipeline, saves it as a
// model file, loads it back and requires bit-identical logits.
func FileRoundTrip(t *testing.T, name string, cfg model.Config) {
	t.Helper()
	p := TinyPipeline(t)
	tr, err := model.Build(name, cfg, p, 7)
	if err != nil {
		t.Fatal(err)
	}
	// Move every weight off its initial value so that a weight that is not
	// saved, or saved under another name, shows.
	rng := rand.New(rand.NewPCG(5, 5))
	for _, q := range tr.Model.Params() {
		for i := range q.W {
			q.W[i] += float32(rng.NormFloat64() * 0.1)
		}
	}
	for _, q := range tr.Model.SparseParams() {
		for i := range q.W {
			q.W[i] += float32(rng.NormFloat64() * 0.1)
		}
	}
	path := filepath.Join(t.TempDir(), name+".dcrnn")
	if _, err := model.Save(path, tr); err != nil {
		t.Fatal(err)
	}
	back, err := model.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Name != name || back.Checksum != tr.Checksum {
		t.Fatalf("loaded %s/%s, saved %s/%s", back.Name, back.Checksum, name, tr.Checksum)
	}
	b := TinyBatch(tr.Spec, 7, 3)
	want := tr.Model.Forward(nn.NewTape(false, 1), b)
	got := back.Model.Forward(nn.NewTape(false, 1), b)
	for i := range want {
		for j := range want[i].V {
			if math.Float32bits(want[i].V[j]) != math.Float32bits(got[i].V[j]) {
				t.Fatalf("task %d row %d: loaded model gives %v, saved one %v", i, j, got[i].V[j], want[i].V[j])
			}
		}
	}
}
