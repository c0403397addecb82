package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dcrnn/dcrnn/internal/data"
	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/model"
)

const censusData = "../../../shared/data/census-income-kdd/census-income.test.gz"

// censusServer builds an untrained default DCRNN on the Census pipeline (the
// same compute as a trained one) and 100-row request bodies of real rows.
func censusServer(b *testing.B) (*Server, [][]byte) {
	if _, err := os.Stat(censusData); err != nil {
		b.Skip("Census data not found at " + censusData)
	}
	s, err := feature.LoadSchema("../../examples/census.yaml")
	if err != nil {
		b.Fatal(err)
	}
	p, _, err := data.FitPipeline(context.Background(), s, censusData, data.FitOptions{})
	if err != nil {
		b.Fatal(err)
	}
	tr, err := model.Build("dcrnn", model.Config{}, p, 1)
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "census.dcrnn")
	if _, err := model.Save(path, tr); err != nil {
		b.Fatal(err)
	}
	srv, err := New(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	r, err := data.Open(censusData, data.OptionsFor(s.Format))
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	cols := r.Columns()
	var bodies [][]byte
	for len(bodies) < 16 {
		rows := make([]map[string]string, 100)
		for i := range rows {
			rec, err := r.Next()
			if err != nil {
				b.Fatal(err)
			}
			rows[i] = map[string]string{}
			for j, c := range cols {
				rows[i][c] = strings.TrimSpace(string(rec[j]))
			}
		}
		body, _ := json.Marshal(map[string]any{"rows": rows})
		bodies = append(bodies, body)
	}
	return srv, bodies
}

// BenchmarkPredictCensus100 runs 100-row Census requests through the whole
// handler (decode, pipeline, DCRNN inference path, encode), without network.
func BenchmarkPredictCensus100(b *testing.B) {
	srv, bodies := censusServer(b)
	h := srv.Handler()
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b)()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest("POST", "/v1/predict", bytes.NewReader(bodies[i%len(bodies)]))
		rec := newRecorder()
		h.ServeHTTP(rec, req)
		if rec.code != 200 {
			b.Fatalf("status %d: %s", rec.code, rec.body.Bytes())
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkDecodeCensus100 is the request decoder alone.
func BenchmarkDecodeCensus100(b *testing.B) {
	_, bodies := censusServer(b)
	var r request
	b.ReportAllocs()
	b.SetBytes(int64(len(bodies[0])))
	for i := 0; i < b.N; i++ {
		if err := decodeRequest(bodies[i%len(bodies)], &r, 1000); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "rows/s")
}
