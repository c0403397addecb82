package serve

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/score"
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
	// ReadTimeout and WriteTimeout bound reading a whole request and writing
	// its response (default 10 s each); IdleTimeout bounds keep-alive idle
	// connections (default 60 s).
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// DrainTimeout bounds the graceful shutdown: requests still running
	// after it are cut (default 30 s).
	DrainTimeout time.Duration
	// LogSample logs one request in LogSample (default 100; 1 logs every
	// request, a negative value none). Responses with status ≥ 500, panics
	// and reloads are always logged.
	LogSample int
	// Workers is the number of requests scored at the same time (default
	// GOMAXPROCS); others wait their turn.
	Workers int
	// ChunkRows is the most rows passed to one Predict call (default 512);
	// a larger request is scored in chunks so the scratch memory stays bounded.
	ChunkRows int
	// AdminToken, when set, is the bearer token every admin request must
	// carry (Authorization: Bearer TOKEN), compared in constant time, and it
	// turns the admin endpoints on in Handler. Without it Handler answers
	// them 404 and only AdminHandler serves them (for a separate listener on
	// a loopback address).
	AdminToken string
	// AllowReloadPath lets POST /v1/admin/reload name a file ({"path":
	// ...}); it must lie under ModelDir. By default a reload re-reads the
	// file given to New.
	AllowReloadPath bool
	// ModelDir is the directory reload paths must lie under (default: the
	// directory of the file given to New).
	ModelDir string
	// AllowSchemaChange lets a reload install a model whose fields or tasks
	// (names, types, order, funnel) differ from the served model's.
	AllowSchemaChange bool
	// MaxModelBytes is the largest model file a reload reads (default: 4×
	// the file being served, at least 64 MiB); larger files are refused
	// before any byte is read.
	MaxModelBytes int64
	// ReloadTimeout bounds one reload (default 60 s); a reload that takes
	// longer is abandoned and answered 503, and later reloads go ahead.
	ReloadTimeout time.Duration
	// MaxConnections caps the open connections of Serve's listener (default
	// 4096); a connection over the cap gets 503 + Retry-After and is closed.
	MaxConnections int
	// MaxInFlight caps the requests being decoded and scored at once (a
	// predict request counts once its body has arrived, so slow clients do
	// not hold slots) and the admin requests (default 256); more get 503 +
	// Retry-After at once. Health, readiness and metrics are not counted.
	MaxInFlight int
	// MaxBodyMemory caps the bytes of request bodies held in memory by all
	// requests together (default 256 MiB); a request that would pass it gets
	// 503 + Retry-After. Body buffers grow only as bytes arrive.
	MaxBodyMemory int64
	// ModelName is the model's name in the Open Inference Protocol (/v2 and
	// gRPC; default: the model file's base name without its extension).
	ModelName string
	// Logger receives structured logs (default: discard).
	Logger *slog.Logger
	// Registry receives the Prometheus metrics and is served on /metrics
	// (default: a new registry).
	Registry *prometheus.Registry
}

