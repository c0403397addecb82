package data

import (
	"context"
	"io"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/dcrnn/dcrnn/internal/feature"
)

// benchRead streams path through p once per iteration and reports rows/s and
// heap bytes allocated per row.
func benchRead(b *testing.B, p *feature.Pipeline, path string, opt BatchOptions) {
	b.ReportAllocs()
	var rows int64
	var elapsed time.Duration
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	cpu0 := cpuTime()
	for b.Loop() {
		start := time.Now()
		bt, err := NewBatcher(p, path, opt)
		if err != nil {
			b.Fatal(err)
		}
		for {
			batch, err := bt.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			rows += int64(batch.N)
		}
		bt.Close()
		elapsed += time.Since(start)
	}
	cpu := cpuTime() - cpu0
	runtime.ReadMemStats(&m1)
	b.ReportMetric(float64(rows)/elapsed.Seconds(), "rows/s")
	b.ReportMetric(float64(rows)/cpu.Seconds(), "rows/cpu-s")
	b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/float64(rows), "B/row")
}

// BenchmarkCensus reads and transforms the whole Census-Income test file
// (99,762 rows × 42 columns, gzip) per iteration on one goroutine:
//
//	go test -run x -bench Census -benchtime 3x ./internal/data/
func BenchmarkCensus(b *testing.B) {
	path := needData(b, "census-income-kdd/census-income.test.gz")
	s, err := feature.LoadSchema("../../examples/census.yaml")
	if err != nil {
		b.Fatal(err)
	}
	p, _, err := FitPipeline(context.Background(), s, path, FitOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("ordered", func(b *testing.B) { benchRead(b, p, path, BatchOptions{BatchSize: 1024}) })
	b.Run("shuffle100k", func(b *testing.B) {
		benchRead(b, p, path, BatchOptions{BatchSize: 1024, ShuffleBuffer: 100_000, Seed: 1})
	})
}

// BenchmarkCensusFit fits the Census pipeline (a full pass with counting).
func BenchmarkCensusFit(b *testing.B) {
	path := needData(b, "census-income-kdd/census-income.test.gz")
	s, err := feature.LoadSchema("../../examples/census.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var rows int64
	start := time.Now()
	for b.Loop() {
		_, st, err := FitPipeline(context.Background(), s, path, FitOptions{})
		if err != nil {
			b.Fatal(err)
		}
		rows += st.Rows
	}
	b.ReportMetric(float64(rows)/time.Since(start).Seconds(), "rows/s")
}

// BenchmarkStreamLarge reads a generated 1M-row file: B/row stays ~0, so
// memory is flat in the number of rows.
func BenchmarkStreamLarge(b *testing.B) {
	path, s := genFile(b, 1_000_000)
	p, _, err := FitPipeline(context.Background(), s, path, FitOptions{})
	if err != nil {
		b.Fatal(err)
	}
	benchRead(b, p, path, BatchOptions{BatchSize: 1024, ShuffleBuffer: 8192, Seed: 1})
}

// cpuTime returns the user+system CPU time of the process, so that the
// throughput per core can be read even on a loaded machine (rows/cpu-s).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
