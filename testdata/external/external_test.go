// Package external is a separate module that uses dcrnn the way another
// team's service would: through a require of github.com/dcrnn/dcrnn, where
// the go command refuses any import of its internal packages. The root
// package's TestExternalModule runs its test.
package external

import (
	"errors"
	"testing"

	"github.com/dcrnn/dcrnn"
)

func TestLoadAndScore(t *testing.T) {
	m, err := dcrnn.Load("../census-small.dcrnn")
	if err != nil {
		t.Fatal(err)
	}
	sc := m.NewScorer()
	preds, err := sc.Score([]map[string]any{{"age": 54, "class_worker": "Private", "education": "Masters degree(MA MS MEng MEd MSW MBA)",
		"major_occ_code": "Executive admin and managerial", "sex": "Male", "capital_gains": 15024,
		"tax_filer_stat": "Joint both under 65", "det_hh_summ": "Householder", "weeks_worked": 52, "num_emp": 6}})
	if err != nil {
		t.Fatal(err)
	}
	// What dcrnn predict wrote for this row (../README.md).
	if got := preds[0].Prob("income"); got != 0.6569662 {
		t.Errorf("income %v, want 0.6569662", got)
	}
	dst := make([]dcrnn.Prediction, 1)
	err = sc.ScoreInto(dst, []map[string]any{{"age": "old"}})
	var fe *dcrnn.FieldError
	if !errors.As(err, &fe) || fe.Field != "age" {
		t.Errorf("bad age: %v", err)
	}
}
