package main

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// TestRunScoresLikeDcrnnPredict scores two rows (the rows of the package's
// Example, fields left out are missing) and compares with what `dcrnn
// predict` wrote for the same rows as a Census file (testdata/README.md).
func TestRunScoresLikeDcrnnPredict(t *testing.T) {
	in := `{"age": 54, "class_worker": "Private", "education": "Masters degree(MA MS MEng MEd MSW MBA)", "major_occ_code": "Executive admin and managerial", "sex": "Male", "capital_gains": 15024, "tax_filer_stat": "Joint both under 65", "det_hh_summ": "Householder", "weeks_worked": 52, "num_emp": 6}
{"age": 19, "class_worker": "Private", "education": "Some college but no degree", "hs_college": "College or university", "major_occ_code": "Adm support including clerical", "sex": "Female", "tax_filer_stat": "Single", "det_hh_summ": "Child 18 or older", "weeks_worked": 52, "num_emp": 6}
`
	var out bytes.Buffer
	if err := run("../../testdata/census-small.dcrnn", strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	want := []map[string]float32{{"income": 0.6569662, "marital": 0.100582354}, {"income": 0.58399075, "marital": 0.65486926}}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i, l := range lines {
		var got map[string]float32
		if err := json.Unmarshal([]byte(l), &got); err != nil {
			t.Fatal(err)
		}
		for k, w := range want[i] {
			// Within 1e-6: the file was written by the pure-Go kernels, and the
			// OpenBLAS build sums in another order (the root package's tests
			// hold the pure-Go build to the bit).
			if math.Abs(float64(got[k])-float64(w)) > 1e-6 {
				t.Errorf("row %d %s = %v, want %v", i, k, got[k], w)
			}
		}
	}
}

func TestRunNamesBadField(t *testing.T) {
	err := run("../../testdata/census-small.dcrnn", strings.NewReader("{\"age\": 3}\n{\"age\": [1]}\n"), new(bytes.Buffer))
	if err == nil || !strings.Contains(err.Error(), `line 2: field "age"`) {
		t.Fatalf("got %v, want an error naming line 2 and field age", err)
	}
}
