package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemo runs a small dcrnn demo with the noise ids (the default) and
// without: both print the table with the oracle row, and the kept schema
// declares the noise ids only when they are on.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("trains two models twice")
	}
	for _, c := range []struct {
		flags []string
		noise bool
	}{{nil, true}, {[]string{"--noise-ids=false"}, false}} {
		dir := t.TempDir()
		args := append([]string{"demo", "--rows", "4000", "--epochs", "1", "--threads", "1", "--keep", dir}, c.flags...)
		out, err := runCmd(t, args...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		want := "noise ids off"
		if c.noise {
			want = "noise ids on (request_id, session_user)"
		}
		for _, w := range []string{want, "  dcrnn ", "  shared_bottom ", "  oracle "} {
			if !strings.Contains(out, w) {
				t.Errorf("%v: output lacks %q:\n%s", args, w, out)
			}
		}
		schema := mustRead(t, filepath.Join(dir, "schema.yaml"))
		if got := strings.Contains(schema, "{name: request_id,    type: categorical, hash_buckets: 100000}"); got != c.noise {
			t.Errorf("%v: schema declares request_id: %v, want %v", args, got, c.noise)
		}
		if _, err := os.Stat(filepath.Join(dir, "dcrnn.dcrnn")); err != nil {
			t.Errorf("%v: --keep did not keep the model: %v", args, err)
		}
	}
}
