package main

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/dcrnn/dcrnn/internal/data"
	"github.com/dcrnn/dcrnn/internal/feature"
)

func init() {
	register(command{name: "data inspect", summary: "summarize a dataset through its schema (rows, OOV, missing, label rates, funnel)", run: runInspect})
}

// runInspect implements `dcrnn data inspect --schema S --data F`.
func runInspect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("data inspect", "--schema S.yaml --data F [--bad-rows skip|error]", stderr)
	schemaPath := fs.String("schema", "", "schema file (YAML)")
	dataPath := fs.String("data", "", "data file (CSV/TSV, may be .gz)")
	badRows := fs.String("bad-rows", "skip", "malformed rows: skip (count and show them) or error (stop at the first)")
	fs.Int("threads", 0, "threads (inspection streams on one core; accepted for uniformity)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *schemaPath == "" || *dataPath == "" {
		fs.Usage()
		return errors.New("data inspect: --schema and --data are required")
	}
	policy, err := data.ParseBadRows(*badRows)
	if err != nil {
		return err
	}
	s, err := feature.LoadSchema(*schemaPath)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rep, err := data.Inspect(ctx, s, *dataPath, data.FitOptions{BadRows: policy, Logger: log})
	if err != nil {
		return err
	}
	return rep.Write(stdout)
}
