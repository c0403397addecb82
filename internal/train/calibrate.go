package train

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/dcrnn/dcrnn/internal/calibrate"
	"github.com/dcrnn/dcrnn/internal/data"
	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/model"
	scoring "github.com/dcrnn/dcrnn/internal/score"
)

// FitCalibration scores src (labelled rows, usually the validation part)
// with tr's own probabilities (model.Trained.PredictUncalibrated) and fits
// one calibration map per task with method ("platt" or "isotonic", see
// package calibrate): a task on every row against its label, except the
// later task of a funnel, whose map is fitted through the product
// (calibrate.FitJoint): over every row, c·g(p_cvr) against the joint label,
// with c the earlier step's calibrated probability, so that the product
// ctcvr = p_click·p_cvr that rankings use is calibrated over all rows (a
// map fitted on the clicked rows alone left it 3–5% high). A task whose
// rows hold a single class (or that cannot be fitted) keeps the identity,
// with a warning on log. It returns nil when no task got a map. The maps
// work in the space of the training log: with negative_sampling, the
// correction comes after them (Predict).
func FitCalibration(ctx context.Context, tr *model.Trained, src Source, method string, opt EvalOptions, log *slog.Logger) (*model.Calibration, error) {
	if method != "platt" && method != "isotonic" {
		return nil, fmt.Errorf("train: calibration: method %q: want platt or isotonic", method)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = 1024
	}
	bt, err := data.NewBatcher(tr.Pipeline, src.Path, data.BatchOptions{BatchSize: opt.BatchSize, BadRows: opt.BadRows,
		Filter: src.Filter, Range: src.Range, RequireLabels: true})
	if err != nil {
		return nil, fmt.Errorf("train: calibration: %w", err)
	}
	defer bt.Close()
	T := len(tr.Spec.Tasks)
	fa, fb, funnel := tr.Spec.Funnel()
	ps := make([][]float32, T)
	ys := make([][]float32, T)
	sc := scoring.New(tr)
	sc.Uncalibrated = true
	_, err = sc.Pass(ctx, bt, func(b *feature.Batch, probs [][]float32, _ []float32, _ int) error {
		for t := 0; t < T; t++ {
			ps[t] = append(ps[t], probs[t][:b.N]...)
			ys[t] = append(ys[t], b.Labels[t][:b.N]...)
		}
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, fmt.Errorf("train: calibration: %w", err)
	}
	c := &model.Calibration{Version: model.CalibrationVersion, Method: method, Tasks: map[string]*calibrate.Map{}}
	// Tasks in order: a funnel's earlier step comes before its later one
	// (the schema's after names an earlier task), so its map is fitted first
	// and the later step's joint fit takes its calibrated probabilities.
	for t, task := range tr.Spec.Tasks {
		var m calibrate.Map
		if funnel && t == fb {
			first := c.Tasks[tr.Spec.Tasks[fa].Name] // nil: the identity
			pa := make([]float32, len(ps[fa]))
			for i, p := range ps[fa] {
				pa[i] = float32(first.Apply(float64(p)))
			}
			m, err = calibrate.FitJoint(method, ps[t], pa, ys[t])
		} else {
			m, err = calibrate.Fit(method, ps[t], ys[t])
		}
		if errors.Is(err, calibrate.ErrCannotFit) {
			log.Warn("calibration: task keeps the model's probabilities", "task", task.Name, "rows", len(ps[t]), "err", err)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("train: calibration: task %s: %w", task.Name, err)
		}
		c.Tasks[task.Name] = &m
		args := []any{"task", task.Name, "method", method, "rows", len(ps[t])}
		if m.Platt != nil {
			args = append(args, "a", m.Platt.A, "b", m.Platt.B)
		} else if m.Isotonic != nil {
			args = append(args, "knots", len(m.Isotonic.X))
		}
		log.Info("calibration fitted", args...)
	}
	if len(c.Tasks) == 0 {
		return nil, nil
	}
	return c, nil
}
