package synth_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/dcrnn/dcrnn/internal/synth"
)

func TestWriteDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gen")
	st, err := synth.WriteDir(context.Background(), dir, synth.Config{Rows: 5000, Seed: 2}, true)
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if want := []string{"data.csv", "oracle.json", "schema.yaml", "truth.csv"}; !slices.Equal(names, want) {
		t.Fatalf("files %v, want %v", names, want)
	}
	for _, e := range ents {
		if info, err := e.Info(); err != nil {
			t.Error(err)
		} else if info.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, want 0644", e.Name(), info.Mode().Perm())
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "oracle.json"))
	var doc struct {
		Rows  int64
		Tasks struct {
			Click      struct{ AUC float64 }
			Conversion struct {
				AUC        float64
				AUCClicked float64 `json:"auc_clicked"`
			}
		}
		Funnel struct{ CTCVR struct{ AUC float64 } }
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("oracle.json: %v\n%s", err, b)
	}
	if doc.Rows != 5000 || doc.Tasks.Click.AUC != st.Oracle.ClickAUC || doc.Funnel.CTCVR.AUC != st.Oracle.CTCVRAUC ||
		doc.Tasks.Conversion.AUCClicked != st.Oracle.ConversionAUCClicked || doc.Tasks.Click.AUC < 0.6 {
		t.Fatalf("oracle.json %s disagrees with stats %+v", b, *st.Oracle)
	}
	// Without truth: only data and schema.
	dir2 := filepath.Join(t.TempDir(), "plain")
	if _, err := synth.WriteDir(context.Background(), dir2, synth.Config{Rows: 10, Seed: 2}, false); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir2); len(ents) != 2 {
		t.Fatalf("without truth: %d files, want 2", len(ents))
	}
	// A cancelled context leaves nothing behind.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir3 := filepath.Join(t.TempDir(), "cancelled")
	if _, err := synth.WriteDir(ctx, dir3, synth.Config{Rows: 10, Seed: 2}, true); err == nil {
		t.Fatal("cancelled generation succeeded")
	}
	if ents, _ := os.ReadDir(dir3); len(ents) != 0 {
		t.Fatalf("cancelled generation left %d files", len(ents))
	}
}

func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := synth.Generate(context.Background(), synth.Config{Rows: 100000, Seed: 1}, discard{}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
