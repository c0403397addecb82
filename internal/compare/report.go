package compare

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/dcrnn/dcrnn/internal/atomicfile"
)

// Report file names inside the report directory.
const (
	JSONFile     = "report.json"
	MarkdownFile = "report.md"
)

// WriteDir writes report.json, report.md and the plots of rep into dir
// (created if needed). Every file is written atomically.
func WriteDir(dir string, rep *Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("compare: --out: %w", err)
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("compare: report.json: %w", err)
	}
	if err := writeFile(filepath.Join(dir, JSONFile), append(b, '\n')); err != nil {
		return err
	}
	plots, err := writePlots(dir, rep)
	if err != nil {
		return err
	}
	var md strings.Builder
	WriteMarkdown(&md, rep, plots)
	return writeFile(filepath.Join(dir, MarkdownFile), []byte(md.String()))
}

// writeFile writes b to path atomically (mode 0644).
func writeFile(path string, b []byte) error {
	if err := atomicfile.WriteFile(path, b); err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	return nil
}

// WriteMarkdown writes the report as Markdown; plots lists the plot files
// to link (relative to the report).
func WriteMarkdown(w io.Writer, rep *Report, plots []string) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("# dcrnn compare\n\n")
	if rep.Date != "" {
		p("- Date: %s\n", rep.Date)
	}
	if rep.Command != "" {
		p("- Command: `%s`\n", rep.Command)
	}
	if rep.Data != "" {
		p("- Data: `%s`, schema `%s`, split %s (split seed %d)", rep.Data, rep.Schema, rep.Split, rep.SplitSeed)
		if r := firstRun(rep); r != nil {
			p(": %d training, %d validation, %d test rows", r.TrainRows, r.ValidRows, testRows(r))
		}
		p("\n")
	}
	p("- Seeds: 1..%d per model (weights, shuffle, dropout); the split is the same for every run.\n", rep.Seeds)
	c := rep.Config
	p("- Budget, the same for every model: embedding_dim %d, at most %d epochs, batch %d, lr %g (%s), "+
		"%d validations per epoch, early stopping after %d validations without improvement of validation %s averaged over the last %d, "+
		"calibration %s fitted on the validation part; the best validation's weights are scored once on the test part. "+
		"Nothing is tuned on the test part.\n", c.EmbeddingDim, c.Epochs, c.BatchSize, c.LR, c.Decay, c.ValidPerEpoch, c.Patience, c.Metric, c.Smooth, c.Calibration)
	p("- Parameters count every trainable scalar, embedding tables included (the embeddings are the same size for every model).\n")
	if rep.WallSeconds > 0 {
		p("- Wall time %s", fmtDuration(rep.WallSeconds))
		if rep.CPUs > 0 {
			p(" on %d CPUs", rep.CPUs)
			if rep.Threads > 0 {
				p(", %d threads", rep.Threads)
			}
		}
		if rep.LoadBefore > 0 || rep.LoadAfter > 0 {
			p("; machine load average %.1f at the start, %.1f at the end (other work slows the timings down)", rep.LoadBefore, rep.LoadAfter)
		}
		p(".\n")
	}
	p("\n")

	if len(rep.Models) > 0 {
		p("## Test metrics (mean ± std over %d seeds)\n\n", rep.Seeds)
		writeTable(w, rep, false)
		p("\nAUC ± sample standard deviation over seeds; logloss is the mean. Train s is the training time of all epochs " +
			"(without validation passes); rows/s is training throughput; score µs/row is `train.Evaluate` on the test part " +
			"(read, parse, transform, predict, metrics) per row, predict µs/row the forward passes alone.\n\n")
		p("### Test AUC per seed\n\n| model | seed |")
		for _, t := range rep.TaskOrder {
			p(" %s |", t)
		}
		p(" epochs (best) |\n|---|---:|")
		for range rep.TaskOrder {
			p("---:|")
		}
		p("---:|\n")
		for _, m := range rep.ModelOrder {
			for _, r := range rep.Runs {
				if r.Model != m || r.Rho != nil || r.Variant != "" || r.Test == nil {
					continue
				}
				p("| %s | %d |", m, r.Seed)
				for _, t := range rep.TaskOrder {
					p(" %.4f |", float64(r.Test.Tasks[t].AUC))
				}
				p(" %d (%d) |\n", r.Epochs, r.BestEpoch)
			}
		}
		p("\n")
		writeGates(w, rep)
	}
	if len(rep.Sweep) > 0 {
		ss := rep.Config.StateSize
		if ss == 0 && len(rep.Sweep) > 0 {
			ss = rep.Sweep[0].SharedHidden + rep.Sweep[0].PrivateHidden
		}
		p("## Sharing ratio sweep: DCRNN at rho = H_s / (H_s + H_p), state size %d (mean ± std over %d seeds)\n\n", ss, rep.Seeds)
		writeTable(w, rep, true)
		p("\nrho 1 is hard sharing (one cross state for all tasks), rho 0 a private cross network per task (embeddings and deep branch still shared).\n\n")
	}
	if len(rep.Ablation) > 0 {
		p("## DCRNN ablation (mean ± std over %d seeds)\n\n", rep.Seeds)
		writeAblation(w, rep)
	}
	if len(plots) > 0 {
		p("## Plots\n\n")
		for _, f := range plots {
			p("![%s](%s)\n\n", plotCaption(f), f)
		}
	}
}

