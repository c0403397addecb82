// Command noisecols appends two high-cardinality noise columns to the
// data.csv that `dcrnn gen` writes, for measuring what fields of no signal
// cost a model (see "Data" in the README and the admission rules in
// internal/feature/doc.go). The labels are left untouched and the noise is
// drawn independently of every other column, so neither column carries any
// signal.
//
//	go run ./bench/noisecols -in GEN_DIR -seed S -out DIR
//
// writes DIR/data.csv (the generator's columns, then request_id and
// session_id), DIR/schema_noise.yaml (the generator's schema plus
// request_id with hash_buckets: 100000 and session_id as a plain vocabulary
// field) and DIR/schema_ignore.yaml (the same two columns as type: ignore).
//
//   - request_id: with probability 1/2 a value never drawn before, else
//     Zipf(s = 1.01, v = 1) over 10⁷ values, so a few values repeat often
//     and most are seen once (seed 1: 145,145 distinct values in 200,000
//     rows, 139,202 of them seen once).
//   - session_id: Zipf(s = 1.1, v = 20) over 10⁶ values (seed 1: 60,364
//     distinct values in 200,000 rows).
//
// Ranks are written through a fixed pseudo-random bijection so that the
// frequent values are not the small numbers.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	in := flag.String("in", "", "directory written by dcrnn gen (data.csv, schema.yaml)")
	out := flag.String("out", "", "output directory")
	seed := flag.Int64("seed", 1, "seed of the noise")
	flag.Parse()
	if *in == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "noisecols: -in and -out are required")
		os.Exit(2)
	}
	if err := run(*in, *out, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "noisecols:", err)
		os.Exit(1)
	}
}

// scramble is a bijection of uint64 (splitmix64's finaliser).
func scramble(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func run(in, out string, seed int64) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	schema, err := os.ReadFile(filepath.Join(in, "schema.yaml"))
	if err != nil {
		return err
	}
	s := string(schema)
	const anchor = "tasks:"
	i := strings.Index(s, anchor)
	if i < 0 {
		return fmt.Errorf("%s: no %q line", filepath.Join(in, "schema.yaml"), anchor)
	}
	noise := "  - {name: request_id,    type: categorical, hash_buckets: 100000}\n  - {name: session_id,    type: categorical}\n"
	ignore := "  - {name: request_id,    type: ignore}\n  - {name: session_id,    type: ignore}\n"
	for name, add := range map[string]string{"schema_noise.yaml": noise, "schema_ignore.yaml": ignore} {
		if err := os.WriteFile(filepath.Join(out, name), []byte(s[:i]+add+s[i:]), 0o644); err != nil {
			return err
		}
	}
	f, err := os.Open(filepath.Join(in, "data.csv"))
	if err != nil {
		return err
	}
	defer f.Close()
	g, err := os.Create(filepath.Join(out, "data.csv"))
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(g, 1<<20)
	rng := rand.New(rand.NewSource(seed))
	req := rand.NewZipf(rng, 1.01, 1, 1e7-1)
	ses := rand.NewZipf(rng, 1.1, 20, 1e6-1)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	first := true
	reqSeen, sesSeen := map[uint64]int{}, map[uint64]bool{}
	rows := 0
	for sc.Scan() {
		line := sc.Text()
		if first {
			fmt.Fprintf(w, "%s,request_id,session_id\n", line)
			first = false
			continue
		}
		r, q := req.Uint64(), ses.Uint64()
		if rng.Intn(2) == 0 {
			r = 1e7 + uint64(rows) // unique
		}
		reqSeen[r]++
		sesSeen[q] = true
		rows++
		fmt.Fprintf(w, "%s,r%x,s%d\n", line, scramble(r+uint64(seed)<<40), scramble(q^0x5e55)%1e9)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := g.Close(); err != nil {
		return err
	}
	once := 0
	for _, c := range reqSeen {
		if c == 1 {
			once++
		}
	}
	fmt.Fprintf(os.Stderr, "noisecols: %d rows; request_id %d distinct (%d seen once), session_id %d distinct\n", rows, len(reqSeen), once, len(sesSeen))
	return nil
}
