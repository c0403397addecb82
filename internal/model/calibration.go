package model

import (
	"encoding/json"
	"fmt"

	"github.com/dcrnn/dcrnn/internal/calibrate"
	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/nn"
)

// CalibrationVersion is the version of the "calibration" document.
const CalibrationVersion = 1

// Calibration holds the post-hoc calibration maps of a trained model, one
// per task, fitted on the validation part after training (see package
// calibrate and train.Config.Calibration). It is the "calibration" document
// of a model file, JSON:
//
//	{"version": 1, "method": "platt",
//	 "tasks": {"click": {"platt": {"a": 1.1, "b": 0.2}},
//	           "conversion": {"isotonic": {"x": [...], "y": [...]}}}}
//
// A task's map takes the model's probability of that task: for the later
// task of a funnel the conditional one (conversion given click), its map
// fitted through the product over all validation rows (calibrate.FitJoint:
// the calibrated pCTR times the mapped pCVR against the conversion labels);
// the joint ctcvr is then the product of the calibrated steps, never
// calibrated on its own, so that pCTR × pCVR = pCTCVR holds for every
// scorer. A task without a map
// (its validation rows held one class) keeps its probability. A file without
// the document (every file written before calibration existed, or trained
// with calibration: none) predicts the model's probabilities unchanged.
type Calibration struct {
	Version int `json:"version"`
	// Method is the fitting method: platt or isotonic.
	Method string `json:"method"`
	// Tasks maps a task name to its map.
	Tasks map[string]*calibrate.Map `json:"tasks"`
}

// validate checks a calibration read from a file against the model's tasks.
func (c *Calibration) validate(spec Spec) error {
	if c.Version != CalibrationVersion {
		return fmt.Errorf("version %d, want %d", c.Version, CalibrationVersion)
	}
	if c.Method != "platt" && c.Method != "isotonic" {
		return fmt.Errorf("method %q: want platt or isotonic", c.Method)
	}
	for name, m := range c.Tasks {
		found := false
		for _, t := range spec.Tasks {
			found = found || t.Name == name
		}
		if !found {
			return fmt.Errorf("task %q is not a task of the model", name)
		}
		if err := m.Validate(); err != nil {
			return fmt.Errorf("task %q: %w", name, err)
		}
	}
	return nil
}

// NegativeSampling returns the rate at which the training log kept the
// first task's negatives (the schema's negative_sampling), 1 when the log
// was not down-sampled (or the model has no pipeline).
func (tr *Trained) NegativeSampling() float64 {
	if tr.Pipeline == nil { // a bare model built in code (the bench workloads)
		return 1
	}
	if ts := tr.Pipeline.Schema().Tasks; len(ts) > 0 && ts[0].NegativeSampling != nil {
		return *ts[0].NegativeSampling
	}
	return 1
}

// Predict scores a batch on an inference tape: probs[t] (len ≥ b.N) gets the
// probability of every task (the conditional one for the later task of a
// funnel) and ctcvr, when the spec has a funnel and ctcvr is not nil, the
// joint probability. The tape is reset first. Every scorer goes through it
// (package score, the one scoring loop of eval, predict, serve, compare and
// the public package): it applies the model's calibration maps
// (Calibration) to each task's sigmoid output, then maps the first task
// back to the full population when the training log down-sampled its
// negatives (NegativeSampling, calibrate.CorrectNegativeSampling), and
// recomputes ctcvr as the product of the final steps. Without either it
// returns PredictUncalibrated's values bit for bit.
func (tr *Trained) Predict(t *nn.Tape, b *feature.Batch, probs [][]float32, ctcvr []float32) {
	t.Reset()
	logits := tr.Model.Forward(t, b)
	Probs(tr.Spec, logits, probs, ctcvr)
	tr.adjust(logits[0].Rows, probs, ctcvr)
}

// PredictUncalibrated is Predict without calibration or the negative
// down-sampling correction: the model's own probabilities, σ(logit). The
// training loop scores the validation part with it (model selection and the
// calibration fit work on the model's own output).
func (tr *Trained) PredictUncalibrated(t *nn.Tape, b *feature.Batch, probs [][]float32, ctcvr []float32) {
	t.Reset()
	Probs(tr.Spec, tr.Model.Forward(t, b), probs, ctcvr)
}

// adjust applies the calibration and the negative down-sampling correction
// to n rows of probabilities (see Predict).
func (tr *Trained) adjust(n int, probs [][]float32, ctcvr []float32) {
	rate := tr.NegativeSampling()
	c := tr.Calibration
	if (c == nil || len(c.Tasks) == 0) && rate == 1 {
		return
	}
	for ti, task := range tr.Spec.Tasks {
		var m *calibrate.Map
		if c != nil {
			m = c.Tasks[task.Name]
		}
		w := 1.0
		if ti == 0 {
			w = rate
		}
		if m.Identity() && w == 1 {
			continue
		}
		d := probs[ti][:n]
		for i, p := range d {
			d[i] = float32(calibrate.CorrectNegativeSampling(m.Apply(float64(p)), w))
		}
	}
	if a, b, ok := tr.Spec.Funnel(); ok && ctcvr != nil {
		for i := range ctcvr[:n] {
			ctcvr[i] = probs[a][i] * probs[b][i]
		}
	}
}

// marshalCalibration returns the "calibration" document.
func marshalCalibration(c *Calibration) (string, error) {
	v := *c
	v.Version = CalibrationVersion
	b, err := json.Marshal(&v)
	if err != nil {
		return "", fmt.Errorf("model: save calibration: %w", err)
	}
	return string(b), nil
}