// writeTable writes the model table, or the sweep table when sweep is set.
// For the later task of a funnel it adds that task's AUC on the rows where
// the earlier step happened (CVR AUC on clicked rows); the task's own AUC is
// then the CTCVR AUC on all rows.
func writeTable(w io.Writer, rep *Report, sweep bool) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	var (
		rows   []*Summary
		labels []string // the first cells of each row
	)
	if sweep {
		for i := range rep.Sweep {
			sp := &rep.Sweep[i]
			rows = append(rows, &sp.Summary)
			labels = append(labels, fmt.Sprintf("%g | %d | %d", sp.Rho, sp.SharedHidden, sp.PrivateHidden))
		}
	} else {
		for _, m := range rep.ModelOrder {
			if s := rep.Models[m]; s != nil {
				rows = append(rows, s)
				labels = append(labels, m)
			}
		}
	}
	var clicked []string
	for _, t := range rep.TaskOrder {
		for _, s := range rows {
			if s.Tasks[t].AUCClickedMean != nil {
				clicked = append(clicked, t)
				break
			}
		}
	}
	if sweep {
		p("| rho | H_s | H_p |")
	} else {
		p("| model |")
	}
	for _, t := range rep.TaskOrder {
		p(" %s AUC |", t)
	}
	for _, t := range clicked {
		p(" %s AUC on clicked |", t)
	}
	for _, t := range rep.TaskOrder {
		p(" %s logloss |", t)
	}
	p(" params | train s | epochs | train rows/s | score µs/row | predict µs/row |\n")
	if sweep {
		p("|---:|---:|---:|")
	} else {
		p("|---|")
	}
	for i := 0; i < 2*len(rep.TaskOrder)+len(clicked)+6; i++ {
		p("---:|")
	}
	p("\n")
	for i, s := range rows {
		p("| %s |", labels[i])
		for _, t := range rep.TaskOrder {
			ts, ok := s.Tasks[t]
			if !ok {
				p(" – |")
				continue
			}
			p(" %s |", pm(ts))
		}
		for _, t := range clicked {
			if c := s.Tasks[t].AUCClickedMean; c != nil {
				p(" %.4f |", float64(*c))
			} else {
				p(" – |")
			}
		}
		for _, t := range rep.TaskOrder {
			p(" %.4f |", float64(s.Tasks[t].LogLossMean))
		}
		p(" %s | %.1f | %.1f | %.0f | %.2f | %.2f |\n", groupDigits(s.Params), s.TrainSecondsMean, s.EpochsMean,
			s.TrainSamplesPerSecond, s.ScoreUSPerRow, s.PredictUSPerRow)
	}
}

