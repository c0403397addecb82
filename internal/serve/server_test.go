package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dcrnn/dcrnn/internal/data"
	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/nn"
	"github.com/dcrnn/dcrnn/internal/nn/nntest"
)

// testSchema is a small funnel schema covering every field kind.
const testSchema = `
format: {type: csv, separator: ",", header: true}
fields:
  - {name: user_id, type: categorical, min_count: 1}
  - {name: item_id, type: categorical, min_count: 1}
  - {name: tags, type: multi_categorical, separator: "|", min_count: 1}
  - {name: price, type: numeric, transform: log1p, normalize: standard}
  - {name: age, type: numeric, buckets: [18, 30, 50]}
  - {name: note, type: ignore}
tasks:
  - {name: click, label: clicked, positive: ["1"]}
  - {name: conversion, label: bought, positive: ["1"], after: click}
`

// fixture is a fitted pipeline and two untrained models saved to files.
type fixture struct {
	dir          string
	pipeline     *feature.Pipeline
	pathA, pathB string
	trA, trB     *model.Trained
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	dir := t.TempDir()
	var csv strings.Builder
	csv.WriteString("user_id,item_id,tags,price,age,note,clicked,bought\n")
	rng := rand.New(rand.NewPCG(7, 7))
	tags := []string{"a", "b", "c", "d"}
	for i := 0; i < 300; i++ {
		click := rng.IntN(3) == 0
		buy := click && rng.IntN(2) == 0
		fmt.Fprintf(&csv, "u%d,i%d,%s|%s,%.2f,%d,x,%d,%d\n", rng.IntN(20), rng.IntN(30), tags[rng.IntN(4)], tags[rng.IntN(4)],
			rng.Float64()*100, 15+rng.IntN(60), b2i(click), b2i(buy))
	}
	dataPath := filepath.Join(dir, "train.csv")
	if err := os.WriteFile(dataPath, []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := feature.ParseSchema([]byte(testSchema))
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := data.FitPipeline(context.Background(), s, dataPath, data.FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{dir: dir, pipeline: p, pathA: filepath.Join(dir, "a.dcrnn"), pathB: filepath.Join(dir, "b.dcrnn")}
	for _, m := range []struct {
		path string
		tr   **model.Trained
		seed uint64
	}{{f.pathA, &f.trA, 1}, {f.pathB, &f.trB, 2}} {
		tr, err := model.Build("dcrnn", model.Config{}, p, m.seed)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := model.Save(m.path, tr); err != nil {
			t.Fatal(err)
		}
		*m.tr = tr
	}
	if f.trA.Checksum == f.trB.Checksum {
		t.Fatal("the two test models have the same checksum")
	}
	return f
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// offline scores rows with the pipeline and Predict directly: the reference
// the server must match. It returns per row the task probabilities and ctcvr.
func offline(t testing.TB, tr *model.Trained, rows []map[string]any) [][]float32 {
	t.Helper()
	b := tr.Pipeline.NewBatch(len(rows))
	for i, m := range rows {
		if _, err := tr.Pipeline.TransformMap(m, b); err != nil {
			t.Fatalf("offline row %d: %v", i, err)
		}
	}
	T := len(tr.Spec.Tasks)
	probs := make([][]float32, T)
	for i := range probs {
		probs[i] = make([]float32, len(rows))
	}
	ctcvr := make([]float32, len(rows))
	// The server's arithmetic: its scorers run the input layers folded
	// (nn.Folds; held within 1e-5 of the plain product by the score tests).
	tp := nn.NewTape(false, 0)
	tp.Folds = nn.NewFolds()
	tr.Predict(tp, b, probs, ctcvr)
	out := make([][]float32, len(rows))
	for i := range rows {
		for k := 0; k < T; k++ {
			out[i] = append(out[i], probs[k][i])
		}
		out[i] = append(out[i], ctcvr[i])
	}
	return out
}

// testRows are varied rows: known and unseen ids, lists, numbers as strings,
// missing fields and nulls.
func testRows() []map[string]any {
	return []map[string]any{
		{"user_id": "u1", "item_id": "i2", "tags": "a|b", "price": 12.5, "age": 33},
		{"user_id": "u3", "item_id": "i9", "tags": []any{"c", "d"}, "price": "80.25", "age": "17"},
		{"user_id": "never-seen", "item_id": "i1", "tags": []any{}, "price": nil},
		{"user_id": 5, "item_id": "i4", "price": 0, "age": 70.5, "note": "ignored"},
		{},
		{"user_id": "u19", "item_id": "i29", "tags": "b", "price": 99.9, "age": 49},
	}
}

type testServer struct {
	srv  *Server
	url  string
	stop context.CancelFunc
	done chan error
}

func startServer(t testing.TB, path string, opt Options) *testServer {
	t.Helper()
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := New(path, opt)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{srv: srv, url: "http://" + ln.Addr().String(), stop: cancel, done: make(chan error, 1)}
	go func() { ts.done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-ts.done:
		case <-time.After(10 * time.Second):
			t.Error("server did not stop")
		}
	})
	return ts
}

type predictResponse struct {
	Model struct {
		Name     string `json:"name"`
		Checksum string `json:"checksum"`
	} `json:"model"`
	Predictions []map[string]float64 `json:"predictions"`
}

type errorResponse struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
		Row     *int   `json:"row"`
	} `json:"error"`
}

