package serve

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/modelfile"
)

// Error codes of the admin endpoints and of the server's limits.
const (
	CodeAdminOff       = "admin_disabled" // the admin API is not enabled on this listener
	CodeUnauthorized   = "unauthorized"   // missing or wrong bearer token
	CodeForbidden      = "forbidden"      // refused: browser origin, host, or a path outside the model directory
	CodeMediaType      = "unsupported_media_type"
	CodeSchemaChanged  = "schema_changed"  // the new model's fields or tasks differ (--allow-schema-change)
	CodeModelTooLarge  = "model_too_large" // the model file is over --max-model-bytes
	CodeReloadTimeout  = "reload_timeout"  // the reload did not finish within --reload-timeout
	CodeOverloaded     = "overloaded"      // a connection, request or body-memory limit is reached
	maxStuckReloads    = 2                 // timed-out loads still reading before reloads are refused
	maxAdminBodyBytes  = 64 << 10
	defaultModelFactor = 4        // default MaxModelBytes: this many times the served file…
	minModelLimit      = 64 << 20 // …and at least this
)

// ReloadError is a failed reload: the previous model keeps serving. Status
// is the HTTP status the admin endpoint answers (4xx when the request or the
// file is at fault, 503 when the reload ran out of time).
type ReloadError struct {
	Status int
	Code   string
	Msg    string
	Err    error // the underlying error, if any
}

func (e *ReloadError) Error() string { return e.Msg }
func (e *ReloadError) Unwrap() error { return e.Err }

func reloadErr(status int, code string, err error, format string, a ...any) *ReloadError {
	return &ReloadError{Status: status, Code: code, Err: err, Msg: fmt.Sprintf(format, a...)}
}

// classifyLoad turns a load error into a ReloadError with its status.
func classifyLoad(err error) *ReloadError {
	var re *ReloadError
	if errors.As(err, &re) {
		return re
	}
	status, code := http.StatusBadRequest, CodeReloadFailed
	switch {
	case errors.Is(err, fs.ErrNotExist):
		status = http.StatusNotFound
	case errors.Is(err, fs.ErrPermission):
		status = http.StatusForbidden
	case errors.Is(err, modelfile.ErrTooLarge):
		status, code = http.StatusRequestEntityTooLarge, CodeModelTooLarge
	case errors.Is(err, modelfile.ErrNotModelFile), errors.Is(err, modelfile.ErrCorrupt),
		errors.Is(err, modelfile.ErrVersion), errors.Is(err, model.ErrModelFile):
		status = http.StatusUnprocessableEntity
	}
	return &ReloadError{Status: status, Code: code, Err: err, Msg: err.Error()}
}

// Reload loads the model file at path (the file given to New when path is
// "") and, once it is fully read, checked and warmed up, swaps it in
// atomically. Requests in flight finish on the old model. It is the
// operator's call (SIGHUP, a Go program embedding the server): the path is
// not restricted to ModelDir, but the file must be a regular file within
// MaxModelBytes, its schema must match the served model's unless
// AllowSchemaChange, and the reload gives up after ReloadTimeout. A reload
// with a path does not change the file that later reloads without one read.
// On error the old model keeps serving, and the error (a *ReloadError) says
// why.
func (s *Server) Reload(path string) (ModelInfo, error) {
	return s.reloadCtx(context.Background(), path)
}

func (s *Server) reloadCtx(ctx context.Context, path string) (ModelInfo, error) {
	if path == "" {
		path = s.path
	}
	start := time.Now()
	info, err := s.reloadOnce(ctx, path)
	if err != nil {
		s.m.reloads.WithLabelValues("failure").Inc()
		cur := s.cur.Load().info
		s.log.Warn("model reload failed; still serving the previous model", "path", path, "err", err,
			"model", cur.Name, "checksum", cur.Checksum)
		return cur, err
	}
	s.m.reloads.WithLabelValues("success").Inc()
	s.log.Info("model reloaded", "path", path, "model", info.Name, "checksum", info.Checksum,
		"seconds", time.Since(start).Seconds())
	return info, nil
}

