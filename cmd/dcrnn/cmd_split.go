package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/dcrnn/dcrnn/internal/data"
	"github.com/dcrnn/dcrnn/internal/feature"
)

func init() {
	register(command{
		name:    "split",
		summary: "split one data file into train/valid/test files (deterministic by seed)",
		run:     runSplit,
	})
}

// runSplit implements `dcrnn split`. Rows go to parts by data.Splitter.Part,
// the same assignment `dcrnn train --split` uses, so both see the same rows.
func runSplit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("split", "--data F [--ratios 0.8,0.1,0.1] [--seed N] --out DIR [--header auto|true|false] [--schema S]", stderr)
	dataPath := fs.String("data", "", "input data file (csv/tsv, may be gzip-compressed)")
	ratios := fs.String("ratios", "0.8,0.1,0.1", "part sizes: 3 parts -> train,valid,test; 2 -> train,valid; 1 -> train")
	seed := fs.Uint64("seed", 1, "split seed: the same seed always puts the same rows in the same part")
	out := fs.String("out", "", "output directory (created if needed); gets train.csv, valid.csv, test.csv as plain text")
	header := fs.String("header", "", "first line is a header, repeated in every part: auto (guess), true or false (default: from --schema, else auto)")
	schemaPath := fs.String("schema", "", "optional schema file: its format.header, separator and quote are used")
	splitBy := fs.String("split-by", "", "split by time instead of by hash (needs --schema): rows with this column below --train-until go to train.csv, below --valid-until to valid.csv, the rest to test.csv")
	trainUntil := fs.String("train-until", "", "with --split-by: first value not in train.csv")
	validUntil := fs.String("valid-until", "", "with --split-by: first value not in valid.csv")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: dcrnn split --data F [--ratios 0.8,0.1,0.1] [--seed N] --out DIR [--header auto|true|false] [--schema S]
       dcrnn split --data F --schema S --split-by C --train-until V --valid-until V --out DIR

Copies every data line of F, byte for byte, into DIR/train.csv, valid.csv or
test.csv. Row i (0-based, counting the non-blank lines after the header) goes
to the part chosen by hashing (seed, i), so the split is streaming and the same
as 'dcrnn train --split RATIOS --seed N'. With --split-by, a row goes to
the part its column C falls in (as 'dcrnn train --split-by'; numbers compare
as numbers, other values as text, e.g. ISO dates). Blank lines are dropped. Quoted
fields that contain a line break are not supported (refused with the line).
Outputs are written to temporary files and renamed when complete.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dataPath == "" || *out == "" {
		return errors.New("split: --data and --out are required (see dcrnn split --help)")
	}
	if data.IsParquet(*dataPath) {
		return errors.New("split: copies text lines; a Parquet input is split where it is read (train --split or --split-by)")
	}
	rs, err := data.ParseRatios(*ratios)
	if err != nil {
		return fmt.Errorf("split: --ratios: %w", err)
	}
	opt := data.SplitOptions{Header: data.HeaderAuto, Quote: '"'}
	if *schemaPath != "" {
		s, err := feature.LoadSchema(*schemaPath)
		if err != nil {
			return fmt.Errorf("split: %w", err)
		}
		opt.Header = data.HeaderNo
		if s.Format.Header {
			opt.Header = data.HeaderYes
		}
		opt.Separator = s.Format.Separator
		opt.Quote = s.Format.QuoteChar()
	}
	if *splitBy != "" || *trainUntil != "" || *validUntil != "" {
		if *schemaPath == "" {
			return errors.New("split: --split-by needs --schema (for the column names and separator)")
		}
		parts, err := data.TimeSplit(*splitBy, *trainUntil, *validUntil)
		if err != nil {
			return fmt.Errorf("split: %w", err)
		}
		s, _ := feature.LoadSchema(*schemaPath)
		opt.By, opt.Columns = parts[:], s.Format.Columns
	}
	if *header != "" {
		if opt.Header, err = data.ParseHeaderMode(*header); err != nil {
			return fmt.Errorf("split: --header: %w", err)
		}
	}
	res, err := data.SplitFile(ctx, *dataPath, *out, data.Splitter{Ratios: rs, Seed: *seed}, opt)
	if err != nil {
		return err
	}
	if opt.By != nil {
		fmt.Fprintf(stdout, "split %s by %s (header: %v):", *dataPath, *splitBy, res.Header)
	} else {
		fmt.Fprintf(stdout, "split %s (header: %v, seed %d):", *dataPath, res.Header, *seed)
	}
	var total int64
	for i, f := range res.Files {
		fmt.Fprintf(stdout, " %s %d rows;", f, res.Rows[i])
		total += res.Rows[i]
	}
	fmt.Fprintf(stdout, " total %d", total)
	if res.Blank > 0 {
		fmt.Fprintf(stdout, " (%d blank lines dropped)", res.Blank)
	}
	fmt.Fprintln(stdout)
	return nil
}