func (o *Options) defaults() {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 8 << 20
	}
	if o.MaxRows <= 0 {
		o.MaxRows = 1000
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 10 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 60 * time.Second
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 30 * time.Second
	}
	if o.LogSample == 0 {
		o.LogSample = 100
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.ChunkRows <= 0 {
		o.ChunkRows = 512
	}
	if o.ReloadTimeout <= 0 {
		o.ReloadTimeout = 60 * time.Second
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = 4096
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 256
	}
	if o.MaxBodyMemory <= 0 {
		o.MaxBodyMemory = 256 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
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

// Server scores predict requests with a model file and swaps in a new model
// file atomically on Reload. Create it with New; serve with Serve or mount
// Handler.
type Server struct {
	opt        Options
	log        *slog.Logger
	m          *metrics
	cur        atomic.Pointer[loaded]
	path       string // the file given to New, which reloads without a path read
	modelDir   string // absolute, symbolic links resolved
	tokenSum   []byte // SHA-256 of AdminToken, nil when none
	reloadSlot chan struct{}
	stuck      atomic.Int32 // timed-out loads still running
	draining   atomic.Bool
	sem        chan struct{} // scoring workers
	inflight   chan struct{} // requests in flight (MaxInFlight)
	budget     bodyBudget
	bigFreed   atomic.Int64 // unix ns of the last dropped big buffer, 0 once trimmed
	conns      atomic.Int64 // open connections of Serve's listener
	reqs       sync.Pool    // *reqState
	nlog       atomic.Uint64
	handler    http.Handler
	admin      http.Handler
	loadFn     func(path string, maxBytes int64) (*loaded, error) // s.load; tests slow it down
	decode     func(body []byte, r *request, maxRows int) error   // decodeRequest; the benchmark swaps in encoding/json
	oip        *oipService                                        // the Open Inference Protocol endpoints
	oipCache   atomic.Pointer[oipModel]                           // the served model as tensors
}

// loaded is one loaded model with its per-model scratch pool.
type loaded struct {
	tr      *model.Trained
	info    ModelInfo
	size    int64    // bytes of the model file
	prefix  []byte   // {"model":{...},"predictions":[
	keys    [][]byte // "task": per task
	funnel  bool
	scorers sync.Pool // *score.Scorer
}

// reqState is the model-independent scratch of one request.
type reqState struct {
	body     []byte
	reserved int64 // bytes of body taken from the body-memory budget
	req      request
	out      []byte
}

// New loads the model file at path and returns a server for it.
func New(path string, opt Options) (*Server, error) {
	opt.defaults()
	s := &Server{opt: opt, log: opt.Logger, path: path, sem: make(chan struct{}, opt.Workers),
		inflight: make(chan struct{}, opt.MaxInFlight), reloadSlot: make(chan struct{}, 1)}
	m, err := newMetrics(opt.Registry, func() float64 { return float64(s.conns.Load()) })
	if err != nil {
		return nil, fmt.Errorf("serve: metrics: %w", err)
	}
	s.m = m
	s.budget.limit = opt.MaxBodyMemory
	s.loadFn = s.load
	s.decode = decodeRequest
	s.reqs.New = func() any { return &reqState{} }
	if opt.AdminToken != "" {
		sum := sha256.Sum256([]byte(opt.AdminToken))
		s.tokenSum = sum[:]
	}
	dir := opt.ModelDir
	if dir == "" {
		dir = filepath.Dir(path)
	}
	if dir, err = filepath.Abs(dir); err == nil {
		dir, err = filepath.EvalSymlinks(dir)
	}
	if err != nil {
		return nil, fmt.Errorf("serve: model directory: %w", err)
	}
	s.modelDir = dir
	ld, err := s.load(path, opt.MaxModelBytes)
	if err != nil {
		return nil, err
	}
	s.install(ld)
	s.oip = newOIPService(s, opt.MaxRows, opt.Strict)
	s.handler = s.routes(opt.AdminToken != "")
	s.admin = s.routes(true)
	return s, nil
}

// Model describes the model being served.
func (s *Server) Model() ModelInfo { return s.cur.Load().info }

// load reads, checks and warms up a model file; nothing is installed.
func (s *Server) load(path string, maxBytes int64) (ld *loaded, err error) {
	defer func() { // a model file is input too: never let it take the server down
		if r := recover(); r != nil {
			ld, err = nil, fmt.Errorf("serve: load %s: internal error: %v", path, r)
			s.log.Error("panic while loading a model", "path", path, "panic", r, "stack", string(debug.Stack()))
		}
	}()
	if path == "" {
		return nil, errors.New("serve: no model file given")
	}
	tr, err := model.LoadLimited(path, maxBytes)
	if err != nil {
		return nil, fmt.Errorf("serve: load: %w", err)
	}
	ld = &loaded{tr: tr}
	if st, err := os.Stat(path); err == nil {
		ld.size = st.Size()
	}
	ld.info = ModelInfo{Name: tr.Name, Checksum: tr.Checksum, Path: path, LoadedAt: time.Now()}
	hdr, _ := json.Marshal(struct {
		Name     string `json:"name"`
		Checksum string `json:"checksum"`
	}{tr.Name, tr.Checksum})
	ld.prefix = append(append([]byte(`{"model":`), hdr...), `,"predictions":[`...)
	for _, t := range tr.Spec.Tasks {
		ld.info.Tasks = append(ld.info.Tasks, t.Name)
		k, _ := json.Marshal(t.Name)
		ld.keys = append(ld.keys, append(k, ':'))
	}
	if _, _, ok := tr.Spec.Funnel(); ok {
		ld.funnel = true
		ld.info.Funnel = true
		ld.keys = append(ld.keys, []byte(`"ctcvr":`))
	}
	// The model is read-only from here on: its scorers share one copy of
	// its weights packed for the kernels, and its input layers folded.
	frozen := score.NewFrozen()
	ld.scorers.New = func() any {
		sc := score.New(tr)
		sc.Share(frozen)
		sc.Chunk = s.opt.ChunkRows
		return sc
	}
	// Warm up: score one all-missing row, so a model that cannot run fails
	// here and not on the first request.
	sc := ld.scorers.Get().(*score.Scorer)
	if _, _, err := sc.Maps([]map[string]any{{}}, nil, nil); err != nil {
		return nil, fmt.Errorf("serve: load %s: transform an empty row: %w", path, err)
	}
	ld.scorers.Put(sc)
	return ld, nil
}

// install swaps ld in; requests in flight keep the model they started with.
func (s *Server) install(ld *loaded) *loaded {
	old := s.cur.Swap(ld)
	if old != nil {
		s.m.modelInfo.DeleteLabelValues(old.info.Name, old.info.Checksum)
	}
	s.m.modelInfo.WithLabelValues(ld.info.Name, ld.info.Checksum).Set(1)
	s.m.loadedAt.Set(float64(ld.info.LoadedAt.UnixNano()) / 1e9)
	return old
}

// Handler returns the HTTP handler: POST /v1/predict, GET /v1/model, the
// Open Inference Protocol under /v2 (see oip_rest.go), /healthz, /readyz, /metrics, and POST /v1/admin/reload when AdminToken is
// set (answered 404 otherwise).
func (s *Server) Handler() http.Handler { return s.handler }

// AdminHandler returns the handler of a separate admin listener: the routes
// of Handler with the admin endpoints on (behind AdminToken when it is set).
// Without a token it answers admin requests only for a loopback Host, so
// serve it on a loopback address.
func (s *Server) AdminHandler() http.Handler { return s.admin }

func (s *Server) routes(admin bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/v1/predict", s.wrap("predict", http.HandlerFunc(s.predict)))
	if admin {
		mux.Handle("/v1/admin/", s.wrap("reload", s.limitInFlight(s.adminAuth(s.adminRoute))))
	} else {
		mux.Handle("/v1/admin/", s.wrap("reload", http.HandlerFunc(adminOff)))
	}
	mux.Handle("/v1/model", s.wrap("model", http.HandlerFunc(s.modelInfo)))
	mux.Handle("/healthz", s.wrap("healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})))
	mux.Handle("/readyz", s.wrap("readyz", http.HandlerFunc(s.readyz)))
	v2 := s.oipRoutes()
	mux.Handle("/v2", v2)
	mux.Handle("/v2/", v2)
	mux.Handle("/metrics", promhttp.HandlerFor(s.opt.Registry, promhttp.HandlerOpts{}))
	mux.Handle("/", s.wrap("other", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, reqErr(http.StatusNotFound, CodeNotFound, "", -1, "no such endpoint %s %s (have POST /v1/predict, GET /v1/model, the Open Inference Protocol under /v2, /healthz, /readyz, /metrics, and POST /v1/admin/reload where the admin API is on)", r.Method, r.URL.Path))
	})))
	return mux
}

// Serve serves Handler on ln until ctx is cancelled, then shuts down
// gracefully: /readyz turns 503, no new connection is accepted, and the
// requests in flight are drained (up to DrainTimeout). It returns nil after
// a clean drain. At most MaxConnections connections are open at once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := make(chan struct{})
	defer close(stop)
	go s.trimMemory(stop)
	ln = newLimitListener(ln, s.opt.MaxConnections, func() { s.m.rejected.WithLabelValues("connections").Inc() }, &s.conns)
	return s.serveHTTP(ctx, ln, s.handler, "serving")
}