// reloadOnce runs one load in its own goroutine under ReloadTimeout. One load
// runs at a time; a load that times out is abandoned (its result is never
// installed) and no longer holds up the next reload. While maxStuckReloads
// abandoned loads are still reading, reloads are refused.
func (s *Server) reloadOnce(ctx context.Context, path string) (ModelInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opt.ReloadTimeout)
	defer cancel()
	select {
	case s.reloadSlot <- struct{}{}:
	case <-ctx.Done():
		return ModelInfo{}, reloadErr(http.StatusServiceUnavailable, CodeReloadTimeout, ctx.Err(),
			"another reload was still running after %v (--reload-timeout)", s.opt.ReloadTimeout)
	}
	defer func() { <-s.reloadSlot }()
	if n := s.stuck.Load(); n >= maxStuckReloads {
		return ModelInfo{}, reloadErr(http.StatusServiceUnavailable, CodeReloadTimeout, nil,
			"%d earlier reloads timed out and are still reading their files; try again later", n)
	}
	type result struct {
		ld  *loaded
		err error
	}
	done := make(chan result, 1)
	limit := s.modelLimit()
	go func() {
		ld, err := s.loadFn(path, limit)
		done <- result{ld, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		s.stuck.Add(1)
		go func() { <-done; s.stuck.Add(-1) }()
		return ModelInfo{}, reloadErr(http.StatusServiceUnavailable, CodeReloadTimeout, ctx.Err(),
			"reload of %s did not finish within %v (--reload-timeout); it is abandoned and will not be installed", path, s.opt.ReloadTimeout)
	}
	if r.err != nil {
		return ModelInfo{}, classifyLoad(r.err)
	}
	if !s.opt.AllowSchemaChange {
		if diff := schemaDiff(s.cur.Load().tr.Pipeline, r.ld.tr.Pipeline); diff != "" {
			return ModelInfo{}, reloadErr(http.StatusConflict, CodeSchemaChanged, nil,
				"%s: its schema differs from the served model's: %s (start the server with --allow-schema-change to allow it)", path, diff)
		}
	}
	s.install(r.ld)
	return r.ld.info, nil
}

// modelLimit is the size limit of the next load: MaxModelBytes, or by
// default defaultModelFactor times the served file, at least minModelLimit.
func (s *Server) modelLimit() int64 {
	if s.opt.MaxModelBytes > 0 {
		return s.opt.MaxModelBytes
	}
	cur := s.cur.Load()
	if cur == nil {
		return 0
	}
	return max(defaultModelFactor*cur.size, minModelLimit)
}

// schemaDiff describes the first difference between the fields and tasks of
// two pipelines (names, types, order, funnel), or returns "".
func schemaDiff(old, new *feature.Pipeline) string {
	type sig struct{ name, kind string }
	fields := func(p *feature.Pipeline) []sig {
		var out []sig
		for _, f := range p.Schema().Fields {
			if f.Type != feature.TypeIgnore {
				out = append(out, sig{f.Name, string(f.Type)})
			}
		}
		return out
	}
	tasks := func(p *feature.Pipeline) []sig {
		var out []sig
		ts := p.Tasks()
		for _, t := range ts {
			after := ""
			if t.After >= 0 {
				after = "after " + ts[t.After].Name
			}
			out = append(out, sig{t.Name, after})
		}
		return out
	}
	cmp := func(what string, a, b []sig) string {
		for i := 0; i < max(len(a), len(b)); i++ {
			switch {
			case i >= len(a):
				return fmt.Sprintf("%s %q added", what, b[i].name)
			case i >= len(b):
				return fmt.Sprintf("%s %q removed", what, a[i].name)
			case a[i].name != b[i].name:
				return fmt.Sprintf("%s %d is %q, was %q", what, i+1, b[i].name, a[i].name)
			case a[i].kind != b[i].kind:
				return fmt.Sprintf("%s %q is %q, was %q", what, a[i].name, b[i].kind, a[i].kind)
			}
		}
		return ""
	}
	if d := cmp("field", fields(old), fields(new)); d != "" {
		return d
	}
	return cmp("task", tasks(old), tasks(new))
}

