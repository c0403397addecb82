package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/dcrnn/dcrnn/internal/atomicfile"
	"github.com/dcrnn/dcrnn/internal/data"
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
	format := fs.String("format", "csv", "csv (DIR/data.csv) or parquet (DIR/data/part-00000.parquet ...: ids and counts as int64, prices and scores as double, request_id as a dictionary string)")
	shards := fs.Int("shards", 1, "with --format parquet: number of files (rows cut evenly, in order)")
	codec := fs.String("compression", "snappy", "with --format parquet: page compression, snappy|zstd|gzip|none")
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
	cfg := synth.Config{Rows: *rows, Seed: *seed, Threads: *threads, NoiseIDs: *noiseIDs}
	var st synth.Stats
	var err error
	where := filepath.Join(*out, "data.csv")
	switch *format {
	case "csv":
		if *shards != 1 {
			return errors.New("gen: --shards needs --format parquet")
		}
		st, err = synth.WriteDir(ctx, *out, cfg, *truth)
	case "parquet":
		where = filepath.Join(*out, "data")
		st, err = genParquet(ctx, *out, cfg, *truth, *shards, *codec)
	default:
		return fmt.Errorf("gen: --format %q: want csv or parquet", *format)
	}
	if err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	secs := time.Since(start).Seconds()
	fmt.Fprintf(stdout, "gen: %s: %d rows (seed %d), CTR %.4f, CVR %.4f", where, st.Rows, *seed, st.CTR(), st.CVR())
	if o := st.Oracle; o != nil {
		fmt.Fprintf(stdout, ", oracle AUC click %.4f ctcvr %.4f cvr(clicked) %.4f", o.ClickAUC, o.CTCVRAUC, o.ConversionAUCClicked)
	}
	fmt.Fprintf(stdout, " [%.2fs, %.0f rows/s]\n", secs, float64(st.Rows)/secs)
	return nil
}

// genKinds are the Parquet types of the generated columns (the rest are
// int64).
var genKinds = map[string]data.ParquetKind{"price": data.ParquetDouble, "item_quality": data.ParquetDouble,
	"noise_num": data.ParquetDouble, "request_id": data.ParquetString}

// genParquet writes the funnel as Parquet shards DIR/data/part-NNNNN.parquet
// with schema.yaml (and truth.csv, oracle.json), as one atomicfile.Group.
// The generator streams its CSV rows into the shard writer, so memory does
// not grow with the rows.
func genParquet(ctx context.Context, dir string, cfg synth.Config, truth bool, shards int, codec string) (synth.Stats, error) {
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return synth.Stats{}, err
	}
	var files atomicfile.Group
	defer files.Abort()
	kinds := map[string]data.ParquetKind{}
	for _, c := range cfg.Columns() {
		kinds[c] = data.ParquetInt64
		if k, ok := genKinds[c]; ok {
			kinds[c] = k
		}
	}
	w, err := data.NewParquetShards(cfg.Rows, shards, kinds, codec, func(k int) (io.Writer, error) {
		return files.Create(filepath.Join(dir, "data", fmt.Sprintf("part-%05d.parquet", k)))
	})
	if err != nil {
		return synth.Stats{}, err
	}
	var tw io.Writer
	if truth {
		if tw, err = files.Create(filepath.Join(dir, "truth.csv")); err != nil {
			return synth.Stats{}, err
		}
	}
	st, err := synth.Generate(ctx, cfg, w, tw)
	if err != nil {
		return st, err
	}
	if err := w.Close(); err != nil {
		return st, err
	}
	sw, err := files.Create(filepath.Join(dir, "schema.yaml"))
	if err != nil {
		return st, err
	}
	if _, err := io.WriteString(sw, cfg.Schema()); err != nil {
		return st, err
	}
	if truth {
		ow, err := files.Create(filepath.Join(dir, "oracle.json"))
		if err != nil {
			return st, err
		}
		b, err := st.OracleJSON(cfg.Seed)
		if err != nil {
			return st, err
		}
		if _, err := ow.Write(b); err != nil {
			return st, err
		}
	}
	return st, files.Commit()
}
