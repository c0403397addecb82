package serve_test

import (
	"fmt"
	"io"
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
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, strings.Replace(string(body), srv.Model().Checksum, "…", 1))
	// Output:
	// 200 {"model":{"name":"shared_bottom","checksum":"…"},"predictions":[{"income":0.65696627,"marital":0.100582354}]}
}
