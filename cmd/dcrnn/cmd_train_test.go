package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCmd runs the dcrnn command line in-process.
func runCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	return out.String() + errb.String(), err
}

// TestTrainEvalPredict drives the commands a user runs after the README:
// gen, train with --split, split, eval on the test part (same metrics as
// training reported), predict (one line per row).
func TestTrainEvalPredict(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	dir := t.TempDir()
	if out, err := runCmd(t, "gen", "--rows", "6000", "--seed", "2", "--out", dir); err != nil {
		t.Fatalf("gen: %v\n%s", err, out)
	}
	data, schema := filepath.Join(dir, "data.csv"), filepath.Join(dir, "schema.yaml")
	m, metrics := filepath.Join(dir, "m.dcrnn"), filepath.Join(dir, "metrics.json")
	out, err := runCmd(t, "train", "--schema", schema, "--data", data, "--split", "0.6,0.2,0.2", "--seed", "3",
		"--set", "epochs=2", "--set", "proj=8", "--set", "deep=[16]", "--set", "tower=[8]", "--out", m, "--metrics-out", metrics, "--threads", "1")
	if err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	if !strings.Contains(out, "model written to") {
		t.Fatalf("train output lacks the summary:\n%s", out)
	}
	var trained map[string]any
	b, err := os.ReadFile(metrics)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &trained); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"model", "split", "rows", "tasks", "funnel", "train", "params"} {
		if _, ok := trained[key]; !ok {
			t.Fatalf("metrics JSON lacks %q: %s", key, b)
		}
	}
	conv := trained["tasks"].(map[string]any)["conversion"].(map[string]any)
	if _, ok := conv["auc_clicked"]; !ok {
		t.Fatalf("funnel task lacks auc_clicked: %s", b)
	}

	parts := filepath.Join(dir, "parts")
	if out, err := runCmd(t, "split", "--data", data, "--ratios", "0.6,0.2,0.2", "--seed", "3", "--out", parts); err != nil {
		t.Fatalf("split: %v\n%s", err, out)
	}
	evalJSON := filepath.Join(dir, "eval.json")
	// The same --threads as training: the OpenBLAS build's kernels round
	// differently when a gemm is cut differently (the pure-Go build does not).
	if out, err := runCmd(t, "eval", "--model", m, "--data", filepath.Join(parts, "test.csv"), "--metrics-out", evalJSON, "--threads", "1"); err != nil {
		t.Fatalf("eval: %v\n%s", err, out)
	}
	var evaluated map[string]any
	b, _ = os.ReadFile(evalJSON)
	if err := json.Unmarshal(b, &evaluated); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"tasks", "funnel", "rows"} {
		want, _ := json.Marshal(trained[key])
		got, _ := json.Marshal(evaluated[key])
		if string(want) != string(got) {
			t.Fatalf("eval %s = %s, training reported %s", key, got, want)
		}
	}

	preds := filepath.Join(dir, "preds.csv")
	if out, err := runCmd(t, "predict", "--model", m, "--data", filepath.Join(parts, "test.csv"), "--out", preds); err != nil {
		t.Fatalf("predict: %v\n%s", err, out)
	}
	b, _ = os.ReadFile(preds)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if lines[0] != "click,conversion,ctcvr" {
		t.Fatalf("predictions header %q", lines[0])
	}
	if rows := int(evaluated["rows"].(float64)); len(lines)-1 != rows {
		t.Fatalf("%d prediction lines for %d rows", len(lines)-1, rows)
	}
}

func TestTrainBadInput(t *testing.T) {
	dir := t.TempDir()
	if out, err := runCmd(t, "gen", "--rows", "300", "--seed", "2", "--out", dir); err != nil {
		t.Fatalf("gen: %v\n%s", err, out)
	}
	schema, data := filepath.Join(dir, "schema.yaml"), filepath.Join(dir, "data.csv")
	bad := filepath.Join(dir, "bad.csv")
	b, _ := os.ReadFile(data)
	lines := strings.Split(string(b), "\n")
	lines[5] = "1,0,u1" // too few columns
	os.WriteFile(bad, []byte(strings.Join(lines, "\n")), 0o644)
	corrupt := filepath.Join(dir, "corrupt.dcrnn")
	os.WriteFile(corrupt, []byte("not a model file at all, definitely"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--schema", schema, "--out", "x"}, "--data"},
		{[]string{"train", "--schema", schema, "--data", data, "--split", "0.5,0.6", "--out", "x"}, "sum"},
		{[]string{"train", "--schema", schema, "--data", data, "--split", "0.8,0.2", "--model", "nope", "--out", "x"}, "unknown model"},
		{[]string{"train", "--schema", schema, "--data", data, "--split", "0.8,0.2", "--set", "rho=2", "--out", "x"}, "rho"},
		{[]string{"train", "--schema", schema, "--data", data, "--split", "0.8,0.2", "--set", "bogus=1", "--out", "x"}, "bogus"},
		{[]string{"train", "--schema", schema, "--data", bad, "--split", "0.8,0.2", "--out", "x"}, "bad.csv:6"},
		{[]string{"eval", "--model", corrupt, "--data", data}, "corrupt.dcrnn"},
		{[]string{"train", "--resume", "--schema", schema, "--data", data, "--split", "0.8,0.2", "--out", "x"}, "checkpoint-dir"},
		{[]string{"train", "--checkpoint-dir", dir, "--keep-checkpoints", "0", "--schema", schema, "--data", data, "--split", "0.8,0.2", "--out", "x"}, "keep-checkpoints"},
	} {
		out, err := runCmd(t, c.args...)
		if err == nil {
			t.Fatalf("%v: no error\n%s", c.args, out)
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%v: error %q does not mention %q", c.args, err, c.want)
		}
	}
}
