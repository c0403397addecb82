// Command load is the load generator for dcrnn serve: it builds predict
// requests of -items rows from a data file (raw values, as in training),
// sends them for -duration from -concurrency connections, and reports
// scored rows/s and latency percentiles.
//
// Closed loop (default): each connection sends its next request as soon as
// the previous answer arrives; this measures the maximum throughput.
// Open loop (-rate R): requests are started on a fixed schedule of R per
// second whatever the answers do, and latency is measured from each
// request's scheduled start, so a stalled server cannot hide its queueing
// (no coordinated omission). -reload-every D posts /v1/admin/reload during
// the run; every predict answer must still be a 200.
//
//	go run ./bench/load -schema examples/census.yaml \
//	    -data ../shared/data/census-income-kdd/census-income.test.gz \
//	    -url http://127.0.0.1:8080 -concurrency 8 -duration 20s
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dcrnn/dcrnn/internal/data"
	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/serve"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(2)
	}
}

type config struct {
	url         string
	schema      string
	data        string
	items       int
	bodies      int
	concurrency int
	duration    time.Duration
	warmup      time.Duration
	rate        float64
	reloadEvery time.Duration
	adminURL    string
	tokenFile   string
	token       string // read from tokenFile
	jsonOut     bool
	protocols   string // json and/or grpc, comma-separated
	grpcAddr    string
	modelName   string
	halfLoad    bool
}

func run(args []string) error {
	var c config
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.StringVar(&c.url, "url", "http://127.0.0.1:8080", "server base URL")
	fs.StringVar(&c.schema, "schema", "examples/census.yaml", "schema of the data file (its format and columns)")
	fs.StringVar(&c.data, "data", "", "data file whose rows become request rows (required)")
	fs.IntVar(&c.items, "items", 100, "rows per request")
	fs.IntVar(&c.bodies, "bodies", 64, "distinct request bodies, cycled")
	fs.IntVar(&c.concurrency, "concurrency", 4, "connections (closed loop) or most requests in flight (open loop)")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "measured duration")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "unmeasured warm-up before it")
	fs.Float64Var(&c.rate, "rate", 0, "open loop: requests per second on a fixed schedule (0: closed loop)")
	fs.DurationVar(&c.reloadEvery, "reload-every", 0, "POST /v1/admin/reload this often during the run (0: never)")
	fs.StringVar(&c.adminURL, "admin-url", "", "base URL of the admin API for -reload-every (default: -url)")
	fs.StringVar(&c.tokenFile, "admin-token-file", "", "file holding the server's admin bearer token, for -reload-every")
	fs.BoolVar(&c.jsonOut, "json", false, "print the report as JSON")
	fs.StringVar(&c.protocols, "protocols", "json", "comma-separated, run one after the other on the same rows: json (POST /v1/predict) and grpc (the Open Inference Protocol's ModelInfer on -grpc-addr, every field a BYTES tensor of the same strings)")
	fs.StringVar(&c.grpcAddr, "grpc-addr", "127.0.0.1:8081", "the server's --grpc-addr, for -protocols grpc")
	fs.StringVar(&c.modelName, "model-name", "", "the served model's name (dcrnn serve --name; default its file's base name), for -protocols grpc")
	fs.BoolVar(&c.halfLoad, "half-load", false, "after each closed-loop run, run an open loop at half its request rate (p50/p99 at half load)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.data == "" {
		return errors.New("-data is required")
	}
	if c.tokenFile != "" {
		var err error
		if c.token, _, err = serve.ReadTokenFile(c.tokenFile); err != nil {
			return err
		}
	}
	if c.items < 1 || c.concurrency < 1 || c.bodies < 1 || c.duration <= 0 {
		return errors.New("-items, -concurrency, -bodies and -duration must be positive")
	}
	rowSets, err := readRows(c)
	if err != nil {
		return err
	}
	var reps []*Report
	for _, proto := range strings.Split(c.protocols, ",") {
		var send func() (string, error)
		switch proto {
		case "json":
			if send, err = jsonSender(c, rowSets); err != nil {
				return err
			}
		case "grpc":
			var closeConns func()
			if send, closeConns, err = grpcSender(c, rowSets); err != nil {
				return err
			}
			defer closeConns()
		default:
			return fmt.Errorf("-protocols: unknown protocol %q (want json or grpc)", proto)
		}
		rep := drive(c, send)
		rep.Protocol = proto
		reps = append(reps, rep)
		if c.halfLoad && c.rate <= 0 && rep.ReqPerSecond > 0 {
			half := c
			half.rate = rep.ReqPerSecond / 2
			hrep := drive(half, send)
			hrep.Protocol = proto
			reps = append(reps, hrep)
		}
	}
	if c.jsonOut {
		b, _ := json.MarshalIndent(reps, "", "  ")
		fmt.Println(string(b))
	} else {
		for _, rep := range reps {
			rep.print(os.Stdout)
		}
		printRatios(os.Stdout, reps)
	}
	for _, rep := range reps {
		if rep.Errors > 0 {
			return fmt.Errorf("%s: %d requests failed (first: %s)", rep.Protocol, rep.Errors, rep.FirstError)
		}
	}
	return nil
}