// ServeAdmin serves AdminHandler on ln (a separate admin listener) until ctx
// is cancelled, like Serve.
func (s *Server) ServeAdmin(ctx context.Context, ln net.Listener) error {
	ln = newLimitListener(ln, maxRejecting, func() { s.m.rejected.WithLabelValues("connections").Inc() }, new(atomic.Int64))
	return s.serveHTTP(ctx, ln, s.admin, "serving the admin API")
}

func (s *Server) serveHTTP(ctx context.Context, ln net.Listener, h http.Handler, what string) error {
	srv := &http.Server{
		Handler:           h,
		MaxHeaderBytes:    maxHeaderBytes,
		ReadTimeout:       s.opt.ReadTimeout,
		ReadHeaderTimeout: s.opt.ReadTimeout,
		WriteTimeout:      s.opt.WriteTimeout,
		IdleTimeout:       s.opt.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info(what, "addr", ln.Addr().String(), "model", s.Model().Name, "checksum", s.Model().Checksum,
		"path", s.Model().Path, "max_rows", s.opt.MaxRows, "max_body_bytes", s.opt.MaxBodyBytes, "strict", s.opt.Strict, "workers", s.opt.Workers,
		"max_connections", s.opt.MaxConnections, "max_inflight", s.opt.MaxInFlight, "max_body_memory", s.opt.MaxBodyMemory)
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.draining.Store(true)
	s.log.Info("shutting down: draining requests in flight", "timeout", s.opt.DrainTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.opt.DrainTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc
	if err != nil {
		srv.Close()
		return fmt.Errorf("serve: drain: %w", err)
	}
	s.log.Info("stopped")
	return nil
}

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	n      int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection's deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.n += n
	return n, err
}

// logInfo is filled by handlers for the request log line.
type logInfo struct {
	rows int
	err  string
}

type logKey struct{}

// wrap adds metrics, sampled request logs and a recover that turns a panic
// into a 500 and a log line.
func (s *Server) wrap(name string, h http.Handler) http.Handler {
	lat := s.m.latency.WithLabelValues(name)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		li := &logInfo{}
		r = r.WithContext(context.WithValue(r.Context(), logKey{}, li))
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.m.panics.Inc()
				s.log.Error("panic in handler", "handler", name, "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if sw.status == 0 {
					writeError(sw, reqErr(http.StatusInternalServerError, CodeInternal, "", -1, "internal error (logged); the request was not scored"))
				}
				li.err = fmt.Sprint(p)
			}
			if sw.status == 0 {
				sw.status = http.StatusOK
			}
			d := time.Since(start)
			lat.Observe(d.Seconds())
			s.m.requests.WithLabelValues(name, strconv.Itoa(sw.status)).Inc()
			n := s.nlog.Add(1)
			if sw.status >= 500 || (s.opt.LogSample > 0 && n%uint64(s.opt.LogSample) == 0) {
				attrs := []slog.Attr{slog.String("method", r.Method), slog.String("path", r.URL.Path),
					slog.Int("status", sw.status), slog.Int64("bytes_in", r.ContentLength), slog.Int("bytes_out", sw.n),
					slog.Float64("ms", float64(d.Microseconds())/1000), slog.String("remote", r.RemoteAddr)}
				if li.rows > 0 {
					attrs = append(attrs, slog.Int("rows", li.rows))
				}
				if li.err != "" {
					attrs = append(attrs, slog.String("err", li.err))
				}
				if ld := s.cur.Load(); ld != nil && name == "predict" {
					attrs = append(attrs, slog.String("checksum", ld.info.Checksum))
				}
				lvl := slog.LevelInfo
				if sw.status >= 500 {
					lvl = slog.LevelError
				}
				s.log.LogAttrs(r.Context(), lvl, "request", attrs...)
			}
		}()
		h.ServeHTTP(sw, r)
	})
}

