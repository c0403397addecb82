// Package serve is the HTTP server of `dcrnn serve`, for embedding in a Go
// program: it scores JSON predict requests with a model file and swaps in a
// new model file without dropping a request.
//
// # Embedding
//
// New loads the model; mount Handler on your own mux, or let Serve run the
// listener (with its connection cap and graceful drain):
//
//	srv, err := serve.New("census.dcrnn", serve.Options{MaxRows: 500})
//	if err != nil {
//		return err
//	}
//	mux := http.NewServeMux()
//	mux.Handle("/", srv.Handler())
//	// ... or: ln, _ := net.Listen("tcp", "127.0.0.1:8080"); srv.Serve(ctx, ln)
//
// Reload (for example on SIGHUP) reads, checks and warms up a model file,
// then swaps it in atomically; requests in flight finish on the model they
// started with, and on error the old model keeps serving.
//
// # Endpoints
//
//   - POST /v1/predict: {"rows": [{feature: value, ...}, ...]} or
//     {"context": {user features}, "items": [{item features}, ...]} (an
//     item's own value wins over the context's); values are raw, as in the
//     training file. The answer is {"model": {"name", "checksum"},
//     "predictions": [{"TASK": p, ..., "ctcvr": p}, ...]}, one per row in
//     order, with the probabilities package github.com/dcrnn/dcrnn gives.
//   - the Open Inference Protocol v2 (KServe, Triton) under /v2: health,
//     metadata and POST /v2/models/{name}[/versions/{v}]/infer, one tensor
//     per feature field, one FP32 output per task plus ctcvr (the README's
//     Open Inference Protocol section); its gRPC service is ServeGRPC.
//   - GET /v1/model, /healthz, /readyz (503 while draining), /metrics
//     (Prometheus).
//   - POST /v1/admin/reload, behind Options.AdminToken (or on AdminHandler,
//     for a separate loopback listener).
//
// A refused request gets a 4xx with {"error": {"code", "message", "field",
// "row"}}: the field is the JSON path of the offending value
// ("rows[3].age"). Every limit (body size, rows, connections, requests in
// flight, body memory, timeouts) has a default and an Options field.
package serve

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dcrnn/dcrnn/internal/serve"
)

// Options configures a Server. Zero values take the documented defaults.
type Options struct {
	// MaxBodyBytes is the largest request body accepted (default 8 MiB);
	// larger bodies get 413.
	MaxBodyBytes int64
	// MaxRows is the most rows (or items) per predict request (default
	// 1000); more get 413.
	MaxRows int
	// Strict refuses (400) row keys that are not columns of the model's
	// training data; by default they are ignored.
	Strict bool
	// ReadTimeout and WriteTimeout bound reading a whole request and
	// writing its response (default 10 s each); IdleTimeout bounds
	// keep-alive idle connections (default 60 s). They apply to Serve.
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// DrainTimeout bounds the graceful shutdown of Serve (default 30 s).
	DrainTimeout time.Duration
	// LogSample logs one request in LogSample (default 100; 1 logs every
	// request, a negative value none). Responses with status ≥ 500, panics
	// and reloads are always logged.
	LogSample int
	// Workers is the number of requests scored at the same time (default
	// GOMAXPROCS); others wait their turn.
	Workers int
	// ChunkRows is the most rows scored in one forward pass (default 512).
	ChunkRows int
	// AdminToken, when set, is the bearer token every admin request must
	// carry (Authorization: Bearer TOKEN) and turns the admin endpoints on
	// in Handler. Without it only AdminHandler serves them.
	AdminToken string
	// AllowReloadPath lets POST /v1/admin/reload name a file ({"path":
	// ...}) under ModelDir; by default a reload re-reads the file given to
	// New.
	AllowReloadPath bool
	// ModelDir is the directory reload paths must lie under (default: the
	// directory of the file given to New).
	ModelDir string
	// AllowSchemaChange lets a reload install a model whose fields or tasks
	// differ from the served model's.
	AllowSchemaChange bool
	// MaxModelBytes is the largest model file a reload reads (default: 4×
	// the file being served, at least 64 MiB).
	MaxModelBytes int64
	// ReloadTimeout bounds one reload (default 60 s).
	ReloadTimeout time.Duration
	// MaxConnections caps the open connections of Serve's listener (default
	// 4096).
	MaxConnections int
	// MaxInFlight caps the requests being decoded and scored at once
	// (default 256); more get 503 + Retry-After.
	MaxInFlight int
	// MaxBodyMemory caps the bytes of request bodies held in memory by all
	// requests together (default 256 MiB).
	MaxBodyMemory int64
	// ModelName is the model's name in the Open Inference Protocol (/v2 and
	// ServeGRPC; default: the model file's base name without its extension).
	ModelName string
	// Logger receives structured logs (default: discard).
	Logger *slog.Logger
	// Registry receives the Prometheus metrics and is served on /metrics
	// (default: a new registry).
	Registry *prometheus.Registry
}