var cpuMetric = []byte("\nprocess_cpu_seconds_total ")

// serverCPU reads the server's process_cpu_seconds_total from its /metrics.
func serverCPU(client *http.Client, url string) (float64, bool) {
	resp, err := client.Get(url + "/metrics")
	if err != nil {
		return 0, false
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		return 0, false
	}
	i := bytes.Index(b, cpuMetric)
	if i < 0 {
		return 0, false
	}
	line := b[i+len(cpuMetric):]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	x, err := strconv.ParseFloat(string(bytes.TrimSpace(line)), 64)
	return x, err == nil
}

// printRatios prints each protocol's closed-loop rows/s over the first's.
func printRatios(w io.Writer, reps []*Report) {
	var base *Report
	for _, r := range reps {
		if r.TargetRate > 0 {
			continue
		}
		if base == nil {
			base = r
			continue
		}
		if base.RowsPerSecond > 0 {
			fmt.Fprintf(w, "rows/s %s / %s (closed loop): %.2f\n", r.Protocol, base.Protocol, r.RowsPerSecond/base.RowsPerSecond)
		}
		if base.RowsPerServerCPUSecond > 0 && r.RowsPerServerCPUSecond > 0 {
			fmt.Fprintf(w, "rows per server CPU second %s / %s (closed loop): %.2f\n", r.Protocol, base.Protocol, r.RowsPerServerCPUSecond/base.RowsPerServerCPUSecond)
		}
	}
}

// rowSet is the rows of one request: the file's columns and, per row, its
// values as strings.
type rowSet struct {
	schema *feature.Schema
	cols   []string
	rows   [][]string
}

// readRows reads c.bodies sets of c.items rows.
func readRows(c config) ([]rowSet, error) {
	s, err := feature.LoadSchema(c.schema)
	if err != nil {
		return nil, err
	}
	r, err := data.Open(c.data, data.OptionsFor(s.Format))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	cols := r.Columns()
	var sets []rowSet
	cur := rowSet{schema: s, cols: cols}
	for len(sets) < c.bodies {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		row := make([]string, len(cols))
		for i := range cols {
			row[i] = string(bytes.TrimSpace(rec[i]))
		}
		cur.rows = append(cur.rows, row)
		if len(cur.rows) == c.items {
			sets = append(sets, cur)
			cur = rowSet{schema: s, cols: cols}
		}
	}
	if len(sets) == 0 {
		return nil, fmt.Errorf("%s has fewer than %d rows", c.data, c.items)
	}
	return sets, nil
}

// buildBodies renders each row set as a {"rows": [{column: value, ...},
// ...]} body, values as strings.
func buildBodies(sets []rowSet) ([][]byte, error) {
	var bodies [][]byte
	for _, set := range sets {
		rows := make([]map[string]string, len(set.rows))
		for i, row := range set.rows {
			rows[i] = make(map[string]string, len(set.cols))
			for j, col := range set.cols {
				rows[i][col] = row[j]
			}
		}
		b, err := json.Marshal(map[string]any{"rows": rows})
		if err != nil {
			return nil, err
		}
		bodies = append(bodies, b)
	}
	return bodies, nil
}