// writeAblation writes the ablation table: one row per variant with its
// overrides, test AUC mean ± std per task (and the later funnel task's AUC
// on clicked rows), the mean over tasks of the change in mean AUC against
// the default variant, parameters, training time and epochs.
func writeAblation(w io.Writer, rep *Report) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	var ref *Summary
	for i := range rep.Ablation {
		if rep.Ablation[i].Variant == DefaultVariant {
			ref = &rep.Ablation[i].Summary
			break
		}
	}
	var clicked []string
	for _, t := range rep.TaskOrder {
		for _, a := range rep.Ablation {
			if a.Tasks[t].AUCClickedMean != nil {
				clicked = append(clicked, t)
				break
			}
		}
	}
	p("| variant | overrides |")
	for _, t := range rep.TaskOrder {
		p(" %s AUC |", t)
	}
	for _, t := range clicked {
		p(" %s AUC on clicked |", t)
	}
	p(" Δ mean AUC | params | train s | epochs |\n|---|---|")
	for i := 0; i < len(rep.TaskOrder)+len(clicked)+4; i++ {
		p("---:|")
	}
	p("\n")
	for _, a := range rep.Ablation {
		over := "–"
		if len(a.Set) > 0 {
			over = "`" + strings.Join(a.Set, " ") + "`"
		}
		if a.SameAs != "" {
			over += " (= " + a.SameAs + ")"
		}
		p("| %s | %s |", a.Variant, over)
		for _, t := range rep.TaskOrder {
			ts, ok := a.Tasks[t]
			if !ok {
				p(" – |")
				continue
			}
			p(" %s |", pm(ts))
		}
		for _, t := range clicked {
			if c := a.Tasks[t].AUCClickedMean; c != nil {
				p(" %.4f |", float64(*c))
			} else {
				p(" – |")
			}
		}
		switch d := deltaAUC(&a.Summary, ref, rep.TaskOrder); {
		case ref == nil || math.IsNaN(d):
			p(" – |")
		case a.Variant == DefaultVariant:
			p(" (reference) |")
		default:
			p(" %s |", signed5(d))
		}
		p(" %s | %.1f | %.1f |\n", groupDigits(a.Params), float64(a.TrainSecondsMean), float64(a.EpochsMean))
	}
	p("\nEach variant is the compared config with the listed overrides (as `--set`), trained with the same seeds, split and " +
		"early stopping; a variant whose config equals an earlier one's reuses its runs (=). Δ mean AUC is the mean over tasks " +
		"of the variant's mean test AUC minus the default's; a Δ within the seeds' standard deviations is not a difference. " +
		"`cross=false` removes the recurrent cross block (the towers read the deep branch alone).\n\n")
}

// signed5 formats d with a sign and 5 decimals, the precision of the std
// columns; a d that rounds to zero is +0.00000.
func signed5(d float64) string {
	if math.Abs(d) < 0.000005 {
		d = 0
	}
	return fmt.Sprintf("%+.5f", d)
}

// deltaAUC is the mean over tasks of s's mean test AUC minus ref's; NaN
// when ref is nil or a task is missing.
func deltaAUC(s, ref *Summary, tasks []string) float64 {
	if ref == nil || len(tasks) == 0 {
		return math.NaN()
	}
	var d float64
	for _, t := range tasks {
		a, okA := s.Tasks[t]
		b, okB := ref.Tasks[t]
		if !okA || !okB {
			return math.NaN()
		}
		d += float64(a.AUCMean) - float64(b.AUCMean)
	}
	return d / float64(len(tasks))
}

