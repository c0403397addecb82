package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"slices"
	"text/tabwriter"

	"github.com/dcrnn/dcrnn/internal/bench"
)

func init() {
	register(command{name: "bench", summary: "run the reference benchmark workload (train and score samples/s, peak RSS)", run: runBench})
}

// runBench implements `dcrnn bench [--workload mlp24|dcrnn24] [--json]
// [--threads N] [--seconds S]`.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", "[--workload mlp24|dcrnn24] [--json] [--threads N] [--seconds S]", stderr)
	workload := fs.String("workload", bench.MLP24, "workload: mlp24 (24 fields, two towers 384-256-128-64-1) or dcrnn24 (same input, default DCRNN)")
	asJSON := fs.Bool("json", false, "print one JSON object instead of a table")
	threads := fs.Int("threads", 0, "goroutines: the training step and inference run their 256-row blocks on them (default: all cores)")
	seconds := fs.Float64("seconds", 3, "minimum timed seconds of the training phase and of the inference phase")
	batch := fs.Int("batch", 1024, "batch size")
	vocab := fs.Int("vocab", 100000, "vocabulary size of every field")
	warmup := fs.Int("warmup", 10, "untimed warm-up steps before each phase")
	blockRows := fs.Int("block-rows", 0, "rows of a block of a training batch, the threads' unit of work (default: train's block_rows default)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if !slices.Contains(bench.Workloads, *workload) {
		return fmt.Errorf("bench: --workload %q: want one of %v", *workload, bench.Workloads)
	}
	if *threads < 0 {
		return fmt.Errorf("bench: --threads %d: want ≥ 0 (0 = all cores)", *threads)
	}
	if !(*seconds > 0) || *seconds > 3600 {
		return fmt.Errorf("bench: --seconds %g: want a value in (0, 3600]", *seconds)
	}
	if *batch <= 0 || *vocab <= 0 {
		return fmt.Errorf("bench: --batch and --vocab must be positive, got %d and %d", *batch, *vocab)
	}
	if *warmup < 0 {
		return fmt.Errorf("bench: --warmup %d: want ≥ 0", *warmup)
	}
	if *blockRows < 0 {
		return fmt.Errorf("bench: --block-rows %d: want ≥ 0 (0 = the default)", *blockRows)
	}
	if *warmup == 0 {
		*warmup = -1 // bench.Options: negative means none, 0 means the default
	}
	n := *threads
	if n == 0 {
		n = runtime.GOMAXPROCS(0)
	}
	res, err := bench.Run(ctx, bench.Options{Workload: *workload, Threads: n, TrainSeconds: *seconds, Batch: *batch, Vocab: *vocab, WarmupSteps: *warmup, BlockRows: *blockRows})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		return enc.Encode(res)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "workload\t%s\n", res.Workload)
	fmt.Fprintf(tw, "backend\t%s\n", res.Backend)
	fmt.Fprintf(tw, "threads\t%d\n", res.Threads)
	fmt.Fprintf(tw, "batch\t%d\n", res.Batch)
	fmt.Fprintf(tw, "block rows\t%d\n", res.BlockRows)
	fmt.Fprintf(tw, "parameters\t%d\n", res.Params)
	fmt.Fprintf(tw, "train\t%.0f samples/s\t(%d steps in %.2f s, last loss %.4f)\n", res.TrainSamplesPerSecond, res.TrainSteps, res.TrainSeconds, res.LastLoss)
	fmt.Fprintf(tw, "inference\t%.0f samples/s\t(%d steps in %.2f s)\n", res.InferSamplesPerSecond, res.InferSteps, res.InferSeconds)
	fmt.Fprintf(tw, "peak RSS\t%.1f MiB\n", float64(res.PeakRSSBytes)/(1<<20))
	return tw.Flush()
}
