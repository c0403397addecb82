package serve_test

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/dcrnn/dcrnn/serve"
)

func Example() {
	srv, err := serve.New("../testdata/census-small.dcrnn", serve.Options{MaxRows: 100})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", srv.Handler()) // or srv.Serve(ctx, listener)
	ts := httptest.NewServer(mux)
	defer ts.Close()

	resp, err := http.Post(ts.URL+"/v1/predict", "application/json", strings.NewReader(
		`{"rows": [{"age": 54, "class_worker": "Private", "education": "Masters degree(MA MS MEng MEd MSW MBA)",
		  "major_occ_code": "Executive admin and managerial", "sex": "Male", "capital_gains": 15024,
		  "tax_filer_stat": "Joint both under 65", "det_hh_summ": "Householder", "weeks_worked": 52, "num_emp": 6}]}`))
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Model       struct{ Name string }
		Predictions []map[string]float64
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		log.Fatal(err)
	}
	p := out.Predictions[0]
	fmt.Printf("%d %s income %.4f marital %.4f\n", resp.StatusCode, out.Model.Name, p["income"], p["marital"])
	// Output:
	// 200 shared_bottom income 0.6570 marital 0.1006
}
