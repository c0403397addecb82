package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dcrnn/dcrnn/internal/model"
)

// genParts writes a 3,000-row funnel and its train/valid/test split; it
// returns the directory.
func genParts(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := runCmd(t, "gen", "--rows", "3000", "--seed", "4", "--out", dir); err != nil {
		t.Fatalf("gen: %v\n%s", err, out)
	}
	if out, err := runCmd(t, "split", "--data", filepath.Join(dir, "data.csv"), "--out", dir, "--seed", "2"); err != nil {
		t.Fatalf("split: %v\n%s", err, out)
	}
	return dir
}

var smallModel = []string{"--set", "epochs=1", "--set", "proj=4", "--set", "deep=[8]", "--set", "tower=[4]", "--threads", "1"}

// trainMetrics trains and returns the validation metrics of every task as
// JSON (deterministic at one thread; the model file's checksum is not, it
// holds the run's timings).
func trainMetrics(t *testing.T, dir string, args ...string) string {
	t.Helper()
	mp := filepath.Join(dir, "metrics.json")
	out, err := runCmd(t, append(append([]string{"train", "--metrics-out", mp}, args...), smallModel...)...)
	if err != nil {
		t.Fatalf("train %q: %v\n%s", args, err, out)
	}
	var m map[string]json.RawMessage
	b, _ := os.ReadFile(mp)
	if err := json.Unmarshal(b, &m); err != nil || len(m["tasks"]) == 0 {
		t.Fatalf("metrics %s: %v", b, err)
	}
	return string(m["tasks"])
}

// TestFitThenTrainWithPipeline: dcrnn fit over the training file, then
// train --pipeline, gives the very model train gives with its own fit pass,
// and the model carries the fitted pipeline.
func TestFitThenTrainWithPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("trains models")
	}
	dir := genParts(t)
	schema, trainF, validF := filepath.Join(dir, "schema.yaml"), filepath.Join(dir, "train.csv"), filepath.Join(dir, "valid.csv")
	fit := filepath.Join(dir, "pipeline.json")
	if out, err := runCmd(t, "fit", "--schema", schema, "--data", trainF, "--out", fit); err != nil || !strings.Contains(out, "rows") {
		t.Fatalf("fit: %v\n%s", err, out)
	}
	m1, m2 := filepath.Join(dir, "a.dcrnn"), filepath.Join(dir, "b.dcrnn")
	a := trainMetrics(t, dir, "--schema", schema, "--train", trainF, "--valid", validF, "--out", m1)
	b := trainMetrics(t, dir, "--pipeline", fit, "--train", trainF, "--valid", validF, "--out", m2)
	if a != b {
		t.Errorf("train --pipeline gives metrics %s, train with its own fit %s", b, a)
	}
	ta, err := model.Load(m1)
	if err != nil {
		t.Fatal(err)
	}
	f, err := readFit(fit)
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.Finish()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := model.Load(m2)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(p)
	got, _ := json.Marshal(tr.Pipeline)
	own, _ := json.Marshal(ta.Pipeline)
	if !bytes.Equal(want, got) || !bytes.Equal(want, own) {
		t.Error("the models' pipelines differ from the fit's")
	}
	// The training part of a random split: fit --split and train --split
	// with the same seed agree.
	whole := filepath.Join(dir, "data.csv")
	fitPart := filepath.Join(dir, "part.json")
	if out, err := runCmd(t, "fit", "--schema", schema, "--data", whole, "--split", "0.6,0.2,0.2", "--seed", "5", "--out", fitPart); err != nil {
		t.Fatalf("fit --split: %v\n%s", err, out)
	}
	c := trainMetrics(t, dir, "--schema", schema, "--data", whole, "--split", "0.6,0.2,0.2", "--seed", "5", "--out", m1)
	d := trainMetrics(t, dir, "--pipeline", fitPart, "--data", whole, "--split", "0.6,0.2,0.2", "--seed", "5", "--out", m2)
	if c != d {
		t.Errorf("train --split --pipeline gives metrics %s, without %s", d, c)
	}
	// A schema other than the fit's is refused.
	other := filepath.Join(dir, "other.yaml")
	sb, _ := os.ReadFile(schema)
	os.WriteFile(other, bytes.Replace(sb, []byte("{name: noise_cat,     type: categorical}"), []byte("{name: noise_cat,     type: ignore}"), 1), 0o644)
	if out, err := runCmd(t, "train", "--schema", other, "--pipeline", fit, "--train", trainF, "--valid", validF, "--out", m2); err == nil || !strings.Contains(err.Error(), "another schema") {
		t.Errorf("mismatched schema: %v\n%s", err, out)
	}
	// A file that is not a fit.
	if out, err := runCmd(t, "train", "--pipeline", schema, "--train", trainF, "--valid", validF, "--out", m2); err == nil || !strings.Contains(err.Error(), "fit state") {
		t.Errorf("not a fit: %v\n%s", err, out)
	}
}

