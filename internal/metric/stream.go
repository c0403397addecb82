package metric

import "math"

// Binary accumulates the predictions of one binary task batch by batch (for
// example over an evaluation pass) and summarises them at the end. The zero
// value is ready to use. Logloss and calibration sums are kept as running
// float64 sums in arrival order; AUC and gAUC need every score, so Binary
// keeps them (8 bytes per row, 16 with groups).
type Binary struct {
	scores, labels []float32
	groups         []int64
	noGroups       bool // some batch came without group keys
	llSum          float64
	pSum, ySum     float64
}

// Add appends one batch. groups may be nil; gAUC is only reported when every
// batch carried group keys. Slices of different lengths panic.
func (b *Binary) Add(scores, labels []float32, groups []int64) {
	checkLen("Binary.Add", len(scores), len(labels))
	if groups != nil && len(groups) != len(scores) {
		panic("metric: Binary.Add: group keys and scores differ in length")
	}
	for i := range scores {
		p, y := float64(scores[i]), float64(labels[i])
		b.llSum += logLoss1(p, y)
		b.pSum += p
		b.ySum += y
	}
	b.scores = append(b.scores, scores...)
	b.labels = append(b.labels, labels...)
	if groups == nil {
		b.noGroups = true
	} else {
		b.groups = append(b.groups, groups...)
	}
}

// Len returns the number of rows added so far.
func (b *Binary) Len() int { return len(b.scores) }

// Reset forgets every row but keeps the buffers.
func (b *Binary) Reset() {
	*b = Binary{scores: b.scores[:0], labels: b.labels[:0], groups: b.groups[:0]}
}

// Summary holds the metrics of one binary task. Undefined values are NaN
// (see the package doc).
type Summary struct {
	Rows        int
	Positives   float64 // sum of labels
	AUC         float64
	LogLoss     float64
	Calibration float64
	GAUC        float64 // NaN when groups were not given
}

// Summary computes the metrics of the rows added so far. The results equal
// AUC, LogLoss, Calibration and GAUC called on the concatenated batches.
func (b *Binary) Summary() Summary {
	s := Summary{Rows: len(b.scores), Positives: b.ySum, AUC: AUC(b.scores, b.labels),
		LogLoss: math.NaN(), Calibration: math.NaN(), GAUC: math.NaN()}
	if s.Rows > 0 {
		s.LogLoss = b.llSum / float64(s.Rows)
	}
	if s.Rows > 0 && b.ySum != 0 {
		s.Calibration = b.pSum / b.ySum
	}
	if !b.noGroups && s.Rows > 0 {
		s.GAUC = GAUC(b.scores, b.labels, b.groups)
	}
	return s
}
