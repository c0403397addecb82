package data

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/dcrnn/dcrnn/internal/feature"
)

// TestInspectHashedOOV checks the OOV shares inspect prints for hashed
// fields, on 20 rows with known counts: rid holds a ×10, b ×5, c ×2 and d,
// e, f once; 10 rows are positive, so the default min_count is 10 (5/0.5).
func TestInspectHashedOOV(t *testing.T) {
	var b strings.Builder
	b.WriteString("rid,h1,click\n")
	rid := strings.Split("a a a a a a a a a a b b b b b c c d e f", " ")
	for i, v := range rid {
		fmt.Fprintf(&b, "%s,u%d,%d\n", v, i, i%2)
	}
	path := writeFile(t, "h.csv", b.String())
	s, err := feature.ParseSchema([]byte(`
format: {type: csv, header: true}
fields:
  - {name: rid, type: categorical, hash_buckets: 100}
  - {name: h1, type: categorical, hash_buckets: 100, min_count: 1}
tasks:
  - {name: click, label: click}
`))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Inspect(context.Background(), s, path, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := rep.Write(&out); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		// field type distinct(buckets) missing OOV@1 @2 @5 @10 @20 @50 @100, chosen
		"rid": "rid categorical (hashed) 6 0.0% 0.0% 15.0% 25.0% 50.0% 100.0% 100.0% 100.0% 10 default (50.0%, admits 1 values, 101 rows) - -",
		"h1":  "h1 categorical (hashed) 20 0.0% 0.0% 100.0% 100.0% 100.0% 100.0% 100.0% 100.0% 1 set (0.0%, admits 20 values, 101 rows) - -",
	}
	for _, line := range strings.Split(out.String(), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if w, ok := want[f[0]]; ok {
			if got := strings.Join(f, " "); got != w {
				t.Errorf("inspect line for %s:\n got %s\nwant %s", f[0], got, w)
			}
			delete(want, f[0])
		}
	}
	for name := range want {
		t.Errorf("no inspect line for %s:\n%s", name, out.String())
	}
}