// TestFitMergeEqualsOneFit: the fits of two shards, merged, are the fit of
// the concatenated rows, byte for byte; so is one fit over both shards.
func TestFitMergeEqualsOneFit(t *testing.T) {
	dir := genParts(t)
	schema := filepath.Join(dir, "schema.yaml")
	raw, err := os.ReadFile(filepath.Join(dir, "train.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(raw), "\n")
	header, rows := lines[0], lines[1:]
	shards := filepath.Join(dir, "shards")
	os.MkdirAll(shards, 0o755)
	half := len(rows) / 2
	os.WriteFile(filepath.Join(shards, "a.csv"), []byte(header+strings.Join(rows[:half], "")), 0o644)
	os.WriteFile(filepath.Join(shards, "b.csv"), []byte(header+strings.Join(rows[half:], "")), 0o644)
	fit := func(data, out string) {
		t.Helper()
		if o, err := runCmd(t, "fit", "--schema", schema, "--data", data, "--out", out); err != nil {
			t.Fatalf("fit %s: %v\n%s", data, err, o)
		}
	}
	fit(filepath.Join(dir, "train.csv"), filepath.Join(dir, "whole.json"))
	fit(filepath.Join(shards, "a.csv"), filepath.Join(dir, "a.json"))
	fit(filepath.Join(shards, "b.csv"), filepath.Join(dir, "b.json"))
	fit(shards, filepath.Join(dir, "dir.json"))
	if o, err := runCmd(t, "fit", "--merge", filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json"), "--out", filepath.Join(dir, "merged.json")); err != nil {
		t.Fatalf("merge: %v\n%s", err, o)
	}
	whole, _ := os.ReadFile(filepath.Join(dir, "whole.json"))
	for _, n := range []string{"merged.json", "dir.json"} {
		b, _ := os.ReadFile(filepath.Join(dir, n))
		if !bytes.Equal(whole, b) {
			t.Errorf("%s differs from the fit of the concatenated rows", n)
		}
	}
	if o, err := runCmd(t, "fit", "--merge", filepath.Join(dir, "a.json"), "--out", filepath.Join(dir, "x.json")); err == nil {
		t.Errorf("merge of one file accepted:\n%s", o)
	}
}

// TestTrainTimeSplit trains on hours below 16, validates on 16–19 and
// tests on the rest; dcrnn split --split-by writes the same three parts.
func TestTrainTimeSplit(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	dir := genParts(t)
	schema, data := filepath.Join(dir, "schema.yaml"), filepath.Join(dir, "data.csv")
	metrics := filepath.Join(dir, "m.json")
	out, err := runCmd(t, append([]string{"train", "--schema", schema, "--data", data, "--split-by", "hour", "--train-until", "16", "--valid-until", "20",
		"--out", filepath.Join(dir, "m.dcrnn"), "--metrics-out", metrics}, smallModel...)...)
	if err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	// Count the rows by hour independently of the reader.
	raw, _ := os.ReadFile(data)
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	var want [3]int
	for _, l := range lines[1:] {
		h := strings.Split(l, ",")[9]
		switch n := atoi(t, h); {
		case n < 16:
			want[0]++
		case n < 20:
			want[1]++
		default:
			want[2]++
		}
	}
	var rep struct{ Rows int }
	b, _ := os.ReadFile(metrics)
	json.Unmarshal(b, &rep)
	if rep.Rows != want[2] {
		t.Errorf("test part: %d rows, want %d (rows with hour ≥ 20)", rep.Rows, want[2])
	}
	parts := filepath.Join(dir, "tparts")
	if out, err := runCmd(t, "split", "--data", data, "--schema", schema, "--split-by", "hour", "--train-until", "16", "--valid-until", "20", "--out", parts); err != nil {
		t.Fatalf("split: %v\n%s", err, out)
	}
	for k, n := range []string{"train.csv", "valid.csv", "test.csv"} {
		b, err := os.ReadFile(filepath.Join(parts, n))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(string(b), "\n") - 1; got != want[k] {
			t.Errorf("split %s: %d rows, want %d", n, got, want[k])
		}
	}
	// Bad bounds are refused before reading.
	if _, err := runCmd(t, "train", "--schema", schema, "--data", data, "--split-by", "hour", "--train-until", "20", "--valid-until", "16", "--out", filepath.Join(dir, "x")); err == nil {
		t.Error("decreasing bounds accepted")
	}
}

func atoi(t *testing.T, s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("not a number: %q", s)
		}
		n = 10*n + int(c-'0')
	}
	return n
}

