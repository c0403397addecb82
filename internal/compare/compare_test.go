package compare

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dcrnn/dcrnn/internal/data"
	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/synth"
	"github.com/dcrnn/dcrnn/internal/train"
)

func TestMeanStd(t *testing.T) {
	tests := []struct {
		name      string
		x         []float64
		mean, std float64
	}{
		{"one", []float64{0.93}, 0.93, 0},
		{"two", []float64{0.90, 0.92}, 0.91, 0.0141421356237}, // sqrt((0.01²+0.01²)/1)
		{"four", []float64{1, 2, 3, 4}, 2.5, 1.2909944487358}, // sqrt(5/3)
		{"equal", []float64{0.5, 0.5, 0.5}, 0.5, 0},
		{"three", []float64{0.936, 0.938, 0.943}, 0.939, 0.0036055512755}, // sqrt((9+1+16)e-6/2)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, s := MeanStd(tc.x)
			if math.Abs(m-tc.mean) > 1e-12 || math.Abs(s-tc.std) > 1e-12 {
				t.Errorf("MeanStd(%v) = %v, %v; want %v, %v", tc.x, m, s, tc.mean, tc.std)
			}
		})
	}
	if m, s := MeanStd(nil); !math.IsNaN(m) || !math.IsNaN(s) {
		t.Errorf("MeanStd(nil) = %v, %v; want NaN, NaN", m, s)
	}
}

// fakeRun makes a run with the given test AUCs and loglosses for tasks a, b.
func fakeRun(name string, rho *float64, seed uint64, aucA, aucB, llA, llB, secs, sps float64) Run {
	return Run{Model: name, Rho: rho, Seed: seed, Params: 1000 + int(seed), TrainSeconds: Num(secs), SamplesPerSecond: Num(sps),
		ScoreUSPerRow: Num(seed), PredictUSPerRow: Num(2 * float64(seed)), Epochs: int(seed) + 1, BestEpoch: int(seed),
		ValidAUC: []Num{0.5, 0.6},
		Test: &train.Report{Tasks: map[string]train.TaskMetrics{
			"a": {AUC: train.Num(aucA), LogLoss: train.Num(llA)},
			"b": {AUC: train.Num(aucB), LogLoss: train.Num(llB)},
		}}}
}

