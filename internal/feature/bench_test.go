package feature

import (
	"fmt"
	"runtime"
	"testing"
)

// BenchmarkTransformRow transforms rows of 8 categorical fields: by
// vocabulary (1,000 kept values each), hashed with every value admitted
// (min_count 1) and hashed with admission (a Bloom filter of 1,000 values),
// half the cells admitted values and half unseen ones.
//
//	go test -run x -bench TransformRow ./internal/feature/
func BenchmarkTransformRow(b *testing.B) {
	const fields = 8
	for _, kind := range []string{"vocab", "hashed", "hashed+admission"} {
		b.Run(kind, func(b *testing.B) {
			schema := "format: {header: true}\nfields:\n"
			var cols []string
			for f := range fields {
				decl := "min_count: 2"
				switch kind {
				case "hashed":
					decl = "hash_buckets: 100000, min_count: 1"
				case "hashed+admission":
					decl = "hash_buckets: 100000, min_count: 2"
				}
				schema += fmt.Sprintf("  - {name: f%d, type: categorical, %s}\n", f, decl)
				cols = append(cols, fmt.Sprintf("f%d", f))
			}
			schema += "tasks: [{name: click, label: y}]\n"
			cols = append(cols, "y")
			var rows [][]string
			for i := range 2000 {
				r := make([]string, 0, fields+1)
				for f := range fields {
					r = append(r, fmt.Sprintf("v%d-%d", f, i%1000))
				}
				rows = append(rows, append(r, fmt.Sprint(i%3%2)))
			}
			p := fitTest(b, schema, cols, rows)
			var recs [][][]byte
			for i := range 1024 {
				r := make([]string, 0, fields+1)
				for f := range fields {
					if i%2 == 0 {
						r = append(r, fmt.Sprintf("v%d-%d", f, i%1000))
					} else {
						r = append(r, fmt.Sprintf("unseen%d-%d", f, i))
					}
				}
				recs = append(recs, bytesRec(append(r, "0")))
			}
			bt := p.NewBatch(len(recs))
			b.ReportAllocs()
			for b.Loop() {
				bt.Reset()
				for _, r := range recs {
					if err := p.TransformRow(r, bt); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/row")
		})
	}
}

// BenchmarkTransformColumns transforms a 100-row block of 8 vocabulary and
// 4 numeric fields given as text (an Open Inference Protocol request of
// BYTES tensors), from row maps (TransformMapWith, maps built beforehand)
// and from columns (TransformColumns).
//
//	go test -run x -bench TransformColumns ./internal/feature/
func BenchmarkTransformColumns(b *testing.B) {
	const cats, nums, rows = 8, 4, 100
	schema := "format: {header: true}\nfields:\n"
	var cols []string
	for f := range cats {
		schema += fmt.Sprintf("  - {name: f%d, type: categorical, min_count: 2}\n", f)
		cols = append(cols, fmt.Sprintf("f%d", f))
	}
	for f := range nums {
		schema += fmt.Sprintf("  - {name: x%d, type: numeric}\n", f)
		cols = append(cols, fmt.Sprintf("x%d", f))
	}
	schema += "tasks: [{name: click, label: y}]\n"
	cols = append(cols, "y")
	cell := func(f, i int) string {
		if f < cats {
			return fmt.Sprintf("v%d-%d", f, i%1000)
		}
		return fmt.Sprint(i % 97)
	}
	var train [][]string
	for i := range 2000 {
		r := make([]string, 0, cats+nums+1)
		for f := range cats + nums {
			r = append(r, cell(f, i))
		}
		train = append(train, append(r, fmt.Sprint(i%3%2)))
	}
	p := fitTest(b, schema, cols, train)
	maps := make([]map[string]any, rows)
	columns := make([]Column, cats+nums)
	for i := range maps {
		maps[i] = map[string]any{}
		for f := range cats + nums {
			v := cell(f, 7*i)
			maps[i][cols[f]] = v
			columns[f].Text = append(columns[f].Text, v)
		}
	}
	bt := p.NewBatch(rows)
	b.Run("maps", func(b *testing.B) {
		for b.Loop() {
			bt.Reset()
			for _, m := range maps {
				if err := p.TransformMapWith(m, nil, bt); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
	})
	b.Run("columns", func(b *testing.B) {
		for b.Loop() {
			bt.Reset()
			if _, err := p.TransformColumns(rows, columns, bt); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
	})
}

// BenchmarkFitDistinct fits a vocabulary field of 2M distinct 16-byte
// values (as a request id is) with two tasks, then finishes the pipeline
// at min_count 1, and reports the live heap per distinct value after the
// pass (what a fit of 10⁷ values multiplies) and the time per row.
func BenchmarkFitDistinct(b *testing.B) {
	const n = 2_000_000
	s, err := ParseSchema([]byte(`format: {type: csv, header: true}
fields:
  - {name: id, type: categorical, min_count: 1}
tasks:
  - {name: click, label: c}
  - {name: buy, label: b, after: click}
`))
	if err != nil {
		b.Fatal(err)
	}
	rec := [][]byte{make([]byte, 16), []byte("1"), []byte("0")}
	for range b.N {
		f, err := NewFitter(s, []string{"id", "c", "b"})
		if err != nil {
			b.Fatal(err)
		}
		for i := range n {
			rec[0] = fmt.Appendf(rec[0][:0], "%016x", uint64(i)*0x9e3779b97f4a7c15)
			if err := f.Add(rec); err != nil {
				b.Fatal(err)
			}
		}
		var m0 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		b.ReportMetric(float64(m0.HeapAlloc)/n, "heap-B/value")
		if _, err := f.Finish(); err != nil {
			b.Fatal(err)
		}
		runtime.KeepAlive(f)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/row")
}
