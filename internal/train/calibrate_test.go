package train_test

import (
	"context"
	"testing"

	"github.com/dcrnn/dcrnn/internal/calibrate"
	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/tensor"
	"github.com/dcrnn/dcrnn/internal/train"
)

// TestFitCalibrationThroughTheProduct: on a generated funnel, the maps
// FitCalibration fits make the click probability and the product
// p_click·p_cvr calibrated over all rows of the part they were fitted on
// (the conversion's map is fitted through the product, calibrate.FitJoint;
// a map fitted on the clicked rows alone calibrates p_cvr on those rows
// instead, and its product reads off over all rows), and the conversion's
// map is not the clicked-row fit.
func TestFitCalibrationThroughTheProduct(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a small model")
	}
	tensor.SetThreads(1)
	defer tensor.SetThreads(0)
	job := synthJob(t, 40000)
	job.Config.Calibration, job.Test = "platt", nil
	valid := job.Valid
	res, err := train.Run(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	c := res.Trained.Calibration
	if c == nil || c.Tasks["click"] == nil || c.Tasks["conversion"] == nil {
		t.Fatalf("calibration %+v: want a map per task", c)
	}
	cal, err := train.Evaluate(context.Background(), res.Trained, valid, train.EvalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	click, product := float64(cal.Tasks["click"].Calibration), float64(cal.Tasks["conversion"].Calibration)
	t.Logf("validation part: click calibration %.5f, product %.5f; conversion map %+v", click, product, *c.Tasks["conversion"].Platt)
	if click < 0.999 || click > 1.001 {
		t.Errorf("click calibration %.5f on the rows its map was fitted on, want 1 ± 0.001", click)
	}
	if product < 0.995 || product > 1.005 {
		t.Errorf("product calibration %.5f on the rows the maps were fitted on, want 1 ± 0.005", product)
	}

	// The clicked-row fit of the same scores is another map.
	var ps, ys []float32
	raw, err := train.Evaluate(context.Background(), res.Trained, valid, train.EvalOptions{Uncalibrated: true,
		OnBatch: func(b *feature.Batch, probs [][]float32, _ []float32, _ int) error {
			for i := 0; i < b.N; i++ {
				if b.Labels[0][i] > 0.5 {
					ps, ys = append(ps, probs[1][i]), append(ys, b.Labels[1][i])
				}
			}
			return nil
		}})
	if err != nil || raw == nil {
		t.Fatal(err)
	}
	m, err := calibrate.FitPlatt(ps, ys)
	if err != nil {
		t.Fatal(err)
	}
	if j := c.Tasks["conversion"].Platt; *j == m {
		t.Errorf("the conversion map %+v is the clicked-row fit", *j)
	}
}
