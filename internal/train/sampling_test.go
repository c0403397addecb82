package train_test

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/dcrnn/dcrnn/internal/data"
	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/synth"
	"github.com/dcrnn/dcrnn/internal/tensor"
	"github.com/dcrnn/dcrnn/internal/train"
)

// TestNegativeSamplingDownsampledLog: a generated funnel log is split
// 0.6/0.2/0.2; the training and validation parts are down-sampled (every
// click kept, each non-click kept with probability 0.2) and the schema says
// negative_sampling: 0.2. A model trained and calibrated on them scores the
// full test part: its mean click and ctcvr predictions match the mean true
// probabilities of those rows (the generator's truth.csv), where the
// uncorrected click ones are about 4 times too high; the click AUC is that
// of the uncorrected probabilities (the correction is monotone), the ctcvr
// AUC within 0.01 of it (a product of two steps mapped differently). On the
// down-sampled validation part the corrected click calibration reads about
// r + w·(1-r) (feature package doc).
func TestNegativeSamplingDownsampledLog(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a small model")
	}
	tensor.SetThreads(1)
	defer tensor.SetThreads(0)
	const rate = 0.2
	dir := t.TempDir()
	if _, err := synth.WriteDir(context.Background(), dir, synth.Config{Rows: 60000, Seed: 5}, true); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "schema.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	click := regexpLine(t, string(b), "name: click,")
	schemaText := strings.Replace(string(b), click, strings.Replace(click, "}", fmt.Sprintf(", negative_sampling: %v}", rate), 1), 1)
	schema, err := feature.ParseSchema([]byte(schemaText))
	if err != nil {
		t.Fatal(err)
	}
	if w := schema.Tasks[0].NegativeSampling; w == nil || *w != rate {
		t.Fatalf("schema rate %v", w)
	}

	// Split the log and down-sample the training and validation parts.
	lines := readLines(t, filepath.Join(dir, "data.csv"))
	truth := readLines(t, filepath.Join(dir, "truth.csv"))
	sp := data.Splitter{Ratios: []float64{0.6, 0.2, 0.2}, Seed: 1}
	rng := rand.New(rand.NewPCG(11, 12))
	parts := []*strings.Builder{{}, {}, {}}
	for _, p := range parts {
		p.WriteString(lines[0] + "\n")
	}
	var full [3]struct{ rows, clicks, convs, kept int }
	var trueClick, trueCTCVR float64
	for i, line := range lines[1:] {
		k := sp.Part(int64(i))
		clicked := strings.HasPrefix(line, "1,")
		full[k].rows++
		if clicked {
			full[k].clicks++
		}
		if strings.HasPrefix(line, "1,1,") {
			full[k].convs++
		}
		if k == 2 {
			tc := strings.Split(truth[i+1], ",")
			trueClick += parse(t, tc[0])
			trueCTCVR += parse(t, tc[2])
		} else if !clicked && rng.Float64() >= rate {
			continue
		}
		full[k].kept++
		parts[k].WriteString(line + "\n")
	}
	trueClick /= float64(full[2].rows)
	trueCTCVR /= float64(full[2].rows)
	var paths [3]string
	for k, name := range []string{"train", "valid", "test"} {
		paths[k] = filepath.Join(dir, name+".csv")
		if err := os.WriteFile(paths[k], []byte(parts[k].String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("train %d of %d rows kept, valid %d of %d, test %d (true mean p_click %.4f, p_ctcvr %.5f)",
		full[0].kept, full[0].rows, full[1].kept, full[1].rows, full[2].rows, trueClick, trueCTCVR)

	shuffle := 2000
	cfg := train.Config{Epochs: 4, BatchSize: 256, Shuffle: &shuffle, Calibration: "platt"}
	cfg.Proj, cfg.StateSize, cfg.Deep, cfg.Tower = 16, 16, []int{32}, []int{16}
	test := train.Source{Path: paths[2], Name: "test"}
	res, err := train.Run(context.Background(), train.Job{Schema: schema, Model: "dcrnn", Config: cfg,
		Train: train.Source{Path: paths[0], Name: "train"}, Valid: train.Source{Path: paths[1], Name: "valid"}, Test: &test})
	if err != nil {
		t.Fatal(err)
	}
	if res.Trained.NegativeSampling() != rate || res.Trained.Calibration == nil {
		t.Fatalf("trained model: rate %v, calibration %+v", res.Trained.NegativeSampling(), res.Trained.Calibration)
	}
	raw, err := train.Evaluate(context.Background(), res.Trained, test, train.EvalOptions{Uncalibrated: true})
	if err != nil {
		t.Fatal(err)
	}
	// Mean prediction = calibration × mean label of the full test part.
	ctr := float64(full[2].clicks) / float64(full[2].rows)
	meanClick := float64(res.Test.Tasks["click"].Calibration) * ctr
	rawClick := float64(raw.Tasks["click"].Calibration) * ctr
	convRate := float64(res.Test.Tasks["conversion"].Calibration) // of ctcvr against the conversion labels
	t.Logf("test: mean corrected p_click %.4f (uncorrected %.4f, true %.4f, label rate %.4f); ctcvr calibration %.3f, click AUC %.4f (uncorrected %.4f)",
		meanClick, rawClick, trueClick, ctr, convRate, float64(res.Test.Tasks["click"].AUC), float64(raw.Tasks["click"].AUC))
	if r := meanClick / trueClick; r < 0.9 || r > 1.1 {
		t.Errorf("mean corrected p_click %.4f is %.3f × the true mean %.4f", meanClick, r, trueClick)
	}
	if r := rawClick / trueClick; r < 3 {
		t.Errorf("mean uncorrected p_click %.4f is only %.2f × the true mean: the test cannot tell the correction", rawClick, r)
	}
	meanCTCVR := convRate * float64(full[2].convs) / float64(full[2].rows)
	t.Logf("test: mean corrected p_ctcvr %.5f, true %.5f", meanCTCVR, trueCTCVR)
	if r := meanCTCVR / trueCTCVR; r < 0.75 || r > 1.33 {
		t.Errorf("mean corrected p_ctcvr %.5f is %.3f × the true mean %.5f", meanCTCVR, r, trueCTCVR)
	}
	// The click correction (and Platt) are monotone: the same click AUC.
	// ctcvr is the corrected click times the calibrated conversion, two
	// steps mapped differently, so its order, and AUC, may move a little.
	if d := math.Abs(float64(res.Test.Tasks["click"].AUC - raw.Tasks["click"].AUC)); d > 1e-4 {
		t.Errorf("click: AUC %v corrected, %v uncorrected", res.Test.Tasks["click"].AUC, raw.Tasks["click"].AUC)
	}
	if d := math.Abs(float64(res.Test.Tasks["conversion"].AUC - raw.Tasks["conversion"].AUC)); d > 0.01 {
		t.Errorf("ctcvr: AUC %v corrected, %v uncorrected", res.Test.Tasks["conversion"].AUC, raw.Tasks["conversion"].AUC)
	}
	validCal := float64(res.Valid.Tasks["click"].Calibration)
	if want := ctr + rate*(1-ctr); math.Abs(validCal/want-1) > 0.15 {
		t.Errorf("down-sampled validation part: click calibration %.3f, want about r + w(1-r) = %.3f", validCal, want)
	}
}

func regexpLine(t *testing.T, text, sub string) string {
	t.Helper()
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	t.Fatalf("no line with %q in\n%s", sub, text)
	return ""
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func parse(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
