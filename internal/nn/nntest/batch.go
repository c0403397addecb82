package nntest

import (
	"math/rand/v2"

	"github.com/dcrnn/dcrnn/internal/feature"
)

// Batch returns n rows of random features for fields, without labels, drawn
// from rng: a categorical id uniform in [0, min(Vocab, ids)) (the whole
// vocabulary when ids ≤ 0; a small ids repeats rows of the tables, so that
// sparse gradients add up on them), a multi-categorical list of 0 to 3 such
// ids (always empty on row 0, and on others at random), a numeric value from
// N(0, 1). Tests of layers and models build their batches with it.
func Batch(fields []feature.FieldSpec, n int, rng *rand.Rand, ids int) *feature.Batch {
	b := &feature.Batch{N: n, Fields: make([]feature.FieldData, len(fields))}
	for f, fs := range fields {
		fd := &b.Fields[f]
		span := fs.Vocab
		if ids > 0 {
			span = min(span, ids)
		}
		switch fs.Kind {
		case feature.Categorical:
			for range n {
				fd.IDs = append(fd.IDs, rng.Int32N(int32(span)))
			}
		case feature.MultiCategorical:
			fd.Offsets = append(fd.Offsets, 0)
			for i := range n {
				k := rng.IntN(4)
				if i == 0 {
					k = 0
				}
				for range k {
					fd.IDs = append(fd.IDs, rng.Int32N(int32(span)))
				}
				fd.Offsets = append(fd.Offsets, int32(len(fd.IDs)))
			}
		case feature.Numeric:
			for range n {
				fd.Values = append(fd.Values, float32(rng.NormFloat64()))
			}
		}
	}
	return b
}