// jsonSender posts the bodies to /v1/predict in turn.
func jsonSender(c config, sets []rowSet) (func() (string, error), error) {
	bodies, err := buildBodies(sets)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{MaxIdleConns: c.concurrency * 2, MaxIdleConnsPerHost: c.concurrency * 2, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	url := c.url + "/v1/predict"
	var next atomic.Uint64
	return func() (string, error) {
		return send(client, url, bodies[next.Add(1)%uint64(len(bodies))], c.items)
	}, nil
}

// Report is the outcome of a run.
type Report struct {
	Protocol      string  `json:"protocol"`
	Mode          string  `json:"mode"`
	Concurrency   int     `json:"concurrency"`
	TargetRate    float64 `json:"target_requests_per_second,omitempty"`
	ItemsPerReq   int     `json:"items_per_request"`
	Seconds       float64 `json:"seconds"`
	Requests      int     `json:"requests"`
	Errors        int     `json:"errors"`
	FirstError    string  `json:"first_error,omitempty"`
	RowsPerSecond float64 `json:"rows_per_second"`
	ReqPerSecond  float64 `json:"requests_per_second"`
	P50ms         float64 `json:"p50_ms"`
	P90ms         float64 `json:"p90_ms"`
	P99ms         float64 `json:"p99_ms"`
	Maxms         float64 `json:"max_ms"`
	Reloads       int     `json:"reloads,omitempty"`
	ReloadErrors  int     `json:"reload_errors,omitempty"`
	Checksums     int     `json:"distinct_model_checksums"`
	// ServerCPUSeconds is the server process's CPU time over the measured
	// duration (process_cpu_seconds_total of its /metrics, when served), and
	// RowsPerServerCPUSecond the rows answered per CPU second of it: a
	// figure that other load on the machine disturbs less than rows/s.
	ServerCPUSeconds       float64 `json:"server_cpu_seconds,omitempty"`
	RowsPerServerCPUSecond float64 `json:"rows_per_server_cpu_second,omitempty"`
}

func (r *Report) print(w io.Writer) {
	fmt.Fprintf(w, "%s: %s, %d connections, %d items/request", r.Protocol, r.Mode, r.Concurrency, r.ItemsPerReq)
	if r.TargetRate > 0 {
		fmt.Fprintf(w, ", target %.0f req/s (%.0f rows/s)", r.TargetRate, r.TargetRate*float64(r.ItemsPerReq))
	}
	fmt.Fprintf(w, "\n  %d requests in %.1fs, %d errors\n", r.Requests, r.Seconds, r.Errors)
	fmt.Fprintf(w, "  throughput: %.0f rows/s (%.1f req/s)\n", r.RowsPerSecond, r.ReqPerSecond)
	fmt.Fprintf(w, "  latency ms: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", r.P50ms, r.P90ms, r.P99ms, r.Maxms)
	if r.ServerCPUSeconds > 0 {
		fmt.Fprintf(w, "  server CPU: %.2f s, %.0f rows per CPU second\n", r.ServerCPUSeconds, r.RowsPerServerCPUSecond)
	}
	if r.Reloads > 0 || r.ReloadErrors > 0 {
		fmt.Fprintf(w, "  reloads: %d ok, %d failed; %d distinct model checksums answered\n", r.Reloads, r.ReloadErrors, r.Checksums)
	}
	if r.FirstError != "" {
		fmt.Fprintf(w, "  first error: %s\n", r.FirstError)
	}
}

type recorder struct {
	mu        sync.Mutex
	lat       []time.Duration
	errors    int
	first     string
	checksums map[string]bool
}

func (r *recorder) add(d time.Duration, err error, sum string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.errors++
		if r.first == "" {
			r.first = err.Error()
		}
		return
	}
	r.lat = append(r.lat, d)
	r.checksums[sum] = true
}

var checksumKey = []byte(`"checksum":"`)

