package serve

import (
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dcrnn/dcrnn/internal/calibrate"
	"github.com/dcrnn/dcrnn/internal/data"
	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/nn"
)

// rawScores is offline with the model's own probabilities
// (PredictUncalibrated).
func rawScores(t *testing.T, tr *model.Trained, rows []map[string]any) [][]float32 {
	t.Helper()
	b := tr.Pipeline.NewBatch(len(rows))
	for i, m := range rows {
		if _, err := tr.Pipeline.TransformMap(m, b); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
	}
	probs := [][]float32{make([]float32, len(rows)), make([]float32, len(rows))}
	tr.PredictUncalibrated(nn.NewTape(false, 0), b, probs, nil)
	return probs
}

// TestServeAppliesCalibration: a model file with a calibration document
// (Platt on click, isotonic on conversion) trained on a log whose click
// negatives were kept at rate 0.5 is served with both applied: the answers
// equal Predict offline on the loaded file, bit for bit, and those equal
// the model's own probabilities mapped by the formulas written out here:
// click σ(1.5·logit(p) - 0.3) then q / (q + (1-q)/0.5), conversion the
// knots (0, 0.05) (0.5, 0.2) (1, 0.6) interpolated, ctcvr their product.
func TestServeAppliesCalibration(t *testing.T) {
	f := newFixture(t)
	src := `{name: click, label: clicked, positive: ["1"]}`
	if !strings.Contains(testSchema, src) {
		t.Fatal("testSchema changed: update this test")
	}
	s, err := feature.ParseSchema([]byte(strings.Replace(testSchema, src, `{name: click, label: clicked, positive: ["1"], negative_sampling: 0.5}`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := data.FitPipeline(context.Background(), s, filepath.Join(f.dir, "train.csv"), data.FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := model.Build("dcrnn", model.Config{}, p, 4)
	if err != nil {
		t.Fatal(err)
	}
	tr.Calibration = &model.Calibration{Method: "platt", Tasks: map[string]*calibrate.Map{
		"click":      {Platt: &calibrate.Platt{A: 1.5, B: -0.3}},
		"conversion": {Isotonic: &calibrate.Isotonic{X: []float64{0, 0.5, 1}, Y: []float64{0.05, 0.2, 0.6}}},
	}}
	path := filepath.Join(f.dir, "calibrated.dcrnn")
	if _, err := model.Save(path, tr); err != nil {
		t.Fatal(err)
	}
	loaded, err := model.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	rows := testRows()
	want := offline(t, loaded, rows)
	raw := rawScores(t, loaded, rows)
	for i := range rows {
		c, v := float64(raw[0][i]), float64(raw[1][i])
		q := 1 / (1 + math.Exp(-(1.5*math.Log(c/(1-c)) - 0.3)))
		wantC := q / (q + (1-q)/0.5)
		wantV := 0.05 + 0.3*v
		if v > 0.5 {
			wantV = 0.2 + 0.8*(v-0.5)
		}
		if math.Abs(float64(want[i][0])-wantC) > 1e-6 || math.Abs(float64(want[i][1])-wantV) > 1e-6 {
			t.Fatalf("row %d: Predict %v %v, formulas %v %v (model %v %v)", i, want[i][0], want[i][1], wantC, wantV, c, v)
		}
		if want[i][2] != want[i][0]*want[i][1] {
			t.Fatalf("row %d: ctcvr %v is not %v × %v", i, want[i][2], want[i][0], want[i][1])
		}
	}
	ts := startServer(t, path, Options{ChunkRows: 4})
	code, body := post(t, ts.url+"/v1/predict", mustJSON(t, map[string]any{"rows": rows}))
	if code != 200 {
		t.Fatalf("status %d: %s", code, body)
	}
	var got predictResponse
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	checkPredictions(t, got, loaded, want)
}
