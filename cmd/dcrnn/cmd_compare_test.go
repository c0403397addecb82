package main

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompareCommand runs dcrnn compare on a small generated funnel and
// draws the report again from its report.json.
func TestCompareCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("trains models")
	}
	dir := t.TempDir()
	if out, err := runCmd(t, "gen", "--rows", "6000", "--seed", "7", "--out", dir); err != nil {
		t.Fatalf("gen: %v\n%s", err, out)
	}
	rep := filepath.Join(dir, "rep")
	out, err := runCmd(t, "compare", "--schema", filepath.Join(dir, "schema.yaml"), "--data", filepath.Join(dir, "data.csv"),
		"--split", "0.5,0.25,0.25", "--models", "esmm,ple", "--seeds", "2", "--set", "epochs=1", "--set", "expert_hidden=[8]",
		"--set", "deep=[16]", "--sweep", "rho=0,1", "--set", "state_size=4", "--threads", "1", "--out", rep)
	if err != nil {
		t.Fatalf("compare: %v\n%s", err, out)
	}
	for _, want := range []string{"| esmm | 0.", "| ple | 0.", "| 0 | 0 | 4 | 0.", "| 1 | 4 | 0 | 0.", "### ple", "report written to"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	b, err := os.ReadFile(filepath.Join(rep, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Command string                    `json:"command"`
		Models  map[string]map[string]any `json:"models"`
		Sweep   []map[string]any          `json:"sweep"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Models) != 2 || len(doc.Sweep) != 2 || !strings.Contains(doc.Command, "--sweep rho=0,1") {
		t.Errorf("report.json: %d models, %d sweep points, command %q", len(doc.Models), len(doc.Sweep), doc.Command)
	}
	md := filepath.Join(rep, "report.md")
	before, _ := os.ReadFile(md)
	os.Remove(md)
	os.Remove(filepath.Join(rep, "auc.png"))
	if out, err := runCmd(t, "compare", "--render", rep); err != nil {
		t.Fatalf("compare --render: %v\n%s", err, out)
	}
	after, err := os.ReadFile(md)
	if err != nil || string(after) != string(before) {
		t.Errorf("--render drew a different report.md (err %v)", err)
	}
	if _, err := os.Stat(filepath.Join(rep, "auc.png")); err != nil {
		t.Errorf("--render did not draw auc.png: %v", err)
	}
}

func TestCompareBadInput(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data.csv")
	schema := filepath.Join(dir, "schema.yaml")
	os.WriteFile(data, []byte("a,y\n1,0\n"), 0o644)
	os.WriteFile(schema, []byte("format: {type: csv, header: true}\nfields:\n  - {name: a, type: categorical}\ntasks:\n  - {name: t, label: y}\n"), 0o644)
	base := []string{"compare", "--schema", schema, "--data", data, "--out", filepath.Join(dir, "out")}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no out", []string{"compare", "--schema", schema, "--data", data, "--split", "0.5,0.25,0.25"}, "--schema and --out are required"},
		{"unknown model", append(base, "--split", "0.5,0.25,0.25", "--models", "dcrnn,nope"), `unknown model "nope"`},
		{"model twice", append(base, "--split", "0.5,0.25,0.25", "--models", "esmm,esmm"), "listed twice"},
		{"sweep key", append(base, "--split", "0.5,0.25,0.25", "--sweep", "alpha=0,1"), "want rho=v1,v2"},
		{"sweep range", append(base, "--split", "0.5,0.25,0.25", "--sweep", "rho=0,1.5"), `value 2 "1.5"`},
		{"sweep twice", append(base, "--split", "0.5,0.25,0.25", "--sweep", "rho=0.5,0.5"), "listed twice"},
		{"seeds", append(base, "--split", "0.5,0.25,0.25", "--seeds", "0"), "--seeds: must be ≥ 1"},
		{"no test part", append(base, "--split", "0.5,0.5"), "test part is required"},
		{"no split", base, "--data needs --split"},
		{"config seed", append(base, "--split", "0.5,0.25,0.25", "--set", "seed=4"), "config sets seed"},
		{"bad set", append(base, "--split", "0.5,0.25,0.25", "--set", "nokey=1"), "nokey"},
		{"ablate name", append(base, "--split", "0.5,0.25,0.25", "--ablate", "no-cross,bogus"), `variant "bogus"`},
		{"ablate twice", append(base, "--split", "0.5,0.25,0.25", "--ablate", "rho=0,rho=0"), "listed twice"},
		{"ablate seed", append(base, "--split", "0.5,0.25,0.25", "--ablate", "seed=3"), "seeds are 1..--seeds"},
		{"ablate key", append(base, "--split", "0.5,0.25,0.25", "--ablate", "nokey=1"), "--ablate nokey=1: config: --set nokey"},
		{"ablate value", append(base, "--split", "0.5,0.25,0.25", "--ablate", "cell=lsmt"), `--ablate cell=lsmt: config: cell: want gru, lstm or rnn, got "lsmt"`},
		{"render missing", []string{"compare", "--render", filepath.Join(dir, "nothing")}, "report.json"},
		{"stray arg", append(base, "extra"), `unexpected argument "extra"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCmd(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q\n%s", err, tc.want, out)
			}
			// (train.LoadConfig's YAML errors span lines; not this command's.)
			if err != nil && tc.name != "bad set" && tc.name != "ablate key" && strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
	if _, err := runCmd(t, "compare", "--help"); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help: err = %v, want flag.ErrHelp", err)
	}
}

// TestCompareAblate runs dcrnn compare --ablate on a small generated funnel
// (with the noise ids): the ablation table has the default first, the
// variants in order, reuses the runs whose config is the default's, and
// --render draws it again.
func TestCompareAblate(t *testing.T) {
	if testing.Short() {
		t.Skip("trains models")
	}
	dir := t.TempDir()
	if out, err := runCmd(t, "gen", "--rows", "6000", "--seed", "7", "--out", dir); err != nil {
		t.Fatalf("gen: %v\n%s", err, out)
	}
	rep := filepath.Join(dir, "rep")
	out, err := runCmd(t, "compare", "--schema", filepath.Join(dir, "schema.yaml"), "--data", filepath.Join(dir, "data.csv"),
		"--split", "0.5,0.25,0.25", "--models", "dcrnn", "--seeds", "1", "--set", "epochs=1", "--set", "deep=[16]",
		"--set", "state_size=4", "--ablate", "no-cross,cell=gru,rho=1", "--threads", "1", "--out", rep)
	if err != nil {
		t.Fatalf("compare: %v\n%s", err, out)
	}
	for _, want := range []string{"## DCRNN ablation (mean ± std over 1 seeds)", "| default | – | 0.", "| no-cross | `cross=false` | 0.",
		"| cell=gru | `cell=gru` (= default) | 0.", "| rho=1 | `rho=1` | 0.", "(reference)", "| dcrnn | 0."} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	b, err := os.ReadFile(filepath.Join(rep, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Ablation []struct {
			Variant string `json:"variant"`
			Params  int    `json:"params"`
		} `json:"ablation"`
		Runs []struct {
			Variant      string  `json:"variant"`
			TrainSeconds float64 `json:"train_seconds"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	// dcrnn, then default and cell=gru reusing it, no-cross, rho=1.
	if len(doc.Runs) != 5 || len(doc.Ablation) != 4 || doc.Runs[1].TrainSeconds != doc.Runs[0].TrainSeconds ||
		doc.Runs[3].TrainSeconds != doc.Runs[0].TrainSeconds {
		t.Fatalf("report.json: %d runs %+v, %d variants", len(doc.Runs), doc.Runs, len(doc.Ablation))
	}
	if doc.Ablation[1].Params >= doc.Ablation[0].Params {
		t.Errorf("no-cross has %d parameters, the default %d", doc.Ablation[1].Params, doc.Ablation[0].Params)
	}
	md := filepath.Join(rep, "report.md")
	before, _ := os.ReadFile(md)
	os.Remove(md)
	if out, err := runCmd(t, "compare", "--render", rep); err != nil {
		t.Fatalf("compare --render: %v\n%s", err, out)
	}
	if after, err := os.ReadFile(md); err != nil || string(after) != string(before) {
		t.Errorf("--render drew a different report.md (err %v)", err)
	}
}
