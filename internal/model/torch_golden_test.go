package model

import (
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/nn"
)

// torchGolden is testdata/torch_golden at the repository root, written by
// python/tools/make_torch_goldens.py: tiny model files trained by dcrnn, the
// transformed rows they score, and the probabilities the PyTorch twins
// (python/dcrnn_torch) compute for them.
const torchGolden = "../../testdata/torch_golden"

// readInputs parses a file of `dcrnn predict --inputs-out` into a batch.
func readInputs(t *testing.T, path string, fields []feature.FieldSpec, ntasks int) *feature.Batch {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bt := &feature.Batch{Fields: make([]feature.FieldData, len(fields)), Labels: make([][]float32, ntasks)}
	for f, fs := range fields {
		if fs.Kind == feature.MultiCategorical {
			bt.Fields[f].Offsets = []int32{0}
		}
	}
	for ln, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var row struct{ F []json.RawMessage }
		if err := json.Unmarshal([]byte(line), &row); err != nil || len(row.F) != len(fields) {
			t.Fatalf("%s:%d: %v (%d fields, want %d)", path, ln+1, err, len(row.F), len(fields))
		}
		for f, fs := range fields {
			fd := &bt.Fields[f]
			switch fs.Kind {
			case feature.Categorical:
				var id int32
				if err := json.Unmarshal(row.F[f], &id); err != nil {
					t.Fatalf("%s:%d: field %s: %v", path, ln+1, fs.Name, err)
				}
				fd.IDs = append(fd.IDs, id)
			case feature.MultiCategorical:
				var ids []int32
				if err := json.Unmarshal(row.F[f], &ids); err != nil {
					t.Fatalf("%s:%d: field %s: %v", path, ln+1, fs.Name, err)
				}
				fd.IDs = append(fd.IDs, ids...)
				fd.Offsets = append(fd.Offsets, int32(len(fd.IDs)))
			default:
				var v float64
				if err := json.Unmarshal(row.F[f], &v); err != nil {
					t.Fatalf("%s:%d: field %s: %v", path, ln+1, fs.Name, err)
				}
				fd.Values = append(fd.Values, float32(v))
			}
		}
		bt.N++
		for k := range bt.Labels {
			bt.Labels[k] = append(bt.Labels[k], 0)
		}
	}
	return bt
}

// readProbs returns the columns of a probs.csv.
func readProbs(t *testing.T, path string) ([]string, [][]float64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil || len(recs) < 2 {
		t.Fatalf("%s: %v (%d records)", path, err, len(recs))
	}
	cols := make([][]float64, len(recs[0]))
	for _, r := range recs[1:] {
		for j, s := range r {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			cols[j] = append(cols[j], v)
		}
	}
	return recs[0], cols
}

// TestTorchGolden checks Go's forward pass (Trained.Predict: sigmoid,
// calibration, negative down-sampling correction, ctcvr) on every golden
// case against the probabilities PyTorch computed, to 1e-5, so a change of
// the forward pass that its own gradient check cannot see (both passes
// changed alike) fails here too.
func TestTorchGolden(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(torchGolden, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases map[string]struct {
		Model  string            `json:"model"`
		Schema string            `json:"schema"`
		Set    map[string]string `json:"set"`
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	names := make([]string, 0, len(cases))
	for name := range cases {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		c := cases[name]
		seen[c.Model] = true
		t.Run(name, func(t *testing.T) {
			tr, err := Load(filepath.Join(torchGolden, name, "model.dcrnn"))
			if err != nil {
				t.Fatal(err)
			}
			if tr.Name != c.Model {
				t.Fatalf("model file holds %s, cases.json says %s", tr.Name, c.Model)
			}
			bt := readInputs(t, filepath.Join(torchGolden, "inputs-"+c.Schema+".jsonl"), tr.Spec.Fields, len(tr.Spec.Tasks))
			probs := make([][]float32, len(tr.Spec.Tasks))
			for i := range probs {
				probs[i] = make([]float32, bt.N)
			}
			ctcvr := make([]float32, bt.N)
			tr.Predict(nn.NewTape(false, 0), bt, probs, ctcvr)
			head, want := readProbs(t, filepath.Join(torchGolden, name, "probs.csv"))
			for j, col := range head {
				var got []float32
				if col == "ctcvr" {
					got = ctcvr
				} else {
					k := -1
					for ti, task := range tr.Spec.Tasks {
						if task.Name == col {
							k = ti
						}
					}
					if k < 0 {
						t.Fatalf("probs.csv column %q is no task", col)
					}
					got = probs[k]
				}
				if len(want[j]) != bt.N {
					t.Fatalf("%s: %d rows, inputs %d", col, len(want[j]), bt.N)
				}
				worst, lo, hi := 0.0, math.Inf(1), math.Inf(-1)
				for i, w := range want[j] {
					worst = max(worst, math.Abs(float64(got[i])-w))
					lo, hi = min(lo, w), max(hi, w)
				}
				if worst > 1e-5 {
					t.Errorf("%s: max |go - torch| = %.3g > 1e-5", col, worst)
				}
				if hi-lo < 1e-3 {
					t.Errorf("%s: the golden probabilities span only [%g, %g]: the case pins nothing", col, lo, hi)
				}
			}
		})
	}
	for _, m := range Names() {
		if !seen[m] {
			t.Errorf("no golden case for model %s", m)
		}
	}
}
