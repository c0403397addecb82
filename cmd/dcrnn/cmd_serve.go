package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/dcrnn/dcrnn/internal/serve"
)

func init() {
	register(command{name: "serve", summary: "serve a model file over HTTP (POST /v1/predict, hot reload, metrics)", run: runServe})
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", "--model M.dcrnn [--addr 127.0.0.1:8080] [flags]", stderr)
	modelPath := fs.String("model", "", "model file to serve (required); SIGHUP or POST /v1/admin/reload reloads it")
	addr := fs.String("addr", "127.0.0.1:8080", "listen address HOST:PORT (port 0 picks a free port, printed on start)")
	maxBody := fs.Int64("max-body-bytes", 8<<20, "largest request body; larger ones get 413")
	maxRows := fs.Int("max-rows", 1000, "most rows (or items) per predict request; more get 413")
	strict := fs.Bool("strict", false, "refuse (400) row keys that are not columns of the model's training data")
	readTimeout := fs.Duration("read-timeout", 0, "time to read a whole request (default 10s)")
	writeTimeout := fs.Duration("write-timeout", 0, "time to write a response (default 10s)")
	drainTimeout := fs.Duration("drain-timeout", 0, "on SIGTERM, how long requests in flight may take to finish (default 30s)")
	logSample := fs.Int("log-sample", 100, "log one request in N (1: all, -1: none); errors ≥ 500 and reloads are always logged")
	logFormat := fs.String("log-format", "text", "log format on stderr: text or json")
	workers := fs.Int("workers", 0, "requests scored at the same time (default GOMAXPROCS)")
	applyThreads := threadsFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := applyThreads(); err != nil {
		return err
	}
	if *modelPath == "" {
		return fmt.Errorf("serve: --model is required (see dcrnn serve --help)")
	}
	if *maxBody <= 0 || *maxRows <= 0 {
		return fmt.Errorf("serve: --max-body-bytes and --max-rows must be positive")
	}
	var log *slog.Logger
	switch *logFormat {
	case "text":
		log = newLogger(stderr)
	case "json":
		log = slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	default:
		return fmt.Errorf("serve: --log-format: want text or json, got %q", *logFormat)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv, err := serve.New(*modelPath, serve.Options{
		MaxBodyBytes: *maxBody, MaxRows: *maxRows, Strict: *strict,
		ReadTimeout: *readTimeout, WriteTimeout: *writeTimeout, DrainTimeout: *drainTimeout,
		LogSample: *logSample, Workers: *workers, Logger: log, Registry: reg,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	fmt.Fprintf(stdout, "dcrnn serve: listening on http://%s (model %s, checksum %s)\n", ln.Addr(), srv.Model().Name, srv.Model().Checksum)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				srv.Reload("") // logs success or failure; the old model keeps serving on failure
			case <-ctx.Done():
				return
			}
		}
	}()
	return srv.Serve(ctx, ln)
}
