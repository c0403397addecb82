package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dcrnn/dcrnn/internal/data"
	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/model"
)

const testToken = "test-token-0123456789abcdef"

// adminPost sends an admin request the way an operator's curl would:
// Content-Type application/json and the bearer token (if not empty).
func adminPost(t testing.TB, url, token, body string) (int, []byte) {
	t.Helper()
	return adminDo(t, url, body, map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + token})
}

func adminDo(t testing.TB, url, body string, hdr map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func errCode(t testing.TB, b []byte) string {
	t.Helper()
	var e errorResponse
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("not a JSON error: %s", b)
	}
	return e.Error.Code
}

func errMessage(b []byte) string {
	var e errorResponse
	json.Unmarshal(b, &e)
	return e.Error.Message
}

func servedChecksum(t testing.TB, url string) string {
	t.Helper()
	var m struct {
		Model ModelInfo `json:"model"`
	}
	if err := json.Unmarshal([]byte(get(t, url+"/v1/model")), &m); err != nil {
		t.Fatal(err)
	}
	return m.Model.Checksum
}

// The reported defect: the admin endpoint was open to anyone who could reach
// the port. Now it is off unless a token or an admin listener is configured.
func TestAdminOffByDefault(t *testing.T) {
	f := newFixture(t)
	ts := startServer(t, f.pathA, Options{})
	for _, hdr := range []map[string]string{
		{"Content-Type": "application/json"},
		{"Content-Type": "text/plain"},
		{"Content-Type": "application/json", "Authorization": "Bearer " + testToken},
	} {
		code, b := adminDo(t, ts.url+"/v1/admin/reload", `{"path": "`+f.pathB+`"}`, hdr)
		if code != 404 || errCode(t, b) != CodeAdminOff {
			t.Errorf("%v: status %d %s, want 404 %s", hdr, code, b, CodeAdminOff)
		}
	}
	if got := servedChecksum(t, ts.url); got != f.trA.Checksum {
		t.Fatalf("the served model changed to %s", got)
	}
}

func TestAdminToken(t *testing.T) {
	f := newFixture(t)
	ts := startServer(t, f.pathA, Options{AdminToken: testToken})
	for _, c := range []struct {
		name, auth string
	}{{"no token", ""}, {"wrong token", "Bearer " + testToken + "x"}, {"prefix of the token", "Bearer " + testToken[:10]},
		{"basic auth", "Basic " + testToken}, {"empty bearer", "Bearer "}} {
		code, b := adminDo(t, ts.url+"/v1/admin/reload", "", map[string]string{"Content-Type": "application/json", "Authorization": c.auth})
		if code != 401 || errCode(t, b) != CodeUnauthorized {
			t.Errorf("%s: status %d %s, want 401", c.name, code, b)
		}
	}
	resp, err := http.Post(ts.url+"/v1/admin/reload", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
		t.Errorf("401 without WWW-Authenticate: Bearer (got %q)", got)
	}
	if code, b := adminPost(t, ts.url+"/v1/admin/reload", testToken, ""); code != 200 {
		t.Fatalf("right token: status %d %s", code, b)
	}
	// Health and predictions need no token.
	if code, b := post(t, ts.url+"/v1/predict", mustJSON(t, map[string]any{"rows": testRows()})); code != 200 {
		t.Fatalf("predict: %d %s", code, b)
	}
}

