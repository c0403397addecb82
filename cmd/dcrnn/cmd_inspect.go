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
	dataPath := fs.String("data", "", "data "+filesHelp)
	badRows := fs.String("bad-rows", "skip", "malformed rows: skip (count and show them) or error (stop at the first)")
	fs.Int("threads", 0, "threads (accepted for uniformity; several files are inspected in parallel on all cores)")
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
	opt := data.FitOptions{BadRows: policy, Logger: log}
	done, err := bytesProgress(stderr, *dataPath, "inspect", &opt)
	if err != nil {
		return err
	}
	rep, err := data.Inspect(ctx, s, *dataPath, opt)
	done()
	if err != nil {
		return err
	}
	return rep.Write(stdout)
}
