package train

// The selection and calibration study behind the defaults of
// valid_per_epoch, smooth, metric and calibration (README, "Training"). It
// is skipped unless DCRNN_STUDY names an output directory. One run per
// data set and training seed (split seed 1, so the rows are the same):
//
//	DCRNN_STUDY=/tmp/study DCRNN_STUDY_DATA=synth:/tmp/g200k DCRNN_STUDY_SEEDS=1,2,3 \
//	    go test ./internal/train -run '^TestSelectionStudy$' -timeout 3h -v
//	DCRNN_STUDY=/tmp/study DCRNN_STUDY_DATA=census:/work/shared/data/census-income-kdd/census-income.test.gz ...
//	DCRNN_STUDY=/tmp/study go test ./internal/train -run '^TestSelectionStudyReport$' -v
//
// Each run trains the default DCRNN (--threads 2) for 10 epochs with 4
// validations per epoch and no early stopping, and records at every
// evaluation the validation report (what selection reads) and, for the
// model's own probabilities and for Platt and isotonic maps fitted on the
// validation part, the test metrics and the validation logloss in sample
// and 2-fold cross-fitted (fit on the even validation rows, score the odd
// ones, and the other way round). Evaluations never change training (see
// the package doc), so a run with valid_per_epoch 1, 2 or 4 and any rule is
// a replay of this record with the selector of Run: the report does that
// for every rule, stopping with the default patience (2 epochs).

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dcrnn/dcrnn/internal/calibrate"
	"github.com/dcrnn/dcrnn/internal/data"
	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/metric"
	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/tensor"
)

// studyScores are metrics per output column (a task name, or ctcvr).
type studyScores struct {
	AUC     map[string]float64 `json:"auc"`
	LogLoss map[string]float64 `json:"logloss"`
	Calib   map[string]float64 `json:"calibration"`
}

// studyEval is one line of a study record.
type studyEval struct {
	Data     string                 `json:"data"`
	Seed     uint64                 `json:"seed"`
	Epoch    int                    `json:"epoch"`
	Step     int                    `json:"step"`
	EpochEnd bool                   `json:"epoch_end"`
	Valid    *Report                `json:"valid"`
	Test     map[string]studyScores `json:"test"`     // by method: none, platt, isotonic
	ValidIn  map[string]studyScores `json:"valid_in"` // the maps scored on the rows they were fitted on
	ValidCV  map[string]studyScores `json:"valid_cv"` // 2-fold cross-fitted
}

// cols are the model's probabilities and the labels of one part: p[t], y[t].
type cols struct{ p, y [][]float64 }

func collect(ctx context.Context, tr *model.Trained, src Source) (*cols, error) {
	T := len(tr.Spec.Tasks)
	c := &cols{p: make([][]float64, T), y: make([][]float64, T)}
	_, err := Evaluate(ctx, tr, src, EvalOptions{Uncalibrated: true, OnBatch: func(b *feature.Batch, probs [][]float32, _ []float32, _ int) error {
		for t := 0; t < T; t++ {
			for i := 0; i < b.N; i++ {
				c.p[t] = append(c.p[t], float64(probs[t][i]))
				c.y[t] = append(c.y[t], float64(b.Labels[t][i]))
			}
		}
		return nil
	}})
	return c, err
}

// sub returns the rows i with keep(i).
func (c *cols) sub(keep func(int) bool) *cols {
	out := &cols{p: make([][]float64, len(c.p)), y: make([][]float64, len(c.p))}
	for t := range c.p {
		for i := range c.p[t] {
			if keep(i) {
				out.p[t] = append(out.p[t], c.p[t][i])
				out.y[t] = append(out.y[t], c.y[t][i])
			}
		}
	}
	return out
}