// TestSummarize checks the means and standard deviations against values
// computed by hand from a fake set of runs.
func TestSummarize(t *testing.T) {
	r0, r1 := 0.0, 1.0
	runs := []Run{
		fakeRun("x", nil, 1, 0.90, 0.80, 0.30, 0.50, 10, 100),
		fakeRun("x", nil, 2, 0.92, 0.80, 0.20, 0.40, 20, 300),
		fakeRun("x", nil, 3, 0.94, 0.83, 0.10, 0.30, 30, 200),
		fakeRun("y", nil, 1, 0.70, 0.60, 0.60, 0.60, 5, 50),
		fakeRun("dcrnn", &r0, 1, 0.81, 0.71, 0.4, 0.4, 8, 80),
		fakeRun("dcrnn", &r0, 2, 0.83, 0.75, 0.2, 0.2, 12, 120),
		fakeRun("dcrnn", &r1, 1, 0.85, 0.70, 0.1, 0.1, 4, 40),
	}
	runs[0].Gates = []model.GateUsage{{Gate: "a", Experts: []string{"e0", "e1"}, Weights: []float64{0.2, 0.8}}}
	runs[1].Gates = []model.GateUsage{{Gate: "a", Experts: []string{"e0", "e1"}, Weights: []float64{0.4, 0.6}}}
	runs[2].Gates = []model.GateUsage{{Gate: "a", Experts: []string{"e0", "e1"}, Weights: []float64{0.6, 0.4}}}
	rep := Summarize(runs, []string{"x", "y"}, []float64{0, 1}, nil, []string{"a", "b"})

	near := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %.12g, want %.12g", what, got, want)
		}
	}
	x := rep.Models["x"]
	near("x a auc_mean", float64(x.Tasks["a"].AUCMean), 0.92)
	near("x a auc_std", float64(x.Tasks["a"].AUCStd), 0.02) // sqrt((0.02²+0+0.02²)/2)
	near("x b auc_mean", float64(x.Tasks["b"].AUCMean), 0.81)
	near("x b auc_std", float64(x.Tasks["b"].AUCStd), math.Sqrt((0.0001+0.0001+0.0004)/2)) // deviations -0.01 -0.01 +0.02
	near("x a logloss_mean", float64(x.Tasks["a"].LogLossMean), 0.2)
	near("x b logloss_mean", float64(x.Tasks["b"].LogLossMean), 0.4)
	near("x train_seconds_mean", float64(x.TrainSecondsMean), 20)
	near("x train_samples_per_second", float64(x.TrainSamplesPerSecond), 200)
	near("x score_us_per_row", float64(x.ScoreUSPerRow), 2)
	near("x predict_us_per_row", float64(x.PredictUSPerRow), 4)
	near("x epochs_mean", float64(x.EpochsMean), 3)
	if x.Params != 1001 {
		t.Errorf("x params = %d, want the first seed's 1001", x.Params)
	}
	if len(x.Tasks["a"].AUCs) != 3 || float64(x.Tasks["a"].AUCs[2]) != 0.94 {
		t.Errorf("x a aucs = %v, want the three seeds' AUCs in seed order", x.Tasks["a"].AUCs)
	}
	if len(x.Gates) != 1 {
		t.Fatalf("x gates = %+v, want one gate", x.Gates)
	}
	// Gate usage is the first seed's (expert numbers differ between runs).
	near("x gate e0", x.Gates[0].Weights[0], 0.2)
	near("x gate e1", x.Gates[0].Weights[1], 0.8)

	y := rep.Models["y"]
	near("y a auc_mean", float64(y.Tasks["a"].AUCMean), 0.70)
	near("y a auc_std (one seed)", float64(y.Tasks["a"].AUCStd), 0)
	if y.Gates != nil {
		t.Errorf("y has no gates, got %+v", y.Gates)
	}

	if len(rep.Sweep) != 2 || rep.Sweep[0].Rho != 0 || rep.Sweep[1].Rho != 1 {
		t.Fatalf("sweep = %+v, want rho 0 and 1", rep.Sweep)
	}
	s0 := rep.Sweep[0]
	near("rho 0 a auc_mean", float64(s0.Tasks["a"].AUCMean), 0.82)
	near("rho 0 a auc_std", float64(s0.Tasks["a"].AUCStd), math.Sqrt(0.0002)) // deviations ±0.01, n-1 = 1
	near("rho 0 b auc_mean", float64(s0.Tasks["b"].AUCMean), 0.73)
	near("rho 0 train_seconds_mean", float64(s0.TrainSecondsMean), 10)
	near("rho 1 a auc_mean", float64(rep.Sweep[1].Tasks["a"].AUCMean), 0.85)
	if _, ok := rep.Models["dcrnn"]; ok {
		t.Errorf("sweep runs leaked into the model table")
	}
}

