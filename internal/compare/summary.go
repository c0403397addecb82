package compare

import (
	"math"
	"slices"

	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/train"
)

// Num is a metric value; NaN and ±Inf marshal as JSON null.
type Num = train.Num

// Report is the whole comparison, as written to report.json. Models,
// Sweep and Ablation are the summaries; Runs keeps every run.
type Report struct {
	Models map[string]*Summary `json:"models"`
	Sweep  []SweepPoint        `json:"sweep"`
	// Ablation holds the DCRNN variants in table order (the default first).
	Ablation []AblationPoint `json:"ablation"`
	// ModelOrder and TaskOrder give the order of the tables and plots.
	ModelOrder []string `json:"model_order"`
	TaskOrder  []string `json:"task_order"`
	Seeds      int      `json:"seeds"`
	// Config is the config every model read (defaults filled in; the seed
	// is each run's).
	Config train.Config `json:"config"`
	Meta
	WallSeconds float64 `json:"wall_seconds"`
	Runs        []Run   `json:"runs"`
}

// TaskSummary is one task's test metrics over the seeds.
type TaskSummary struct {
	AUCMean Num `json:"auc_mean"`
	// AUCStd is the sample standard deviation (n-1) over seeds; 0 for one seed.
	AUCStd      Num   `json:"auc_std"`
	LogLossMean Num   `json:"logloss_mean"`
	AUCs        []Num `json:"aucs"` // per seed, in seed order
	// AUCClickedMean is the mean CVR AUC on clicked rows (later funnel task).
	AUCClickedMean *Num `json:"auc_clicked_mean,omitempty"`
}

// Summary is one model (or one sweep point) over its seeds.
type Summary struct {
	Tasks map[string]TaskSummary `json:"tasks"`
	// Funnel holds the CTCVR metrics when the schema declares a funnel.
	Funnel map[string]TaskSummary `json:"funnel,omitempty"`
	// Params is the number of trainable scalars (embeddings included) of
	// the first seed's model (the same for every seed).
	Params                int      `json:"params"`
	TrainSecondsMean      Num      `json:"train_seconds_mean"`
	TrainSamplesPerSecond Num      `json:"train_samples_per_second"` // mean over seeds
	ScoreUSPerRow         Num      `json:"score_us_per_row"`         // mean over seeds
	PredictUSPerRow       Num      `json:"predict_us_per_row"`       // mean over seeds
	EpochsMean            Num      `json:"epochs_mean"`
	BestEpochs            []int    `json:"best_epochs"` // per seed
	Seeds                 []uint64 `json:"seeds"`
	// ValidAUC is, per seed, the mean validation AUC over tasks after each epoch.
	ValidAUC [][]Num `json:"valid_auc"`
	// Gates is the gate usage of the first seed's run of a model with expert
	// gates (runs holds every seed's). It is not averaged over seeds: which
	// expert gets which number is arbitrary in each run.
	Gates []model.GateUsage `json:"gates,omitempty"`
}

// SweepPoint is DCRNN at one sharing ratio.
type SweepPoint struct {
	Rho           float64 `json:"rho"`
	SharedHidden  int     `json:"shared_hidden"`
	PrivateHidden int     `json:"private_hidden"`
	Summary
}

// AblationPoint is DCRNN in one ablation variant.
type AblationPoint struct {
	Variant string `json:"variant"`
	// Set lists the variant's config overrides, key=value.
	Set []string `json:"set"`
	// SameAs names an earlier variant with the same config, whose runs this
	// one reuses ("" when the config is its own).
	SameAs string `json:"same_as,omitempty"`
	Summary
}