func f32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// fitMaps fits one map per task the way FitCalibration does: a funnel's
// later task through the product, with the earlier step's mapped
// probabilities.
func fitMaps(spec model.Spec, method string, c *cols) []calibrate.Map {
	fa, fb, funnel := spec.Funnel()
	maps := make([]calibrate.Map, len(spec.Tasks))
	for t := range spec.Tasks {
		if funnel && t == fb {
			continue
		}
		if m, err := calibrate.Fit(method, f32(c.p[t]), f32(c.y[t])); err == nil {
			maps[t] = m
		}
	}
	if funnel {
		pa := make([]float32, len(c.p[fa]))
		for i, v := range c.p[fa] {
			pa[i] = float32(maps[fa].Apply(float64(float32(v))))
		}
		if m, err := calibrate.FitJoint(method, f32(c.p[fb]), pa, f32(c.y[fb])); err == nil {
			maps[fb] = m
		}
	}
	return maps
}

// apply maps the probabilities and returns the scored columns: every task,
// the later funnel task as ctcvr (the product of the mapped steps) against
// its label, as the reports do.
func apply(spec model.Spec, maps []calibrate.Map, c *cols) (names []string, p, y [][]float32) {
	fa, fb, funnel := spec.Funnel()
	q := make([][]float64, len(spec.Tasks))
	for t := range spec.Tasks {
		for _, v := range c.p[t] {
			q[t] = append(q[t], float64(float32(maps[t].Apply(v))))
		}
	}
	for t, task := range spec.Tasks {
		name, col := task.Name, q[t]
		if funnel && t == fb {
			name, col = "ctcvr", make([]float64, len(q[t]))
			for i := range col {
				col[i] = float64(float32(q[fa][i]) * float32(q[fb][i]))
			}
		}
		names = append(names, name)
		p = append(p, f32(col))
		y = append(y, f32(c.y[t]))
	}
	return names, p, y
}

func scores(names []string, p, y [][]float32) studyScores {
	s := studyScores{AUC: map[string]float64{}, LogLoss: map[string]float64{}, Calib: map[string]float64{}}
	for k, n := range names {
		s.AUC[n], s.LogLoss[n], s.Calib[n] = metric.AUC(p[k], y[k]), metric.LogLoss(p[k], y[k]), metric.Calibration(p[k], y[k])
	}
	return s
}

// crossFit fits on the even rows and scores the odd ones, and the other way
// round, and scores all rows together.
func crossFit(spec model.Spec, method string, c *cols) studyScores {
	even := c.sub(func(i int) bool { return i%2 == 0 })
	odd := c.sub(func(i int) bool { return i%2 == 1 })
	n1, p1, y1 := apply(spec, fitMaps(spec, method, even), odd)
	_, p2, y2 := apply(spec, fitMaps(spec, method, odd), even)
	for k := range p1 {
		p1[k], y1[k] = append(p1[k], p2[k]...), append(y1[k], y2[k]...)
	}
	return scores(n1, p1, y1)
}

