// Command goclient is a small Go program that uses dcrnn as a library, the
// way an external service would: it imports only the public package
// github.com/dcrnn/dcrnn, loads a model file and scores rows read as JSON
// lines (one object per line: column name → raw value), printing one JSON
// line of probabilities per row.
//
//	go run ./examples/goclient -model testdata/census-small.dcrnn <<'EOF'
//	{"age": 54, "education": "Masters degree(MA MS MEng MEd MSW MBA)", "sex": "Male"}
//	EOF
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/dcrnn/dcrnn"
)

func main() {
	path := flag.String("model", "", "model file written by dcrnn train")
	flag.Parse()
	if err := run(*path, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "goclient:", err)
		os.Exit(1)
	}
}

// maxLine bounds one input line (1 MiB).
const maxLine = 1 << 20

// run scores the JSON lines of in with the model at path and writes one
// line per row to out: {"income": 0.12, ...} (and "ctcvr" for a funnel).
func run(path string, in io.Reader, out io.Writer) error {
	m, err := dcrnn.Load(path)
	if err != nil {
		return err
	}
	sc := m.NewScorer()
	keys := m.Tasks()
	if m.Funnel() {
		keys = append(keys, "ctcvr")
	}
	s := bufio.NewScanner(in)
	s.Buffer(make([]byte, 64<<10), maxLine)
	w := bufio.NewWriter(out)
	rows := make([]map[string]any, 1)
	dst := make([]dcrnn.Prediction, 1)
	for line := 1; s.Scan(); line++ {
		d := json.NewDecoder(bytes.NewReader(s.Bytes()))
		d.UseNumber() // keep 64-bit ids exact
		rows[0] = nil
		if err := d.Decode(&rows[0]); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		if err := sc.ScoreInto(dst, rows); err != nil {
			var fe *dcrnn.FieldError
			if errors.As(err, &fe) {
				return fmt.Errorf("line %d: field %q: expected %s, got %q", line, fe.Field, fe.Expected, fe.Value)
			}
			return fmt.Errorf("line %d: %w", line, err)
		}
		res := make(map[string]float32, len(keys))
		for _, k := range keys {
			res[k] = dst[0].Prob(k)
		}
		b, _ := json.Marshal(res)
		w.Write(append(b, '\n'))
	}
	if err := s.Err(); err != nil {
		return err
	}
	return w.Flush()
}
