package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPrepareCommand drives dcrnn prepare as a user does: --data with
// --split, then --train/--valid/--test with --pipeline (the pipeline of the
// first run), which gives the same training rows as that run fitted.
func TestPrepareCommand(t *testing.T) {
	dir := t.TempDir()
	if out, err := runCmd(t, "gen", "--rows", "2000", "--seed", "4", "--out", dir); err != nil {
		t.Fatalf("gen: %v\n%s", err, out)
	}
	data, schema := filepath.Join(dir, "data.csv"), filepath.Join(dir, "schema.yaml")
	prep := filepath.Join(dir, "prep")
	out, err := runCmd(t, "prepare", "--schema", schema, "--data", data, "--split", "0.6,0.2,0.2", "--seed", "3", "--out", prep, "--shards", "4", "--threads", "1")
	if err != nil {
		t.Fatalf("prepare: %v\n%s", err, out)
	}
	if !strings.Contains(out, "manifest written to") {
		t.Fatalf("prepare output lacks the summary:\n%s", out)
	}
	var m struct {
		Splits []struct {
			Name   string
			Rows   int64
			Shards []struct{ File string }
		}
	}
	b, err := os.ReadFile(filepath.Join(prep, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, s := range m.Splits {
		total += s.Rows
		if len(s.Shards) != 4 {
			t.Errorf("%s: %d shards, want 4", s.Name, len(s.Shards))
		}
		for _, sh := range s.Shards {
			if _, err := os.Stat(filepath.Join(prep, sh.File)); err != nil {
				t.Error(err)
			}
		}
	}
	if len(m.Splits) != 3 || total != 2000 {
		t.Fatalf("splits %+v: want train, valid, test holding the 2000 rows", m.Splits)
	}
	parts := filepath.Join(dir, "parts")
	if out, err := runCmd(t, "split", "--data", data, "--ratios", "0.6,0.2,0.2", "--seed", "3", "--out", parts); err != nil {
		t.Fatalf("split: %v\n%s", err, out)
	}
	prep2 := filepath.Join(dir, "prep2")
	out, err = runCmd(t, "prepare", "--pipeline", filepath.Join(prep, "pipeline.json"), "--train", filepath.Join(parts, "train.csv"),
		"--valid", filepath.Join(parts, "valid.csv"), "--test", filepath.Join(parts, "test.csv"), "--out", prep2, "--shards", "4", "--threads", "1")
	if err != nil {
		t.Fatalf("prepare --pipeline: %v\n%s", err, out)
	}
	for k := range 4 {
		name := filepath.Join("train", "part-0000"+string(rune('0'+k))+".parquet")
		a, err1 := os.ReadFile(filepath.Join(prep, name))
		b, err2 := os.ReadFile(filepath.Join(prep2, name))
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		// Same rows, same pipeline: the files differ only in their plan hash.
		if !bytes.Equal(bytes.ReplaceAll(a, []byte(plan(t, prep)), []byte(plan(t, prep2))), b) {
			t.Errorf("%s differs between --data --split and --train with --pipeline beyond the plan hash", name)
		}
	}
	// A fit written by dcrnn fit over the same training rows is the same
	// pipeline: prepare --pipeline takes it as train --pipeline does.
	fit := filepath.Join(dir, "fit.json")
	if out, err := runCmd(t, "fit", "--schema", schema, "--data", filepath.Join(parts, "train.csv"), "--out", fit); err != nil {
		t.Fatalf("fit: %v\n%s", err, out)
	}
	prep3 := filepath.Join(dir, "prep3")
	out, err = runCmd(t, "prepare", "--pipeline", fit, "--train", filepath.Join(parts, "train.csv"),
		"--valid", filepath.Join(parts, "valid.csv"), "--out", prep3, "--shards", "4", "--threads", "1")
	if err != nil {
		t.Fatalf("prepare --pipeline FIT: %v\n%s", err, out)
	}
	for _, name := range []string{"pipeline.json", "row_counts.json"} {
		a, err1 := os.ReadFile(filepath.Join(prep, name))
		b, err2 := os.ReadFile(filepath.Join(prep3, name))
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s from prepare --pipeline FIT differs from the one prepare fitted on the same rows", name)
		}
	}
	for _, bad := range [][]string{
		{"prepare", "--schema", schema, "--data", data, "--split", "0.8,0.2"},
		{"prepare", "--schema", schema, "--data", data, "--out", prep},
		{"prepare", "--schema", schema, "--data", data, "--split", "0.8,0.2", "--out", prep, "--shards", "0"},
	} {
		if _, err := runCmd(t, bad...); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

// plan returns the plan hash of a prepared directory.
func plan(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Plan string }
	if err := json.Unmarshal(b, &m); err != nil || len(m.Plan) != 64 {
		t.Fatalf("manifest plan %q: %v", m.Plan, err)
	}
	return m.Plan
}
