package synth_test

import (
	"context"
	"testing"

	"github.com/dcrnn/dcrnn/internal/synth"
)

// TestReadOracle checks that the oracle read back from the written
// files equals the one computed while generating, and that a row filter
// selects rows.
func TestReadOracle(t *testing.T) {
	dir := t.TempDir()
	st, err := synth.WriteDir(context.Background(), dir, synth.Config{Rows: 5000, Seed: 4, NoiseIDs: true}, true)
	if err != nil {
		t.Fatal(err)
	}
	all, err := synth.ReadOracle(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *all != *st.Oracle {
		t.Fatalf("read back %+v, generated %+v", *all, *st.Oracle)
	}
	half, err := synth.ReadOracle(dir, func(r int64) bool { return r%2 == 0 })
	if err != nil {
		t.Fatal(err)
	}
	if half.ClickAUC == all.ClickAUC {
		t.Fatalf("a filter on half the rows gave the whole file's click AUC %v", all.ClickAUC)
	}
	if _, err := synth.ReadOracle(t.TempDir(), nil); err == nil {
		t.Fatal("no error for a directory without generated files")
	}
}
