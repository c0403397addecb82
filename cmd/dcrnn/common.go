package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/dcrnn/dcrnn/internal/atomicfile"
	"github.com/dcrnn/dcrnn/internal/data"
	"github.com/dcrnn/dcrnn/internal/tensor"
	"github.com/dcrnn/dcrnn/internal/train"
)

// multiFlag is a repeatable string flag (--set a=1 --set b=2).
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// threadsFlag adds --threads to fs; call apply after parsing.
func threadsFlag(fs *flag.FlagSet) func() error {
	n := fs.Int("threads", 0, "worker threads (default: all cores)")
	return func() error {
		if *n < 0 {
			return fmt.Errorf("--threads: must be ≥ 0, got %d", *n)
		}
		tensor.SetThreads(*n)
		return nil
	}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newLogger logs plain text lines to stderr.
func newLogger(stderr io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// trainProgress returns a progress callback: a bar with loss, samples/s and
// ETA on a terminal, nothing otherwise (the logger prints one line per epoch).
func trainProgress(stderr io.Writer) func(train.Progress) {
	if !isTerminal(stderr) {
		return nil
	}
	var bar *progressbar.ProgressBar
	epoch := 0
	return func(p train.Progress) {
		if p.Epoch != epoch {
			if bar != nil {
				_ = bar.Finish()
				fmt.Fprintln(stderr)
			}
			epoch = p.Epoch
			max := p.EpochRows
			if max == 0 {
				max = -1
			}
			bar = progressbar.NewOptions64(max, progressbar.OptionSetWriter(stderr),
				progressbar.OptionSetDescription(fmt.Sprintf("epoch %d/%d", p.Epoch, p.Epochs)),
				progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100e6),
				progressbar.OptionShowIts(), progressbar.OptionSetItsString("rows"))
		}
		bar.Describe(fmt.Sprintf("epoch %d/%d loss %.4f %.0f rows/s", p.Epoch, p.Epochs, p.Loss, p.SamplesPerSecond))
		_ = bar.Set64(p.Rows)
	}
}

// writeJSON writes v as indented JSON to path atomically (mode 0644).
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(b, '\n'))
}

// dataFlags are the flags of every command that reads data and computes:
// --threads and --bad-rows.
type dataFlags struct {
	threads func() error
	badRows *string
}

func addDataFlags(fs *flag.FlagSet) *dataFlags {
	return &dataFlags{threads: threadsFlag(fs),
		badRows: fs.String("bad-rows", "error", "malformed rows: error (stop at the first, naming file, line and column) or skip (count them)")}
}

// parse parses args, applies --threads and returns the --bad-rows policy.
func (d *dataFlags) parse(fs *flag.FlagSet, args []string) (data.BadRows, error) {
	if err := parseFlags(fs, args); err != nil {
		return 0, err
	}
	if err := d.threads(); err != nil {
		return 0, err
	}
	return data.ParseBadRows(*d.badRows)
}

// printReport prints a metrics report as a small table.
func printReport(w io.Writer, r *train.Report, taskOrder []string) {
	fmt.Fprintf(w, "%s on %s (%d rows):\n", r.Model, r.Split, r.Rows)
	fmt.Fprintf(w, "  %-14s %8s %8s %9s %8s\n", "task", "auc", "logloss", "calib", "extra")
	for _, name := range taskOrder {
		m := r.Tasks[name]
		extra := ""
		if m.AUCClicked != nil {
			extra = fmt.Sprintf("auc_clicked %.4f", float64(*m.AUCClicked))
		}
		if m.GAUC != nil {
			extra += fmt.Sprintf(" gauc %.4f", float64(*m.GAUC))
		}
		fmt.Fprintf(w, "  %-14s %8.4f %8.4f %9.3f  %s\n", name, float64(m.AUC), float64(m.LogLoss), float64(m.Calibration), extra)
	}
	if f, ok := r.Funnel["ctcvr"]; ok {
		fmt.Fprintf(w, "  %-14s %8.4f %8.4f\n", "ctcvr", float64(f.AUC), float64(f.LogLoss))
	}
}
