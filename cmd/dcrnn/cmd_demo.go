package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/dcrnn/dcrnn/internal/data"
	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/synth"
	"github.com/dcrnn/dcrnn/internal/train"
)

func init() {
	register(command{name: "demo", summary: "generate a synthetic click/conversion funnel, train DCRNN and Shared-Bottom, print a table", run: runDemo})
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", "[--rows N] [--seed S] [--keep DIR] [--noise-ids=false]", stderr)
	rows := fs.Int64("rows", 100000, "rows of synthetic data to generate")
	seed := fs.Uint64("seed", 1, "seed of the data and of training")
	keep := fs.String("keep", "", "keep the generated data and models in this directory (default: a temporary one, removed)")
	epochs := fs.Int("epochs", 4, "maximum training epochs per model")
	noiseIDs := fs.Bool("noise-ids", true, "generate the noise ids request_id (hashed) and session_user, which have no effect on the labels (see dcrnn gen)")
	threads := threadsFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := threads(); err != nil {
		return err
	}
	dir := *keep
	if dir == "" {
		d, err := os.MkdirTemp("", "dcrnn-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	start := time.Now()
	st, err := synth.WriteDir(ctx, dir, synth.Config{Rows: *rows, Seed: *seed, NoiseIDs: *noiseIDs}, true)
	if err != nil {
		return err
	}
	noise := "off"
	if *noiseIDs {
		noise = "on (request_id, session_user)"
	}
	fmt.Fprintf(stdout, "generated %d impressions: CTR %.2f%%, CVR %.2f%% (conversion given click), noise ids %s, written to %s\n",
		st.Rows, 100*st.CTR(), 100*st.CVR(), noise, dir)
	schema, err := feature.LoadSchema(filepath.Join(dir, "schema.yaml"))
	if err != nil {
		return err
	}
	type row struct {
		name                    string
		click, cvr, ctcvr, secs float64
		params, rows            int
	}
	var table []row
	for _, name := range []string{"dcrnn", "shared_bottom"} {
		cfg := train.Config{Epochs: *epochs, Seed: *seed}
		job := train.Job{Schema: schema, Model: name, Config: cfg, Progress: trainProgress(stderr)}
		if err := setSources("demo", &job, filepath.Join(dir, "data.csv"), "0.8,0.1,0.1", *seed, "", "", ""); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "training %s ...\n", name)
		res, err := train.Run(ctx, job)
		if err != nil {
			return err
		}
		t := res.Test
		table = append(table, row{name, float64(t.Tasks["click"].AUC), float64(*t.Tasks["conversion"].AUCClicked),
			float64(t.Funnel["ctcvr"].AUC), res.Info.Seconds, t.Params, t.Rows})
		if *keep != "" {
			if _, err := model.Save(filepath.Join(dir, name+".dcrnn"), res.Trained); err != nil {
				return err
			}
		}
	}
	sp := data.Splitter{Ratios: []float64{0.8, 0.1, 0.1}, Seed: *seed}
	o, err := synth.ReadOracle(dir, func(r int64) bool { return sp.Part(r) == 2 })
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\ntest AUC on %d held-out impressions (oracle: the true probabilities of the same rows):\n", table[0].rows)
	fmt.Fprintf(stdout, "  %-14s %9s %9s %9s %10s %9s\n", "model", "CTR", "CVR", "CTCVR", "params", "train s")
	for _, r := range table {
		fmt.Fprintf(stdout, "  %-14s %9.4f %9.4f %9.4f %10d %9.1f\n", r.name, r.click, r.cvr, r.ctcvr, r.params, r.secs)
	}
	fmt.Fprintf(stdout, "  %-14s %9.4f %9.4f %9.4f\n", "oracle", o.ClickAUC, o.ConversionAUCClicked, o.CTCVRAUC)
	fmt.Fprintf(stdout, "(CVR AUC is measured on clicked impressions only; demo took %.0fs)\n", time.Since(start).Seconds())
	return nil
}
