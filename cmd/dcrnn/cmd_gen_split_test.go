package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dcrnn/dcrnn/internal/synth"
)

// TestGenThenSplit runs `dcrnn gen --truth` and splits data.csv and truth.csv
// with the same ratios and seed: the parts stay row-aligned, which is how a
// test-split oracle is computed.
func TestGenThenSplit(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	ctx := context.Background()
	if err := run(ctx, []string{"gen", "--rows", "3000", "--seed", "4", "--out", dir, "--truth"}, &out, &errb); err != nil {
		t.Fatalf("gen: %v (%s)", err, errb.String())
	}
	if !strings.Contains(out.String(), "3000 rows") || !strings.Contains(out.String(), "oracle AUC click") {
		t.Fatalf("gen summary %q", out.String())
	}
	for _, f := range []string{"data", "truth"} {
		args := []string{"split", "--data", filepath.Join(dir, f+".csv"), "--ratios", "0.5,0.25,0.25", "--seed", "9", "--out", filepath.Join(dir, f)}
		if err := run(ctx, args, &out, &errb); err != nil {
			t.Fatalf("split %s: %v", f, err)
		}
	}
	for _, part := range []string{"train", "valid", "test"} {
		d, _ := os.ReadFile(filepath.Join(dir, "data", part+".csv"))
		tr, _ := os.ReadFile(filepath.Join(dir, "truth", part+".csv"))
		nd, nt := bytes.Count(d, []byte("\n")), bytes.Count(tr, []byte("\n"))
		if nd != nt || nd < 2 || !bytes.HasPrefix(d, []byte("click,conversion,")) || !bytes.HasPrefix(tr, []byte("p_click,")) {
			t.Fatalf("%s: %d data lines, %d truth lines (want equal, with headers)", part, nd, nt)
		}
	}
	for _, bad := range [][]string{
		{"gen", "--rows", "-1", "--out", dir},
		{"gen", "--rows", "10"},
		{"split", "--data", filepath.Join(dir, "data.csv"), "--out", dir, "--ratios", "0.5,0.4"},
		{"split", "--data", filepath.Join(dir, "data.csv"), "--out", dir, "--header", "maybe"},
	} {
		if err := run(ctx, bad, &out, &errb); err == nil {
			t.Errorf("%v: accepted", bad)
		}
	}
}

// TestGenNoiseIDsFlag: dcrnn gen writes the noise ids by default and not
// with --noise-ids=false, byte for byte what synth.WriteDir writes for the
// same config (whose bytes synth's golden test pins).
func TestGenNoiseIDsFlag(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		flags []string
		noise bool
	}{{nil, true}, {[]string{"--noise-ids=false"}, false}} {
		dir := t.TempDir()
		var out, errb bytes.Buffer
		args := append([]string{"gen", "--rows", "20000", "--seed", "6", "--truth", "--out", filepath.Join(dir, "cli")}, c.flags...)
		if err := run(ctx, args, &out, &errb); err != nil {
			t.Fatalf("%v: %v (%s)", args, err, errb.String())
		}
		if _, err := synth.WriteDir(ctx, filepath.Join(dir, "lib"), synth.Config{Rows: 20000, Seed: 6, NoiseIDs: c.noise}, true); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"data.csv", "truth.csv", "schema.yaml", "oracle.json"} {
			a, _ := os.ReadFile(filepath.Join(dir, "cli", f))
			b, _ := os.ReadFile(filepath.Join(dir, "lib", f))
			if len(a) == 0 || !bytes.Equal(a, b) {
				t.Errorf("%v: %s differs from synth.WriteDir with NoiseIDs %v", c.flags, f, c.noise)
			}
		}
		header, _, _ := strings.Cut(mustRead(t, filepath.Join(dir, "cli", "data.csv")), "\n")
		if got := strings.HasSuffix(header, ",noise_num,request_id,session_user"); got != c.noise {
			t.Errorf("%v: header %q", c.flags, header)
		}
	}
}