func post(t testing.TB, url string, body []byte) (int, []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func mustJSON(t testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkPredictions compares a response with the offline reference (a
// reversed request moves rows within the batch: nntest.SameScore).
func checkPredictions(t testing.TB, got predictResponse, tr *model.Trained, want [][]float32) {
	t.Helper()
	if got.Model.Name != "dcrnn" || got.Model.Checksum != tr.Checksum {
		t.Fatalf("model = %+v, want dcrnn %s", got.Model, tr.Checksum)
	}
	if len(got.Predictions) != len(want) {
		t.Fatalf("%d predictions, want %d", len(got.Predictions), len(want))
	}
	names := []string{"click", "conversion", "ctcvr"}
	for i, p := range got.Predictions {
		if len(p) != len(names) {
			t.Errorf("row %d: keys %v, want %v", i, p, names)
		}
		for k, name := range names {
			v, ok := p[name]
			if !ok {
				t.Errorf("row %d: no %q", i, name)
				continue
			}
			if !nntest.SameScore(float32(v), want[i][k]) {
				t.Errorf("row %d %s = %v, offline %v", i, name, float32(v), want[i][k])
			}
		}
	}
}

func TestPredictMatchesOffline(t *testing.T) {
	f := newFixture(t)
	ts := startServer(t, f.pathA, Options{})
	rows := testRows()
	want := offline(t, f.trA, rows)
	// the rows must score differently, or "order preserved" means nothing
	if want[0][0] == want[1][0] || want[1][0] == want[5][0] {
		t.Fatalf("test rows score alike: %v", want)
	}
	for i := range want { // funnel: ctcvr is click × conversion
		if want[i][2] != want[i][0]*want[i][1] {
			t.Fatalf("offline ctcvr %v != %v·%v", want[i][2], want[i][0], want[i][1])
		}
	}

	t.Run("rows", func(t *testing.T) {
		code, body := post(t, ts.url+"/v1/predict", mustJSON(t, map[string]any{"rows": rows}))
		if code != 200 {
			t.Fatalf("status %d: %s", code, body)
		}
		var got predictResponse
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		checkPredictions(t, got, f.trA, want)
	})
	t.Run("reversed", func(t *testing.T) {
		rev := make([]map[string]any, len(rows))
		wantRev := make([][]float32, len(rows))
		for i := range rows {
			rev[i], wantRev[i] = rows[len(rows)-1-i], want[len(rows)-1-i]
		}
		_, body := post(t, ts.url+"/v1/predict", mustJSON(t, map[string]any{"rows": rev}))
		var got predictResponse
		json.Unmarshal(body, &got)
		checkPredictions(t, got, f.trA, wantRev)
	})
	t.Run("context+items", func(t *testing.T) {
		ctx := map[string]any{"user_id": "u7", "age": 41, "price": 3}
		items := []map[string]any{
			{"item_id": "i3", "tags": "a"},
			{"item_id": "i8", "tags": []any{"b", "c"}, "price": 50}, // the item's own price wins
			{"item_id": "nope"},
		}
		merged := make([]map[string]any, len(items))
		for i, it := range items {
			m := map[string]any{}
			for k, v := range ctx {
				m[k] = v
			}
			for k, v := range it {
				m[k] = v
			}
			merged[i] = m
		}
		wantItems := offline(t, f.trA, merged)
		code, body := post(t, ts.url+"/v1/predict", mustJSON(t, map[string]any{"context": ctx, "items": items}))
		if code != 200 {
			t.Fatalf("status %d: %s", code, body)
		}
		var got predictResponse
		json.Unmarshal(body, &got)
		checkPredictions(t, got, f.trA, wantItems)
	})
	t.Run("chunked", func(t *testing.T) { // more rows than one Predict call takes
		ts2 := startServer(t, f.pathA, Options{ChunkRows: 4, Registry: nil})
		many := append(append(testRows(), testRows()...), testRows()...)
		wantMany := offline(t, f.trA, many)
		_, body := post(t, ts2.url+"/v1/predict", mustJSON(t, map[string]any{"rows": many}))
		var got predictResponse
		json.Unmarshal(body, &got)
		// chunks of 4 rows may round differently from one batch of 18 only if
		// the kernels depended on the batch size; they must not here.
		checkPredictions(t, got, f.trA, wantMany)
	})
}

func TestBadRequests(t *testing.T) {
	f := newFixture(t)
	lenient := startServer(t, f.pathA, Options{MaxRows: 5, MaxBodyBytes: 2000})
	strict := startServer(t, f.pathA, Options{MaxRows: 5, MaxBodyBytes: 2000, Strict: true})
	big := `{"rows":[{"user_id":"` + strings.Repeat("x", 3000) + `"}]}`
	tests := []struct {
		name   string
		strict bool
		body   string
		status int
		code   string
		field  string
		msg    string // substring of the message
	}{
		{"malformed", false, `{"rows": [`, 400, CodeMalformedJSON, "", "malformed JSON at line 1"},
		{"malformed value", false, `{"rows": [{"age": tru}]}`, 400, CodeMalformedJSON, "", "expected true"},
		{"trailing data", false, `{"rows": [{}]} {}`, 400, CodeMalformedJSON, "", "after the top-level object"},
		{"empty body", false, ``, 400, CodeMalformedJSON, "", "empty body"},
		{"not an object", false, `[{"age": 3}]`, 400, CodeBadRequest, "", "must be a JSON object"},
		{"rows not a list", false, `{"rows": {"age": 3}}`, 400, CodeBadRequest, "rows", "must be a list"},
		{"row not an object", false, `{"rows": [{}, 7]}`, 400, CodeBadRequest, "rows[1]", "rows[1] must be an object"},
		{"numeric wrong string", false, `{"rows": [{"price": "cheap"}]}`, 400, CodeWrongType, "rows[0].price", `expected a finite number`},
		{"numeric bool", false, `{"rows": [{}, {"age": true}]}`, 400, CodeWrongType, "rows[1].age", "a boolean"},
		{"categorical bool", false, `{"rows": [{"user_id": false}]}`, 400, CodeWrongType, "rows[0].user_id", "expected a string or a number"},
		{"categorical list", false, `{"rows": [{"user_id": ["u1"]}]}`, 400, CodeWrongType, "rows[0].user_id", "expected a string or a number"},
		{"object value", false, `{"rows": [{"item_id": {"id": 1}}]}`, 400, CodeWrongType, "rows[0].item_id", "got an object"},
		{"nested list", false, `{"rows": [{"tags": [["a"]]}]}`, 400, CodeWrongType, "rows[0].tags", "nested list"},
		{"number out of range", false, `{"rows": [{"price": 1e999}]}`, 400, CodeWrongType, "rows[0].price", "out of range"},
		{"context wrong type", false, `{"context": {"price": "x"}, "items": [{}]}`, 400, CodeWrongType, "context.price", "expected a finite number"},
		{"item wrong type", false, `{"context": {}, "items": [{}, {"age": "old"}]}`, 400, CodeWrongType, "items[1].age", "expected a finite number"},
		{"context not an object", false, `{"context": [1], "items": [{}]}`, 400, CodeBadRequest, "context", "must be an object"},
		{"unknown field lenient", false, `{"rows": [{"bogus": 1}]}`, 200, "", "", ""},
		{"unknown field strict", true, `{"rows": [{"age": 3}, {"bogus": 1}]}`, 400, CodeUnknownField, "rows[1].bogus", `unknown field "bogus"`},
		{"unknown context field strict", true, `{"context": {"bogus": 1}, "items": [{}]}`, 400, CodeUnknownField, "context.bogus", `unknown field "bogus"`},
		{"label is known in strict", true, `{"rows": [{"clicked": "1", "note": "n"}]}`, 200, "", "", ""},
		{"empty rows", false, `{"rows": []}`, 400, CodeEmpty, "rows", "empty"},
		{"empty items", false, `{"context": {"age": 3}, "items": []}`, 400, CodeEmpty, "items", "empty"},
		{"no rows", false, `{}`, 400, CodeBadRequest, "", "neither"},
		{"context without items", false, `{"context": {"age": 3}}`, 400, CodeBadRequest, "items", "needs \"items\""},
		{"rows and items", false, `{"rows": [{}], "items": [{}]}`, 400, CodeBadRequest, "rows", "not both"},
		{"unknown top-level key", false, `{"rows": [{}], "row": 1}`, 400, CodeBadRequest, "row", "unknown top-level key"},
		{"too many rows", false, `{"rows": [{},{},{},{},{},{}]}`, 413, CodeTooManyRows, "rows", "at most 5 rows"},
		{"max rows ok", false, `{"rows": [{},{},{},{},{}]}`, 200, "", "", ""},
		{"oversized body", false, big, 413, CodeBodyTooLarge, "", "larger than 2000 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := lenient
			if tc.strict {
				ts = strict
			}
			code, body := post(t, ts.url+"/v1/predict", []byte(tc.body))
			if code != tc.status {
				t.Fatalf("status %d, want %d: %s", code, tc.status, body)
			}
			if tc.status == 200 {
				return
			}
			var e errorResponse
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("error body is not JSON: %v: %s", err, body)
			}
			if e.Error.Code != tc.code || e.Error.Field != tc.field || !strings.Contains(e.Error.Message, tc.msg) {
				t.Errorf("error = %+v, want code %q field %q message containing %q", e.Error, tc.code, tc.field, tc.msg)
			}
		})
	}
	t.Run("oversized chunked body", func(t *testing.T) {
		// no Content-Length: the limit must hold while reading
		req, _ := http.NewRequest("POST", lenient.url+"/v1/predict", io.MultiReader(strings.NewReader(big)))
		req.ContentLength = -1
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e errorResponse
		json.NewDecoder(resp.Body).Decode(&e)
		if resp.StatusCode != 413 || e.Error.Code != CodeBodyTooLarge {
			t.Fatalf("status %d %+v, want 413 %s", resp.StatusCode, e.Error, CodeBodyTooLarge)
		}
	})
	t.Run("GET predict", func(t *testing.T) {
		resp, err := http.Get(lenient.url + "/v1/predict")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
			t.Fatalf("status %d Allow %q, want 405 POST", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})
	t.Run("row index in error", func(t *testing.T) {
		_, body := post(t, lenient.url+"/v1/predict", []byte(`{"rows": [{}, {}, {"price": "abc"}]}`))
		var e errorResponse
		json.Unmarshal(body, &e)
		if e.Error.Row == nil || *e.Error.Row != 2 {
			t.Fatalf("row = %v, want 2: %s", e.Error.Row, body)
		}
	})
}

func TestHealthReadyModel(t *testing.T) {
	f := newFixture(t)
	ts := startServer(t, f.pathA, Options{})
	for _, path := range []string{"/healthz", "/readyz", "/v1/model"} {
		resp, err := http.Get(ts.url + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: status %d", path, resp.StatusCode)
		}
		if path != "/healthz" && !bytes.Contains(b, []byte(f.trA.Checksum)) {
			t.Errorf("%s does not name the model checksum: %s", path, b)
		}
	}
	resp, err := http.Get(ts.url + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("unknown path: status %d, want 404", resp.StatusCode)
	}
}

// TestReloadUnderLoad swaps models while clients hammer the server: every
// request must get a 200 from the old or the new model, with the values of
// the model it names.
func TestReloadUnderLoad(t *testing.T) {
	f := newFixture(t)
	ts := startServer(t, f.pathA, Options{AdminToken: testToken, AllowReloadPath: true})
	rows := testRows()
	body := mustJSON(t, map[string]any{"rows": rows})
	want := map[string][][]float32{f.trA.Checksum: offline(t, f.trA, rows), f.trB.Checksum: offline(t, f.trB, rows)}
	trs := map[string]*model.Trained{f.trA.Checksum: f.trA, f.trB.Checksum: f.trB}

	var stop atomic.Bool
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]int{}
	var failures []string
	client := &http.Client{Timeout: 10 * time.Second}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				resp, err := client.Post(ts.url+"/v1/predict", "application/json", bytes.NewReader(body))
				var b []byte
				if err == nil {
					b, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				mu.Lock()
				switch {
				case err != nil:
					failures = append(failures, err.Error())
				case resp.StatusCode != 200:
					failures = append(failures, fmt.Sprintf("status %d: %s", resp.StatusCode, b))
				default:
					var got predictResponse
					if err := json.Unmarshal(b, &got); err != nil {
						failures = append(failures, err.Error())
						break
					}
					sum := got.Model.Checksum
					if trs[sum] == nil {
						failures = append(failures, "unknown checksum "+sum)
						break
					}
					seen[sum]++
					ok := len(got.Predictions) == len(rows)
					for i := 0; ok && i < len(rows); i++ {
						ok = float32(got.Predictions[i]["click"]) == want[sum][i][0] && float32(got.Predictions[i]["ctcvr"]) == want[sum][i][2]
					}
					if !ok {
						failures = append(failures, "predictions do not match the model named "+sum)
					}
				}
				mu.Unlock()
			}
		}()
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return seen[f.trA.Checksum] + seen[f.trB.Checksum]
	}
	waitFor := func(n int) {
		deadline := time.Now().Add(20 * time.Second)
		for count() < n && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	reload := func(body string) map[string]any {
		code, b := adminPost(t, ts.url+"/v1/admin/reload", testToken, body)
		var r map[string]any
		json.Unmarshal(b, &r)
		if code != 200 {
			t.Fatalf("reload %s: status %d: %s", body, code, b)
		}
		return r
	}
	waitFor(20)
	r := reload(string(mustJSON(t, map[string]string{"path": f.pathB})))
	if r["model"].(map[string]any)["checksum"] != f.trB.Checksum || r["previous"].(map[string]any)["checksum"] != f.trA.Checksum {
		t.Errorf("reload response %v", r)
	}
	waitFor(count() + 20)
	// SIGHUP (Reload("")) re-reads the file the server was started with,
	// not the path the last HTTP reload named.
	if info, err := ts.srv.Reload(""); err != nil || info.Checksum != f.trA.Checksum {
		t.Errorf("Reload(\"\") = %+v, %v", info, err)
	}
	waitFor(count() + 20)
	stop.Store(true)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d failed requests, first: %s", len(failures), failures[0])
	}
	if seen[f.trA.Checksum] == 0 || seen[f.trB.Checksum] == 0 {
		t.Fatalf("responses per model %v: want both", seen)
	}
	metrics := get(t, ts.url+"/metrics")
	if !strings.Contains(metrics, `dcrnn_serve_reloads_total{result="success"} 2`) {
		t.Errorf("metrics lack 2 successful reloads:\n%s", grep(metrics, "reloads"))
	}
	if !strings.Contains(metrics, `dcrnn_serve_model_info{checksum="`+f.trA.Checksum+`",name="dcrnn"} 1`) ||
		strings.Contains(metrics, f.trB.Checksum) {
		t.Errorf("model_info does not show only the current model:\n%s", grep(metrics, "model_info"))
	}
}

