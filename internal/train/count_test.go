package train

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/nn"
	"github.com/dcrnn/dcrnn/internal/synth"
)

// TestCountScales checks that each embedding table gets 1/n_j of its own
// field: "emb.u" and "emb.click.u" the counts of u, "emb.b.u" those of the
// field named b.u (the longest name that ends the table's), on 6 rows where
// u holds x ×4, y ×2 (min_count 2) and b.u holds p ×3, q ×2, r ×1 (min_count 2:
// OOV gets r's row).
func TestCountScales(t *testing.T) {
	s, err := feature.ParseSchema([]byte("format: {header: true}\nfields:\n  - {name: u, type: categorical, min_count: 2}\n  - {name: b.u, type: categorical, min_count: 2}\ntasks: [{name: click, label: y}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := feature.NewFitter(s, []string{"u", "b.u", "y"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range [][]string{{"x", "p", "1"}, {"x", "p", "0"}, {"x", "p", "0"}, {"x", "q", "0"}, {"y", "q", "1"}, {"y", "r", "0"}} {
		if err := f.Add([][]byte{[]byte(r[0]), []byte(r[1]), []byte(r[2])}); err != nil {
			t.Fatal(err)
		}
	}
	p, err := f.Finish()
	if err != nil {
		t.Fatal(err)
	}
	tables := []*nn.SparseParam{nn.NewSparseParam("emb.u", 3, 2), nn.NewSparseParam("emb.click.u", 3, 2), nn.NewSparseParam("emb.b.u", 3, 2)}
	sc, err := countScales(p, tables)
	if err != nil {
		t.Fatal(err)
	}
	u := []float32{1, 1.0 / 4, 1.0 / 2}  // OOV: no row (n 0 counts as 1); x 4; y 2
	bu := []float32{1, 1.0 / 3, 1.0 / 2} // OOV: r once; p 3; q 2
	for i, want := range [][]float32{u, u, bu} {
		if !slices.Equal(sc[i], want) {
			t.Errorf("%s: scales %v, want %v", tables[i].Name, sc[i], want)
		}
	}
	if _, err := countScales(p, []*nn.SparseParam{nn.NewSparseParam("emb.v", 3, 2)}); err == nil || !strings.Contains(err.Error(), "emb.v") {
		t.Errorf("a table of no field: %v", err)
	}
}

// TestEmbeddingL2CountTrains checks that embedding_l2_count reaches the
// optimizer: a large λ shrinks the rare rows' embeddings of every model's
// tables (one set per task for "single") compared with λ = 0.
func TestEmbeddingL2CountTrains(t *testing.T) {
	dir := t.TempDir()
	if _, err := synth.WriteDir(context.Background(), dir, synth.Config{Rows: 2000, Seed: 3}, false); err != nil {
		t.Fatal(err)
	}
	s, err := feature.LoadSchema(filepath.Join(dir, "schema.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "data.csv")
	norm := func(lambda float64) float64 {
		shuffle := 0
		cfg := Config{Epochs: 1, BatchSize: 100, Shuffle: &shuffle, EmbeddingL2Count: &lambda}
		cfg.Proj, cfg.StateSize, cfg.Deep, cfg.Tower = 8, 8, []int{8}, []int{8}
		res, err := Run(context.Background(), Job{Schema: s, Model: "single", Config: cfg,
			Train: Source{Path: path, Name: "train"}, Valid: Source{Path: path, Name: "valid"}})
		if err != nil {
			t.Fatal(err)
		}
		var sq float64
		for _, tab := range res.Trained.Model.SparseParams() {
			for _, w := range tab.W {
				sq += float64(w) * float64(w)
			}
		}
		return sq
	}
	off, on := norm(0), norm(50)
	if !(on < 0.9*off) {
		t.Errorf("embedding sum of squares %g with λ = 50, %g without: the penalty did not shrink them", on, off)
	}
}
