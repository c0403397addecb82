//go:build unix

package main

import (
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestOutputFileModes runs every command that writes files (gen, split,
// train with checkpoints and --metrics-out, eval --metrics-out, predict with
// --inputs-out, compare) under a umask of 077 and checks that every file they
// leave is mode 0644 and that no temporary file is left behind: the mode is
// set explicitly, not inherited from os.CreateTemp (0600) or the umask.
func TestOutputFileModes(t *testing.T) {
	if testing.Short() {
		t.Skip("trains models")
	}
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := t.TempDir()
	mustRun := func(args ...string) {
		t.Helper()
		if out, err := runCmd(t, args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	gen := filepath.Join(dir, "gen")
	mustRun("gen", "--rows", "3000", "--seed", "5", "--out", gen, "--truth")
	data, schema := filepath.Join(gen, "data.csv"), filepath.Join(gen, "schema.yaml")
	mustRun("split", "--data", data, "--ratios", "0.6,0.2,0.2", "--seed", "3", "--out", filepath.Join(dir, "parts"))
	small := []string{"--set", "epochs=1", "--set", "embedding_dim=4", "--set", "deep=[8]", "--set", "tower=[4]",
		"--set", "proj=8", "--set", "state_size=4", "--threads", "1"}
	m := filepath.Join(dir, "m.dcrnn")
	mustRun(append([]string{"train", "--schema", schema, "--data", data, "--split", "0.6,0.2,0.2", "--out", m,
		"--metrics-out", filepath.Join(dir, "train.json"), "--checkpoint-dir", filepath.Join(dir, "ck"), "--checkpoint-every", "2"}, small...)...)
	test := filepath.Join(dir, "parts", "test.csv")
	mustRun("eval", "--model", m, "--data", test, "--metrics-out", filepath.Join(dir, "eval.json"))
	mustRun("predict", "--model", m, "--data", test, "--out", filepath.Join(dir, "preds.csv"), "--inputs-out", filepath.Join(dir, "inputs.jsonl"))
	mustRun("compare", "--schema", schema, "--data", data, "--split", "0.5,0.25,0.25", "--models", "esmm", "--seeds", "2",
		"--set", "epochs=1", "--set", "deep=[16]", "--threads", "1", "--out", filepath.Join(dir, "rep"))

	want := map[string]bool{"gen/data.csv": true, "gen/schema.yaml": true, "gen/truth.csv": true, "gen/oracle.json": true,
		"parts/train.csv": true, "parts/valid.csv": true, "parts/test.csv": true, "m.dcrnn": true, "train.json": true,
		"eval.json": true, "preds.csv": true, "inputs.jsonl": true, "rep/report.json": true, "rep/report.md": true,
		"rep/auc.png": true, "rep/curves.png": true}
	checkpoints := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if strings.Contains(d.Name(), "tmp") {
			t.Errorf("%s: temporary file left behind", rel)
		}
		if strings.HasPrefix(rel, "ck/") {
			checkpoints++
		}
		delete(want, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, want 0644", rel, info.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(want) > 0 || checkpoints == 0 {
		t.Errorf("not written: %v (and %d checkpoints)", want, checkpoints)
	}
}