func (o Options) internal() serve.Options {
	return serve.Options{
		MaxBodyBytes: o.MaxBodyBytes, MaxRows: o.MaxRows, Strict: o.Strict,
		ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout, IdleTimeout: o.IdleTimeout,
		DrainTimeout: o.DrainTimeout, LogSample: o.LogSample, Workers: o.Workers, ChunkRows: o.ChunkRows,
		AdminToken: o.AdminToken, AllowReloadPath: o.AllowReloadPath, ModelDir: o.ModelDir,
		AllowSchemaChange: o.AllowSchemaChange, MaxModelBytes: o.MaxModelBytes, ReloadTimeout: o.ReloadTimeout,
		MaxConnections: o.MaxConnections, MaxInFlight: o.MaxInFlight, MaxBodyMemory: o.MaxBodyMemory,
		ModelName: o.ModelName, Logger: o.Logger, Registry: o.Registry,
	}
}

// ModelInfo describes the model being served.
type ModelInfo struct {
	Name     string    `json:"name"`
	Checksum string    `json:"checksum"`
	Path     string    `json:"path"`
	Tasks    []string  `json:"tasks"`
	Funnel   bool      `json:"funnel"`
	LoadedAt time.Time `json:"loaded_at"`
}

func info(m serve.ModelInfo) ModelInfo {
	return ModelInfo{Name: m.Name, Checksum: m.Checksum, Path: m.Path, Tasks: m.Tasks, Funnel: m.Funnel, LoadedAt: m.LoadedAt}
}

// Server serves one model file at a time. Its methods are safe for
// concurrent use.
type Server struct{ s *serve.Server }

// New loads the model file at path and returns a server for it.
func New(path string, opt Options) (*Server, error) {
	s, err := serve.New(path, opt.internal())
	if err != nil {
		return nil, err
	}
	return &Server{s}, nil
}

// Handler returns the HTTP handler of every endpoint (the admin ones only
// when Options.AdminToken is set; 404 otherwise).
func (s *Server) Handler() http.Handler { return s.s.Handler() }

// AdminHandler returns the handler of a separate admin listener: the routes
// of Handler with the admin endpoints on (behind AdminToken when it is
// set, else answered only for a loopback Host: serve it on a loopback
// address).
func (s *Server) AdminHandler() http.Handler { return s.s.AdminHandler() }

// Serve serves Handler on ln until ctx is cancelled, then shuts down
// gracefully: /readyz turns 503, no new connection is accepted and the
// requests in flight are drained (up to DrainTimeout). It returns nil after
// a clean drain.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error { return s.s.Serve(ctx, ln) }

// ServeGRPC serves the Open Inference Protocol's gRPC service
// (inference.GRPCInferenceService: health, metadata, ModelInfer) on ln until
// ctx is cancelled, then stops gracefully (up to DrainTimeout). The model,
// reloads, metrics and limits are those of Handler.
func (s *Server) ServeGRPC(ctx context.Context, ln net.Listener) error {
	return s.s.ServeGRPC(ctx, ln)
}

// ServeAdmin serves AdminHandler on ln until ctx is cancelled, like Serve.
func (s *Server) ServeAdmin(ctx context.Context, ln net.Listener) error {
	return s.s.ServeAdmin(ctx, ln)
}

// Model describes the model being served.
func (s *Server) Model() ModelInfo { return info(s.s.Model()) }

// Reload loads the model file at path (the file given to New when path is
// "") and, once it is read, checked and warmed up, swaps it in atomically.
// The file must be a regular file within MaxModelBytes, and its schema must
// match the served model's unless AllowSchemaChange. On error the old model
// keeps serving and the error is a *ReloadError.
func (s *Server) Reload(path string) (ModelInfo, error) {
	m, err := s.s.Reload(path)
	var re *serve.ReloadError
	if errors.As(err, &re) {
		return info(m), &ReloadError{Status: re.Status, Code: re.Code, Message: re.Msg, Err: re.Err}
	}
	return info(m), err
}

// ReloadError is a failed reload; the previous model keeps serving.
type ReloadError struct {
	// Status is the HTTP status the admin endpoint answers for it (4xx when
	// the request or the file is at fault, 503 when it ran out of time).
	Status int
	// Code is the machine-readable reason ("reload_failed",
	// "schema_changed", "model_too_large", "reload_timeout", ...).
	Code    string
	Message string
	Err     error // the underlying error, if any
}

func (e *ReloadError) Error() string { return e.Message }
func (e *ReloadError) Unwrap() error { return e.Err }
