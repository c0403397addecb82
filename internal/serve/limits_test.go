package serve

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// rssBytes is the resident set size of this process (Linux), or 0.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// slowConn opens a connection that declares an 8 MiB predict body and sends
// only its first byte.
func slowConn(t testing.TB, addr string) net.Conn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	fmt.Fprintf(c, "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", 8<<20)
	return c
}

// The reported defect: the body buffer of the declared Content-Length was
// allocated before any byte arrived, so 1,000 connections each declaring
// 8 MiB and sending a byte a second took the heap to 8.4 GB. Buffers now
// grow only as bytes arrive.
func TestSlowConnectionsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("holds 1,000 connections for a few seconds")
	}
	f := newFixture(t)
	ts := startServer(t, f.pathA, Options{})
	addr := strings.TrimPrefix(ts.url, "http://")
	body := mustJSON(t, map[string]any{"rows": testRows()})
	post(t, ts.url+"/v1/predict", body) // warm up
	heap0, rss0 := heapInuse(), rssBytes()
	const n = 1000
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < n; i++ {
		conns = append(conns, slowConn(t, addr))
	}
	// A byte a second for 3 seconds on every connection, while a normal
	// request must still be answered.
	for s := 0; s < 3; s++ {
		time.Sleep(time.Second)
		for _, c := range conns {
			c.Write([]byte(" "))
		}
		start := time.Now()
		code, b := post(t, ts.url+"/v1/predict", body)
		if code != 200 {
			t.Fatalf("normal request with %d slow connections open: %d %s", n, code, b)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("normal request took %v", d)
		}
	}
	heap1, rss1 := heapInuse(), rssBytes()
	t.Logf("%d slow connections: heap in use %d → %d MiB, RSS %d → %d MiB", n, heap0>>20, heap1>>20, rss0>>20, rss1>>20)
	// Each connection costs its goroutines, bufio buffers and a 16 KiB
	// body buffer, on both the server and this test's client side.
	if grew := int64(heap1) - int64(heap0); grew > 200<<20 {
		t.Errorf("heap grew by %d MiB with %d slow connections (bound 200 MiB)", grew>>20, n)
	}
	if rss0 > 0 {
		if grew := rss1 - rss0; grew > 300<<20 {
			t.Errorf("RSS grew by %d MiB with %d slow connections (bound 300 MiB)", grew>>20, n)
		}
	}
	var line string
	for _, l := range strings.Split(get(t, ts.url+"/metrics"), "\n") {
		if strings.HasPrefix(l, "dcrnn_serve_open_connections ") {
			line = l
		}
	}
	if v, err := strconv.ParseFloat(strings.TrimPrefix(line, "dcrnn_serve_open_connections "), 64); err != nil || v < n {
		t.Errorf("open connections gauge %q, want ≥ %d", line, n)
	}
}

