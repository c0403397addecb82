//go:build !openblas

package tensor

import (
	"math/rand/v2"
	"testing"
)

// TestGemmFallback runs the correctness cases through gonum's Sgemm, the
// path taken on CPUs without AVX2+FMA.
func TestGemmFallback(t *testing.T) {
	defer func(u bool) { useKernel = u }(useKernel)
	useKernel = false
	if Backend() != "gonum" {
		t.Fatalf("Backend() = %q with the kernel off", Backend())
	}
	r := rand.New(rand.NewPCG(4, 4))
	for _, g := range gemmCases() {
		runGemmCase(t, r, g)
	}
}