// TestPyArrowCensusAgrees: the first 5,000 Census rows as CSV and as
// Parquet written by pyarrow (census_parquet.py) give the same fit and the
// same test metrics. Runs when DCRNN_PYTHON names a Python with pyarrow.
func TestPyArrowCensusAgrees(t *testing.T) {
	py := os.Getenv("DCRNN_PYTHON")
	if py == "" {
		t.Skip("DCRNN_PYTHON not set")
	}
	census := "../../../shared/data/census-income-kdd/census-income.test.gz"
	if _, err := os.Stat(census); err != nil {
		t.Skip("no Census data")
	}
	dir := t.TempDir()
	if out, err := exec.Command(py, "../../internal/data/testdata/parquet/census_parquet.py", census, "5000", dir).CombinedOutput(); err != nil {
		t.Fatalf("census_parquet.py: %v\n%s", err, out)
	}
	schema := "../../examples/census.yaml"
	var fits, reps [2][]byte
	for k, f := range []string{"census.csv", "census.parquet"} {
		fp := filepath.Join(dir, f+".fit.json")
		if out, err := runCmd(t, "fit", "--schema", schema, "--data", filepath.Join(dir, f), "--out", fp); err != nil {
			t.Fatalf("fit %s: %v\n%s", f, err, out)
		}
		fits[k], _ = os.ReadFile(fp)
		mp := filepath.Join(dir, f+".metrics.json")
		out, err := runCmd(t, append([]string{"train", "--schema", schema, "--data", filepath.Join(dir, f), "--split", "0.6,0.2,0.2",
			"--out", filepath.Join(dir, f+".dcrnn"), "--metrics-out", mp}, smallModel...)...)
		if err != nil {
			t.Fatalf("train %s: %v\n%s", f, err, out)
		}
		var m map[string]json.RawMessage
		b, _ := os.ReadFile(mp)
		json.Unmarshal(b, &m)
		reps[k] = append(append(m["tasks"], m["funnel"]...), m["rows"]...)
	}
	if !bytes.Equal(fits[0], fits[1]) {
		t.Error("the CSV and Parquet fits differ")
	}
	if len(reps[0]) == 0 || !bytes.Equal(reps[0], reps[1]) {
		t.Errorf("test metrics differ:\ncsv     %s\nparquet %s", reps[0], reps[1])
	}
}

// TestGenParquetShards: dcrnn gen --format parquet writes shards that fit
// to the very fit of the CSV the same seed gives.
func TestGenParquetShards(t *testing.T) {
	dir := t.TempDir()
	csvDir, pqDir := filepath.Join(dir, "csv"), filepath.Join(dir, "pq")
	if out, err := runCmd(t, "gen", "--rows", "5000", "--seed", "3", "--out", csvDir); err != nil {
		t.Fatalf("gen: %v\n%s", err, out)
	}
	if out, err := runCmd(t, "gen", "--rows", "5000", "--seed", "3", "--out", pqDir, "--format", "parquet", "--shards", "3", "--compression", "zstd"); err != nil {
		t.Fatalf("gen parquet: %v\n%s", err, out)
	}
	files, _ := filepath.Glob(filepath.Join(pqDir, "data", "*.parquet"))
	if len(files) != 3 {
		t.Fatalf("shards %q, want 3", files)
	}
	schema := filepath.Join(csvDir, "schema.yaml")
	for _, d := range []string{filepath.Join(csvDir, "data.csv"), filepath.Join(pqDir, "data")} {
		if out, err := runCmd(t, "fit", "--schema", schema, "--data", d, "--out", d+".fit.json"); err != nil {
			t.Fatalf("fit %s: %v\n%s", d, err, out)
		}
	}
	a, _ := os.ReadFile(filepath.Join(csvDir, "data.csv.fit.json"))
	b, _ := os.ReadFile(filepath.Join(pqDir, "data.fit.json"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Error("the fit of the Parquet shards differs from that of the CSV")
	}
	if _, err := runCmd(t, "gen", "--rows", "5", "--out", filepath.Join(dir, "x"), "--format", "parquet", "--shards", "6"); err == nil {
		t.Error("more shards than rows accepted")
	}
}

// TestInspectShardsAndParquet: data inspect over a directory of Parquet
// shards counts every row of both, and its figures match one file's.
func TestInspectShardsAndParquet(t *testing.T) {
	fixtures := "../../internal/data/testdata/parquet"
	schema := filepath.Join(fixtures, "schema.yaml")
	shards, err := runCmd(t, "data", "inspect", "--schema", schema, "--data", filepath.Join(fixtures, "shards"))
	if err != nil {
		t.Fatalf("inspect: %v\n%s", err, shards)
	}
	one, err := runCmd(t, "data", "inspect", "--schema", schema, "--data", filepath.Join(fixtures, "basic_zstd.parquet"))
	if err != nil {
		t.Fatalf("inspect: %v\n%s", err, one)
	}
	if !strings.Contains(shards, "10") {
		t.Errorf("inspect of the shards does not show 10 rows:\n%s", shards)
	}
	strip := func(s string) string { // the first line names the input
		_, rest, _ := strings.Cut(s, "\n")
		return rest
	}
	if strip(shards) != strip(one) {
		t.Errorf("inspect of the shards differs from that of the whole file:\n%s\n---\n%s", shards, one)
	}
}