// The reported defect: 200 connections really sending 8 MiB bodies left
// 1.8 GB resident after they closed. Big buffers are not pooled, the body
// memory of all requests together is capped, and the memory goes back to
// the system after the burst.
func TestBurstOfLargeBodiesReturnsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 1.6 GB over loopback")
	}
	f := newFixture(t)
	ts := startServer(t, f.pathA, Options{})
	addr := strings.TrimPrefix(ts.url, "http://")
	big := bytes.Repeat([]byte(" "), 8<<20-32)
	big = append(append([]byte(`{"rows":[`), big...), `{}]}`...)
	heap0, rss0 := heapInuse(), rssBytes()
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A raw connection writing the one shared body, so this test's
			// client side allocates next to nothing and the RSS measured is
			// the server's.
			code := -1
			if c, err := net.Dial("tcp", addr); err == nil {
				fmt.Fprintf(c, "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", len(big))
				if _, err := c.Write(big); err == nil {
					if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						code = resp.StatusCode
					}
				}
				c.Close()
			}
			mu.Lock()
			codes[code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	t.Logf("status counts: %v", codes)
	if codes[200] == 0 {
		t.Errorf("no 8 MiB request was scored: %v", codes)
	}
	for c := range codes {
		if c != 200 && c != 503 {
			t.Errorf("unexpected status %d (%d times)", c, codes[c])
		}
	}
	var heap1 uint64
	var rss1 int64
	deadline := time.Now().Add(10 * time.Second)
	for {
		time.Sleep(500 * time.Millisecond)
		heap1, rss1 = heapInuse(), rssBytes()
		if (int64(heap1)-int64(heap0) < 32<<20 && rss1-rss0 < 200<<20) || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("after the burst: heap in use %d → %d MiB, RSS %d → %d MiB", heap0>>20, heap1>>20, rss0>>20, rss1>>20)
	if grew := int64(heap1) - int64(heap0); grew > 32<<20 {
		t.Errorf("heap still %d MiB above idle after the burst", grew>>20)
	}
	if rss0 > 0 && rss1-rss0 > 200<<20 {
		t.Errorf("RSS still %d MiB above idle after the burst", (rss1-rss0)>>20)
	}
}

// rawRequest sends one HTTP/1.1 request on c and reads the response.
func rawRequest(t testing.TB, c net.Conn, br *bufio.Reader, path string) *http.Response {
	t.Helper()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp
}

func TestMaxConnections(t *testing.T) {
	f := newFixture(t)
	ts := startServer(t, f.pathA, Options{MaxConnections: 2})
	addr := strings.TrimPrefix(ts.url, "http://")
	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	for i := 0; i < 2; i++ { // two kept-alive connections hold the cap
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
		if r := rawRequest(t, c, bufio.NewReader(c), "/healthz"); r.StatusCode != 200 {
			t.Fatalf("connection %d: %d", i, r.StatusCode)
		}
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := rawRequest(t, c, bufio.NewReader(c), "/healthz")
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != 503 || r.Header.Get("Retry-After") == "" || errCode(t, b) != CodeOverloaded {
		t.Fatalf("third connection: %d %v %s", r.StatusCode, r.Header, b)
	}
	open[0].Close()
	open = open[1:]
	time.Sleep(100 * time.Millisecond)
	if code, b := post(t, ts.url+"/v1/predict", mustJSON(t, map[string]any{"rows": testRows()})); code != 200 {
		t.Fatalf("after a connection closed: %d %s", code, b)
	}
	if m := get(t, ts.url+"/metrics"); !strings.Contains(m, `dcrnn_serve_rejected_total{limit="connections"} 1`) {
		t.Errorf("rejected metric:\n%s", grep(m, "rejected"))
	}
}

// A request in flight (here a slow reload) holds its slot; a predict beyond
// MaxInFlight gets 503 + Retry-After while health checks still answer.
func TestMaxInFlight(t *testing.T) {
	f := newFixture(t)
	ts := startServer(t, f.pathA, Options{MaxInFlight: 1, AdminToken: testToken})
	release, started := make(chan struct{}), make(chan struct{})
	real := ts.srv.loadFn
	ts.srv.loadFn = func(path string, max int64) (*loaded, error) {
		close(started)
		<-release
		return real(path, max)
	}
	done := make(chan int, 1)
	go func() {
		code, _ := adminPost(t, ts.url+"/v1/admin/reload", testToken, "")
		done <- code
	}()
	<-started
	body := mustJSON(t, map[string]any{"rows": testRows()})
	resp, err := http.Post(ts.url+"/v1/predict", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || errCode(t, b) != CodeOverloaded {
		t.Errorf("predict beyond the limit: %d %v %s", resp.StatusCode, resp.Header, b)
	}
	if got := get(t, ts.url+"/healthz"); !strings.Contains(got, "ok") {
		t.Errorf("healthz while the slot is taken: %s", got)
	}
	close(release)
	if code := <-done; code != 200 {
		t.Fatalf("slow reload: %d", code)
	}
	if code, b := post(t, ts.url+"/v1/predict", body); code != 200 {
		t.Fatalf("after the slot was freed: %d %s", code, b)
	}
	if m := get(t, ts.url+"/metrics"); !strings.Contains(m, `dcrnn_serve_rejected_total{limit="inflight"} 1`) {
		t.Errorf("rejected metric:\n%s", grep(m, "rejected"))
	}
}

func TestMaxBodyMemory(t *testing.T) {
	f := newFixture(t)
	ts := startServer(t, f.pathA, Options{MaxBodyMemory: 64 << 10})
	small := mustJSON(t, map[string]any{"rows": testRows()})
	big := append(append([]byte(`{"rows":[`), bytes.Repeat([]byte(" "), 200<<10)...), `{}]}`...)
	resp, err := http.Post(ts.url+"/v1/predict", "application/json", bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || errCode(t, b) != CodeOverloaded {
		t.Fatalf("200 KiB body with a 64 KiB budget: %d %s", resp.StatusCode, b)
	}
	for i := 0; i < 3; i++ { // the budget was given back
		if code, b := post(t, ts.url+"/v1/predict", small); code != 200 {
			t.Fatalf("small request %d: %d %s", i, code, b)
		}
	}
}

// Body buffers grow with what arrives: a request declaring 8 MiB but
// sending 100 bytes never holds more than a small buffer.
func TestReadBodyGrowsWithData(t *testing.T) {
	s := &Server{}
	s.budget.limit = 1 << 30
	st := &reqState{}
	if err := s.readBody(st, strings.NewReader(strings.Repeat("x", 100)), 8<<20); err != nil {
		t.Fatal(err)
	}
	if len(st.body) != 100 || cap(st.body) > bodyChunk {
		t.Errorf("100-byte body: len %d cap %d", len(st.body), cap(st.body))
	}
	s.releaseBody(st)
	if s.budget.used.Load() != 0 {
		t.Errorf("budget not given back: %d", s.budget.used.Load())
	}
	if err := s.readBody(st, strings.NewReader(strings.Repeat("y", 3<<20)), 8<<20); err != nil {
		t.Fatal(err)
	}
	if len(st.body) != 3<<20 || cap(st.body) > 4<<20 || s.budget.used.Load() != int64(cap(st.body)) {
		t.Errorf("3 MiB body: len %d cap %d budget %d", len(st.body), cap(st.body), s.budget.used.Load())
	}
	s.releaseBody(st)
	if st.body != nil {
		t.Errorf("a %d-byte buffer was kept for reuse", cap(st.body))
	}
}
