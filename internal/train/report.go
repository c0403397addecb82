package train

import (
	"context"
	"fmt"
	"math"
	"strconv"

	"github.com/dcrnn/dcrnn/internal/data"
	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/metric"
	"github.com/dcrnn/dcrnn/internal/model"
	scoring "github.com/dcrnn/dcrnn/internal/score"
)

// Num is a metric value that marshals NaN and ±Inf (undefined metrics, e.g.
// the AUC of a part with one class) as JSON null.
type Num float64

// MarshalJSON implements json.Marshaler.
func (n Num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler: null reads back as NaN, so an
// undefined metric stays undefined through a file.
func (n *Num) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = Num(math.NaN())
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("metric value %s: %w", b, err)
	}
	*n = Num(f)
	return nil
}

// TaskMetrics are the metrics of one task (definitions in package metric).
type TaskMetrics struct {
	AUC         Num  `json:"auc"`
	AUCClicked  *Num `json:"auc_clicked,omitempty"` // later funnel task: CVR AUC on rows where the earlier step happened
	GAUC        *Num `json:"gauc,omitempty"`
	LogLoss     Num  `json:"logloss"`
	Calibration Num  `json:"calibration"`
}

// FunnelMetrics are the metrics of the joint probability (CTCVR).
type FunnelMetrics struct {
	AUC     Num `json:"auc"`
	LogLoss Num `json:"logloss"`
}

// TrainInfo summarises a training run.
type TrainInfo struct {
	Seconds          float64 `json:"seconds"`
	SamplesPerSecond float64 `json:"samples_per_second"`
	Epochs           int     `json:"epochs"`     // epochs trained (the last one possibly cut short by early stopping)
	BestEpoch        int     `json:"best_epoch"` // epoch of the selected evaluation
	// BestStep is the global step of the selected evaluation; Evaluations
	// the number of validation evaluations; Calibration the method of the
	// post-hoc calibration (none, platt or isotonic).
	BestStep    int    `json:"best_step"`
	Evaluations int    `json:"evaluations"`
	Calibration string `json:"calibration,omitempty"`
}

// Report is the JSON written by --metrics-out.
type Report struct {
	Model  string                   `json:"model"`
	Split  string                   `json:"split"`
	Rows   int                      `json:"rows"`
	Tasks  map[string]TaskMetrics   `json:"tasks"`
	Funnel map[string]FunnelMetrics `json:"funnel,omitempty"`
	Train  *TrainInfo               `json:"train,omitempty"`
	Params int                      `json:"params"`
	// BadRows counts malformed rows skipped under --bad-rows skip (omitted when 0).
	BadRows int64 `json:"bad_rows,omitempty"`
}

// Source is a file, or the part of it that Filter keeps (a split).
type Source struct {
	// Path names the files (see data.Expand: a list, globs, directories).
	Path   string
	Filter func(row int64) bool
	// Range, when set, keeps the rows in a column range (a time split).
	Range *data.ColumnRange
	Name  string // "train", "valid", "test" or the file name, for reports
}

// EvalOptions configure Evaluate.
type EvalOptions struct {
	BatchSize int // default 1024
	BadRows   data.BadRows
	// OnBatch, when set, receives every scored batch with its probabilities
	// (probs[t][i], and ctcvr[i] for a funnel) and the row offset of the batch.
	OnBatch func(b *feature.Batch, probs [][]float32, ctcvr []float32, offset int) error
	// Uncalibrated scores with the model's own probabilities
	// (model.Trained.PredictUncalibrated: no calibration, no negative
	// down-sampling correction) instead of model.Trained.Predict.
	Uncalibrated bool
}

// scorer accumulates predictions into per-task metrics.
type scorer struct {
	spec    model.Spec
	tasks   []metric.Binary
	clicked metric.Binary // later funnel task: CVR on rows where the earlier step happened
	fa, fb  int
	funnel  bool
	cs, cl  []float32
}

func newScorer(spec model.Spec) *scorer {
	s := &scorer{spec: spec, tasks: make([]metric.Binary, len(spec.Tasks))}
	s.fa, s.fb, s.funnel = spec.Funnel()
	return s
}

