package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dcrnn/dcrnn/internal/data"
)

// TestTrainStrictInput drives `dcrnn train` and `dcrnn data inspect` on
// generated data: a copy with a UTF-8 BOM (CSV with header, and a headerless
// TSV) trains to exactly the metrics of the file without it, and a row with
// 1e30 or a NUL byte stops training naming file, line and column, or is
// skipped and counted under --bad-rows skip.
func TestTrainStrictInput(t *testing.T) {
	if testing.Short() {
		t.Skip("trains models")
	}
	dir := t.TempDir()
	if out, err := runCmd(t, "gen", "--rows", "1500", "--seed", "5", "--out", dir); err != nil {
		t.Fatalf("gen: %v\n%s", err, out)
	}
	schema, dataPath := filepath.Join(dir, "schema.yaml"), filepath.Join(dir, "data.csv")
	b, err := os.ReadFile(dataPath)
	if err != nil {
		t.Fatal(err)
	}
	csv := string(b)
	header, body, _ := strings.Cut(csv, "\n")
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sy, _ := os.ReadFile(schema)
	tsvSchema := write("tsv.yaml", strings.Replace(string(sy), `format: {type: csv, separator: ",", header: true}`,
		"format: {type: tsv, header: false, columns: ["+strings.ReplaceAll(header, ",", ", ")+"]}", 1))
	if tsvSchema == "" || !strings.Contains(mustRead(t, tsvSchema), "type: tsv") {
		t.Fatal("could not derive the TSV schema")
	}
	trainArgs := func(schema, path string, extra ...string) []string {
		return append([]string{"train", "--schema", schema, "--data", path, "--split", "0.6,0.2,0.2", "--seed", "3",
			"--set", "epochs=1", "--set", "proj=8", "--set", "deep=[16]", "--set", "tower=[8]", "--threads", "1",
			"--out", filepath.Join(dir, "m.dcrnn")}, extra...)
	}
	metrics := func(out string) string { // the report, without the timing line
		i := strings.Index(out, "dcrnn on test")
		j := strings.Index(out, "trained ")
		if i < 0 || j < i {
			t.Fatalf("no report in\n%s", out)
		}
		return out[i:j]
	}
	out, err := runCmd(t, trainArgs(schema, dataPath)...)
	if err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	want := metrics(out)

	bomCSV := write("bom.csv", "\ufeff"+csv)
	bomTSV := write("bom.tsv", "\ufeff"+strings.ReplaceAll(body, ",", "\t"))
	for _, c := range []struct{ schema, data string }{{schema, bomCSV}, {tsvSchema, bomTSV}} {
		out, err := runCmd(t, trainArgs(c.schema, c.data)...)
		if err != nil {
			t.Fatalf("train on %s: %v\n%s", filepath.Base(c.data), err, out)
		}
		if got := metrics(out); got != want {
			t.Errorf("train on %s:\n%s\nwithout the BOM:\n%s", filepath.Base(c.data), got, want)
		}
		if out, err := runCmd(t, "data", "inspect", "--schema", c.schema, "--data", c.data); err != nil || !strings.Contains(out, "rows: 1,500") || !strings.Contains(out, "bad rows skipped: 0") {
			t.Errorf("inspect %s: %v\n%s", filepath.Base(c.data), err, out)
		}
	}

	// A training row (part 0 of the split) gets price (column 14) 1e30, then
	// a NUL in noise_cat (column 13).
	sp := data.Splitter{Ratios: []float64{0.6, 0.2, 0.2}, Seed: 3}
	row := int64(5)
	for sp.Part(row) != 0 {
		row++
	}
	line := int(row) + 2 // after the header, 1-based
	lines := strings.Split(csv, "\n")
	for _, c := range []struct{ name, col, want string }{
		{"big.csv", "price", fmt.Sprintf("big.csv:%d: column 14 (price): expected a finite number with |x| ≤ 1e15, got \"1e30\"", line)},
		{"nul.csv", "noise_cat", fmt.Sprintf("nul.csv:%d: column 13 (noise_cat): expected a value without NUL bytes", line)},
	} {
		cells := strings.Split(lines[line-1], ",")
		if c.col == "price" {
			cells[13] = "1e30"
		} else {
			cells[12] += "\x00"
		}
		bad := append(append([]string(nil), lines[:line-1]...), strings.Join(cells, ","))
		path := write(c.name, strings.Join(append(bad, lines[line:]...), "\n"))
		if out, err := runCmd(t, trainArgs(schema, path)...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("train on %s: error %v, want %q\n%s", c.name, err, c.want, out)
		}
		out, err := runCmd(t, trainArgs(schema, path, "--bad-rows", "skip")...)
		if err != nil || !strings.Contains(out, "bad_rows=1") {
			t.Errorf("train --bad-rows skip on %s: %v\n%s", c.name, err, out)
		}
		if out, err := runCmd(t, "data", "inspect", "--schema", schema, "--data", path); err != nil || !strings.Contains(out, "bad rows skipped: 1") || !strings.Contains(out, c.want) {
			t.Errorf("inspect %s: %v\n%s", c.name, err, out)
		}
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
