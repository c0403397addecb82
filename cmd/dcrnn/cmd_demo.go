package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/dcrnn/dcrnn/internal/data"
	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/metric"
	"github.com/dcrnn/dcrnn/internal/train"
)

func init() {
	register(command{name: "demo", summary: "generate a synthetic click/conversion funnel, train DCRNN and Shared-Bottom, print a table", run: runDemo})
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", "[--rows N] [--seed S] [--keep DIR]", stderr)
	rows := fs.Int64("rows", 100000, "rows of synthetic data to generate")
	seed := fs.Uint64("seed", 1, "seed of the data and of training")
	keep := fs.String("keep", "", "keep the generated data and models in this directory (default: a temporary one, removed)")
	epochs := fs.Int("epochs", 4, "maximum training epochs per model")
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
	st, err := data.WriteSynthDir(ctx, dir, data.SynthConfig{Rows: *rows, Seed: *seed}, true)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "generated %d impressions: CTR %.2f%%, CVR %.2f%% (conversion given click), written to %s\n",
		st.Rows, 100*st.CTR(), 100*st.CVR(), dir)
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
			if _, err := saveTrained(res, filepath.Join(dir, name+".dcrnn")); err != nil {
				return err
			}
		}
	}
	o, err := testOracle(dir, data.Splitter{Ratios: []float64{0.8, 0.1, 0.1}, Seed: *seed}, 2)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\ntest AUC on %d held-out impressions (oracle: the true probabilities of the same rows):\n", table[0].rows)
	fmt.Fprintf(stdout, "  %-14s %9s %9s %9s %10s %9s\n", "model", "CTR", "CVR", "CTCVR", "params", "train s")
	for _, r := range table {
		fmt.Fprintf(stdout, "  %-14s %9.4f %9.4f %9.4f %10d %9.1f\n", r.name, r.click, r.cvr, r.ctcvr, r.params, r.secs)
	}
	fmt.Fprintf(stdout, "  %-14s %9.4f %9.4f %9.4f\n", "oracle", o[0], o[1], o[2])
	fmt.Fprintf(stdout, "(CVR AUC is measured on clicked impressions only; demo took %.0fs)\n", time.Since(start).Seconds())
	return nil
}

// testOracle returns the AUCs that the true probabilities (truth.csv) reach
// on one part of the split of data.csv: click, CVR on clicked rows, CTCVR.
func testOracle(dir string, sp data.Splitter, part int) ([3]float64, error) {
	var out [3]float64
	df, err := os.Open(filepath.Join(dir, "data.csv"))
	if err != nil {
		return out, err
	}
	defer df.Close()
	tf, err := os.Open(filepath.Join(dir, "truth.csv"))
	if err != nil {
		return out, err
	}
	defer tf.Close()
	ds, ts := bufio.NewScanner(df), bufio.NewScanner(tf)
	ds.Scan() // headers
	ts.Scan()
	var pc, yc, pj, yv, pv, yvc []float32
	for row := int64(0); ds.Scan() && ts.Scan(); row++ {
		if sp.Part(row) != part {
			continue
		}
		d, t := strings.SplitN(ds.Text(), ",", 3), strings.Split(ts.Text(), ",")
		if len(d) < 3 || len(t) != 3 {
			return out, fmt.Errorf("demo: %s: row %d: unexpected truth or data line", dir, row)
		}
		var p [3]float32
		for i := range p {
			v, err := strconv.ParseFloat(t[i], 32)
			if err != nil {
				return out, fmt.Errorf("demo: truth.csv row %d: %w", row, err)
			}
			p[i] = float32(v)
		}
		click, conv := float32(0), float32(0)
		if d[0] == "1" {
			click = 1
		}
		if d[1] == "1" {
			conv = 1
		}
		pc, yc = append(pc, p[0]), append(yc, click)
		pj, yv = append(pj, p[2]), append(yv, conv)
		if click == 1 {
			pv, yvc = append(pv, p[1]), append(yvc, conv)
		}
	}
	if err := ds.Err(); err != nil {
		return out, err
	}
	return [3]float64{metric.AUC(pc, yc), metric.AUC(pv, yvc), metric.AUC(pj, yv)}, nil
}
