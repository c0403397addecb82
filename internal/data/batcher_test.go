package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/dcrnn/dcrnn/internal/feature"
)

const batchSchema = `
format: {type: csv, header: true}
fields:
  - {name: id, type: categorical, min_count: 1}
  - {name: x, type: numeric, normalize: none}
tasks:
  - {name: click, label: click, negative: ["0"]}
  - {name: buy, label: buy, after: click}
`

func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func tenRows(mod func(i int) string) string {
	var b strings.Builder
	b.WriteString("id,x,click,buy\n")
	for i := 0; i < 10; i++ {
		if mod != nil {
			if s := mod(i); s != "" {
				b.WriteString(s + "\n")
				continue
			}
		}
		fmt.Fprintf(&b, "id%d,%d,%d,0\n", i, i, i%2)
	}
	return b.String()
}

func schemaOf(t testing.TB, y string) *feature.Schema {
	t.Helper()
	s, err := feature.ParseSchema([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// collect returns the x values per batch.
func collect(t *testing.T, p *feature.Pipeline, path string, opt BatchOptions) ([][]float32, Stats, error) {
	t.Helper()
	b, err := NewBatcher(p, path, opt)
	if err != nil {
		return nil, Stats{}, err
	}
	defer b.Close()
	var out [][]float32
	for {
		bt, err := b.Next()
		if err == io.EOF {
			return out, b.Stats(), nil
		}
		if err != nil {
			return out, b.Stats(), err
		}
		out = append(out, append([]float32(nil), bt.Fields[1].Values...))
	}
}

func TestBatcher(t *testing.T) {
	path := writeFile(t, "f.csv", tenRows(nil))
	p, st, err := FitPipeline(context.Background(), schemaOf(t, batchSchema), path, FitOptions{})
	if err != nil || st.Rows != 10 {
		t.Fatalf("fit: %v rows %d", err, st.Rows)
	}
	got, _, err := collect(t, p, path, BatchOptions{BatchSize: 4, RequireLabels: true})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]float32{{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("batches %v, want %v", got, want)
	}
	// Shuffle: a deterministic permutation.
	shuf := func(seed uint64) []float32 {
		got, _, err := collect(t, p, path, BatchOptions{BatchSize: 3, ShuffleBuffer: 4, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		var flat []float32
		for _, g := range got {
			flat = append(flat, g...)
		}
		return flat
	}
	a, a2, c := shuf(1), shuf(1), shuf(2)
	if !reflect.DeepEqual(a, a2) {
		t.Errorf("same seed, different order: %v %v", a, a2)
	}
	if reflect.DeepEqual(a, c) {
		t.Errorf("seeds 1 and 2 give the same order %v", a)
	}
	sorted := append([]float32(nil), a...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	if !reflect.DeepEqual(sorted, []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
		t.Errorf("shuffle is not a permutation: %v", a)
	}
	if reflect.DeepEqual(a, sorted) {
		t.Errorf("shuffle kept file order")
	}
	// Filter: the odd rows only.
	got, _, err = collect(t, p, path, BatchOptions{BatchSize: 100, Filter: func(i int64) bool { return i%2 == 1 }})
	if err != nil || !reflect.DeepEqual(got, [][]float32{{1, 3, 5, 7, 9}}) {
		t.Errorf("filter: %v %v", got, err)
	}
}

func TestBatcherBadRows(t *testing.T) {
	bad := tenRows(func(i int) string {
		switch i {
		case 2:
			return "id2,abc,0,0" // line 4
		case 5:
			return "id5,5,0" // line 7
		case 7:
			return "id7,7,2,0" // line 9: label not in negative
		}
		return ""
	})
	path := writeFile(t, "bad.csv", bad)
	s := schemaOf(t, batchSchema)
	_, _, err := FitPipeline(context.Background(), s, path, FitOptions{})
	if err == nil || !strings.Contains(err.Error(), "bad.csv:4: column 2 (x): expected a number") {
		t.Fatalf("fit error = %v", err)
	}
	p, st, err := FitPipeline(context.Background(), s, path, FitOptions{BadRows: BadRowsSkip})
	if err != nil || st.Rows != 7 || st.BadRows != 3 {
		t.Fatalf("fit skip: %v %+v", err, st)
	}
	_, _, err = collect(t, p, path, BatchOptions{BatchSize: 4})
	var re *RowError
	if !errors.As(err, &re) || re.Line != 4 || !errors.Is(err, ErrBadRow) {
		t.Fatalf("batch error = %v", err)
	}
	for _, shuffle := range []int{0, 3} {
		got, st, err := collect(t, p, path, BatchOptions{BatchSize: 4, BadRows: BadRowsSkip, ShuffleBuffer: shuffle})
		n := 0
		for _, g := range got {
			n += len(g)
		}
		if err != nil || n != 7 || st.BadRows != 3 || st.Rows != 7 {
			t.Errorf("shuffle %d: skip: %v rows %d stats %+v", shuffle, err, n, st)
		}
		if len(st.FirstBad) != 3 || !strings.Contains(st.FirstBad[1], "bad.csv:7: row: expected 4 columns") || !strings.Contains(st.FirstBad[2], "bad.csv:9: column 3 (click)") {
			t.Errorf("shuffle %d: messages %q", shuffle, st.FirstBad)
		}
	}
}

func TestBatcherFunnel(t *testing.T) {
	data := tenRows(func(i int) string {
		if i == 4 {
			return "id4,4,0,1" // buy without click
		}
		return ""
	})
	path := writeFile(t, "funnel.csv", data)
	_, _, err := FitPipeline(context.Background(), schemaOf(t, batchSchema), path, FitOptions{})
	if !errors.Is(err, feature.ErrFunnelViolation) || !strings.Contains(err.Error(), "funnel.csv:6") {
		t.Fatalf("funnel error: %v", err)
	}
	s := schemaOf(t, batchSchema+"funnel_violations: drop\n")
	p, st, err := FitPipeline(context.Background(), s, path, FitOptions{})
	if err != nil || st.FunnelDropped != 1 || st.Rows != 9 {
		t.Fatalf("drop: %v %+v", err, st)
	}
	_, bst, err := collect(t, p, path, BatchOptions{})
	if err != nil || bst.FunnelDropped != 1 || bst.Rows != 9 {
		t.Errorf("batch drop: %v %+v", err, bst)
	}
	rep, err := Inspect(context.Background(), schemaOf(t, batchSchema), path, FitOptions{})
	if err != nil || rep.Summary.FunnelViolations != 1 || rep.Summary.Rows != 10 {
		t.Fatalf("inspect: %v %+v", err, rep)
	}
}

// genFile writes n rows of a 10-column file.
func genFile(t testing.TB, n int) (string, *feature.Schema) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "big.csv")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "u,i,c1,c2,tags,x1,x2,x3,click,buy")
	for k := 0; k < n; k++ {
		fmt.Fprintf(f, "u%d,i%d,c%d,\"q,%d\",t%d|t%d,%d,%d.5,,%d,%d\n", k%4999, k%701, k%17, k%3, k%11, k%13, k%100, k%7, k%2, (k%2)*(k/2%2))
	}
	f.Close()
	return p, schemaOf(t, `
format: {type: csv, header: true}
fields:
  - {name: u, type: categorical}
  - {name: i, type: categorical, hash_buckets: 1000}
  - {name: c1, type: categorical}
  - {name: c2, type: categorical}
  - {name: tags, type: multi_categorical}
  - {name: x1, type: numeric, transform: log1p}
  - {name: x2, type: numeric, buckets: [1, 10, 50]}
  - {name: x3, type: numeric}
group_by: u
tasks:
  - {name: click, label: click}
  - {name: buy, label: buy, after: click}
`)
}

// TestStreamingMemoryFlat shows that reading allocates nothing per row in
// steady state: after a warm-up, allocations over the remaining rows stay
// below one per 10,000 rows.
func TestStreamingMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 300k-row file")
	}
	const n = 300_000
	path, s := genFile(t, n)
	p, _, err := FitPipeline(context.Background(), s, path, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, shuffle := range []int{0, 4096} {
		b, err := NewBatcher(p, path, BatchOptions{BatchSize: 512, ShuffleBuffer: shuffle, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		rows := 0
		for rows < 20_000 {
			bt, err := b.Next()
			if err != nil {
				t.Fatal(err)
			}
			rows += bt.N
		}
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		warm := rows
		for {
			bt, err := b.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			rows += bt.N
		}
		runtime.ReadMemStats(&m1)
		b.Close()
		if rows != n {
			t.Fatalf("read %d rows, want %d", rows, n)
		}
		steady := float64(rows - warm)
		perRow := float64(m1.Mallocs-m0.Mallocs) / steady
		bytesPerRow := float64(m1.TotalAlloc-m0.TotalAlloc) / steady
		t.Logf("shuffle %d: %.5f allocs/row, %.3f bytes/row over %d steady rows", shuffle, perRow, bytesPerRow, rows-warm)
		if perRow > 1e-4 || bytesPerRow > 0.1 {
			t.Errorf("shuffle %d: %.5f allocs/row, %.3f bytes/row in steady state, want ~0", shuffle, perRow, bytesPerRow)
		}
	}
}
