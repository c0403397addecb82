package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/dcrnn/dcrnn/internal/synth"
)

func init() {
	register(command{
		name:    "gen",
		summary: "write the synthetic click/conversion funnel (data.csv, schema.yaml, optional truth)",
		run:     runGen,
	})
}

// runGen implements `dcrnn gen`.
func runGen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("gen", "--rows N --seed S --out DIR [--truth] [--noise-ids=false] [--threads N]", stderr)
	rows := fs.Int64("rows", 200000, "number of data rows")
	seed := fs.Uint64("seed", 1, "seed of the hidden parameters and of the sample; the same seed gives the same files")
	out := fs.String("out", "", "output directory (created if needed): data.csv and schema.yaml")
	truth := fs.Bool("truth", false, "also write truth.csv (true probabilities per row, never features) and oracle.json (the AUCs they reach)")
	noiseIDs := fs.Bool("noise-ids", true, "also write request_id (hashed, mostly unique) and session_user (Zipf over 50k values), two ids with no effect on the labels; the other columns and truth.csv are the same without them")
	threads := fs.Int("threads", 0, "worker goroutines (default: all cores); the output does not depend on it")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: dcrnn gen --rows N --seed S --out DIR [--truth] [--noise-ids=false] [--threads N]

Writes a synthetic impression log with a click -> conversion funnel: Zipf
categorical ids, numeric fields, hidden pairwise and third-order crosses, two
noise fields and (unless --noise-ids=false) two high-cardinality noise ids,
CTR about 5%% and conversion-after-click about 10%%. The generative process
is the package doc of internal/synth.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("gen: --out is required (see dcrnn gen --help)")
	}
	if *rows < 1 {
		return fmt.Errorf("gen: --rows %d: want at least 1", *rows)
	}
	if *threads < 0 {
		return fmt.Errorf("gen: --threads %d: want 0 (all cores) or more", *threads)
	}
	start := time.Now()
	st, err := synth.WriteDir(ctx, *out, synth.Config{Rows: *rows, Seed: *seed, Threads: *threads, NoiseIDs: *noiseIDs}, *truth)
	if err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	secs := time.Since(start).Seconds()
	fmt.Fprintf(stdout, "gen: %s: %d rows (seed %d), CTR %.4f, CVR %.4f", filepath.Join(*out, "data.csv"), st.Rows, *seed, st.CTR(), st.CVR())
	if o := st.Oracle; o != nil {
		fmt.Fprintf(stdout, ", oracle AUC click %.4f ctcvr %.4f cvr(clicked) %.4f", o.ClickAUC, o.CTCVRAUC, o.ConversionAUCClicked)
	}
	fmt.Fprintf(stdout, " [%.2fs, %.0f rows/s]\n", secs, float64(st.Rows)/secs)
	return nil
}