// adminAuth guards every admin request on listeners that serve them:
//   - the bearer token, when one is configured (401 otherwise);
//   - no browser: a request with an Origin header is refused (403), and
//     without a token the Host must be a loopback address or "localhost"
//     (a DNS-rebinding page names its own host);
//   - POST bodies must be declared application/json (415), which a page
//     cannot send to another origin without a CORS preflight the server
//     never answers.
func (s *Server) adminAuth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		fail := func(status int, code, format string, a ...any) {
			e := reqErr(status, code, "", -1, format, a...)
			logOf(r).err = e.Message
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="dcrnn admin"`)
			}
			writeError(w, e)
		}
		if s.tokenSum != nil {
			got, ok := bearer(r.Header.Get("Authorization"))
			sum := sha256.Sum256([]byte(got))
			if !ok || subtle.ConstantTimeCompare(sum[:], s.tokenSum) != 1 {
				fail(http.StatusUnauthorized, CodeUnauthorized, "admin requests need the header Authorization: Bearer TOKEN (--admin-token-file)")
				return
			}
		} else if !IsLoopback(r.Host) {
			fail(http.StatusForbidden, CodeForbidden, "admin requests without a token must name a loopback host, not %q", r.Host)
			return
		}
		if r.Header.Get("Origin") != "" {
			fail(http.StatusForbidden, CodeForbidden, "admin requests from a browser page (Origin header) are refused")
			return
		}
		if r.Method == http.MethodPost {
			mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || mt != "application/json" {
				fail(http.StatusUnsupportedMediaType, CodeMediaType, "admin requests must have Content-Type: application/json, not %q", r.Header.Get("Content-Type"))
				return
			}
		}
		h(w, r)
	}
}

func bearer(h string) (string, bool) {
	const p = "Bearer "
	if len(h) <= len(p) || !strings.EqualFold(h[:len(p)], p) {
		return "", false
	}
	return strings.TrimSpace(h[len(p):]), true
}

// IsLoopback reports whether a host, or a HOST:PORT (a Host header, a
// listen address), names this machine: localhost or a loopback IP literal.
// An empty host (":8080", all interfaces) is not loopback.
func IsLoopback(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// adminOff answers the admin endpoints on a listener that does not serve them.
func adminOff(w http.ResponseWriter, r *http.Request) {
	e := reqErr(http.StatusNotFound, CodeAdminOff, "", -1,
		"the admin API is off on this address: start dcrnn serve with --admin-token-file or --admin-addr (or send SIGHUP to reload)")
	logOf(r).err = e.Message
	writeError(w, e)
}

// reload handles POST /v1/admin/reload with an optional {"path": "..."}.
func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	li := logOf(r)
	if r.Method != http.MethodPost {
		writeError(w, reqErr(http.StatusMethodNotAllowed, CodeMethod, "", -1, "use POST for /v1/admin/reload"))
		return
	}
	var body struct {
		Path string `json:"path"`
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBodyBytes))
	if err != nil {
		writeError(w, bodyError(err, maxAdminBodyBytes))
		return
	}
	if len(trimSpace(raw)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			writeError(w, reqErr(http.StatusBadRequest, CodeBadRequest, "", -1, "reload body: expected {\"path\": \"FILE\"} or nothing: %v", err))
			return
		}
	}
	path := ""
	if body.Path != "" {
		if !s.opt.AllowReloadPath {
			writeError(w, reqErr(http.StatusForbidden, CodeForbidden, "path", -1, "reload paths are not allowed: this server reloads only its --model file (start it with --allow-reload-path to allow files under --model-dir)"))
			return
		}
		p, rerr := s.resolveReloadPath(body.Path)
		if rerr != nil {
			s.m.reloads.WithLabelValues("failure").Inc()
			s.log.Warn("model reload refused", "path", body.Path, "err", rerr.Msg)
			li.err = rerr.Msg
			writeReloadError(w, rerr, s.Model())
			return
		}
		path = p
	}
	// The reply must get out even when the load takes longer than the
	// server's write timeout.
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.opt.ReloadTimeout + 5*time.Second))
	prev := s.Model()
	// A client that goes away does not abandon the reload it asked for.
	info, err := s.reloadCtx(context.WithoutCancel(r.Context()), path)
	if err != nil {
		re := classifyLoad(err)
		li.err = re.Msg
		writeReloadError(w, re, info)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"model": info, "previous": prev})
}

// writeReloadError answers a failed reload: the error and the model that
// keeps serving.
func writeReloadError(w http.ResponseWriter, re *ReloadError, serving ModelInfo) {
	if re.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	writeJSON(w, re.Status, map[string]any{
		"error": errorDetail{Code: re.Code, Message: re.Msg},
		"model": serving,
	})
}

// resolveReloadPath maps a requested reload path (absolute, or relative to
// ModelDir) to a file under ModelDir, following symbolic links. A path that
// leaves ModelDir gets the same answer whether or not it exists, and its
// file is never touched.
func (s *Server) resolveReloadPath(p string) (string, *ReloadError) {
	outside := reloadErr(http.StatusForbidden, CodeForbidden, nil, "reload path %q is not under the model directory (--model-dir)", p)
	if strings.IndexByte(p, 0) >= 0 {
		return "", outside
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(s.modelDir, p)
	}
	p = filepath.Clean(p)
	if !within(s.modelDir, p) {
		return "", outside
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		rel, _ := filepath.Rel(s.modelDir, p)
		if errors.Is(err, fs.ErrNotExist) {
			return "", reloadErr(http.StatusNotFound, CodeReloadFailed, err, "no file %q under the model directory", rel)
		}
		return "", reloadErr(http.StatusForbidden, CodeForbidden, err, "reload path %q cannot be resolved", rel)
	}
	if !within(s.modelDir, real) {
		return "", outside
	}
	return real, nil
}

// within reports whether path p lies in directory dir (both clean and absolute).
func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// ReadTokenFile reads an admin token: the file's content with surrounding
// white space removed, at least 16 bytes. It says if the file is readable
// by other users.
func ReadTokenFile(path string) (token string, warning string, err error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", "", fmt.Errorf("serve: admin token file: %w", err)
	}
	if !st.Mode().IsRegular() || st.Size() > 4096 {
		return "", "", fmt.Errorf("serve: admin token file %s: want a regular file of at most 4096 bytes", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", fmt.Errorf("serve: admin token file: %w", err)
	}
	token = strings.TrimSpace(string(b))
	if len(token) < 16 {
		return "", "", fmt.Errorf("serve: admin token file %s: the token must be at least 16 characters (e.g. openssl rand -hex 32 > %s)", path, path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		warning = fmt.Sprintf("admin token file %s is readable by other users (mode %v): chmod 600 it", path, st.Mode().Perm())
	}
	return token, warning, nil
}
