package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/tensor"
)

// readCSVColumns reads a CSV without quoting into columns by header name,
// every number as the float32 it denotes.
func readCSVColumns(t *testing.T, path string) map[string][]float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	head := strings.Split(lines[0], ",")
	cols := map[string][]float64{}
	for _, line := range lines[1:] {
		for k, cell := range strings.Split(line, ",") {
			// Predictions are float32 values printed in their shortest form.
			v, err := strconv.ParseFloat(cell, 32)
			if err != nil {
				continue // not a number (an id column)
			}
			cols[head[k]] = append(cols[head[k]], float64(float32(v)))
		}
	}
	return cols
}

// TestCalibrationThroughTrainEvalPredict: a model trained with calibration
// platt or isotonic carries its maps in the file; dcrnn eval on the test
// part reports what training reported, and the logloss and calibration
// computed here from dcrnn predict's CSV and the labels equal eval's, so
// eval and predict apply the same maps; the predictions differ from the
// model's own probabilities.
func TestCalibrationThroughTrainEvalPredict(t *testing.T) {
	if testing.Short() {
		t.Skip("trains two models")
	}
	dir := t.TempDir()
	if out, err := runCmd(t, "gen", "--rows", "6000", "--seed", "2", "--out", dir); err != nil {
		t.Fatalf("gen: %v\n%s", err, out)
	}
	data, schema := filepath.Join(dir, "data.csv"), filepath.Join(dir, "schema.yaml")
	parts := filepath.Join(dir, "parts")
	if out, err := runCmd(t, "split", "--data", data, "--ratios", "0.6,0.2,0.2", "--seed", "3", "--out", parts); err != nil {
		t.Fatalf("split: %v\n%s", err, out)
	}
	test := filepath.Join(parts, "test.csv")
	labels := readCSVColumns(t, test)
	for _, method := range []string{"platt", "isotonic"} {
		m, metrics := filepath.Join(dir, method+".dcrnn"), filepath.Join(dir, method+".json")
		out, err := runCmd(t, "train", "--schema", schema, "--data", data, "--split", "0.6,0.2,0.2", "--seed", "3",
			"--set", "epochs=3", "--set", "batch_size=128", "--set", "lr=0.003", "--set", "proj=8", "--set", "deep=[16]", "--set", "tower=[8]",
			"--set", "calibration="+method,
			"--set", "valid_per_epoch=2", "--out", m, "--metrics-out", metrics, "--threads", "1")
		if err != nil {
			t.Fatalf("train: %v\n%s", err, out)
		}
		if !strings.Contains(out, "calibration: "+method+", fitted on the validation part") {
			t.Errorf("%s: train output does not report the calibration:\n%s", method, out)
		}
		tr, err := model.Load(m)
		if err != nil {
			t.Fatal(err)
		}
		if c := tr.Calibration; c == nil || c.Method != method || c.Tasks["click"] == nil {
			t.Fatalf("%s: model file calibration %+v", method, c)
		}
		var trained, evaluated map[string]any
		b, _ := os.ReadFile(metrics)
		if err := json.Unmarshal(b, &trained); err != nil {
			t.Fatal(err)
		}
		if tm := trained["train"].(map[string]any); tm["calibration"] != method || tm["evaluations"].(float64) < 3 {
			t.Errorf("%s: metrics JSON train section %v", method, tm)
		}
		evalJSON := filepath.Join(dir, method+"-eval.json")
		if out, err := runCmd(t, "eval", "--model", m, "--data", test, "--metrics-out", evalJSON, "--threads", "1"); err != nil {
			t.Fatalf("eval: %v\n%s", err, out)
		}
		b, _ = os.ReadFile(evalJSON)
		if err := json.Unmarshal(b, &evaluated); err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"tasks", "funnel", "rows"} {
			want, _ := json.Marshal(trained[key])
			got, _ := json.Marshal(evaluated[key])
			if string(want) != string(got) && !(tensor.Backend() == "openblas" && sameNumbers(trained[key], evaluated[key], 1e-6)) {
				t.Fatalf("%s: eval %s = %s, training reported %s", method, key, got, want)
			}
		}
		preds := filepath.Join(dir, method+"-preds.csv")
		if out, err := runCmd(t, "predict", "--model", m, "--data", test, "--out", preds, "--threads", "1"); err != nil {
			t.Fatalf("predict: %v\n%s", err, out)
		}
		p := readCSVColumns(t, preds)
		y := map[string][]float64{"click": labels["click"], "ctcvr": labels["conversion"]} // a conversion implies a click
		tasks := evaluated["tasks"].(map[string]any)
		for col, task := range map[string]string{"click": "click", "ctcvr": "conversion"} {
			var ll, sp, sy float64
			for i, v := range p[col] {
				q := min(max(v, 1e-7), 1-1e-7)
				ll -= y[col][i]*math.Log(q) + (1-y[col][i])*math.Log(1-q)
				sp += v
				sy += y[col][i]
			}
			n := float64(len(p[col]))
			tm := tasks[task].(map[string]any)
			if d := math.Abs(ll/n - tm["logloss"].(float64)); d > 1e-9 {
				t.Errorf("%s: %s logloss from predict's CSV %v, eval %v", method, col, ll/n, tm["logloss"])
			}
			if d := math.Abs(sp/sy - tm["calibration"].(float64)); d > 1e-9 {
				t.Errorf("%s: %s calibration from predict's CSV %v, eval %v", method, col, sp/sy, tm["calibration"])
			}
		}
		// The maps changed the probabilities: the file's calibration is
		// not the identity on these rows.
		tr.Calibration = nil
		if _, err := model.Save(filepath.Join(dir, "raw.dcrnn"), tr); err != nil {
			t.Fatal(err)
		}
		rawPreds := filepath.Join(dir, "raw-preds.csv")
		if out, err := runCmd(t, "predict", "--model", filepath.Join(dir, "raw.dcrnn"), "--data", test, "--out", rawPreds, "--threads", "1"); err != nil {
			t.Fatalf("predict: %v\n%s", err, out)
		}
		raw := readCSVColumns(t, rawPreds)
		var moved float64
		for i := range raw["click"] {
			moved = max(moved, math.Abs(raw["click"][i]-p["click"][i]))
		}
		if moved < 1e-3 {
			t.Errorf("%s: calibrated click predictions within %g of the model's own", method, moved)
		}
	}
}

// sameNumbers reports whether two decoded JSON values have the same shape
// and numbers equal to a relative tolerance. The pure-Go build's scores do
// not depend on the batch they are computed in, so its metrics must match
// exactly; OpenBLAS's sgemm blocks by matrix size, so the same rows scored in
// batches of other sizes differ in the last bits.
func sameNumbers(a, b any, tol float64) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k := range x {
			if !sameNumbers(x[k], y[k], tol) {
				return false
			}
		}
		return true
	case float64:
		y, ok := b.(float64)
		return ok && math.Abs(x-y) <= tol*math.Max(math.Abs(x), math.Abs(y))
	default:
		return reflect.DeepEqual(a, b)
	}
}
