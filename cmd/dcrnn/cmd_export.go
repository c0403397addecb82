package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/dcrnn/dcrnn/internal/atomicfile"
	"github.com/dcrnn/dcrnn/internal/bench"
	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/onnx"
)

func init() {
	register(command{name: "export", summary: "export a model to ONNX (graph on the transformed inputs, pipeline as JSON beside it)", run: runExport})
}

// runExport implements `dcrnn export --model M.dcrnn --format onnx --out
// M.onnx [--pipeline-out P]`, and `--workload mlp24|dcrnn24` instead of
// --model for the benchmark workload's model (the one `dcrnn bench` times).
func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("export", "--model M.dcrnn --format onnx --out M.onnx [--pipeline-out M.pipeline.json]", stderr)
	modelPath := fs.String("model", "", "model file written by dcrnn train")
	format := fs.String("format", "onnx", "output format (onnx)")
	out := fs.String("out", "", "file to write, e.g. M.onnx")
	pipeOut := fs.String("pipeline-out", "", "where to write the inputs' description and the feature pipeline as JSON (default: --out with .onnx replaced by .pipeline.json)")
	workload := fs.String("workload", "", "export the untrained model (seed 1) of the dcrnn bench workload `W` (mlp24 or dcrnn24) instead of --model")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *format != "onnx" {
		return fmt.Errorf("export: --format %q: only onnx is supported", *format)
	}
	if *out == "" || (*modelPath == "") == (*workload == "") {
		return errors.New("export: --out and exactly one of --model and --workload are required")
	}
	var tr *model.Trained
	if *workload != "" {
		if !slices.Contains(bench.Workloads, *workload) {
			return fmt.Errorf("export: --workload %q: want one of %v", *workload, bench.Workloads)
		}
		w, err := bench.NewWorkload(bench.Options{Workload: *workload})
		if err != nil {
			return err
		}
		name := "shared_bottom"
		cfg := model.Config{EmbeddingDim: w.Opts.Dim, Deep: []int{}, Tower: []int{256, 128, 64}}
		if *workload == bench.DCRNN24 {
			name, cfg = "dcrnn", model.Config{EmbeddingDim: w.Opts.Dim}
		}
		tr = &model.Trained{Name: name, Config: cfg, Spec: w.Spec, Model: w.Model}
	} else {
		var err error
		if tr, err = model.Load(*modelPath); err != nil {
			return err
		}
	}
	graph, err := onnx.Export(tr)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	side, err := onnx.Sidecar(tr)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if *pipeOut == "" {
		*pipeOut = strings.TrimSuffix(*out, ".onnx") + ".pipeline.json"
	}
	if *pipeOut == *out {
		return fmt.Errorf("export: --pipeline-out is --out (%s)", *out)
	}
	var files atomicfile.Group
	defer files.Abort()
	for _, f := range []struct {
		path string
		data []byte
	}{{*out, graph}, {*pipeOut, side}} {
		w, err := files.Create(f.path)
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		if _, err := w.Write(f.data); err != nil {
			return fmt.Errorf("export: %s: %w", f.path, err)
		}
	}
	if err := files.Commit(); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes, ONNX opset 17) and %s\n", *out, len(graph), *pipeOut)
	return nil
}