// writeGates writes the gate usage of the models that have expert gates.
func writeGates(w io.Writer, rep *Report) {
	have := false
	for _, m := range rep.ModelOrder {
		if s := rep.Models[m]; s != nil && len(s.Gates) > 0 {
			have = true
		}
	}
	if !have {
		return
	}
	fmt.Fprintf(w, "## Gate usage\n\nMean weight each gate gives each expert over the test rows, per seed "+
		"(each gate's weights sum to 1; a uniform gate over E experts gives 1/E each). Expert numbers are arbitrary "+
		"in each run, so the seeds are not averaged; the task-expert vs shared-expert split of PLE is comparable across seeds.\n\n")
	for _, m := range rep.ModelOrder {
		s := rep.Models[m]
		if s == nil || len(s.Gates) == 0 {
			continue
		}
		fmt.Fprintf(w, "### %s\n\n| gate | seed | expert weights |\n|---|---:|---|\n", m)
		for gi := range s.Gates {
			for _, r := range rep.Runs {
				if r.Model != m || r.Rho != nil || r.Variant != "" || gi >= len(r.Gates) {
					continue
				}
				g := r.Gates[gi]
				var parts []string
				for e, v := range g.Weights {
					parts = append(parts, fmt.Sprintf("%s %.3f", g.Experts[e], v))
				}
				fmt.Fprintf(w, "| %s | %d | %s |\n", g.Gate, r.Seed, strings.Join(parts, " · "))
			}
		}
		fmt.Fprintln(w)
	}
}

// pm formats mean ± std, the std with one more decimal (seeds often
// differ in the fifth).
func pm(ts TaskSummary) string {
	if math.IsNaN(float64(ts.AUCMean)) {
		return "–"
	}
	return fmt.Sprintf("%.4f ± %.5f", float64(ts.AUCMean), float64(ts.AUCStd))
}

func plotCaption(f string) string {
	switch f {
	case AUCPlot:
		return "Test AUC per task and model, mean ± std over seeds (rings: each seed)"
	case SweepPlot:
		return "DCRNN test AUC per task, parameters and training time against rho"
	case CurvesPlot:
		return "Validation mean AUC per epoch, seed 1"
	case GatesPlot:
		return "MMoE/PLE mean gate weight per expert, seed 1"
	}
	return f
}

func firstRun(rep *Report) *Run {
	if len(rep.Runs) == 0 {
		return nil
	}
	return &rep.Runs[0]
}

func testRows(r *Run) int {
	if r.Test == nil {
		return 0
	}
	return r.Test.Rows
}

// groupDigits writes n with commas between thousands: 1,234,567.
func groupDigits(n int) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func fmtDuration(sec float64) string {
	if sec < 60 {
		return fmt.Sprintf("%.0f s", sec)
	}
	return fmt.Sprintf("%d min %02d s", int(sec)/60, int(sec)%60)
}

// ReadReport reads a report.json written by WriteDir, so that the
// Markdown and the plots can be drawn again: the summaries are computed
// again from the runs it holds (metrics that were undefined and written as
// null read as 0).
func ReadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("compare: %s: %w", path, err)
	}
	if rep.Models == nil {
		return nil, fmt.Errorf("compare: %s: no \"models\" key: not a dcrnn compare report", path)
	}
	var rhos []float64
	for _, sp := range rep.Sweep {
		rhos = append(rhos, sp.Rho)
	}
	var variants []string
	for _, a := range rep.Ablation {
		variants = append(variants, a.Variant)
	}
	again := Summarize(rep.Runs, rep.ModelOrder, rhos, variants, rep.TaskOrder)
	for i := range again.Ablation {
		for _, a := range rep.Ablation {
			if a.Variant == again.Ablation[i].Variant {
				again.Ablation[i].Set, again.Ablation[i].SameAs = a.Set, a.SameAs
			}
		}
	}
	rep.Models, rep.Sweep, rep.Ablation = again.Models, again.Sweep, again.Ablation
	return &rep, nil
}
