package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/dcrnn/dcrnn/internal/model"
)

// TestPredictInputsOut trains a tiny model on a synthetic funnel and checks
// that `predict --inputs-out` writes one line per prediction, in row order,
// with the id every categorical field got from the saved vocabulary (read
// back here from the raw CSV) and a number for every numeric field.
func TestPredictInputsOut(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	dir := t.TempDir()
	ctx := context.Background()
	var out, errb bytes.Buffer
	mustRun := func(args ...string) {
		t.Helper()
		if err := run(ctx, args, &out, &errb); err != nil {
			t.Fatalf("%v: %v (%s)", args, err, errb.String())
		}
	}
	mustRun("gen", "--rows", "1500", "--seed", "3", "--out", dir)
	m := filepath.Join(dir, "m.dcrnn")
	mustRun("train", "--schema", filepath.Join(dir, "schema.yaml"), "--data", filepath.Join(dir, "data.csv"),
		"--split", "0.8,0.1,0.1", "--set", "epochs=1", "--set", "embedding_dim=4", "--set", "deep=[8]",
		"--set", "tower=[4]", "--set", "proj=8", "--set", "state_size=8", "--out", m)
	preds, inputs := filepath.Join(dir, "p.csv"), filepath.Join(dir, "in.jsonl")
	mustRun("predict", "--model", m, "--data", filepath.Join(dir, "data.csv"), "--out", preds, "--inputs-out", inputs, "--batch-size", "64")

	tr, err := model.Load(m)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.Open(filepath.Join(dir, "data.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	recs, err := csv.NewReader(raw).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	recs = recs[1:]

	f, err := os.Open(inputs)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	rows := 0
	for ; sc.Scan(); rows++ {
		var line struct{ F []json.RawMessage }
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("line %d: %v", rows+1, err)
		}
		if len(line.F) != len(tr.Spec.Fields) {
			t.Fatalf("line %d: %d fields, want %d", rows+1, len(line.F), len(tr.Spec.Fields))
		}
		for k, fs := range tr.Spec.Fields {
			v := string(line.F[k])
			vocab := tr.Pipeline.Vocabulary(fs.Name)
			if vocab == nil { // numeric
				if _, err := strconv.ParseFloat(v, 64); err != nil {
					t.Fatalf("line %d field %s: %q is not a number", rows+1, fs.Name, v)
				}
				continue
			}
			want := 0 // OOV
			for id, s := range vocab {
				if s == recs[rows][col[fs.Name]] {
					want = id + 1
				}
			}
			if v != strconv.Itoa(want) {
				t.Fatalf("line %d field %s (raw %q): id %s, want %d", rows+1, fs.Name, recs[rows][col[fs.Name]], v, want)
			}
		}
	}
	if rows != len(recs) {
		t.Fatalf("%d input lines for %d data rows", rows, len(recs))
	}
	pb, _ := os.ReadFile(preds)
	if n := bytes.Count(pb, []byte("\n")) - 1; n != rows {
		t.Fatalf("%d prediction lines, %d input lines", n, rows)
	}

	if err := run(ctx, []string{"predict", "--model", m, "--data", filepath.Join(dir, "data.csv"), "--out", preds,
		"--inputs-out", filepath.Join(dir, "no", "such", "dir", "in.jsonl")}, &out, &errb); err == nil {
		t.Fatal("--inputs-out into a missing directory accepted")
	}
}
