package synth_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/dcrnn/dcrnn/internal/synth"
)

// goldenV1 are the SHA-256 sums of the files WriteDir writes for 40,000 rows
// of seed 1 with truth and without the noise ids (3 chunks, so the parallel
// writer is exercised), taken with the generator as it was before it moved
// to its own package (commit 43730b1, `dcrnn gen --rows 40000 --seed 1
// --truth`). "schema.yaml#" is the sum of schema.yaml without its comment
// lines: only the comment changed since (it names package synth now).
var goldenV1 = map[string]string{
	"data.csv":     "eba37c3cc8451b21f80a83eedce1cb44f811a41149723e472466e4bbf2197a2f",
	"truth.csv":    "d1487d89df3213a9b7d6047bff797f1c1987f9640a9939d1911d4449ac3344c8",
	"oracle.json":  "8ee31f621f374ca1a3af5e12d194212ae3449260246a453b58eaff8367daa514",
	"schema.yaml#": "e960a72a121c29def77d8f2d18c8b8052702ebc5e848cba291a248533205761e",
	"schema.yaml":  "56326d4158be4a5bbf59c72bf65521b35402aa0dca079d71f396c6eb535b2938",
}

// goldenNoiseIDs are the sums for the same rows and seed with the noise ids,
// the default of dcrnn gen (`dcrnn gen --rows 40000 --seed 1 --truth`).
// truth.csv and oracle.json are those of goldenV1.
var goldenNoiseIDs = map[string]string{
	"data.csv":    "05099651c65694a18e88ffca86b14c5ea0c4ce6a6c5b598b9c83d7a520dba5c9",
	"truth.csv":   goldenV1["truth.csv"],
	"oracle.json": goldenV1["oracle.json"],
	"schema.yaml": "6db9a76ab29c4ac64cee4c8ca6ec68737e739d03ca738d105333d4ca606d9f31",
}

// TestGolden pins the generator's output bytes for fixed rows and seed, with
// and without the noise ids, for any thread count.
func TestGolden(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		// The Go spec lets a compiler fuse x*y+z into one rounding (arm64,
		// ppc64, s390x do), which can move the last bit of a logit and so a
		// printed price or probability. The sums were taken on amd64.
		t.Skipf("golden sums are for amd64, this is %s", runtime.GOARCH)
	}
	for _, noise := range []bool{false, true} {
		want := goldenV1
		if noise {
			want = goldenNoiseIDs
		}
		for _, threads := range []int{1, 3} {
			dir := t.TempDir()
			cfg := synth.Config{Rows: 40000, Seed: 1, Threads: threads, NoiseIDs: noise}
			if _, err := synth.WriteDir(context.Background(), dir, cfg, true); err != nil {
				t.Fatal(err)
			}
			for key, sum := range want {
				name, stripComments := key, false
				if key == "schema.yaml#" {
					name, stripComments = "schema.yaml", true
				}
				b, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				if stripComments {
					b = withoutComments(b)
				}
				h := sha256.Sum256(b)
				if got := hex.EncodeToString(h[:]); got != sum {
					t.Errorf("noise ids %v, threads %d: %s: sha256 %s, want %s", noise, threads, key, got, sum)
				}
			}
		}
	}
}

// withoutComments drops the lines of b that start with '#'.
func withoutComments(b []byte) []byte {
	var out []byte
	for _, l := range bytes.SplitAfter(b, []byte("\n")) {
		if !bytes.HasPrefix(l, []byte("#")) {
			out = append(out, l...)
		}
	}
	return out
}
