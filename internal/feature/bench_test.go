package feature

import (
	"fmt"
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
