package model

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestCheckSavable: a pipeline whose JSON does not fit the model file's
// header is refused by CheckSavable (the check training runs before its
// first step), naming the largest vocabulary; one that fits passes, and
// Save of a model that passed writes a file.
func TestCheckSavable(t *testing.T) {
	tr, err := Load("testdata/v0-funnel.dcrnn")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckSavable(tr.Pipeline); err != nil {
		t.Fatalf("the funnel test model's pipeline: %v", err)
	}
	if _, err := Save(t.TempDir()+"/m.dcrnn", tr); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(tr.Pipeline)
	if err != nil {
		t.Fatal(err)
	}
	defer func(v int) { pipelineLimit = v }(pipelineLimit)
	pipelineLimit = len(b) - 1
	err = CheckSavable(tr.Pipeline)
	if err == nil {
		t.Fatalf("a pipeline of %d bytes passed a limit of %d", len(b), pipelineLimit)
	}
	largest, n := "", 0
	for _, f := range tr.Pipeline.Fields() {
		if v := len(tr.Pipeline.Vocabulary(f.Name)); v > n {
			largest, n = f.Name, v
		}
	}
	for _, want := range []string{"hash_buckets", "min_count", largest + ": "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	pipelineLimit = len(b)
	if err := CheckSavable(tr.Pipeline); err != nil {
		t.Errorf("a pipeline of exactly the limit: %v", err)
	}
}