func get(t testing.TB, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestFailedReloadKeepsModel(t *testing.T) {
	f := newFixture(t)
	ts := startServer(t, f.pathA, Options{AdminToken: testToken, AllowReloadPath: true})
	a, _ := os.ReadFile(f.pathA)
	corrupt := filepath.Join(f.dir, "corrupt.dcrnn")
	os.WriteFile(corrupt, a[:len(a)/2], 0o644)
	flipped := append([]byte(nil), a...)
	flipped[len(flipped)-10] ^= 0xff
	bad := filepath.Join(f.dir, "flipped.dcrnn")
	os.WriteFile(bad, flipped, 0o644)
	rows := testRows()
	want := offline(t, f.trA, rows)
	// The caller's mistakes are 4xx: a missing file 404, a file that is not
	// a valid model 422.
	wantStatus := []int{404, 422, 422}
	for i, path := range []string{filepath.Join(f.dir, "missing.dcrnn"), corrupt, bad} {
		code, b := adminPost(t, ts.url+"/v1/admin/reload", testToken, string(mustJSON(t, map[string]string{"path": path})))
		var r struct {
			Error errorDetail `json:"error"`
			Model ModelInfo   `json:"model"`
		}
		json.Unmarshal(b, &r)
		if code != wantStatus[i] || r.Error.Code != CodeReloadFailed || !strings.Contains(r.Error.Message, filepath.Base(path)) ||
			r.Model.Checksum != f.trA.Checksum {
			t.Errorf("reload %s: status %d %s", path, code, b)
		}
		code, b = post(t, ts.url+"/v1/predict", mustJSON(t, map[string]any{"rows": rows}))
		var got predictResponse
		json.Unmarshal(b, &got)
		if code != 200 {
			t.Fatalf("predict after failed reload: %d %s", code, b)
		}
		checkPredictions(t, got, f.trA, want)
		m := get(t, ts.url+"/metrics")
		if !strings.Contains(m, fmt.Sprintf(`dcrnn_serve_reloads_total{result="failure"} %d`, i+1)) {
			t.Errorf("failure count:\n%s", grep(m, "reloads"))
		}
	}
	for _, body := range []string{`{"path": 3}`, `{"file": "x"}`, `[`} {
		code, b := adminPost(t, ts.url+"/v1/admin/reload", testToken, body)
		if code != 400 {
			t.Errorf("reload body %s: status %d %s", body, code, b)
		}
	}
}

// slowBody writes the first part of a body, then waits for a signal.
type slowBody struct {
	first, rest []byte
	release     chan struct{}
	started     chan struct{}
	stage       int
}

func (s *slowBody) Read(p []byte) (int, error) {
	switch s.stage {
	case 0:
		s.stage = 1
		close(s.started)
		return copy(p, s.first), nil
	case 1:
		<-s.release
		s.stage = 2
		return copy(p, s.rest), nil
	}
	return 0, io.EOF
}

// TestGracefulShutdownDrains cancels the server's context while a request
// is half sent: the request must still get its 200, and Serve must return
// only after it.
func TestGracefulShutdownDrains(t *testing.T) {
	f := newFixture(t)
	ts := startServer(t, f.pathA, Options{})
	rows := testRows()
	body := mustJSON(t, map[string]any{"rows": rows})
	sb := &slowBody{first: body[:10], rest: body[10:], release: make(chan struct{}), started: make(chan struct{})}
	req, _ := http.NewRequest("POST", ts.url+"/v1/predict", sb)
	req.ContentLength = int64(len(body))
	type result struct {
		code int
		body []byte
		err  error
	}
	resc := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			resc <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		resc <- result{resp.StatusCode, b, err}
	}()
	<-sb.started
	time.Sleep(100 * time.Millisecond) // the server has the headers: the connection is active
	ts.stop()
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-ts.done:
		t.Fatalf("Serve returned (%v) with a request in flight", err)
	default:
	}
	if _, err := http.Get(ts.url + "/healthz"); err == nil {
		t.Errorf("new connections are still accepted while draining")
	}
	close(sb.release)
	r := <-resc
	if r.err != nil || r.code != 200 {
		t.Fatalf("in-flight request: %v status %d %s", r.err, r.code, r.body)
	}
	var got predictResponse
	json.Unmarshal(r.body, &got)
	checkPredictions(t, got, f.trA, offline(t, f.trA, rows))
	select {
	case err := <-ts.done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
		ts.done <- err // for the cleanup
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after draining")
	}
}