func logOf(r *http.Request) *logInfo {
	if li, ok := r.Context().Value(logKey{}).(*logInfo); ok {
		return li
	}
	return &logInfo{}
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	Row     *int   `json:"row,omitempty"`
}

func writeError(w http.ResponseWriter, e *RequestError) {
	d := errorDetail{Code: e.Code, Message: e.Message, Field: e.Field}
	if e.Row >= 0 {
		row := e.Row
		d.Row = &row
	}
	if e.Status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", "POST")
	}
	writeJSON(w, e.Status, errorBody{d})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"error":{"code":"internal","message":"encoding the response failed"}}`)
		status = http.StatusInternalServerError
	}
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ld := s.cur.Load()
	switch {
	case ld == nil:
		writeError(w, reqErr(http.StatusServiceUnavailable, CodeNotReady, "", -1, "no model loaded"))
	case s.draining.Load():
		writeError(w, reqErr(http.StatusServiceUnavailable, CodeNotReady, "", -1, "shutting down"))
	default:
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "model": ld.info})
	}
}

func (s *Server) modelInfo(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"model": s.Model()})
}

// adminRoute dispatches the admin endpoints.
func (s *Server) adminRoute(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v1/admin/reload" {
		s.reload(w, r)
		return
	}
	writeError(w, reqErr(http.StatusNotFound, CodeNotFound, "", -1, "no such admin endpoint %s (have POST /v1/admin/reload)", r.URL.Path))
}

func bodyError(err error, limit int64) *RequestError {
	if errors.Is(err, errBodyBudget{}) {
		return &RequestError{Status: http.StatusServiceUnavailable, Code: CodeOverloaded, Row: -1, Message: err.Error() + "; retry shortly"}
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return reqErr(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "", -1, "request body larger than %d bytes (--max-body-bytes)", limit)
	}
	return reqErr(http.StatusBadRequest, CodeBadRequest, "", -1, "reading the request body: %v", err)
}

// predict handles POST /v1/predict.
func (s *Server) predict(w http.ResponseWriter, r *http.Request) {
	li := logOf(r)
	fail := func(e *RequestError) {
		li.err = e.Message
		writeError(w, e)
	}
	if r.Method != http.MethodPost {
		fail(reqErr(http.StatusMethodNotAllowed, CodeMethod, "", -1, "use POST for /v1/predict"))
		return
	}
	ld := s.cur.Load()
	if r.ContentLength > s.opt.MaxBodyBytes {
		fail(reqErr(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "", -1, "request body of %d bytes is larger than %d bytes (--max-body-bytes)", r.ContentLength, s.opt.MaxBodyBytes))
		return
	}
	st := s.reqs.Get().(*reqState)
	defer s.reqs.Put(st)
	defer s.releaseBody(st)
	if err := s.readBody(st, http.MaxBytesReader(w, r.Body, s.opt.MaxBodyBytes), s.opt.MaxBodyBytes); err != nil {
		if errors.Is(err, errBodyBudget{}) {
			s.m.rejected.WithLabelValues("body_memory").Inc()
			w.Header().Set("Retry-After", retryAfter)
			// Read the rest without keeping it (up to the body limit, within
			// the read timeout), so the client reads the 503 instead of a
			// connection reset.
			io.Copy(io.Discard, r.Body)
		}
		fail(bodyError(err, s.opt.MaxBodyBytes))
		return
	}
	// In flight from here: a slow client's body does not hold a slot.
	if !s.enterInFlight() {
		li.err = "too many requests in flight"
		overloaded(w, "%d requests are in flight, the limit (--max-inflight); retry shortly", cap(s.inflight))
		return
	}
	defer s.leaveInFlight()
	if err := s.decode(st.body, &st.req, s.opt.MaxRows); err != nil {
		fail(err.(*RequestError))
		return
	}
	n := st.req.n
	li.rows = n
	s.m.inFlight.Inc()
	defer s.m.inFlight.Dec()
	select {
	case s.sem <- struct{}{}:
	case <-r.Context().Done():
		fail(reqErr(http.StatusServiceUnavailable, CodeNotReady, "", -1, "request cancelled while waiting for a scoring worker"))
		return
	}
	sc := ld.scorers.Get().(*score.Scorer)
	probs, ctcvr, rerr := s.score(sc, &st.req)
	if rerr == nil {
		st.out = encodePredictions(st.out[:0], ld, probs, ctcvr, n)
	}
	ld.scorers.Put(sc)
	<-s.sem
	if rerr != nil {
		fail(rerr)
		return
	}
	s.m.rows.Add(float64(n))
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(st.out)))
	w.WriteHeader(http.StatusOK)
	w.Write(st.out)
}

// score transforms the request's rows with the model's pipeline and scores
// them (package score, in chunks of at most ChunkRows rows).
func (s *Server) score(sc *score.Scorer, req *request) (probs [][]float32, ctcvr []float32, rerr *RequestError) {
	p := sc.Model().Pipeline
	list := "rows"
	if req.hasItems {
		list = "items"
	}
	var check func(i int, m map[string]any) error
	if s.opt.Strict {
		check = func(i int, m map[string]any) error {
			if unknown := p.UnknownKeys(m); len(unknown) > 0 {
				if i < 0 {
					return unknownError("context", -1, unknown)
				}
				return unknownError(list, i, unknown)
			}
			return nil
		}
	}
	probs, ctcvr, err := sc.Maps(req.Rows(), req.context, check)
	if err != nil {
		return nil, nil, scoreError(err, list)
	}
	return probs, ctcvr, nil
}

// scoreError is the answer to a scorer's error for the rows of list.
func scoreError(err error, list string) *RequestError {
	var re *score.RowError
	switch {
	case errors.As(err, &re) && re.Row < 0:
		// The context's errors name context.KEY; each item reads it as its
		// fallback.
		return fieldError(re.Err, "context", -1)
	case errors.As(err, &re):
		return fieldError(re.Err, list, re.Row)
	}
	var qe *RequestError
	if errors.As(err, &qe) {
		return qe
	}
	return reqErr(http.StatusInternalServerError, CodeInternal, "", -1, "scoring: %v", err)
}

// fieldError turns a pipeline error into a 400 naming the field.
func fieldError(err error, list string, row int) *RequestError {
	var fe *feature.FieldError
	if errors.As(err, &fe) && fe.Name != "" {
		path := fieldPath(list, fe.Name, row)
		return &RequestError{Status: http.StatusBadRequest, Code: CodeWrongType, Field: path, Row: row,
			Message: fmt.Sprintf("%s: expected %s, got %s", path, fe.Expected, describe(fe.Value))}
	}
	where := list
	if row >= 0 {
		where = list + "[" + strconv.Itoa(row) + "]"
	}
	return &RequestError{Status: http.StatusBadRequest, Code: CodeWrongType, Field: where, Row: row, Message: fmt.Sprintf("%s: %v", where, err)}
}

func describe(v string) string {
	switch v {
	case "true", "false":
		return "a boolean (" + v + ")"
	}
	if len(v) > 64 {
		v = v[:64] + "…"
	}
	return strconv.Quote(v)
}

// unknownError reports the first of the sorted unknown keys of a row.
func unknownError(list string, row int, unknown []string) *RequestError {
	where := list
	if row >= 0 {
		where = list + "[" + strconv.Itoa(row) + "]"
	}
	return &RequestError{Status: http.StatusBadRequest, Code: CodeUnknownField, Field: fieldPath(list, unknown[0], row), Row: row,
		Message: fmt.Sprintf("%s: unknown field %q (not a column of the model's training data; strict mode is on)", where, unknown[0])}
}

// encodePredictions appends the JSON response for n scored rows.
func encodePredictions(out []byte, ld *loaded, probs [][]float32, ctcvr []float32, n int) []byte {
	out = append(out, ld.prefix...)
	tasks := len(probs)
	for i := 0; i < n; i++ {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, '{')
		for t := 0; t < tasks; t++ {
			if t > 0 {
				out = append(out, ',')
			}
			out = append(out, ld.keys[t]...)
			out = appendProb(out, probs[t][i])
		}
		if ld.funnel {
			out = append(out, ',')
			out = append(out, ld.keys[tasks]...)
			out = appendProb(out, ctcvr[i])
		}
		out = append(out, '}')
	}
	return append(out, "]}\n"...)
}

func appendProb(out []byte, p float32) []byte {
	if math.IsNaN(float64(p)) || math.IsInf(float64(p), 0) {
		return append(out, "null"...)
	}
	return strconv.AppendFloat(out, float64(p), 'g', -1, 32)
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\r' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}
