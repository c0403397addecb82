package serve

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus collectors, all prefixed dcrnn_serve_.
type metrics struct {
	requests  *prometheus.CounterVec   // by handler and HTTP status code
	latency   *prometheus.HistogramVec // by handler
	rows      prometheus.Counter
	inFlight  prometheus.Gauge
	modelInfo *prometheus.GaugeVec // 1 for the serving model, by name and checksum
	loadedAt  prometheus.Gauge
	reloads   *prometheus.CounterVec // by result: success or failure
	panics    prometheus.Counter
	rejected  *prometheus.CounterVec // by limit: connections, inflight, body_memory
	conns     prometheus.GaugeFunc
}

func newMetrics(reg prometheus.Registerer, conns func() float64) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dcrnn_serve_requests_total", Help: "Requests by handler and status code (the HTTP status; the gRPC code name for the grpc_* handlers).",
		}, []string{"handler", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dcrnn_serve_request_duration_seconds",
			Help:    "Time from reading the request to writing the response, by handler.",
			Buckets: []float64{.0005, .001, .002, .003, .005, .0075, .01, .015, .02, .03, .05, .1, .25, .5, 1, 2.5},
		}, []string{"handler"}),
		rows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dcrnn_serve_rows_scored_total", Help: "Rows (items) scored by successful predict requests.",
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dcrnn_serve_in_flight_requests", Help: "Predict requests being served.",
		}),
		modelInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dcrnn_serve_model_info", Help: "1 for the model being served, labelled by name and file checksum.",
		}, []string{"name", "checksum"}),
		loadedAt: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dcrnn_serve_model_loaded_timestamp_seconds", Help: "Unix time the serving model was loaded.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dcrnn_serve_reloads_total", Help: "Model reloads by result (success, failure).",
		}, []string{"result"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dcrnn_serve_panics_total", Help: "Handler panics turned into 500 responses.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dcrnn_serve_rejected_total", Help: "Connections or requests refused with 503 (gRPC: UNAVAILABLE) by a limit (connections, inflight, body_memory, grpc_calls).",
		}, []string{"limit"}),
		conns: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "dcrnn_serve_open_connections", Help: "Open connections of the serving listener.",
		}, conns),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.rows, m.inFlight, m.modelInfo, m.loadedAt, m.reloads, m.panics, m.rejected, m.conns} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("failure")
	for _, l := range []string{"connections", "inflight", "body_memory", "grpc_calls"} {
		m.rejected.WithLabelValues(l)
	}
	return m, nil
}