// A page in a browser can POST text/plain to 127.0.0.1 without a preflight,
// and a DNS-rebinding page names its own host: both are refused, with and
// without a token.
func TestAdminRefusesBrowsers(t *testing.T) {
	f := newFixture(t)
	srv, err := New(f.pathA, Options{AllowReloadPath: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	url := serveAdmin(t, srv)
	body := `{"path": "` + f.pathB + `"}`
	for _, c := range []struct {
		name   string
		hdr    map[string]string
		status int
		code   string
	}{
		{"text/plain form post", map[string]string{"Content-Type": "text/plain"}, 415, CodeMediaType},
		{"form urlencoded", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415, CodeMediaType},
		{"no content type", map[string]string{}, 415, CodeMediaType},
		{"browser origin", map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example"}, 403, CodeForbidden},
		{"rebinding host", map[string]string{"Content-Type": "application/json", "Host": "evil.example:8081"}, 403, CodeForbidden},
	} {
		code, b := adminDo(t, url+"/v1/admin/reload", body, c.hdr)
		if code != c.status || errCode(t, b) != c.code {
			t.Errorf("%s: status %d %s, want %d %s", c.name, code, b, c.status, c.code)
		}
	}
	if got := srv.Model().Checksum; got != f.trA.Checksum {
		t.Fatalf("a refused request swapped the model to %s", got)
	}
	for _, host := range []string{"", "localhost:1", "[::1]:8081"} {
		code, b := adminDo(t, url+"/v1/admin/reload", body, map[string]string{"Content-Type": "application/json; charset=utf-8", "Host": host})
		if code != 200 {
			t.Errorf("loopback host %q: status %d %s", host, code, b)
		}
	}
	if got := srv.Model().Checksum; got != f.trB.Checksum {
		t.Fatalf("served %s after an allowed reload of B", got)
	}
}

// serveAdmin serves srv's admin handler on a loopback port until the test ends.
func serveAdmin(t testing.TB, srv *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeAdmin(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + ln.Addr().String()
}

// Paths: off unless allowed, and then only under the model directory, with
// one answer for everything outside it, existing or not.
func TestReloadPathPolicy(t *testing.T) {
	f := newFixture(t)
	ts := startServer(t, f.pathA, Options{AdminToken: testToken})
	code, b := adminPost(t, ts.url+"/v1/admin/reload", testToken, `{"path": "b.dcrnn"}`)
	if code != 403 || errCode(t, b) != CodeForbidden {
		t.Fatalf("path without --allow-reload-path: %d %s", code, b)
	}

	ts = startServer(t, f.pathA, Options{AdminToken: testToken, AllowReloadPath: true})
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("x"), 0o600)
	os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(f.dir, "link.dcrnn"))
	os.Mkdir(filepath.Join(outside, "adir"), 0o755)
	probes := []string{
		filepath.Join(outside, "secret.txt"), // exists, not a model
		filepath.Join(outside, "adir"),       // a directory
		filepath.Join(outside, "missing"),    // does not exist
		"/dev/zero",                          // a device
		"../" + filepath.Base(outside) + "/secret.txt",
		"link.dcrnn", // a link inside pointing outside
		"a.dcrnn\x00/../../etc",
	}
	var msgs []string
	for _, p := range probes {
		code, b := adminPost(t, ts.url+"/v1/admin/reload", testToken, string(mustJSON(t, map[string]string{"path": p})))
		if code != 403 || errCode(t, b) != CodeForbidden {
			t.Errorf("%q: status %d %s, want 403", p, code, b)
		}
		msgs = append(msgs, strings.Replace(errMessage(b), strconv.Quote(p), "PATH", 1))
	}
	for i := range msgs {
		if msgs[i] != msgs[0] {
			t.Errorf("the answers for %q and %q differ, which tells what exists outside the model directory:\n%s\n%s", probes[0], probes[i], msgs[0], msgs[i])
		}
	}
	// Inside the directory: relative and absolute paths work, a missing file
	// is a 404.
	if code, b := adminPost(t, ts.url+"/v1/admin/reload", testToken, `{"path": "b.dcrnn"}`); code != 200 {
		t.Errorf("relative path inside: %d %s", code, b)
	}
	if got := servedChecksum(t, ts.url); got != f.trB.Checksum {
		t.Errorf("served %s after reloading b.dcrnn", got)
	}
	if code, b := adminPost(t, ts.url+"/v1/admin/reload", testToken, string(mustJSON(t, map[string]string{"path": f.pathA}))); code != 200 {
		t.Errorf("absolute path inside: %d %s", code, b)
	}
	if code, b := adminPost(t, ts.url+"/v1/admin/reload", testToken, `{"path": "nope.dcrnn"}`); code != 404 {
		t.Errorf("missing file inside: %d %s", code, b)
	}
	// A reload with a path does not change what SIGHUP reloads.
	adminPost(t, ts.url+"/v1/admin/reload", testToken, `{"path": "b.dcrnn"}`)
	if info, err := ts.srv.Reload(""); err != nil || info.Checksum != f.trA.Checksum {
		t.Errorf("SIGHUP after an HTTP reload of b.dcrnn served %s, %v; want the --model file a.dcrnn", info.Checksum, err)
	}
}

// otherSchemaModel saves an untrained model of a different schema.
func otherSchemaModel(t testing.TB, dir string) string {
	t.Helper()
	csv := "city,spend,clicked\n"
	for i := 0; i < 60; i++ {
		csv += fmt.Sprintf("%s,%d,%d\n", []string{"paris", "rome", "oslo"}[i%3], i%7, i%2)
	}
	dataPath := filepath.Join(dir, "other.csv")
	os.WriteFile(dataPath, []byte(csv), 0o644)
	s, err := feature.ParseSchema([]byte(`
format: {type: csv, separator: ",", header: true}
fields:
  - {name: city, type: categorical, min_count: 1}
  - {name: spend, type: numeric}
tasks:
  - {name: click, label: clicked}
`))
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := data.FitPipeline(context.Background(), s, dataPath, data.FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := model.Build("shared_bottom", model.Config{}, p, 1)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "other.dcrnn")
	if _, err := model.Save(path, tr); err != nil {
		t.Fatal(err)
	}
	return path
}

// The reported defect: a model with another schema answered Census requests
// with 200. A schema change is refused unless allowed.
func TestReloadRefusesSchemaChange(t *testing.T) {
	f := newFixture(t)
	other := otherSchemaModel(t, f.dir)
	ts := startServer(t, f.pathA, Options{AdminToken: testToken, AllowReloadPath: true})
	code, b := adminPost(t, ts.url+"/v1/admin/reload", testToken, `{"path": "other.dcrnn"}`)
	if code != 409 || errCode(t, b) != CodeSchemaChanged || !strings.Contains(errMessage(b), `field 1 is "city", was "user_id"`) {
		t.Fatalf("schema change: %d %s", code, b)
	}
	if _, err := ts.srv.Reload(other); err == nil {
		t.Fatal("Reload (SIGHUP path) accepted a schema change")
	}
	if got := servedChecksum(t, ts.url); got != f.trA.Checksum {
		t.Fatalf("served %s after a refused schema change", got)
	}
	ts = startServer(t, f.pathA, Options{AdminToken: testToken, AllowReloadPath: true, AllowSchemaChange: true})
	if code, b := adminPost(t, ts.url+"/v1/admin/reload", testToken, `{"path": "other.dcrnn"}`); code != 200 {
		t.Fatalf("with AllowSchemaChange: %d %s", code, b)
	}
}

func heapInuse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// The reported defect: reloading a 64 GB sparse file ended the process with
// "fatal error: runtime: out of memory". It is refused after reading its
// header, by the size limit or by the header check.
func TestReloadHugeSparseFile(t *testing.T) {
	f := newFixture(t)
	a, _ := os.ReadFile(f.pathA)
	huge := filepath.Join(f.dir, "huge.dcrnn")
	os.WriteFile(huge, a, 0o644)
	if err := os.Truncate(huge, 64<<30); err != nil {
		t.Skipf("no sparse 64 GiB file here: %v", err)
	}
	for _, c := range []struct {
		limit  int64
		status int
		code   string
	}{{0, 413, CodeModelTooLarge}, {128 << 30, 422, CodeReloadFailed}} {
		ts := startServer(t, f.pathA, Options{AdminToken: testToken, AllowReloadPath: true, MaxModelBytes: c.limit})
		before := heapInuse()
		start := time.Now()
		code, b := adminPost(t, ts.url+"/v1/admin/reload", testToken, `{"path": "huge.dcrnn"}`)
		if code != c.status || errCode(t, b) != c.code {
			t.Errorf("limit %d: status %d %s, want %d %s", c.limit, code, b, c.status, c.code)
		}
		if grew := int64(heapInuse()) - int64(before); grew > 16<<20 {
			t.Errorf("limit %d: the heap grew by %d bytes", c.limit, grew)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("limit %d: took %v", c.limit, d)
		}
	}
}

// The reported defect: reloading a FIFO hung forever and blocked every
// later reload, SIGHUP included.
func TestReloadFIFODoesNotHang(t *testing.T) {
	f := newFixture(t)
	fifo := filepath.Join(f.dir, "pipe.dcrnn")
	if err := mkfifo(fifo); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	ts := startServer(t, f.pathA, Options{AdminToken: testToken, AllowReloadPath: true, ReloadTimeout: 2 * time.Second})
	done := make(chan struct{})
	go func() {
		defer close(done)
		code, b := adminPost(t, ts.url+"/v1/admin/reload", testToken, `{"path": "pipe.dcrnn"}`)
		if code != 400 || !strings.Contains(errMessage(b), "named pipe") {
			t.Errorf("FIFO: status %d %s, want 400 naming a named pipe", code, b)
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("reloading a FIFO still hangs after 5 s")
	}
	if info, err := ts.srv.Reload(f.pathB); err != nil || info.Checksum != f.trB.Checksum {
		t.Fatalf("a later reload: %+v %v", info, err)
	}
}

// A load that hangs (a stuck network file system) is abandoned after
// ReloadTimeout with a 503, later reloads go ahead, and the abandoned load
// is never installed when it finally returns.
func TestReloadTimeoutDoesNotBlockLaterReloads(t *testing.T) {
	f := newFixture(t)
	ts := startServer(t, f.pathA, Options{AdminToken: testToken, AllowReloadPath: true, ReloadTimeout: 300 * time.Millisecond})
	release := make(chan struct{})
	var hung atomic.Bool
	real := ts.srv.loadFn
	ts.srv.loadFn = func(path string, max int64) (*loaded, error) {
		if filepath.Base(path) == "b.dcrnn" && hung.CompareAndSwap(false, true) {
			<-release
		}
		return real(path, max)
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(mustAdminRequest(t, ts.url, `{"path": "b.dcrnn"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || errCode(t, b) != CodeReloadTimeout || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("hung reload: status %d %s (Retry-After %q)", resp.StatusCode, b, resp.Header.Get("Retry-After"))
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the timed-out reload answered after %v", d)
	}
	// The next reload (SIGHUP's) is not blocked by the hung one.
	if info, err := ts.srv.Reload(""); err != nil || info.Checksum != f.trA.Checksum {
		t.Fatalf("reload after a hung one: %+v %v", info, err)
	}
	close(release)
	time.Sleep(200 * time.Millisecond)
	if got := servedChecksum(t, ts.url); got != f.trA.Checksum {
		t.Fatalf("the abandoned load was installed: serving %s", got)
	}
	if code, b := adminPost(t, ts.url+"/v1/admin/reload", testToken, `{"path": "b.dcrnn"}`); code != 200 {
		t.Fatalf("reload after the hung load returned: %d %s", code, b)
	}
}

func mustAdminRequest(t testing.TB, url, body string) *http.Request {
	req, err := http.NewRequest("POST", url+"/v1/admin/reload", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testToken)
	return req
}

// The reported defect: a reload slower than the write timeout got an empty
// reply. The admin handler extends its own write deadline.
func TestSlowReloadStillAnswers(t *testing.T) {
	f := newFixture(t)
	ts := startServer(t, f.pathA, Options{AdminToken: testToken, AllowReloadPath: true, WriteTimeout: 200 * time.Millisecond})
	real := ts.srv.loadFn
	ts.srv.loadFn = func(path string, max int64) (*loaded, error) {
		time.Sleep(600 * time.Millisecond)
		return real(path, max)
	}
	code, b := adminPost(t, ts.url+"/v1/admin/reload", testToken, `{"path": "b.dcrnn"}`)
	if code != 200 || !bytes.Contains(b, []byte(f.trB.Checksum)) {
		t.Fatalf("slow reload: status %d %q", code, b)
	}
}

// Failed reloads are the caller's error: logged at WARN, never ERROR.
func TestFailedReloadLogsWarn(t *testing.T) {
	f := newFixture(t)
	var logs syncBuffer
	ts := startServer(t, f.pathA, Options{AdminToken: testToken, AllowReloadPath: true,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), LogSample: -1})
	os.WriteFile(filepath.Join(f.dir, "junk.dcrnn"), []byte("not a model at all"), 0o644)
	code, _ := adminPost(t, ts.url+"/v1/admin/reload", testToken, `{"path": "junk.dcrnn"}`)
	if code != 422 {
		t.Fatalf("junk file: status %d", code)
	}
	out := logs.String()
	if !strings.Contains(out, "level=WARN msg=\"model reload failed") || strings.Contains(out, "level=ERROR") {
		t.Fatalf("log:\n%s", out)
	}
}

func TestReadTokenFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "token")
	os.WriteFile(good, []byte("  "+testToken+"\n"), 0o600)
	tok, warn, err := ReadTokenFile(good)
	if err != nil || tok != testToken || warn != "" {
		t.Errorf("good file: %q %q %v", tok, warn, err)
	}
	open := filepath.Join(dir, "open")
	os.WriteFile(open, []byte(testToken), 0o644)
	os.Chmod(open, 0o644)
	if _, warn, err := ReadTokenFile(open); err != nil || !strings.Contains(warn, "readable by other users") {
		t.Errorf("world-readable file: warning %q, err %v", warn, err)
	}
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("abc\n"), 0o600)
	if _, _, err := ReadTokenFile(short); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Errorf("short token: %v", err)
	}
	if _, _, err := ReadTokenFile(dir); err == nil {
		t.Errorf("a directory was accepted as a token file")
	}
	if _, _, err := ReadTokenFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