func TestMetricsExposed(t *testing.T) {
	f := newFixture(t)
	ts := startServer(t, f.pathA, Options{})
	body := mustJSON(t, map[string]any{"rows": testRows()})
	for i := 0; i < 3; i++ {
		post(t, ts.url+"/v1/predict", body)
	}
	post(t, ts.url+"/v1/predict", []byte(`{`))
	m := get(t, ts.url+"/metrics")
	for _, want := range []string{
		`dcrnn_serve_requests_total{code="200",handler="predict"} 3`,
		`dcrnn_serve_requests_total{code="400",handler="predict"} 1`,
		`dcrnn_serve_rows_scored_total 18`,
		`dcrnn_serve_request_duration_seconds_count{handler="predict"} 4`,
		`dcrnn_serve_model_info{checksum="` + f.trA.Checksum + `",name="dcrnn"} 1`,
		`dcrnn_serve_reloads_total{result="failure"} 0`,
		`dcrnn_serve_model_loaded_timestamp_seconds`,
		`dcrnn_serve_in_flight_requests 0`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestPanicBecomes500(t *testing.T) {
	f := newFixture(t)
	var logs bytes.Buffer
	srv, err := New(f.pathA, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	h := srv.wrap("boom", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("kaboom") }))
	rec := newRecorder()
	h.ServeHTTP(rec, mustRequest(t))
	var e errorResponse
	json.Unmarshal(rec.body.Bytes(), &e)
	if rec.code != 500 || e.Error.Code != CodeInternal {
		t.Fatalf("status %d %s", rec.code, rec.body.String())
	}
	if !strings.Contains(logs.String(), "kaboom") || !strings.Contains(logs.String(), "panic in handler") {
		t.Errorf("panic not logged: %s", logs.String())
	}
}

type recorder struct {
	h    http.Header
	code int
	body bytes.Buffer
}

func newRecorder() *recorder                    { return &recorder{h: http.Header{}} }
func (r *recorder) Header() http.Header         { return r.h }
func (r *recorder) WriteHeader(c int)           { r.code = c }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }

func mustRequest(t testing.TB) *http.Request {
	r, err := http.NewRequest("POST", "/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRequestLogsSampled(t *testing.T) {
	f := newFixture(t)
	var logs syncBuffer
	ts := startServer(t, f.pathA, Options{LogSample: 2, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	body := mustJSON(t, map[string]any{"rows": testRows()})
	for i := 0; i < 4; i++ {
		post(t, ts.url+"/v1/predict", body)
	}
	n := strings.Count(logs.String(), `"msg":"request"`)
	if n != 2 {
		t.Fatalf("%d request log lines for 4 requests at 1 in 2:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), `"rows":6`) || !strings.Contains(logs.String(), `"status":200`) {
		t.Errorf("request log lacks rows/status: %s", logs.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
