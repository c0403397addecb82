package synth_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/dcrnn/dcrnn/internal/synth"
)

// goldenV1 are the SHA-256 sums of the files WriteDir writes for
// 40,000 rows of seed 1 with truth (3 chunks, so the parallel writer is
// exercised), taken with the generator as it was before it moved to its own
// package (commit 43730b1, `dcrnn gen --rows 40000 --seed 1 --truth`).
var goldenV1 = map[string]string{
	"data.csv":    "eba37c3cc8451b21f80a83eedce1cb44f811a41149723e472466e4bbf2197a2f",
	"truth.csv":   "d1487d89df3213a9b7d6047bff797f1c1987f9640a9939d1911d4449ac3344c8",
	"oracle.json": "8ee31f621f374ca1a3af5e12d194212ae3449260246a453b58eaff8367daa514",
	"schema.yaml": "b118afa0b619ccec46ba1df5aa5f164bb2b67c29575edb83a70502e8d703b07d",
}

// TestGolden pins the generator's output bytes for fixed rows and seed
// and for any thread count.
func TestGolden(t *testing.T) {
	for _, threads := range []int{1, 3} {
		dir := t.TempDir()
		if _, err := synth.WriteDir(context.Background(), dir, synth.Config{Rows: 40000, Seed: 1, Threads: threads}, true); err != nil {
			t.Fatal(err)
		}
		for name, want := range goldenV1 {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(b)
			if got := hex.EncodeToString(sum[:]); got != want {
				t.Errorf("threads %d: %s: sha256 %s, want %s", threads, name, got, want)
			}
		}
	}
}
