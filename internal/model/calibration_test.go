package model_test

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/dcrnn/dcrnn/internal/calibrate"
	"github.com/dcrnn/dcrnn/internal/data"
	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/model/modeltest"
	"github.com/dcrnn/dcrnn/internal/modelfile"
	"github.com/dcrnn/dcrnn/internal/nn"
)

// scoreFile scores every row of path with tr.Predict (or
// tr.PredictUncalibrated), in batches of 7 rows: out[t][row], the last
// column ctcvr.
func scoreFile(t *testing.T, tr *model.Trained, path string, uncalibrated bool) [][]float32 {
	t.Helper()
	bt, err := data.NewBatcher(tr.Pipeline, path, data.BatchOptions{BatchSize: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer bt.Close()
	T := len(tr.Spec.Tasks)
	out := make([][]float32, T+1)
	probs := make([][]float32, T)
	for i := range probs {
		probs[i] = make([]float32, 7)
	}
	ctcvr := make([]float32, 7)
	tape := nn.NewTape(false, 0)
	for {
		b, err := bt.Next()
		if err != nil {
			break
		}
		if uncalibrated {
			tr.PredictUncalibrated(tape, b, probs, ctcvr)
		} else {
			tr.Predict(tape, b, probs, ctcvr)
		}
		for k := 0; k < T; k++ {
			out[k] = append(out[k], probs[k][:b.N]...)
		}
		out[T] = append(out[T], ctcvr[:b.N]...)
	}
	return out
}

// TestOldModelFilePredictsAsBefore: testdata/v0-funnel.dcrnn was written
// before calibration existed (commit 43730b1: dcrnn gen --rows 3000 --seed 5;
// dcrnn train --split 0.8,0.1,0.1 --seed 2 --set embedding_dim=4 --set
// proj=8 --set state_size=8 --set deep=[16] --set tower=[8] --set epochs=2),
// and v0-funnel-preds.csv holds what that version's dcrnn predict wrote for
// v0-funnel-rows.csv. The file still loads, has no calibration, predicts
// those values (to float32 printing; 1e-6 leaves room for a kernel that
// rounds differently), and Predict equals PredictUncalibrated bit for bit.
func TestOldModelFilePredictsAsBefore(t *testing.T) {
	tr, err := model.Load("testdata/v0-funnel.dcrnn")
	if err != nil {
		t.Fatal(err)
	}
	if tr.Calibration != nil || tr.NegativeSampling() != 1 {
		t.Fatalf("old file: calibration %+v, negative sampling %v", tr.Calibration, tr.NegativeSampling())
	}
	got := scoreFile(t, tr, "testdata/v0-funnel-rows.csv", false)
	raw := scoreFile(t, tr, "testdata/v0-funnel-rows.csv", true)
	f, err := os.Open("testdata/v0-funnel-preds.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	row := 0
	for sc.Scan() {
		cells := strings.Split(sc.Text(), ",")
		for k, c := range cells {
			want, err := strconv.ParseFloat(c, 32)
			if err != nil {
				t.Fatal(err)
			}
			if d := math.Abs(float64(got[k][row]) - want); d > 1e-6 {
				t.Errorf("row %d column %d: %v, the old version wrote %v", row, k, got[k][row], want)
			}
			if math.Float32bits(got[k][row]) != math.Float32bits(raw[k][row]) {
				t.Errorf("row %d column %d: Predict %v, PredictUncalibrated %v", row, k, got[k][row], raw[k][row])
			}
		}
		row++
	}
	if row != 40 || len(got[0]) != 40 {
		t.Fatalf("%d reference rows, %d scored", row, len(got[0]))
	}
}

// fitTiny fits a pipeline of the tiny funnel schema with the first task's
// negative_sampling set to rate (0: not set).
func fitTiny(t *testing.T, rate float64) *feature.Pipeline {
	t.Helper()
	ns := ""
	if rate > 0 {
		ns = fmt.Sprintf(", negative_sampling: %v", rate)
	}
	schema := `format: {type: csv, header: true}
fields:
  - {name: user, type: categorical, min_count: 1}
  - {name: price, type: numeric}
tasks:
  - {name: click, label: click` + ns + `}
  - {name: conversion, label: conversion, after: click}
`
	rng := rand.New(rand.NewPCG(3, 3))
	return modeltest.Fit(t, schema, []string{"click", "conversion", "user", "price"}, 50, func(int) []string {
		click := rng.IntN(2)
		return []string{strconv.Itoa(click), strconv.Itoa(click * rng.IntN(2)), fmt.Sprintf("u%d", rng.IntN(6)), fmt.Sprintf("%.2f", rng.Float64()*10)}
	})
}

// writeRows writes n random rows of the tiny schema.
func writeRows(t *testing.T, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("click,conversion,user,price\n")
	rng := rand.New(rand.NewPCG(9, 9))
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "0,0,u%d,%.2f\n", rng.IntN(8), rng.Float64()*12)
	}
	path := filepath.Join(t.TempDir(), "rows.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// perturb moves every weight off its initial value so the probabilities vary.
func perturb(tr *model.Trained) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, q := range tr.Model.Params() {
		for i := range q.W {
			q.W[i] += float32(rng.NormFloat64() * 0.3)
		}
	}
	for _, q := range tr.Model.SparseParams() {
		for i := range q.W {
			q.W[i] += float32(rng.NormFloat64() * 0.3)
		}
	}
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

// TestCalibrationAppliedAndStored: a Platt map on click and an isotonic one
// on conversion are applied by Predict to the model's probabilities
// (expected values computed here from the maps' formulas: σ(2·logit(p)+0.5)
// and 0.1 + 0.2·p), ctcvr is the product of the calibrated steps, and the
// model file keeps the maps: the loaded model predicts the same bits.
func TestCalibrationAppliedAndStored(t *testing.T) {
	p := modeltest.TinyPipeline(t)
	tr, err := model.Build("dcrnn", model.Config{EmbeddingDim: 4, Proj: 8, StateSize: 8, Deep: []int{8}, Tower: []int{4}}, p, 3)
	if err != nil {
		t.Fatal(err)
	}
	perturb(tr)
	tr.Calibration = &model.Calibration{Method: "platt", Tasks: map[string]*calibrate.Map{
		"click":      {Platt: &calibrate.Platt{A: 2, B: 0.5}},
		"conversion": {Isotonic: &calibrate.Isotonic{X: []float64{0, 1}, Y: []float64{0.1, 0.3}}},
	}}
	dir := t.TempDir()
	rows := filepath.Join(dir, "rows.csv")
	var b strings.Builder
	b.WriteString("click,conversion,user,tags,price,item\n")
	for i := 0; i < 30; i++ {
		fmt.Fprintf(&b, "0,0,u%d,t%d|t%d,%.2f,i%d\n", i%5, i%6, (i*7)%6, float64(i)*0.37, i%4)
	}
	if err := os.WriteFile(rows, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	raw := scoreFile(t, tr, rows, true)
	got := scoreFile(t, tr, rows, false)
	spread := false
	for i := range raw[0] {
		pc, pv := float64(raw[0][i]), float64(raw[1][i])
		wantC := sigmoid(2*math.Log(pc/(1-pc)) + 0.5)
		wantV := 0.1 + 0.2*pv
		if math.Abs(float64(got[0][i])-wantC) > 1e-6 || math.Abs(float64(got[1][i])-wantV) > 1e-6 {
			t.Fatalf("row %d: calibrated %v %v, want %v %v (raw %v %v)", i, got[0][i], got[1][i], wantC, wantV, pc, pv)
		}
		if got[2][i] != got[0][i]*got[1][i] {
			t.Fatalf("row %d: ctcvr %v is not %v × %v", i, got[2][i], got[0][i], got[1][i])
		}
		spread = spread || math.Abs(float64(raw[0][i]-raw[0][0])) > 0.01
	}
	if !spread {
		t.Fatal("the test model predicts the same click probability for every row")
	}
	path := filepath.Join(dir, "m.dcrnn")
	if _, err := model.Save(path, tr); err != nil {
		t.Fatal(err)
	}
	loaded, err := model.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Calibration == nil || *loaded.Calibration.Tasks["click"].Platt != *tr.Calibration.Tasks["click"].Platt ||
		loaded.Calibration.Method != "platt" || loaded.Calibration.Version != model.CalibrationVersion {
		t.Fatalf("loaded calibration %+v", loaded.Calibration)
	}
	again := scoreFile(t, loaded, rows, false)
	for k := range got {
		for i := range got[k] {
			if math.Float32bits(got[k][i]) != math.Float32bits(again[k][i]) {
				t.Fatalf("column %d row %d: %v before saving, %v after loading", k, i, got[k][i], again[k][i])
			}
		}
	}
}

// TestNegativeSamplingCorrection: with negative_sampling: 0.25 on click,
// Predict maps p_click to p / (p + (1-p)/0.25) (computed here), leaves the
// conditional conversion as it is, and ctcvr is the corrected click times
// the conversion; the rate survives the model file.
func TestNegativeSamplingCorrection(t *testing.T) {
	tr, err := model.Build("shared_bottom", model.Config{EmbeddingDim: 4, Deep: []int{8}, Tower: []int{4}}, fitTiny(t, 0.25), 3)
	if err != nil {
		t.Fatal(err)
	}
	perturb(tr)
	path := filepath.Join(t.TempDir(), "m.dcrnn")
	if _, err := model.Save(path, tr); err != nil {
		t.Fatal(err)
	}
	loaded, err := model.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.NegativeSampling() != 0.25 {
		t.Fatalf("loaded rate %v", loaded.NegativeSampling())
	}
	rows := writeRows(t, 25)
	raw := scoreFile(t, loaded, rows, true)
	got := scoreFile(t, loaded, rows, false)
	for i := range raw[0] {
		p := float64(raw[0][i])
		want := p / (p + (1-p)/0.25)
		if math.Abs(float64(got[0][i])-want) > 1e-7 {
			t.Fatalf("row %d: corrected click %v, want %v (raw %v)", i, got[0][i], want, p)
		}
		if got[1][i] != raw[1][i] {
			t.Fatalf("row %d: conversion changed from %v to %v", i, raw[1][i], got[1][i])
		}
		if got[2][i] != got[0][i]*got[1][i] {
			t.Fatalf("row %d: ctcvr %v is not %v × %v", i, got[2][i], got[0][i], got[1][i])
		}
	}
}

// TestCalibrationDocumentChecked: a calibration document that is not JSON,
// has another version or method, names an unknown task or holds an invalid
// map is refused with ErrModelFile.
func TestCalibrationDocumentChecked(t *testing.T) {
	tr, err := model.Build("shared_bottom", model.Config{EmbeddingDim: 4, Deep: []int{8}, Tower: []int{4}}, fitTiny(t, 0), 3)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.dcrnn")
	if _, err := model.Save(good, tr); err != nil {
		t.Fatal(err)
	}
	f, _, err := modelfile.Read(good)
	if err != nil {
		t.Fatal(err)
	}
	for name, doc := range map[string]string{
		"not json":     `{"version":1,`,
		"version":      `{"version":2,"method":"platt","tasks":{}}`,
		"method":       `{"version":1,"method":"magic","tasks":{}}`,
		"unknown task": `{"version":1,"method":"platt","tasks":{"buy":{"platt":{"a":1,"b":0}}}}`,
		"bad slope":    `{"version":1,"method":"platt","tasks":{"click":{"platt":{"a":-1,"b":0}}}}`,
		"bad knots":    `{"version":1,"method":"isotonic","tasks":{"click":{"isotonic":{"x":[0.5,0.2],"y":[0.1,0.2]}}}}`,
	} {
		f.Meta["calibration"] = doc
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".dcrnn")
		if _, err := modelfile.Write(path, f); err != nil {
			t.Fatal(err)
		}
		if _, err := model.Load(path); !errors.Is(err, model.ErrModelFile) || !strings.Contains(err.Error(), "calibration document") {
			t.Errorf("%s: err = %v, want ErrModelFile naming the calibration document", name, err)
		}
	}
	f.Meta["calibration"] = `{"version":1,"method":"platt","tasks":{"click":{"platt":{"a":1.5,"b":-0.25}}}}`
	path := filepath.Join(dir, "ok.dcrnn")
	if _, err := modelfile.Write(path, f); err != nil {
		t.Fatal(err)
	}
	got, err := model.Load(path)
	if err != nil || got.Calibration.Tasks["click"].Platt.A != 1.5 {
		t.Fatalf("valid document: %+v, %v", got, err)
	}
}
