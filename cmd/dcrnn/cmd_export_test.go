package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExportONNX trains a tiny funnel model and exports it: the ONNX file
// and the pipeline JSON beside it, whose inputs follow the model's fields
// and whose outputs are the tasks and ctcvr. ONNX Runtime's check of the
// graph is tests/onnx.
func TestExportONNX(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	dir := t.TempDir()
	if out, err := runCmd(t, "gen", "--rows", "3000", "--seed", "2", "--out", dir); err != nil {
		t.Fatalf("gen: %v\n%s", err, out)
	}
	m := filepath.Join(dir, "m.dcrnn")
	if out, err := runCmd(t, "train", "--schema", filepath.Join(dir, "schema.yaml"), "--data", filepath.Join(dir, "data.csv"),
		"--split", "0.7,0.3", "--set", "epochs=1", "--set", "proj=4", "--set", "deep=[8]", "--set", "tower=[4]",
		"--set", "state_size=4", "--out", m, "--threads", "1"); err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	onnxPath := filepath.Join(dir, "m.onnx")
	out, err := runCmd(t, "export", "--model", m, "--format", "onnx", "--out", onnxPath)
	if err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	if st, err := os.Stat(onnxPath); err != nil || st.Size() < 1000 {
		t.Fatalf("no ONNX file: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "m.pipeline.json"))
	if err != nil {
		t.Fatal(err)
	}
	var side struct {
		Model   string
		Inputs  []struct{ Name, Type string }
		Outputs []struct{ Name string }
		// The fitted pipeline, as in the model file.
		Pipeline map[string]any
	}
	if err := json.Unmarshal(b, &side); err != nil {
		t.Fatal(err)
	}
	if side.Model != "dcrnn" || len(side.Inputs) != 17 || side.Inputs[0].Name != "user_id" || side.Inputs[0].Type != "int64" ||
		side.Inputs[11].Name != "price" || side.Inputs[11].Type != "float32" {
		t.Fatalf("sidecar inputs: %s", b)
	}
	var outs []string
	for _, o := range side.Outputs {
		outs = append(outs, o.Name)
	}
	if strings.Join(outs, ",") != "click,conversion,ctcvr" || side.Pipeline == nil {
		t.Fatalf("sidecar outputs %v, pipeline %v", outs, side.Pipeline != nil)
	}
	for _, bad := range [][]string{
		{"export", "--model", m, "--format", "tflite", "--out", onnxPath},
		{"export", "--model", m},
		{"export", "--model", m, "--workload", "mlp24", "--out", onnxPath},
		{"export", "--workload", "nope", "--out", onnxPath},
		{"export", "--model", filepath.Join(dir, "missing.dcrnn"), "--out", onnxPath},
	} {
		if out, err := runCmd(t, bad...); err == nil {
			t.Errorf("%v: no error\n%s", bad, out)
		}
	}
}
