package dcrnn_test

import (
	"errors"
	"fmt"
	"log"

	"github.com/dcrnn/dcrnn"
)

// The model in testdata is a small Shared-Bottom trained on Census-Income
// (examples/census.yaml): two tasks, income > 50k and never married.
func ExampleLoad() {
	m, err := dcrnn.Load("testdata/census-small.dcrnn")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Name(), m.Tasks(), m.Funnel())
	for _, f := range m.Fields()[:3] {
		fmt.Println(f.Name, f.Kind)
	}
	// Output:
	// shared_bottom [income marital] false
	// age numeric
	// class_worker categorical
	// det_ind_code categorical
}

func ExampleScorer_Score() {
	m, err := dcrnn.Load("testdata/census-small.dcrnn")
	if err != nil {
		log.Fatal(err)
	}
	sc := m.NewScorer() // one per goroutine; keep it, it reuses its buffers
	preds, err := sc.Score([]map[string]any{
		{"age": 54, "class_worker": "Private", "education": "Masters degree(MA MS MEng MEd MSW MBA)",
			"major_occ_code": "Executive admin and managerial", "sex": "Male", "capital_gains": 15024,
			"tax_filer_stat": "Joint both under 65", "det_hh_summ": "Householder", "weeks_worked": 52, "num_emp": 6},
		{"age": 19, "class_worker": "Private", "education": "Some college but no degree",
			"hs_college": "College or university", "major_occ_code": "Adm support including clerical", "sex": "Female",
			"tax_filer_stat": "Single", "det_hh_summ": "Child 18 or older", "weeks_worked": "52", "num_emp": 6},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range preds {
		fmt.Printf("income %.4f  never married %.4f\n", p.Prob("income"), p.Prob("marital"))
	}
	// Output:
	// income 0.6570  never married 0.1006
	// income 0.5840  never married 0.6549
}

func ExampleScorer_ScoreInto() {
	m, err := dcrnn.Load("testdata/census-small.dcrnn")
	if err != nil {
		log.Fatal(err)
	}
	sc := m.NewScorer()
	rows := []map[string]any{{"age": 54, "sex": "Male"}, {"age": 19, "sex": "Female"}}
	dst := make([]dcrnn.Prediction, len(rows)) // reused: no allocation per call
	for range 3 {
		if err := sc.ScoreInto(dst, rows); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println(len(dst), len(dst[0].Probs))
	// Output:
	// 2 2
}

func ExampleFieldError() {
	m, err := dcrnn.Load("testdata/census-small.dcrnn")
	if err != nil {
		log.Fatal(err)
	}
	_, err = m.NewScorer().Score([]map[string]any{{"age": 40}, {"age": "forty"}})
	var fe *dcrnn.FieldError
	if errors.As(err, &fe) {
		fmt.Println(fe.Row, fe.Field)
		fmt.Println(err)
	}
	// Output:
	// 1 age
	// dcrnn: row 1: field "age": expected a finite number, a decimal numeric string or null, got "forty"
}
