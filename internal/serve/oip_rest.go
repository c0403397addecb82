package serve

import (
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net/http"
	"runtime/debug"
	"strconv"
)

// The Open Inference Protocol's REST endpoints under /v2 (see oip.go for
// the tensor mapping):
//
//	GET  /v2/health/live, /v2/health/ready
//	GET  /v2                                    server metadata
//	GET  /v2/models/{name}[/versions/{v}]       model metadata
//	GET  /v2/models/{name}[/versions/{v}]/ready
//	POST /v2/models/{name}[/versions/{v}]/infer
//
// An infer body is JSON; with the header Inference-Header-Content-Length: L
// (the protocol's binary tensor data extension, what tritonclient sends by
// default) the first L bytes are the JSON and the rest holds, in input
// order, the raw data of the inputs whose parameters give binary_data_size.
// Outputs come back as JSON data unless the request parameters set
// binary_data_output: true or an output's parameters set binary_data: true;
// then they are raw little-endian float32 after the JSON header, and the
// answer carries Inference-Header-Content-Length. Errors are
// {"error": "..."} with 400 (bad request), 404 (unknown model, version or
// endpoint), 413 (too many rows, body too large) or 503.

const inferHeaderLength = "Inference-Header-Content-Length"

// oipRoutes returns the handler of /v2 and everything under it.
func (s *Server) oipRoutes() http.Handler {
	mux := http.NewServeMux()
	health := s.wrap("v2_health", onlyMethod(http.MethodGet, s.oipHealth))
	mux.Handle("/v2/health/live", health)
	mux.Handle("/v2/health/ready", health)
	meta := s.wrap("v2_metadata", onlyMethod(http.MethodGet, s.oipMetadata))
	mux.Handle("/v2", meta)
	mux.Handle("/v2/{$}", meta)
	mux.Handle("/v2/models/{name}", meta)
	mux.Handle("/v2/models/{name}/versions/{version}", meta)
	mux.Handle("/v2/models/{name}/ready", meta)
	mux.Handle("/v2/models/{name}/versions/{version}/ready", meta)
	infer := s.wrap("v2_infer", onlyMethod(http.MethodPost, s.oipInferHTTP))
	mux.Handle("/v2/models/{name}/infer", infer)
	mux.Handle("/v2/models/{name}/versions/{version}/infer", infer)
	mux.Handle("/v2/", s.wrap("other", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		oipWriteError(w, oipErrorf(http.StatusNotFound, "no such endpoint %s %s (see GET /v2 and the README's Open Inference Protocol section)", r.Method, r.URL.Path))
	})))
	return mux
}

// onlyMethod answers 405 with {"error": ...} to other methods than m (and
// HEAD for GET).
func onlyMethod(m string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != m && !(m == http.MethodGet && r.Method == http.MethodHead) {
			w.Header().Set("Allow", m)
			oipWriteError(w, oipErrorf(http.StatusMethodNotAllowed, "use %s for %s", m, r.URL.Path))
			return
		}
		h(w, r)
	}
}

func oipWriteError(w http.ResponseWriter, e *oipError) {
	if e.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfter)
	}
	writeJSON(w, e.status, map[string]string{"error": e.msg})
}

func (s *Server) oipHealth(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v2/health/live" {
		writeJSON(w, http.StatusOK, map[string]bool{"live": true})
		return
	}
	if !s.oipReady() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]bool{"ready": false})
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ready": true})
}

// serverVersion is the version of the dcrnn binary, as the Go toolchain
// recorded it.
func serverVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// oipExtensions are the protocol extensions served.
var oipExtensions = []string{"binary_tensor_data"}

type oipTensorMeta struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

type oipModelMeta struct {
	Name     string          `json:"name"`
	Versions []string        `json:"versions"`
	Platform string          `json:"platform"`
	Inputs   []oipTensorMeta `json:"inputs"`
	Outputs  []oipTensorMeta `json:"outputs"`
}

func (m *oipModel) metadata() oipModelMeta {
	md := oipModelMeta{Name: m.name, Versions: []string{m.version}, Platform: "dcrnn"}
	for _, f := range m.fields {
		md.Inputs = append(md.Inputs, oipTensorMeta{Name: f.name, Datatype: f.datatype, Shape: []int64{-1}})
	}
	for _, o := range m.outputs {
		md.Outputs = append(md.Outputs, oipTensorMeta{Name: o, Datatype: dtFP32, Shape: []int64{-1}})
	}
	return md
}

