package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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

// BenchmarkPredictCensus100Decoder runs BenchmarkPredictCensus100's
// requests through the whole handler with each request decoder in turn,
// the hand-written one (decode.go) and encoding/json (decodeRequestStd),
// alternating request by request so that the load of a shared machine hits
// both alike, and reports the median wall time per request of each and
// their ratio.
func BenchmarkPredictCensus100Decoder(b *testing.B) {
	srv, bodies := censusServer(b)
	h := srv.Handler()
	decs := []func([]byte, *request, int) error{decodeRequest, decodeRequestStd}
	times := [2][]float64{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k := range decs {
			k = (k + i) % 2 // alternate which goes first
			srv.decode = decs[k]
			req, _ := http.NewRequest("POST", "/v1/predict", bytes.NewReader(bodies[i%len(bodies)]))
			rec := newRecorder()
			t0 := time.Now()
			h.ServeHTTP(rec, req)
			times[k] = append(times[k], float64(time.Since(t0).Nanoseconds()))
			if rec.code != 200 {
				b.Fatalf("status %d: %s", rec.code, rec.body.Bytes())
			}
		}
	}
	hw, std := median(times[0]), median(times[1])
	b.ReportMetric(hw, "handwritten-ns/req")
	b.ReportMetric(std, "encoding_json-ns/req")
	b.ReportMetric(std/hw, "json/handwritten")
}

func median(x []float64) float64 {
	x = slices.Clone(x)
	slices.Sort(x)
	return x[len(x)/2]
}

// BenchmarkDecodeCensus100Decoder is the request decoders alone, alternated
// as in BenchmarkPredictCensus100Decoder.
func BenchmarkDecodeCensus100Decoder(b *testing.B) {
	_, bodies := censusServer(b)
	decs := []func([]byte, *request, int) error{decodeRequest, decodeRequestStd}
	var reqs [2]request
	times := [2][]float64{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k := range decs {
			k = (k + i) % 2
			t0 := time.Now()
			if err := decs[k](bodies[i%len(bodies)], &reqs[k], 1000); err != nil {
				b.Fatal(err)
			}
			times[k] = append(times[k], float64(time.Since(t0).Nanoseconds()))
		}
	}
	hw, std := median(times[0]), median(times[1])
	b.ReportMetric(hw, "handwritten-ns/req")
	b.ReportMetric(std, "encoding_json-ns/req")
	b.ReportMetric(std/hw, "json/handwritten")
}