func (s *scorer) add(b *feature.Batch, probs [][]float32, ctcvr []float32) {
	for t := range s.spec.Tasks {
		p := probs[t][:b.N]
		if s.funnel && t == s.fb {
			p = ctcvr[:b.N]
		}
		s.tasks[t].Add(p, b.Labels[t][:b.N], b.Group)
	}
	if s.funnel {
		s.cs, s.cl = s.cs[:0], s.cl[:0]
		for i := 0; i < b.N; i++ {
			if b.Labels[s.fa][i] > 0 {
				s.cs = append(s.cs, probs[s.fb][i])
				s.cl = append(s.cl, b.Labels[s.fb][i])
			}
		}
		s.clicked.Add(s.cs, s.cl, nil)
	}
}

func (s *scorer) report(name, split string, params int) *Report {
	r := &Report{Model: name, Split: split, Tasks: map[string]TaskMetrics{}, Params: params}
	for t, task := range s.spec.Tasks {
		m := s.tasks[t].Summary()
		r.Rows = m.Rows
		tm := TaskMetrics{AUC: Num(m.AUC), LogLoss: Num(m.LogLoss), Calibration: Num(m.Calibration)}
		if !math.IsNaN(m.GAUC) {
			g := Num(m.GAUC)
			tm.GAUC = &g
		}
		if s.funnel && t == s.fb {
			// The later task is scored on p_ctcvr over all rows (see add), so
			// its summary is the funnel's ctcvr too.
			c := Num(s.clicked.Summary().AUC)
			tm.AUCClicked = &c
			r.Funnel = map[string]FunnelMetrics{"ctcvr": {AUC: Num(m.AUC), LogLoss: Num(m.LogLoss)}}
		}
		r.Tasks[task.Name] = tm
	}
	return r
}

// score returns the early-stopping score of a report (higher is better).
// mean_auc averages the tasks whose AUC is defined (a small validation part
// may hold no positive of a rare task); when none is, it falls back to the
// negated mean logloss, which always is.
func score(r *Report, spec model.Spec, metricName string) (float64, error) {
	meanLoss := func() float64 {
		var sum float64
		for _, t := range spec.Tasks {
			sum -= float64(r.Tasks[t.Name].LogLoss)
		}
		return sum / float64(len(spec.Tasks))
	}
	switch {
	case metricName == "logloss":
		return meanLoss(), nil
	case metricName == "mean_auc":
		var sum float64
		n := 0
		for _, t := range spec.Tasks {
			if a := float64(r.Tasks[t.Name].AUC); !math.IsNaN(a) {
				sum += a
				n++
			}
		}
		if n == 0 {
			return meanLoss(), nil
		}
		return sum / float64(n), nil
	default:
		name := metricName[len("auc:"):]
		m, ok := r.Tasks[name]
		if !ok {
			return 0, fmt.Errorf("config: metric %q: no task %q", metricName, name)
		}
		return float64(m.AUC), nil
	}
}

// Evaluate scores every row of src with tr (model.Trained.Predict: with its
// calibration and negative down-sampling correction, unless
// opt.Uncalibrated) and returns the metrics. Rows are read in file order, so
// the predictions are the same on every call.
func Evaluate(ctx context.Context, tr *model.Trained, src Source, opt EvalOptions) (*Report, error) {
	if opt.BatchSize <= 0 {
		opt.BatchSize = 1024
	}
	bt, err := data.NewBatcher(tr.Pipeline, src.Path, data.BatchOptions{BatchSize: opt.BatchSize, BadRows: opt.BadRows,
		Filter: src.Filter, Range: src.Range, RequireLabels: opt.OnBatch == nil})
	if err != nil {
		return nil, err
	}
	defer bt.Close()
	sc := newScorer(tr.Spec)
	ps := scoring.New(tr)
	// The weights do not change during the pass (training waits for it):
	// pack and fold them once for all its batches, for this call only (the
	// next validation pass sees new weights).
	ps.Share(scoring.NewFrozen())
	ps.Uncalibrated = opt.Uncalibrated
	labels := bt.Pipeline().HasLabels()
	offset, err := ps.Pass(ctx, bt, func(b *feature.Batch, probs [][]float32, ctcvr []float32, offset int) error {
		if opt.OnBatch != nil {
			if err := opt.OnBatch(b, probs, ctcvr, offset); err != nil {
				return err
			}
		}
		if labels {
			sc.add(b, probs, ctcvr)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	r := sc.report(tr.Name, src.Name, model.CountParams(tr.Model))
	r.Rows = offset
	r.BadRows = bt.Stats().BadRows
	return r, nil
}
