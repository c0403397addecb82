package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/prepare"
	"github.com/dcrnn/dcrnn/internal/train"
)

func init() {
	register(command{name: "prepare", summary: "write the transformed rows as Parquet shards (for the PyTorch trainer)", run: runPrepare})
}

func runPrepare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("prepare", "--schema S (--data F --split 0.8,0.1,0.1 | --train F --valid F [--test F]) [--pipeline P] --out DIR [--shards N]", stderr)
	schemaPath := fs.String("schema", "", "schema file (YAML; keys in the README's Data section)")
	src := addSourceFlags(fs, "ratios for --data, e.g. 0.8,0.1,0.1 (train,valid,test) or 0.9,0.1 (train,valid)",
		"seed of the split", "test file (optional, with --train)")
	pipePath := fs.String("pipeline", "", "transform with this fitted pipeline instead of fitting one on the training rows: a fit written by dcrnn fit (as train --pipeline takes), or the pipeline.json of an earlier prepare")
	out := fs.String("out", "", "output directory (train/, valid/, test/, pipeline.json, manifest.json)")
	shards := fs.Int("shards", 1, "Parquet files per part")
	df := addDataFlags(fs)
	br, err := df.parse(fs, args)
	if err != nil {
		return err
	}
	if *out == "" || (*schemaPath == "" && *pipePath == "") {
		return errors.New("prepare: --schema (or --pipeline) and --out are required (see dcrnn prepare --help)")
	}
	if *shards < 1 {
		return fmt.Errorf("prepare: --shards must be ≥ 1, got %d", *shards)
	}
	var schema *feature.Schema
	if *schemaPath != "" {
		if schema, err = feature.LoadSchema(*schemaPath); err != nil {
			return err
		}
	}
	var pipe *feature.Pipeline
	if *pipePath != "" {
		if pipe, err = readPipelineOrFit(*pipePath); err != nil {
			return err
		}
		ps := pipe.Schema()
		if schema != nil && !sameSchema(schema, &ps) {
			return fmt.Errorf("prepare: the schema %s differs from the one the pipeline %s was fitted with", *schemaPath, *pipePath)
		}
		schema = &ps
	}
	var job train.Job
	if err := src.set("prepare", &job); err != nil {
		return err
	}
	describe := fmt.Sprintf("data=%q split=%q seed=%d train=%q valid=%q test=%q", *src.data, *src.split, *src.seed, *src.train, *src.valid, *src.test)
	m, err := prepare.Run(ctx, prepare.Job{Schema: schema, Pipeline: pipe, Train: job.Train, Valid: job.Valid, Test: job.Test,
		Describe: describe, Out: *out, Shards: *shards, BadRows: br, Logger: newLogger(stderr)})
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, m.String())
	fmt.Fprintf(stdout, "%d fields, %d tasks; manifest written to %s/manifest.json\n", len(m.Fields), len(m.Tasks), *out)
	return nil
}

// readPipelineOrFit reads a fitted pipeline from a fit state written by
// dcrnn fit (its "format" names it) or from a pipeline JSON such as the
// pipeline.json that prepare writes.
func readPipelineOrFit(path string) (*feature.Pipeline, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("prepare: --pipeline: %w", err)
	}
	var head struct {
		Format string `json:"format"`
	}
	if json.Unmarshal(b, &head) == nil && head.Format == feature.FitStateFormat {
		f, err := feature.UnmarshalFitState(b)
		if err != nil {
			return nil, fmt.Errorf("prepare: --pipeline %s: %w", path, err)
		}
		return f.Finish()
	}
	p, err := feature.UnmarshalPipeline(b)
	if err != nil {
		return nil, fmt.Errorf("prepare: --pipeline %s: %w", path, err)
	}
	return p, nil
}

// sameSchema reports whether two schemas have the same JSON form.
func sameSchema(a, b *feature.Schema) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}