func TestSelectionStudy(t *testing.T) {
	out := os.Getenv("DCRNN_STUDY")
	if out == "" {
		t.Skip("the selection study runs with DCRNN_STUDY=DIR (see the comment at the top of this file)")
	}
	kind, path, _ := strings.Cut(os.Getenv("DCRNN_STUDY_DATA"), ":")
	var schemaPath, dataPath string
	var ratios []float64
	switch kind {
	case "synth":
		schemaPath, dataPath, ratios = filepath.Join(path, "schema.yaml"), filepath.Join(path, "data.csv"), []float64{0.8, 0.1, 0.1}
	case "census":
		schemaPath, dataPath, ratios = "../../examples/census.yaml", path, []float64{0.5, 0.25, 0.25}
	default:
		t.Fatalf("DCRNN_STUDY_DATA=%q: want synth:DIR or census:FILE", os.Getenv("DCRNN_STUDY_DATA"))
	}
	schema, err := feature.LoadSchema(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	sp := data.Splitter{Ratios: ratios, Seed: 1}
	part := func(k int) func(int64) bool { return func(r int64) bool { return sp.Part(r) == k } }
	tensor.SetThreads(2)
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range strings.Split(cmp.Or(os.Getenv("DCRNN_STUDY_SEEDS"), "1,2,3"), ",") {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(filepath.Join(out, fmt.Sprintf("%s-seed%d.jsonl", kind, seed)))
		if err != nil {
			t.Fatal(err)
		}
		w := bufio.NewWriter(f)
		valid := Source{Path: dataPath, Filter: part(1), Name: "valid"}
		test := Source{Path: dataPath, Filter: part(2), Name: "test"}
		cfg := Config{Seed: seed, ValidPerEpoch: 4, Patience: 1000, Calibration: "none"}
		job := Job{Schema: schema, Model: "dcrnn", Config: cfg, Train: Source{Path: dataPath, Filter: part(0), Name: "train"}, Valid: valid, Test: &test}
		ctx := context.Background()
		job.onEval = func(tr *model.Trained, ev EpochResult) error {
			vc, err := collect(ctx, tr, valid)
			if err != nil {
				return err
			}
			tc, err := collect(ctx, tr, test)
			if err != nil {
				return err
			}
			rec := studyEval{Data: kind, Seed: seed, Epoch: ev.Epoch, Step: ev.Step, EpochEnd: ev.EpochEnd, Valid: ev.Valid,
				Test: map[string]studyScores{}, ValidIn: map[string]studyScores{}, ValidCV: map[string]studyScores{}}
			for _, m := range []string{"none", "platt", "isotonic"} {
				maps := fitMaps(tr.Spec, m, vc)
				rec.Test[m] = scores(apply(tr.Spec, maps, tc))
				rec.ValidIn[m] = scores(apply(tr.Spec, maps, vc))
				rec.ValidCV[m] = crossFit(tr.Spec, m, vc)
			}
			b, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			t.Logf("%s seed %d epoch %d step %d: valid mean AUC %.4f, test click/first AUC %.4f", kind, seed, ev.Epoch, ev.Step, ev.Score,
				rec.Test["none"].AUC[tr.Spec.Tasks[0].Name])
			_, err = w.Write(append(b, '\n'))
			return err
		}
		if _, err := Run(ctx, job); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
}

// studyRule is one selection rule of the report.
type studyRule struct {
	perEpoch, smooth int
	metric           string
}

func (r studyRule) String() string {
	return fmt.Sprintf("valid_per_epoch=%d metric=%s smooth=%d", r.perEpoch, r.metric, r.smooth)
}

// replay returns the evaluation a rule selects from a run's record.
func (r studyRule) replay(spec model.Spec, evs []studyEval) (studyEval, int) {
	sel := newSelector(r.smooth, 2*r.perEpoch)
	var seen []studyEval
	for i, e := range evs {
		// Evaluation i%4 of an epoch (4 per epoch): 3 is the end; with 2
		// per epoch the middle one is 1 (⌈2S/4⌉ = ⌈S/2⌉).
		k := i % 4
		if (r.perEpoch == 1 && k != 3) || (r.perEpoch == 2 && k != 1 && k != 3) {
			continue
		}
		sc, err := score(e.Valid, spec, r.metric)
		if err != nil {
			panic(err)
		}
		seen = append(seen, e)
		if _, stop := sel.add(sc); stop {
			break
		}
	}
	return seen[sel.best], len(seen)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func spread(v []float64) float64 { return slices.Max(v) - slices.Min(v) }

func TestSelectionStudyReport(t *testing.T) {
	dir := os.Getenv("DCRNN_STUDY")
	if dir == "" {
		t.Skip("the selection study runs with DCRNN_STUDY=DIR (see the comment at the top of this file)")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	runs := map[string][][]studyEval{} // by data set, one per seed
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var evs []studyEval
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var e studyEval
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			evs = append(evs, e)
		}
		runs[evs[0].Data] = append(runs[evs[0].Data], evs)
	}
	var rules []studyRule
	for _, k := range []int{1, 2, 4} {
		for _, m := range []string{"mean_auc", "logloss"} {
			for _, s := range []int{1, 2, 3, 4} {
				rules = append(rules, studyRule{k, s, m})
			}
		}
	}
	for _, kind := range slices.Sorted(func(yield func(string) bool) {
		for k := range runs {
			if !yield(k) {
				return
			}
		}
	}) {
		rs := runs[kind]
		slices.SortFunc(rs, func(a, b []studyEval) int { return cmp.Compare(a[0].Seed, b[0].Seed) })
		var spec model.Spec
		var cols []string // the test columns of the table
		for name := range rs[0][0].Valid.Tasks {
			spec.Tasks = append(spec.Tasks, model.Task{Name: name, After: -1})
		}
		slices.SortFunc(spec.Tasks, func(a, b model.Task) int { return cmp.Compare(a.Name, b.Name) })
		if kind == "synth" {
			spec.Tasks = []model.Task{{Name: "click", After: -1}, {Name: "conversion", After: 0}}
			cols = []string{"click", "ctcvr"}
		} else {
			for _, task := range spec.Tasks {
				cols = append(cols, task.Name)
			}
		}
		var seeds []string
		for _, r := range rs {
			seeds = append(seeds, strconv.FormatUint(r[0].Seed, 10))
		}
		fmt.Printf("\n%s, seeds %s: test AUC of the selected weights (model's own probabilities), median [min, max], spread = max - min (per seed)\n\n", kind, strings.Join(seeds, ","))
		fmt.Printf("| rule | %s | evaluations | selected step |\n|---|%s---:|---|\n", strings.Join(cols, " | "), strings.Repeat("---:|", len(cols)))
		for _, rule := range rules {
			var line []string
			var steps, used []string
			per := map[string][]float64{}
			for _, r := range rs {
				e, n := rule.replay(spec, r)
				for _, c := range cols {
					per[c] = append(per[c], e.Test["none"].AUC[c])
				}
				steps = append(steps, strconv.Itoa(e.Step))
				used = append(used, strconv.Itoa(n))
			}
			for _, c := range cols {
				v := per[c]
				var each []string
				for _, x := range v {
					each = append(each, fmt.Sprintf("%.4f", x))
				}
				line = append(line, fmt.Sprintf("%.4f [%.4f, %.4f] %.4f (%s)", median(v), slices.Min(v), slices.Max(v), spread(v), strings.Join(each, " ")))
			}
			fmt.Printf("| %s | %s | %s | %s |\n", rule, strings.Join(line, " | "), strings.Join(used, ","), strings.Join(steps, ","))
		}
		for _, rule := range []studyRule{{1, 1, "mean_auc"}, {4, 3, "mean_auc"}} { // the old default and the new one
			fmt.Printf("\n%s, %s: calibration at the selected weights, per seed (%s)\n\n", kind, rule, strings.Join(seeds, ","))
			fmt.Printf("| method | column | valid logloss in sample | valid logloss 2-fold | test logloss | test calibration | test AUC |\n|---|---|---|---|---|---|---|\n")
			for _, m := range []string{"none", "platt", "isotonic"} {
				for _, c := range cols {
					var vin, vcv, tll, tcal, tauc []string
					for _, r := range rs {
						e, _ := rule.replay(spec, r)
						vin = append(vin, fmt.Sprintf("%.5f", e.ValidIn[m].LogLoss[c]))
						vcv = append(vcv, fmt.Sprintf("%.5f", e.ValidCV[m].LogLoss[c]))
						tll = append(tll, fmt.Sprintf("%.5f", e.Test[m].LogLoss[c]))
						tcal = append(tcal, fmt.Sprintf("%.3f", e.Test[m].Calib[c]))
						tauc = append(tauc, fmt.Sprintf("%.4f", e.Test[m].AUC[c]))
					}
					fmt.Printf("| %s | %s | %s | %s | %s | %s | %s |\n", m, c, strings.Join(vin, " "), strings.Join(vcv, " "), strings.Join(tll, " "),
						strings.Join(tcal, " "), strings.Join(tauc, " "))
				}
			}
		}
	}
}
