package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/schollz/progressbar/v3"

	"github.com/dcrnn/dcrnn/internal/atomicfile"
	"github.com/dcrnn/dcrnn/internal/data"
	"github.com/dcrnn/dcrnn/internal/feature"
)

func init() {
	register(command{name: "fit", summary: "fit the feature pipeline only (in parallel over files), or merge fits; train --pipeline reuses it", run: runFit})
}

// maxFitFileBytes bounds a fit file read by --merge and train --pipeline.
const maxFitFileBytes = 4 << 30

// runFit implements `dcrnn fit`.
func runFit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("fit", "(--schema S --data F | --merge A.json B.json ...) --out P.json", stderr)
	schemaPath := fs.String("schema", "", "schema file (YAML)")
	dataPath := fs.String("data", "", "training rows "+filesHelp)
	splitBy := fs.String("split-by", "", "fit only the rows with this column below --train-until (the training part of a time split)")
	trainUntil := fs.String("train-until", "", "with --split-by: the first value not fitted on")
	split := fs.String("split", "", "fit only the training part of this random split of --data (the ratios train --split takes, with the same --seed)")
	seed := fs.Uint64("seed", 1, "with --split: its seed")
	merge := fs.Bool("merge", false, "merge the fit files given as arguments instead of reading data")
	out := fs.String("out", "", "where to write the fit (counts of every field: mergeable; JSON)")
	badRows := fs.String("bad-rows", "error", "malformed rows: error (stop at the first, naming file, line and column) or skip (count them)")
	threads := fs.Int("threads", 0, "files fitted at once (default: all cores)")
	// Flags may follow the files of --merge.
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		files, args = append(files, fs.Arg(0)), fs.Args()[1:]
	}
	if *out == "" {
		return errors.New("fit: --out is required (see dcrnn fit --help)")
	}
	if *threads < 0 {
		return fmt.Errorf("fit: --threads %d: want 0 (all cores) or more", *threads)
	}
	var f *feature.Fitter
	var rows, bad int64
	if *merge {
		if len(files) < 2 || *dataPath != "" || *schemaPath != "" {
			return errors.New("fit: --merge takes two or more fit files as arguments (and no --schema or --data)")
		}
		for _, p := range files {
			g, err := readFit(p)
			if err != nil {
				return fmt.Errorf("fit: %w", err)
			}
			if f == nil {
				f = g
			} else if err := f.Merge(g); err != nil {
				return fmt.Errorf("fit: %s: %w", p, err)
			}
		}
		rows = f.Rows()
	} else {
		if len(files) > 0 {
			return fmt.Errorf("fit: unexpected argument %q (fit files to merge go with --merge)", files[0])
		}
		if *schemaPath == "" || *dataPath == "" {
			return errors.New("fit: --schema and --data are required (or --merge)")
		}
		policy, err := data.ParseBadRows(*badRows)
		if err != nil {
			return err
		}
		s, err := feature.LoadSchema(*schemaPath)
		if err != nil {
			return err
		}
		opt := data.FitOptions{BadRows: policy, Workers: *threads}
		if *split != "" {
			if *splitBy != "" {
				return errors.New("fit: give --split or --split-by, not both")
			}
			ratios, err := data.ParseRatios(*split)
			if err != nil {
				return fmt.Errorf("fit: --split: %w", err)
			}
			sp := data.Splitter{Ratios: ratios, Seed: *seed}
			opt.Filter = func(r int64) bool { return sp.Part(r) == 0 }
		}
		if *splitBy != "" || *trainUntil != "" {
			if *splitBy == "" || *trainUntil == "" {
				return errors.New("fit: --split-by and --train-until go together")
			}
			opt.Range = &data.ColumnRange{Column: *splitBy, Until: *trainUntil}
		}
		done, err := bytesProgress(stderr, *dataPath, "fit", &opt)
		if err != nil {
			return err
		}
		var st data.Stats
		f, st, err = data.Fit(ctx, s, *dataPath, opt)
		done()
		if err != nil {
			return err
		}
		rows, bad = st.Rows, st.BadRows
	}
	b, err := f.MarshalState()
	if err != nil {
		return err
	}
	p, err := f.Finish() // the fit must be usable: refuse leaks, no rows
	if err != nil {
		return fmt.Errorf("fit: %w", err)
	}
	if err := atomicfile.WriteFile(*out, b); err != nil {
		return fmt.Errorf("fit: %w", err)
	}
	ids := 0
	for _, fd := range p.Fields() {
		ids += fd.Vocab
	}
	fmt.Fprintf(stdout, "fit: %s rows", data.Count(rows))
	if bad > 0 {
		fmt.Fprintf(stdout, " (%s bad rows skipped)", data.Count(bad))
	}
	fmt.Fprintf(stdout, ", %d fields, %s embedding rows in all;", len(p.Fields()), data.Count(int64(ids)))
	fmt.Fprintf(stdout, " written to %s\n", *out)
	return nil
}

// readFit reads a fit file written by dcrnn fit.
func readFit(path string) (*feature.Fitter, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxFitFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > maxFitFileBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, int64(maxFitFileBytes))
	}
	f, err := feature.UnmarshalFitState(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// loadSchemaAndFit loads the schema and, when fitPath is set, the saved fit;
// a fit without a schema brings its own, and with one they must be equal.
func loadSchemaAndFit(schemaPath, fitPath string) (*feature.Schema, *feature.Fitter, error) {
	var s *feature.Schema
	if schemaPath != "" {
		var err error
		if s, err = feature.LoadSchema(schemaPath); err != nil {
			return nil, nil, err
		}
	}
	if fitPath == "" {
		return s, nil, nil
	}
	f, err := readFit(fitPath)
	if err != nil {
		return nil, nil, fmt.Errorf("--pipeline: %w", err)
	}
	fs := f.Schema()
	if s != nil {
		a, _ := json.Marshal(s)
		b, _ := json.Marshal(&fs)
		if string(a) != string(b) {
			return nil, nil, fmt.Errorf("--pipeline %s was fitted with another schema than %s", fitPath, schemaPath)
		}
	}
	return &fs, f, nil
}

// bytesProgress sets opt.Progress to a progress bar over the bytes of the
// files of spec when stderr is a terminal; call the returned func when done.
func bytesProgress(stderr io.Writer, spec, what string, opt *data.FitOptions) (func(), error) {
	files, err := data.Expand(spec)
	if err != nil {
		return nil, err
	}
	if !isTerminal(stderr) {
		return func() {}, nil
	}
	var total int64
	for _, p := range files {
		if st, err := os.Stat(p); err == nil {
			total += st.Size()
		}
	}
	bar := progressbar.NewOptions64(total, progressbar.OptionSetWriter(stderr), progressbar.OptionSetDescription(fmt.Sprintf("%s: %d files", what, len(files))),
		progressbar.OptionShowBytes(true), progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100e6), progressbar.OptionClearOnFinish())
	opt.Progress = func(n int64) { _ = bar.Add64(n) }
	return func() { _ = bar.Finish() }, nil
}
