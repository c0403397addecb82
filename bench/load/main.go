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
	bodies, err := buildBodies(c)
	if err != nil {
		return err
	}
	rep := drive(c, bodies)
	if c.jsonOut {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Println(string(b))
	} else {
		rep.print(os.Stdout)
	}
	if rep.Errors > 0 {
		return fmt.Errorf("%d requests failed (first: %s)", rep.Errors, rep.FirstError)
	}
	return nil
}

// buildBodies reads c.bodies·c.items rows and renders them as
// {"rows": [{column: value, ...}, ...]} bodies, values as strings.
func buildBodies(c config) ([][]byte, error) {
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
	var bodies [][]byte
	var rows []map[string]string
	for len(bodies) < c.bodies {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		m := make(map[string]string, len(cols))
		for i, col := range cols {
			m[col] = string(bytes.TrimSpace(rec[i]))
		}
		rows = append(rows, m)
		if len(rows) == c.items {
			b, err := json.Marshal(map[string]any{"rows": rows})
			if err != nil {
				return nil, err
			}
			bodies = append(bodies, b)
			rows = rows[:0]
		}
	}
	if len(bodies) == 0 {
		return nil, fmt.Errorf("%s has fewer than %d rows", c.data, c.items)
	}
	return bodies, nil
}

// Report is the outcome of a run.
type Report struct {
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
}

func (r *Report) print(w io.Writer) {
	fmt.Fprintf(w, "%s, %d connections, %d items/request", r.Mode, r.Concurrency, r.ItemsPerReq)
	if r.TargetRate > 0 {
		fmt.Fprintf(w, ", target %.0f req/s (%.0f rows/s)", r.TargetRate, r.TargetRate*float64(r.ItemsPerReq))
	}
	fmt.Fprintf(w, "\n  %d requests in %.1fs, %d errors\n", r.Requests, r.Seconds, r.Errors)
	fmt.Fprintf(w, "  throughput: %.0f rows/s (%.1f req/s)\n", r.RowsPerSecond, r.ReqPerSecond)
	fmt.Fprintf(w, "  latency ms: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", r.P50ms, r.P90ms, r.P99ms, r.Maxms)
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

func drive(c config, bodies [][]byte) *Report {
	tr := &http.Transport{MaxIdleConns: c.concurrency * 2, MaxIdleConnsPerHost: c.concurrency * 2, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	url := c.url + "/v1/predict"
	rec := &recorder{checksums: map[string]bool{}}
	var measuring atomic.Bool
	var next atomic.Uint64
	body := func() []byte { return bodies[next.Add(1)%uint64(len(bodies))] }
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
					sum, err := send(client, url, body(), c.items)
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
					sum, err := send(client, url, body(), c.items)
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
	measuring.Store(true)
	start := time.Now()
	time.Sleep(c.duration)
	measuring.Store(false)
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()

	rep := &Report{Mode: mode, Concurrency: c.concurrency, TargetRate: c.rate, ItemsPerReq: c.items, Seconds: elapsed.Seconds(),
		Requests: len(rec.lat) + rec.errors, Errors: rec.errors, FirstError: rec.first,
		Reloads: int(reloads.Load()), ReloadErrors: int(reloadErrs.Load()), Checksums: len(rec.checksums)}
	ok := len(rec.lat)
	rep.ReqPerSecond = float64(ok) / elapsed.Seconds()
	rep.RowsPerSecond = rep.ReqPerSecond * float64(c.items)
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
