package serve

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"strings"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/score"
)

// oipBackend is what the Open Inference Protocol endpoints need from the
// server: the model being served, described as tensors, and scoring raw rows
// with it through the same path as POST /v1/predict (pipeline, strict mode,
// chunking, scoring workers). *Server implements it in this file; nothing
// else in the protocol code touches the server's model holder or scorers.
type oipBackend interface {
	// oipModel returns the served model; nil when none is loaded.
	oipModel() *oipModel
	// oipReady reports whether inference requests are taken (a model is
	// loaded and the server is not shutting down).
	oipReady() bool
	// scoreColumns scores n rows given as one column per feature field
	// (m.fields order, the pipeline's Fields order; see
	// feature.Pipeline.TransformColumns) through the same pipeline, scoring
	// workers and error messages as POST /v1/predict (a bad value is named
	// rows[i].field), and writes output o of row i to out[o][i], outputs in
	// m.outputs order. In strict mode it first refuses the first, sorted,
	// of extra (the names of inputs that are not feature fields) that is
	// not a column of the training data, as a /v1/predict row's key.
	scoreColumns(ctx context.Context, m *oipModel, n int, cols []feature.Column, extra []string, out [][]float32) *RequestError
}

// oipModelName is the protocol name of a model served from path: the file's
// base name without its extension.
func oipModelName(path string) string {
	base := filepath.Base(path)
	return strings.TrimSuffix(base, filepath.Ext(base))
}

func (s *Server) oipReady() bool { return s.cur.Load() != nil && !s.draining.Load() }

func (s *Server) oipModel() *oipModel {
	ld := s.cur.Load()
	if ld == nil {
		return nil
	}
	if m := s.oipCache.Load(); m != nil && m.handle == ld {
		return m
	}
	name := s.opt.ModelName
	if name == "" {
		name = oipModelName(s.path)
	}
	m := newOIPModel(name, ld.info.Checksum, ld.tr.Pipeline.Schema().Fields, ld.info.Tasks, ld.funnel)
	m.handle = ld
	s.oipCache.Store(m)
	return m
}

func (s *Server) scoreColumns(ctx context.Context, m *oipModel, n int, cols []feature.Column, extra []string, out [][]float32) *RequestError {
	ld := m.handle.(*loaded)
	s.m.inFlight.Inc()
	defer s.m.inFlight.Dec()
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return reqErr(http.StatusServiceUnavailable, CodeNotReady, "", -1, "request cancelled while waiting for a scoring worker")
	}
	defer func() { <-s.sem }()
	sc := ld.scorers.Get().(*score.Scorer)
	defer ld.scorers.Put(sc)
	if s.opt.Strict {
		p := sc.Model().Pipeline
		var unknown []string
		for _, k := range extra {
			if !p.Known(k) {
				unknown = append(unknown, k)
			}
		}
		if len(unknown) > 0 {
			// Every row holds every input: row 0 is the first refused.
			slices.Sort(unknown)
			return unknownError("rows", 0, unknown)
		}
	}
	probs, ctcvr, err := sc.Columns(n, cols)
	if err != nil {
		return scoreError(err, "rows")
	}
	tasks := len(probs)
	for o := range out {
		if o < tasks {
			copy(out[o], probs[o][:n])
		} else {
			copy(out[o], ctcvr[:n])
		}
	}
	s.m.rows.Add(float64(n))
	return nil
}

// oipFieldKind maps a schema field type to the kind of its input tensor.
func oipFieldKind(t feature.FieldType) (oipKind, bool) {
	switch t {
	case feature.TypeCategorical:
		return oipCategorical, true
	case feature.TypeMultiCategorical:
		return oipMulti, true
	case feature.TypeNumeric:
		return oipNumeric, true
	}
	return 0, false
}