// Summarize groups runs by model (runs without rho or variant), by sweep
// point (runs of SweepModel with a rho) and by ablation variant, and
// computes means and standard deviations over seeds. models, sweep and
// variants give the order; tasks the task names in schema order. The
// ablation points' Set and SameAs are left for the caller.
func Summarize(runs []Run, models []string, sweep []float64, variants []string, tasks []string) *Report {
	rep := &Report{Models: map[string]*Summary{}, Sweep: []SweepPoint{}, Ablation: []AblationPoint{},
		ModelOrder: slices.Clone(models), TaskOrder: slices.Clone(tasks), Runs: runs}
	if rep.ModelOrder == nil {
		rep.ModelOrder = []string{}
	}
	for _, m := range models {
		var group []Run
		for _, r := range runs {
			if r.Model == m && r.Rho == nil && r.Variant == "" {
				group = append(group, r)
			}
		}
		if len(group) > 0 {
			rep.Models[m] = summarize(group, tasks)
		}
	}
	for _, rho := range sweep {
		var group []Run
		for _, r := range runs {
			if r.Model == SweepModel && r.Rho != nil && *r.Rho == rho {
				group = append(group, r)
			}
		}
		if len(group) > 0 {
			rep.Sweep = append(rep.Sweep, SweepPoint{Rho: rho, SharedHidden: group[0].SharedHidden,
				PrivateHidden: group[0].PrivateHidden, Summary: *summarize(group, tasks)})
		}
	}
	for _, v := range variants {
		var group []Run
		for _, r := range runs {
			if r.Variant == v {
				group = append(group, r)
			}
		}
		if len(group) > 0 {
			rep.Ablation = append(rep.Ablation, AblationPoint{Variant: v, Summary: *summarize(group, tasks)})
		}
	}
	return rep
}

func summarize(runs []Run, tasks []string) *Summary {
	s := &Summary{Tasks: map[string]TaskSummary{}, Params: runs[0].Params}
	var secs, sps, score, pred, epochs []float64
	for _, r := range runs {
		secs = append(secs, float64(r.TrainSeconds))
		sps = append(sps, float64(r.SamplesPerSecond))
		score = append(score, float64(r.ScoreUSPerRow))
		pred = append(pred, float64(r.PredictUSPerRow))
		epochs = append(epochs, float64(r.Epochs))
		s.BestEpochs = append(s.BestEpochs, r.BestEpoch)
		s.Seeds = append(s.Seeds, r.Seed)
		s.ValidAUC = append(s.ValidAUC, slices.Clone(r.ValidAUC))
	}
	mean := func(x []float64) Num { m, _ := MeanStd(x); return Num(m) }
	s.TrainSecondsMean = mean(secs)
	s.TrainSamplesPerSecond = mean(sps)
	s.ScoreUSPerRow = mean(score)
	s.PredictUSPerRow = mean(pred)
	s.EpochsMean = mean(epochs)
	for _, t := range tasks {
		var aucs, lls, clicked []float64
		for _, r := range runs {
			if r.Test == nil {
				continue
			}
			m, ok := r.Test.Tasks[t]
			if !ok {
				continue
			}
			aucs = append(aucs, float64(m.AUC))
			lls = append(lls, float64(m.LogLoss))
			if m.AUCClicked != nil {
				clicked = append(clicked, float64(*m.AUCClicked))
			}
		}
		if len(aucs) == 0 {
			continue
		}
		ts := taskSummary(aucs, lls)
		if len(clicked) > 0 {
			c, _ := MeanStd(clicked)
			n := Num(c)
			ts.AUCClickedMean = &n
		}
		s.Tasks[t] = ts
	}
	for _, r := range runs {
		if r.Test == nil {
			continue
		}
		for name := range r.Test.Funnel {
			if _, ok := s.Funnel[name]; ok {
				continue
			}
			var aucs, lls []float64
			for _, q := range runs {
				if q.Test == nil {
					continue
				}
				if f, ok := q.Test.Funnel[name]; ok {
					aucs = append(aucs, float64(f.AUC))
					lls = append(lls, float64(f.LogLoss))
				}
			}
			if s.Funnel == nil {
				s.Funnel = map[string]TaskSummary{}
			}
			s.Funnel[name] = taskSummary(aucs, lls)
		}
	}
	s.Gates = runs[0].Gates
	return s
}

func taskSummary(aucs, lls []float64) TaskSummary {
	m, sd := MeanStd(aucs)
	ll, _ := MeanStd(lls)
	ts := TaskSummary{AUCMean: Num(m), AUCStd: Num(sd), LogLossMean: Num(ll)}
	for _, a := range aucs {
		ts.AUCs = append(ts.AUCs, Num(a))
	}
	return ts
}

// MeanStd returns the mean and the sample standard deviation (n-1
// denominator; 0 when len(x) < 2) of x; NaN, NaN for an empty x.
func MeanStd(x []float64) (mean, std float64) {
	if len(x) == 0 {
		return math.NaN(), math.NaN()
	}
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	if len(x) < 2 {
		return mean, 0
	}
	var ss float64
	for _, v := range x {
		ss += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(ss / float64(len(x)-1))
}
