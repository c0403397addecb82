package data

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dcrnn/dcrnn/internal/feature"
)

const sharedData = "../../../shared/data"

func needData(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(sharedData, rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("dataset %s not available: %v", p, err)
	}
	return p
}

// readAllBatches streams a file and returns rows and positives per task.
func readAllBatches(t *testing.T, p *feature.Pipeline, path string) (int, []int) {
	t.Helper()
	b, err := NewBatcher(p, path, BatchOptions{BatchSize: 1000, RequireLabels: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rows, pos := 0, make([]int, len(p.Tasks()))
	for {
		bt, err := b.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rows += bt.N
		for ti, l := range bt.Labels {
			for _, y := range l {
				pos[ti] += int(y)
			}
		}
		for f, spec := range p.Fields() {
			if spec.Kind == feature.Categorical {
				for _, id := range bt.Fields[f].IDs {
					if id < 0 || int(id) >= spec.Vocab {
						t.Fatalf("field %s: id %d outside [0,%d)", spec.Name, id, spec.Vocab)
					}
				}
			}
		}
	}
	return rows, pos
}

// TestExampleSchemas loads each example schema, fits it on its real file and
// reads the files end to end. Expected counts come from the data READMEs.
func TestExampleSchemas(t *testing.T) {
	tests := []struct {
		schema string
		fit    string
		files  map[string][]int // file -> rows, positives per task
		fields int
	}{
		{"census.yaml", "census-income-kdd/census-income.test.gz",
			map[string][]int{"census-income-kdd/census-income.test.gz": {99762, 6186, 43143}}, 39},
		{"ali-ccp.yaml", "ali-ccp-samples/torch-rechub_ali_ccp_train_sample.csv", map[string][]int{
			"ali-ccp-samples/torch-rechub_ali_ccp_train_sample.csv": {100, 7, 1},
			"ali-ccp-samples/torch-rechub_ali_ccp_val_sample.csv":   {50, 3, 1},
			"ali-ccp-samples/torch-rechub_ali_ccp_test_sample.csv":  {50, 2, 1}}, 31},
		{"ali-ccp-aitm.yaml", "ali-ccp-samples/paddlerec_aitm_train.csv", map[string][]int{
			"ali-ccp-samples/paddlerec_aitm_train.csv": {46, 3, 1}}, 18}, // 2 rows purchase without click dropped
		{"aliexpress.yaml", "aliexpress-samples/torch-rechub_aliexpress_train_sample.csv", map[string][]int{
			"aliexpress-samples/torch-rechub_aliexpress_train_sample.csv": {100, 60, 2},
			"aliexpress-samples/torch-rechub_aliexpress_test_sample.csv":  {20, 10, 2}}, 79},
		{"criteo.yaml", "ctr-samples/deepctr_criteo_sample.txt", map[string][]int{
			"ctr-samples/deepctr_criteo_sample.txt": {200, -1}}, 39},
	}
	for _, tc := range tests {
		t.Run(tc.schema, func(t *testing.T) {
			fit := needData(t, tc.fit)
			s, err := feature.LoadSchema(filepath.Join("../../examples", tc.schema))
			if err != nil {
				t.Fatal(err)
			}
			p, st, err := FitPipeline(context.Background(), s, fit, FitOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Fields()) != tc.fields {
				t.Errorf("%d feature fields, want %d", len(p.Fields()), tc.fields)
			}
			for file, want := range tc.files {
				rows, pos := readAllBatches(t, p, needData(t, file))
				if rows != want[0] {
					t.Errorf("%s: %d rows, want %d", file, rows, want[0])
				}
				for ti := range pos {
					if want[1+ti] >= 0 && pos[ti] != want[1+ti] {
						t.Errorf("%s: task %d: %d positives, want %d", file, ti, pos[ti], want[1+ti])
					}
				}
				if file == tc.fit && st.Rows != int64(want[0]) {
					t.Errorf("fit rows %d, want %d", st.Rows, want[0])
				}
			}
		})
	}
}

func TestCensusInspect(t *testing.T) {
	path := needData(t, "census-income-kdd/census-income.test.gz")
	s, err := feature.LoadSchema("../../examples/census.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range s.FeatureNames() {
		if f == "marital_stat" || f == "instance_weight" || f == "income_50k" {
			t.Errorf("%s is a feature", f)
		}
	}
	rep, err := Inspect(context.Background(), s, path, FitOptions{BadRows: BadRowsSkip})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Summary.Rows != 99762 || rep.Stats.BadRows != 0 {
		t.Errorf("rows %d bad %d", rep.Summary.Rows, rep.Stats.BadRows)
	}
	if got := []int64{rep.Summary.Tasks[0].Positives, rep.Summary.Tasks[1].Positives}; !reflect.DeepEqual(got, []int64{6186, 43143}) {
		t.Errorf("positives %v, want [6186 43143]", got)
	}
	var out bytes.Buffer
	if err := rep.Write(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range [][]string{{"rows: 99,762"}, {"income", "income_50k", "6,186", "6.2%"}, {"marital", "marital_stat", "43,143", "43.2%"}, {"education", "categorical", "17"}, {"OOV@2"}} {
		found := false
		for _, line := range strings.Split(out.String(), "\n") {
			if reflect.DeepEqual(strings.Fields(line)[:min(len(want), len(strings.Fields(line)))], want) {
				found = true
			}
		}
		if !found && len(want) == 1 && strings.Contains(out.String(), want[0]) {
			found = true
		}
		if !found {
			t.Errorf("inspect output lacks a line %q:\n%s", want, out.String())
		}
	}
}

// TestCensusServingParity checks, on real rows, that the pipeline read back
// from JSON and fed JSON objects (as the server is) gives the same batch as
// the training path.
func TestCensusServingParity(t *testing.T) {
	path := needData(t, "census-income-kdd/census-income.test.gz")
	s, err := feature.LoadSchema("../../examples/census.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := FitPipeline(context.Background(), s, path, FitOptions{Filter: func(i int64) bool { return i%2 == 0 }})
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	q, err := feature.UnmarshalPipeline(js)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(path, OptionsFor(s.Format))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cols := r.Columns()
	bRow, bMap := p.NewBatch(2000), q.NewBatch(2000)
	for bRow.N < 2000 {
		rec, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if err := p.TransformRow(rec, bRow); err != nil {
			t.Fatal(err)
		}
		m := map[string]any{}
		for i, c := range cols {
			if c == "age" || c == "weeks_worked" { // numbers arrive as JSON numbers
				var x float64
				json.Unmarshal(rec[i], &x)
				m[c] = x
			} else {
				m[c] = string(rec[i])
			}
		}
		if unk, err := q.TransformMap(m, bMap); err != nil || len(unk) != 0 {
			t.Fatalf("TransformMap: %v unknown %v", err, unk)
		}
	}
	if !reflect.DeepEqual(bRow.Fields, bMap.Fields) {
		t.Errorf("serving transform differs from training transform")
	}
}
