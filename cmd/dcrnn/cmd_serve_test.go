package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dcrnn/dcrnn/internal/data"
	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/model"
)

// serveModels writes a tiny data set and two untrained models fitted on it.
func serveModels(t *testing.T) (dir string, sums [2]string) {
	dir = t.TempDir()
	var csv strings.Builder
	csv.WriteString("user,price,click\n")
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&csv, "u%d,%d,%d\n", i%13, i%37, (i*7)%3/2)
	}
	os.WriteFile(filepath.Join(dir, "d.csv"), []byte(csv.String()), 0o644)
	s, err := feature.ParseSchema([]byte(`
format: {type: csv, separator: ",", header: true}
fields:
  - {name: user, type: categorical, min_count: 1}
  - {name: price, type: numeric}
tasks:
  - {name: click, label: click, positive: ["1"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := data.FitPipeline(context.Background(), s, filepath.Join(dir, "d.csv"), data.FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range sums {
		tr, err := model.Build("dcrnn", model.Config{}, p, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		if sums[i], err = model.Save(filepath.Join(dir, fmt.Sprintf("m%d.dcrnn", i)), tr); err != nil {
			t.Fatal(err)
		}
	}
	return dir, sums
}

// TestServeCommandSIGHUPAndShutdown runs `dcrnn serve` in process: SIGHUP
// reloads the model file, cancelling the context (what SIGTERM does in main)
// stops it cleanly.
func TestServeCommandSIGHUPAndShutdown(t *testing.T) {
	dir, sums := serveModels(t)
	served := filepath.Join(dir, "served.dcrnn")
	copyFile(t, filepath.Join(dir, "m0.dcrnn"), served)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--model", served, "--addr", "127.0.0.1:0", "--log-sample", "-1"}, pw, &stderr)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no start line: %v (stderr %s)", err, stderr.String())
	}
	go io.Copy(io.Discard, pr)
	i := strings.Index(line, "http://")
	if i < 0 {
		t.Fatalf("start line %q", line)
	}
	url := strings.Fields(line[i:])[0]
	checksum := func() string {
		resp, err := http.Post(url+"/v1/predict", "application/json", strings.NewReader(`{"rows": [{"user": "u1", "price": 3}]}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r struct {
			Model struct{ Checksum string } `json:"model"`
		}
		json.NewDecoder(resp.Body).Decode(&r)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		return r.Model.Checksum
	}
	if got := checksum(); got != sums[0] {
		t.Fatalf("checksum %s, want %s", got, sums[0])
	}
	copyFile(t, filepath.Join(dir, "m1.dcrnn"), served)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for checksum() != sums[1] {
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not reload the model; stderr:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
}

func copyFile(t *testing.T, from, to string) {
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to+".tmp", b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(to+".tmp", to); err != nil {
		t.Fatal(err)
	}
}

// startServe runs `dcrnn serve ARGS` in process and returns the URLs it
// printed (the serving address first, then the admin one if any).
func startServe(t *testing.T, args ...string) []string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--log-sample", "-1"}, args...), pw, &stderr)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("serve did not stop")
		}
	})
	br := bufio.NewReader(pr)
	var urls []string
	want := 1
	if slices.Contains(args, "--admin-addr") {
		want = 2
	}
	for len(urls) < want {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("start lines: %v (stderr %s)", err, stderr.String())
		}
		if i := strings.Index(line, "http://"); i >= 0 {
			urls = append(urls, strings.Fields(line[i:])[0])
		}
	}
	go io.Copy(io.Discard, br)
	return urls
}

func reloadStatus(t *testing.T, url, token, body string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/v1/admin/reload", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// The admin flags as an operator uses them: off by default, a token on the
// serving address, or a separate loopback listener.
func TestServeAdminFlags(t *testing.T) {
	dir, _ := serveModels(t)
	m0 := filepath.Join(dir, "m0.dcrnn")
	const token = "0123456789abcdef0123"
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte(token+"\n"), 0o600)

	off := startServe(t, "--model", m0)
	if got := reloadStatus(t, off[0], token, ""); got != 404 {
		t.Errorf("default: admin reload status %d, want 404 (off)", got)
	}

	tok := startServe(t, "--model", m0, "--admin-token-file", tokenFile, "--allow-reload-path")
	if got := reloadStatus(t, tok[0], "", ""); got != 401 {
		t.Errorf("token: reload without it: %d, want 401", got)
	}
	if got := reloadStatus(t, tok[0], token, `{"path": "m1.dcrnn"}`); got != 200 {
		t.Errorf("token: reload of m1.dcrnn: %d, want 200", got)
	}

	sep := startServe(t, "--model", m0, "--admin-addr", "127.0.0.1:0")
	if len(sep) != 2 {
		t.Fatalf("urls %v", sep)
	}
	if got := reloadStatus(t, sep[0], "", ""); got != 404 {
		t.Errorf("admin listener: reload on the serving address: %d, want 404", got)
	}
	if got := reloadStatus(t, sep[1], "", ""); got != 200 {
		t.Errorf("admin listener: reload there: %d, want 200", got)
	}
	if got := reloadStatus(t, sep[1], "", `{"path": "m1.dcrnn"}`); got != 403 {
		t.Errorf("admin listener without --allow-reload-path: reload with a path: %d, want 403", got)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--admin-addr", "0.0.0.0:0"}, "not a loopback address"},
		{[]string{"--allow-reload-path"}, "needs the admin API on"},
		{[]string{"--admin-token-file", filepath.Join(dir, "missing")}, "admin token file"},
	} {
		err := run(context.Background(), append([]string{"serve", "--model", m0, "--addr", "127.0.0.1:0"}, c.args...), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err %v, want %q", c.args, err, c.want)
		}
	}
}
