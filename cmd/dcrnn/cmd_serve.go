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
	register(command{name: "serve", summary: "serve a model file over HTTP (POST /v1/predict; the Open Inference Protocol v2 over REST and, with --grpc-addr, gRPC; hot reload, metrics)", run: runServe})
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", "--model M.dcrnn [--addr 127.0.0.1:8080] [flags]", stderr)
	modelPath := fs.String("model", "", "model file to serve (required); SIGHUP (or POST /v1/admin/reload where the admin API is on) re-reads it")
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
	tokenFile := fs.String("admin-token-file", "", "turn on POST /v1/admin/reload on --addr, for requests with the header 'Authorization: Bearer TOKEN', TOKEN being this file's content (≥ 16 characters); without this flag or --admin-addr the admin API is off (SIGHUP still reloads)")
	adminAddr := fs.String("admin-addr", "", "serve the admin API on its own listener HOST:PORT instead (a loopback address unless --admin-token-file is given too)")
	allowPath := fs.Bool("allow-reload-path", false, "let POST /v1/admin/reload name a file {\"path\": ...} under --model-dir; by default reloads re-read --model")
	modelDir := fs.String("model-dir", "", "directory reload paths must lie under (default: the directory of --model)")
	allowSchema := fs.Bool("allow-schema-change", false, "let a reload install a model whose fields or tasks differ from the served model's")
	maxModel := fs.Int64("max-model-bytes", 0, "largest model file a reload reads (default: 4× the served file, at least 64 MiB)")
	reloadTimeout := fs.Duration("reload-timeout", 0, "time one reload may take before it is abandoned with a 503 (default 60s)")
	maxConns := fs.Int("max-connections", 0, "most open connections on --addr; more get 503 + Retry-After (default 4096)")
	maxInflight := fs.Int("max-inflight", 0, "most requests decoded and scored at once; more get 503 + Retry-After (default 256)")
	maxBodyMem := fs.Int64("max-body-memory", 0, "most bytes of request bodies held in memory by all requests together; beyond, 503 + Retry-After (default 256 MiB)")
	modelName := fs.String("name", "", "the model's name in the Open Inference Protocol (/v2 and gRPC; default: the --model file's base name without its extension)")
	grpcAddr := fs.String("grpc-addr", "", "also serve the Open Inference Protocol's gRPC service (inference.GRPCInferenceService) on HOST:PORT")
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
	var token string
	if *tokenFile != "" {
		var warning string
		var err error
		if token, warning, err = serve.ReadTokenFile(*tokenFile); err != nil {
			return err
		}
		if warning != "" {
			log.Warn(warning)
		}
	}
	if *adminAddr != "" && token == "" && !serve.IsLoopback(*adminAddr) {
		return fmt.Errorf("serve: --admin-addr %s is not a loopback address: give --admin-token-file too, or use 127.0.0.1:PORT", *adminAddr)
	}
	if *allowPath && token == "" && *adminAddr == "" {
		return fmt.Errorf("serve: --allow-reload-path needs the admin API on (--admin-token-file or --admin-addr)")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv, err := serve.New(*modelPath, serve.Options{
		MaxBodyBytes: *maxBody, MaxRows: *maxRows, Strict: *strict,
		ReadTimeout: *readTimeout, WriteTimeout: *writeTimeout, DrainTimeout: *drainTimeout,
		LogSample: *logSample, Workers: *workers, Logger: log, Registry: reg,
		AdminToken: token, AllowReloadPath: *allowPath, ModelDir: *modelDir, AllowSchemaChange: *allowSchema,
		MaxModelBytes: *maxModel, ReloadTimeout: *reloadTimeout,
		MaxConnections: *maxConns, MaxInFlight: *maxInflight, MaxBodyMemory: *maxBodyMem,
		ModelName: *modelName,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	var adminLn net.Listener
	if *adminAddr != "" {
		if adminLn, err = net.Listen("tcp", *adminAddr); err != nil {
			ln.Close()
			return fmt.Errorf("serve: --admin-addr: %w", err)
		}
	}
	var grpcLn net.Listener
	if *grpcAddr != "" {
		if grpcLn, err = net.Listen("tcp", *grpcAddr); err != nil {
			ln.Close()
			if adminLn != nil {
				adminLn.Close()
			}
			return fmt.Errorf("serve: --grpc-addr: %w", err)
		}
	}
	fmt.Fprintf(stdout, "dcrnn serve: listening on http://%s (model %s, checksum %s)\n", ln.Addr(), srv.Model().Name, srv.Model().Checksum)
	if grpcLn != nil {
		fmt.Fprintf(stdout, "dcrnn serve: Open Inference Protocol gRPC on %s\n", grpcLn.Addr())
	}
	switch {
	case adminLn != nil:
		fmt.Fprintf(stdout, "dcrnn serve: admin API on http://%s\n", adminLn.Addr())
	case token != "":
		fmt.Fprintf(stdout, "dcrnn serve: admin API on http://%s (bearer token)\n", ln.Addr())
	}

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
	var side []chan error
	if adminLn != nil {
		c := make(chan error, 1)
		go func() { c <- srv.ServeAdmin(ctx, adminLn) }()
		side = append(side, c)
	}
	if grpcLn != nil {
		c := make(chan error, 1)
		go func() { c <- srv.ServeGRPC(ctx, grpcLn) }()
		side = append(side, c)
	}
	err = srv.Serve(ctx, ln)
	for _, c := range side {
		if serr := <-c; err == nil {
			err = serr
		}
	}
	return err
}