// TestCompareEndToEnd trains 2 models × 2 seeds × 1 epoch and a 2-point
// sweep on a tiny synthetic funnel, writes the report and checks its files.
func TestCompareEndToEnd(t *testing.T) {
	dir := t.TempDir()
	if _, err := synth.WriteDir(context.Background(), dir, synth.Config{Rows: 6000, Seed: 7}, false); err != nil {
		t.Fatal(err)
	}
	schema, err := feature.LoadSchema(filepath.Join(dir, "schema.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "data.csv")
	sp := data.Splitter{Ratios: []float64{0.5, 0.25, 0.25}, Seed: 1}
	part := func(k int) func(int64) bool { return func(r int64) bool { return sp.Part(r) == k } }
	cfg, err := train.LoadConfig("", []string{"epochs=1", "proj=8", "deep=[16]", "tower=[8]", "expert_hidden=[8]", "state_size=8"})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Compare(context.Background(), Options{Schema: schema,
		Train: train.Source{Path: path, Filter: part(0), Name: "train"}, Valid: train.Source{Path: path, Filter: part(1), Name: "valid"},
		Test:   &train.Source{Path: path, Filter: part(2), Name: "test"},
		Models: []string{"mmoe", "dcrnn"}, Seeds: 2, Config: cfg, Sweep: []float64{0, 1},
		Meta: Meta{Command: "dcrnn compare (test)", Date: "2026-01-01"}})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "report")
	if err := WriteDir(out, rep); err != nil {
		t.Fatal(err)
	}

	// report.json has the contract's keys for every model and sweep point.
	b, err := os.ReadFile(filepath.Join(out, JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Models map[string]map[string]json.RawMessage `json:"models"`
		Sweep  []map[string]json.RawMessage          `json:"sweep"`
		Runs   []json.RawMessage                     `json:"runs"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("report.json: %v", err)
	}
	keys := []string{"tasks", "params", "train_seconds_mean", "train_samples_per_second", "score_us_per_row"}
	for _, m := range []string{"mmoe", "dcrnn"} {
		s, ok := doc.Models[m]
		if !ok {
			t.Fatalf("report.json lacks model %q", m)
		}
		for _, k := range keys {
			if _, ok := s[k]; !ok {
				t.Errorf("report.json: models.%s lacks %q", m, k)
			}
		}
		var tasks map[string]struct {
			AUCMean     *float64 `json:"auc_mean"`
			AUCStd      *float64 `json:"auc_std"`
			LogLossMean *float64 `json:"logloss_mean"`
		}
		if err := json.Unmarshal(s["tasks"], &tasks); err != nil {
			t.Fatal(err)
		}
		for _, task := range []string{"click", "conversion"} {
			ts := tasks[task]
			if ts.AUCMean == nil || ts.AUCStd == nil || ts.LogLossMean == nil {
				t.Fatalf("models.%s.tasks.%s lacks auc_mean, auc_std or logloss_mean", m, task)
			}
			if !(*ts.AUCMean > 0 && *ts.AUCMean < 1 && *ts.AUCStd >= 0 && *ts.LogLossMean > 0) {
				t.Errorf("models.%s.tasks.%s = %v ± %v, logloss %v", m, task, *ts.AUCMean, *ts.AUCStd, *ts.LogLossMean)
			}
		}
	}
	if _, ok := doc.Models["mmoe"]["gates"]; !ok {
		t.Errorf("mmoe lacks gate usage")
	}
	if len(doc.Sweep) != 2 {
		t.Fatalf("sweep has %d points, want 2", len(doc.Sweep))
	}
	for i, p := range doc.Sweep {
		for _, k := range append(keys, "rho") {
			if _, ok := p[k]; !ok {
				t.Errorf("sweep[%d] lacks %q", i, k)
			}
		}
	}
	// rho 0 and 1 differ from the default 0.5, so every run was trained:
	// 2 models × 2 seeds + 2 points × 2 seeds.
	if len(doc.Runs) != 8 {
		t.Errorf("%d runs, want 8", len(doc.Runs))
	}
	if rep.Sweep[0].SharedHidden != 0 || rep.Sweep[0].PrivateHidden != 8 || rep.Sweep[1].SharedHidden != 8 || rep.Sweep[1].PrivateHidden != 0 {
		t.Errorf("sweep state sizes %d+%d, %d+%d; want 0+8 and 8+0 (state_size fixed)", rep.Sweep[0].SharedHidden,
			rep.Sweep[0].PrivateHidden, rep.Sweep[1].SharedHidden, rep.Sweep[1].PrivateHidden)
	}
	if rep.Sweep[0].Params <= rep.Sweep[1].Params {
		t.Errorf("rho 0 has %d parameters, rho 1 %d: private blocks per task should cost more", rep.Sweep[0].Params, rep.Sweep[1].Params)
	}

	// The plots are PNG images of a readable size.
	for _, f := range []string{AUCPlot, SweepPlot, CurvesPlot, GatesPlot} {
		b, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if r := img.Bounds(); r.Dx() < 600 || r.Dy() < 200 {
			t.Errorf("%s is %dx%d pixels", f, r.Dx(), r.Dy())
		}
	}

	// report.md has a row per model, a row per sweep point and links the plots.
	md, err := os.ReadFile(filepath.Join(out, MarkdownFile))
	if err != nil {
		t.Fatal(err)
	}
	text := string(md)
	for _, want := range []string{"| mmoe | 0.", "| dcrnn | 0.", "| 0 | 0 | 8 | 0.", "| 1 | 8 | 0 | 0.", "](auc.png)", "](sweep.png)", "](curves.png)", "](gates.png)",
		"### mmoe", "| click | 1 | expert 0 ", "| click | 2 | expert 0 ", "embedding_dim 16"} {
		if !strings.Contains(text, want) {
			t.Errorf("report.md lacks %q:\n%s", want, text)
		}
	}

	// Drawing again from report.json gives the same Markdown.
	again, err := ReadReport(filepath.Join(out, JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	WriteMarkdown(&buf, again, []string{AUCPlot, CurvesPlot, GatesPlot, SweepPlot})
	if buf.String() != text {
		t.Errorf("report.md drawn from report.json differs:\n%s\n---\n%s", buf.String(), text)
	}
}

// TestCompareReuse: a sweep point equal to the model's config reuses its
// runs instead of training them again.
func TestCompareReuse(t *testing.T) {
	if testing.Short() {
		t.Skip("trains models")
	}
	dir := t.TempDir()
	if _, err := synth.WriteDir(context.Background(), dir, synth.Config{Rows: 6000, Seed: 7}, false); err != nil {
		t.Fatal(err)
	}
	schema, err := feature.LoadSchema(filepath.Join(dir, "schema.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "data.csv")
	sp := data.Splitter{Ratios: []float64{0.5, 0.25, 0.25}, Seed: 1}
	part := func(k int) func(int64) bool { return func(r int64) bool { return sp.Part(r) == k } }
	cfg, err := train.LoadConfig("", []string{"epochs=1", "proj=4", "deep=[4]", "tower=[4]", "state_size=4"})
	if err != nil {
		t.Fatal(err)
	}
	cellGRU, err := train.LoadConfig("", []string{"epochs=1", "proj=4", "deep=[4]", "tower=[4]", "state_size=4", "cell=gru"})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Compare(context.Background(), Options{Schema: schema,
		Train: train.Source{Path: path, Filter: part(0)}, Valid: train.Source{Path: path, Filter: part(1)},
		Test: &train.Source{Path: path, Filter: part(2)}, Models: []string{"dcrnn"}, Seeds: 1, Config: cfg, Sweep: []float64{0.5},
		Ablation: []Ablated{{Variant: Variant{Name: DefaultVariant}, Config: cfg},
			{Variant: Variant{Name: "cell=gru", Set: []string{"cell=gru"}}, Config: cellGRU}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Runs) != 4 {
		t.Fatalf("%d runs, want 4", len(rep.Runs))
	}
	for _, r := range rep.Runs[2:] {
		if r.Variant == "" || r.TrainSeconds != rep.Runs[0].TrainSeconds {
			t.Errorf("ablation run %q was trained again instead of reusing the dcrnn run", r.Variant)
		}
	}
	if len(rep.Ablation) != 2 || rep.Ablation[0].SameAs != "" || rep.Ablation[1].SameAs != DefaultVariant {
		t.Errorf("ablation %+v, want cell=gru marked the same as default", rep.Ablation)
	}
	if _, ok := rep.Models["dcrnn"]; !ok || len(rep.Models["dcrnn"].Seeds) != 1 {
		t.Errorf("ablation runs leaked into the model table: %+v", rep.Models["dcrnn"])
	}
	a, b := rep.Runs[0], rep.Runs[1]
	if a.Rho != nil || b.Rho == nil || *b.Rho != 0.5 {
		t.Fatalf("runs' rho: %v, %v", a.Rho, b.Rho)
	}
	if a.TrainSeconds != b.TrainSeconds || a.Test.Tasks["click"].AUC != b.Test.Tasks["click"].AUC {
		t.Errorf("the rho 0.5 point was trained again instead of reusing the dcrnn run")
	}
}

func TestCompareBadOptions(t *testing.T) {
	s := &feature.Schema{}
	test := &train.Source{Path: "x"}
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"no test part", Options{Schema: s, Models: []string{"dcrnn"}}, "test part"},
		{"no model", Options{Schema: s, Test: test}, "no model"},
		{"unknown model", Options{Schema: s, Test: test, Models: []string{"nope"}}, `unknown model "nope"`},
		{"twice", Options{Schema: s, Test: test, Models: []string{"esmm", "esmm"}}, "listed twice"},
		{"bad rho", Options{Schema: s, Test: test, Sweep: []float64{1.5}}, "rho must be in [0, 1]"},
		{"variant twice", Options{Schema: s, Test: test, Ablation: []Ablated{{Variant: Variant{Name: "a"}}, {Variant: Variant{Name: "a"}}}}, `"a" is listed twice`},
		{"variant config", Options{Schema: s, Test: test, Ablation: []Ablated{{Variant: Variant{Name: "a"}, Config: train.Config{Epochs: -1}}}}, "--ablate a: config: epochs"},
		{"variant seed", Options{Schema: s, Test: test, Ablation: []Ablated{{Variant: Variant{Name: "a"}, Config: train.Config{Seed: 2}}}}, "sets seed"},
		{"bad config", Options{Schema: s, Test: test, Models: []string{"esmm"}, Config: train.Config{Epochs: -1}}, "epochs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compare(context.Background(), tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestPrecisionTicks(t *testing.T) {
	tests := []struct {
		lo, hi float64
		labels []string
	}{
		{0.9431, 0.9479, []string{"0.944", "0.945", "0.946", "0.947"}},
		{0.993, 0.996, []string{"0.9930", "0.9935", "0.9940", "0.9945", "0.9950", "0.9955", "0.9960"}},
		{0.55, 0.67, []string{"0.56", "0.58", "0.60", "0.62", "0.64", "0.66"}},
	}
	for _, tc := range tests {
		var got []string
		for _, tk := range (precisionTicks{}).Ticks(tc.lo, tc.hi) {
			if tk.Label != "" {
				got = append(got, tk.Label)
			}
		}
		if strings.Join(got, " ") != strings.Join(tc.labels, " ") {
			t.Errorf("ticks(%g, %g) = %v, want %v", tc.lo, tc.hi, got, tc.labels)
		}
	}
}

func TestHumanCount(t *testing.T) {
	for n, want := range map[float64]string{0: "0", 950: "950", 1000: "1k", 12500: "12.5k", 200000: "200k", 1250000: "1.25M", 3e6: "3M"} {
		if got := humanCount(n); got != want {
			t.Errorf("humanCount(%v) = %q, want %q", n, got, want)
		}
	}
}

// A metric that is undefined (a validation part without positives) or
// infinite (a run too fast to time) is written as null and read back as
// NaN; the report used to fail with "json: unsupported value: NaN".
func TestReportWithUndefinedMetrics(t *testing.T) {
	r := fakeRun("esmm", nil, 1, 0.7, math.NaN(), 0.3, 0.4, 0, math.Inf(1))
	r.ValidAUC = []Num{Num(math.NaN()), 0.6}
	r.TrainLoss = []Num{Num(math.NaN())}
	rep := Summarize([]Run{r}, []string{"esmm"}, nil, nil, []string{"a", "b"})
	dir := t.TempDir()
	if err := WriteDir(dir, rep); err != nil {
		t.Fatalf("WriteDir: %v", err)
	}
	back, err := ReadReport(filepath.Join(dir, JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	got := back.Runs[0]
	if !math.IsNaN(float64(got.ValidAUC[0])) || got.ValidAUC[1] != 0.6 || !math.IsNaN(float64(got.SamplesPerSecond)) ||
		!math.IsNaN(float64(back.Models["esmm"].Tasks["b"].AUCMean)) || back.Models["esmm"].Tasks["a"].AUCMean != 0.7 {
		t.Errorf("read back: valid %v, samples/s %v, b auc %v, a auc %v", got.ValidAUC, got.SamplesPerSecond,
			back.Models["esmm"].Tasks["b"].AUCMean, back.Models["esmm"].Tasks["a"].AUCMean)
	}
}

func TestParseAblate(t *testing.T) {
	names := func(vs []Variant) string {
		var n []string
		for _, v := range vs {
			n = append(n, v.Name+"["+strings.Join(v.Set, " ")+"]")
		}
		return strings.Join(n, ",")
	}
	tests := []struct{ in, want, err string }{
		{"", "", ""},
		{"no-cross", "default[],no-cross[cross=false]", ""},
		{"default,no-transfer", "default[],no-transfer[transfer=false]", ""},
		{" rho=0 , cell = lstm,", "default[],rho=0[rho=0],cell=lstm[cell=lstm]", ""},
		{"all", "default[],no-cross[cross=false],rho=0[rho=0],rho=0.5[rho=0.5],rho=1[rho=1],cell=gru[cell=gru],cell=lstm[cell=lstm]," +
			"cell=rnn[cell=rnn],cross_mode=depth[cross_mode=depth],cross_mode=fields[cross_mode=fields],no-transfer[transfer=false]", ""},
		{"cross_steps=5,all", "default[],cross_steps=5[cross_steps=5],no-cross[cross=false],rho=0[rho=0],rho=0.5[rho=0.5],rho=1[rho=1]," +
			"cell=gru[cell=gru],cell=lstm[cell=lstm],cell=rnn[cell=rnn],cross_mode=depth[cross_mode=depth],cross_mode=fields[cross_mode=fields]," +
			"no-transfer[transfer=false]", ""},
		{"rho=0,rho = 0", "", `"rho = 0" is listed twice`},
		{"no-cross,no-cross", "", "listed twice"},
		{"bogus", "", `variant "bogus": want default, no-cross`},
		{"rho=", "", `variant "rho="`},
		{"seed=2", "", "seeds are 1..--seeds"},
	}
	for _, tc := range tests {
		vs, err := ParseAblate(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseAblate(%q) err = %v, want it to mention %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || names(vs) != tc.want {
			t.Errorf("ParseAblate(%q) = %s, %v; want %s", tc.in, names(vs), err, tc.want)
		}
	}
}

// TestAblationTable checks the ablation table of report.md against values
// computed by hand, and that report.json draws the same table again.
func TestAblationTable(t *testing.T) {
	variant := func(v string, seed uint64, a, b, secs float64) Run {
		r := fakeRun("dcrnn", nil, seed, a, b, 0.2, 0.3, secs, 100)
		r.Variant = v
		return r
	}
	runs := []Run{
		variant("default", 1, 0.90, 0.80, 10), variant("default", 2, 0.92, 0.82, 20),
		variant("no-cross", 1, 0.88, 0.81, 4), variant("no-cross", 2, 0.90, 0.81, 6),
		variant("rho=0.5", 1, 0.90, 0.80, 10), variant("rho=0.5", 2, 0.92, 0.82, 20),
	}
	rep := Summarize(runs, nil, nil, []string{"default", "no-cross", "rho=0.5"}, []string{"a", "b"})
	rep.Seeds = 2
	rep.Ablation[1].Set = []string{"cross=false"}
	rep.Ablation[2].Set, rep.Ablation[2].SameAs = []string{"rho=0.5"}, "default"
	var md bytes.Buffer
	WriteMarkdown(&md, rep, nil)
	text := md.String()
	// no-cross: a 0.89 vs 0.91, b 0.81 vs 0.81: Δ = (-0.02 + 0) / 2.
	for _, want := range []string{
		"## DCRNN ablation (mean ± std over 2 seeds)",
		"| variant | overrides | a AUC | b AUC | Δ mean AUC | params | train s | epochs |",
		"| default | – | 0.9100 ± 0.01414 | 0.8100 ± 0.01414 | (reference) | 1,001 | 15.0 | 2.5 |",
		"| no-cross | `cross=false` | 0.8900 ± 0.01414 | 0.8100 ± 0.00000 | -0.01000 | 1,001 | 5.0 | 2.5 |",
		"| rho=0.5 | `rho=0.5` (= default) | 0.9100 ± 0.01414 | 0.8100 ± 0.01414 | +0.00000 | 1,001 | 15.0 | 2.5 |",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report.md lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "## Test metrics") {
		t.Errorf("ablation runs made a model table:\n%s", text)
	}
	dir := t.TempDir()
	if err := WriteDir(dir, rep); err != nil {
		t.Fatal(err)
	}
	back, err := ReadReport(filepath.Join(dir, JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	WriteMarkdown(&again, back, nil)
	if again.String() != text {
		t.Errorf("report.md drawn from report.json differs:\n%s\n---\n%s", again.String(), text)
	}
	var doc struct {
		Ablation []struct {
			Variant string   `json:"variant"`
			Set     []string `json:"set"`
			SameAs  string   `json:"same_as"`
			Tasks   map[string]struct {
				AUCMean float64 `json:"auc_mean"`
				AUCStd  float64 `json:"auc_std"`
			} `json:"tasks"`
			Params       int     `json:"params"`
			TrainSeconds float64 `json:"train_seconds_mean"`
		} `json:"ablation"`
	}
	b, _ := os.ReadFile(filepath.Join(dir, JSONFile))
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Ablation) != 3 || doc.Ablation[1].Variant != "no-cross" || doc.Ablation[1].Set[0] != "cross=false" ||
		doc.Ablation[2].SameAs != "default" || math.Abs(doc.Ablation[1].Tasks["a"].AUCMean-0.89) > 1e-12 ||
		doc.Ablation[1].Params != 1001 || doc.Ablation[1].TrainSeconds != 5 {
		t.Errorf("report.json ablation = %+v", doc.Ablation)
	}
}