// send posts one body and checks the answer is a 200 with one prediction per item.
func send(client *http.Client, url string, body []byte, items int) (string, error) {
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %.200s", resp.StatusCode, b)
	}
	if n := bytes.Count(b, []byte("},{")) + 1; n != items {
		return "", fmt.Errorf("%d predictions for %d items", n, items)
	}
	sum := ""
	if i := bytes.Index(b, checksumKey); i >= 0 {
		rest := b[i+len(checksumKey):]
		if j := bytes.IndexByte(rest, '"'); j >= 0 {
			sum = string(rest[:j])
		}
	}
	return sum, nil
}

func drive(c config, sendNext func() (string, error)) *Report {
	tr := &http.Transport{MaxIdleConns: 2, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	rec := &recorder{checksums: map[string]bool{}}
	var measuring atomic.Bool
	record := func(d time.Duration, err error, sum string) {
		if measuring.Load() {
			rec.add(d, err, sum)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	mode := "closed loop"
	if c.rate <= 0 {
		for i := 0; i < c.concurrency; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					t0 := time.Now()
					sum, err := sendNext()
					record(time.Since(t0), err, sum)
				}
			}()
		}
	} else {
		mode = "open loop"
		sched := make(chan time.Time, 100000)
		for i := 0; i < c.concurrency; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for due := range sched {
					if d := time.Until(due); d > 0 {
						time.Sleep(d)
					}
					sum, err := sendNext()
					record(time.Since(due), err, sum) // from the scheduled start
				}
			}()
		}
		go func() {
			defer close(sched)
			interval := time.Duration(float64(time.Second) / c.rate)
			due := time.Now()
			for {
				select {
				case <-stop:
					return
				default:
				}
				due = due.Add(interval)
				if d := time.Until(due); d > time.Millisecond {
					time.Sleep(d - time.Millisecond)
				}
				select {
				case sched <- due:
				case <-stop:
					return
				}
			}
		}()
	}
	var reloads, reloadErrs atomic.Int64
	adminURL, token := c.adminURL, c.token
	if adminURL == "" {
		adminURL = c.url
	}
	if c.reloadEvery > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(c.reloadEvery)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					req, _ := http.NewRequest("POST", adminURL+"/v1/admin/reload", nil)
					req.Header.Set("Content-Type", "application/json")
					if token != "" {
						req.Header.Set("Authorization", "Bearer "+token)
					}
					resp, err := client.Do(req)
					if err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
					if measuring.Load() {
						if err != nil || resp.StatusCode != 200 {
							reloadErrs.Add(1)
						} else {
							reloads.Add(1)
						}
					}
				}
			}
		}()
	}
	time.Sleep(c.warmup)
	cpu0, cpuOK := serverCPU(client, c.url)
	measuring.Store(true)
	start := time.Now()
	time.Sleep(c.duration)
	measuring.Store(false)
	elapsed := time.Since(start)
	cpu1, cpuOK1 := serverCPU(client, c.url)
	close(stop)
	wg.Wait()

	rep := &Report{Mode: mode, Concurrency: c.concurrency, TargetRate: c.rate, ItemsPerReq: c.items, Seconds: elapsed.Seconds(),
		Requests: len(rec.lat) + rec.errors, Errors: rec.errors, FirstError: rec.first,
		Reloads: int(reloads.Load()), ReloadErrors: int(reloadErrs.Load()), Checksums: len(rec.checksums)}
	ok := len(rec.lat)
	rep.ReqPerSecond = float64(ok) / elapsed.Seconds()
	rep.RowsPerSecond = rep.ReqPerSecond * float64(c.items)
	if cpuOK && cpuOK1 && cpu1 > cpu0 {
		rep.ServerCPUSeconds = cpu1 - cpu0
		rep.RowsPerServerCPUSecond = float64(ok*c.items) / rep.ServerCPUSeconds
	}
	slices.Sort(rec.lat)
	q := func(p float64) float64 {
		if ok == 0 {
			return 0
		}
		i := sort.Search(ok, func(i int) bool { return float64(i+1) >= p*float64(ok) })
		return float64(rec.lat[min(i, ok-1)].Microseconds()) / 1000
	}
	rep.P50ms, rep.P90ms, rep.P99ms, rep.Maxms = q(.5), q(.9), q(.99), q(1)
	return rep
}
