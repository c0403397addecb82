//go:build !openblas

package tensor

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkPack measures the packing routines of the pure-Go sgemm on one
// kc-deep block of the mlp24 shapes, as elements packed per second.
func BenchmarkPack(b *testing.B) {
	r := rand.New(rand.NewPCG(6, 6))
	src := randSlice(r, 1024*384)
	var buf gemmBuf
	b.Run("B/nontrans", func(b *testing.B) { // fwd: w is k×n
		b.ReportAllocs()
		for b.Loop() {
			packB(buf.b[:], false, src, 256, 0, kc, 0, 256)
		}
		b.ReportMetric(float64(kc*256*b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
	})
	b.Run("B/trans", func(b *testing.B) { // dX: w is n×k
		b.ReportAllocs()
		for b.Loop() {
			packB(buf.b[:], true, src, 256, 0, kc, 0, 384)
		}
		b.ReportMetric(float64(kc*384*b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
	})
	b.Run("A/trans", func(b *testing.B) { // dW: x is k×m
		b.ReportAllocs()
		for b.Loop() {
			for ir := 0; ir+mr <= 384; ir += mr {
				packA(buf.a[:], true, src, 384, ir, mr, 0, kc)
			}
		}
		b.ReportMetric(float64(kc*384*b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
	})
	b.Run("A/nontrans", func(b *testing.B) { // edge rows
		b.ReportAllocs()
		for b.Loop() {
			for ir := 0; ir+mr <= 384; ir += mr {
				packA(buf.a[:], false, src, 384, ir, mr, 0, kc)
			}
		}
		b.ReportMetric(float64(kc*384*b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
	})
}