func (s *Server) oipMetadata(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if name == "" {
		writeJSON(w, http.StatusOK, map[string]any{"name": "dcrnn", "version": serverVersion(), "extensions": oipExtensions})
		return
	}
	m, err := s.oip.model(name, r.PathValue("version"))
	if err != nil {
		oipWriteError(w, err)
		return
	}
	if len(r.URL.Path) > len("/ready") && r.URL.Path[len(r.URL.Path)-len("/ready"):] == "/ready" {
		status := http.StatusOK
		if !s.oipReady() {
			status = http.StatusServiceUnavailable
		}
		writeJSON(w, status, map[string]any{"name": m.name, "ready": status == http.StatusOK})
		return
	}
	writeJSON(w, http.StatusOK, m.metadata())
}

func (s *Server) oipInferHTTP(w http.ResponseWriter, r *http.Request) {
	li := logOf(r)
	fail := func(e *oipError) {
		li.err = e.msg
		oipWriteError(w, e)
	}
	if r.ContentLength > s.opt.MaxBodyBytes {
		fail(oipErrorf(http.StatusRequestEntityTooLarge, "request body of %d bytes is larger than %d bytes (--max-body-bytes)", r.ContentLength, s.opt.MaxBodyBytes))
		return
	}
	st := s.reqs.Get().(*reqState)
	defer s.reqs.Put(st)
	defer s.releaseBody(st)
	if err := s.readBody(st, http.MaxBytesReader(w, r.Body, s.opt.MaxBodyBytes), s.opt.MaxBodyBytes); err != nil {
		if errors.Is(err, errBodyBudget{}) {
			s.m.rejected.WithLabelValues("body_memory").Inc()
			io.Copy(io.Discard, r.Body)
		}
		e := bodyError(err, s.opt.MaxBodyBytes)
		fail(&oipError{status: e.Status, msg: e.Message})
		return
	}
	if !s.enterInFlight() {
		fail(oipErrorf(http.StatusServiceUnavailable, "%d requests are in flight, the limit (--max-inflight); retry shortly", cap(s.inflight)))
		return
	}
	defer s.leaveInFlight()
	req, binOut, err := parseRESTInfer(st.body, r.Header.Get(inferHeaderLength), s.opt.MaxRows)
	if err != nil {
		fail(err)
		return
	}
	req.model, req.version = r.PathValue("name"), r.PathValue("version")
	res, err := s.oip.infer(r.Context(), req)
	if err != nil {
		fail(err)
		return
	}
	li.rows = res.n
	st.out = res.appendREST(st.out[:0], binOut)
	h := w.Header()
	if hl, ok := res.restHeaderLen(st.out, binOut); ok {
		h.Set(inferHeaderLength, strconv.Itoa(hl))
		h.Set("Content-Type", "application/octet-stream")
	} else {
		h.Set("Content-Type", "application/json")
	}
	h.Set("Content-Length", strconv.Itoa(len(st.out)))
	w.WriteHeader(http.StatusOK)
	w.Write(st.out)
}

// binaryOutputs says which outputs are sent as binary data.
type binaryOutputs struct {
	all  bool
	each []bool // per requested output; nil when none were requested
}

func (b *binaryOutputs) of(i int) bool {
	if b.each != nil {
		return b.each[i]
	}
	return b.all
}

// appendREST appends the answer: the JSON, then the binary outputs.
func (res *oipResult) appendREST(out []byte, bo *binaryOutputs) []byte {
	out = append(out, `{"model_name":`...)
	out = strconv.AppendQuote(out, res.model.name)
	out = append(out, `,"model_version":`...)
	out = strconv.AppendQuote(out, res.model.version)
	if res.id != "" {
		out = append(out, `,"id":`...)
		out = strconv.AppendQuote(out, res.id)
	}
	out = append(out, `,"outputs":[`...)
	for i, name := range res.names {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"name":`...)
		out = strconv.AppendQuote(out, name)
		out = append(out, `,"datatype":"FP32","shape":[`...)
		out = strconv.AppendInt(out, int64(res.n), 10)
		out = append(out, ']')
		if bo.of(i) {
			out = append(out, `,"parameters":{"binary_data_size":`...)
			out = strconv.AppendInt(out, int64(4*res.n), 10)
			out = append(out, "}}"...)
			continue
		}
		out = append(out, `,"data":[`...)
		for j, p := range res.data[i] {
			if j > 0 {
				out = append(out, ',')
			}
			out = appendProb(out, p)
		}
		out = append(out, "]}"...)
	}
	out = append(out, "]}"...)
	for i := range res.names {
		if bo.of(i) {
			for _, p := range res.data[i] {
				out = binary.LittleEndian.AppendUint32(out, math.Float32bits(p))
			}
		}
	}
	return out
}

// restHeaderLen returns the length of the JSON part of an answer built by
// appendREST, and whether it has binary outputs.
func (res *oipResult) restHeaderLen(out []byte, bo *binaryOutputs) (int, bool) {
	bin := 0
	for i := range res.names {
		if bo.of(i) {
			bin += 4 * res.n
		}
	}
	return len(out) - bin, bin > 0
}
