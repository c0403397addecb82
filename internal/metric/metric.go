// Package metric computes the evaluation metrics for binary
// tasks: exact AUC (ties counted as half), group AUC (gAUC), logloss and
// calibration.
//
// Conventions shared by every function:
//
//   - A label counts as positive when it is > 0.5 (labels are 0/1 in
//     practice; LogLoss alone uses the label value itself, so soft labels work
//     there).
//   - Scores are compared with cmp.Compare: a NaN score ranks below every other
//     score (and ties with other NaNs), -0 equals +0.
//   - An undefined metric (no rows, one class only) is NaN, never a panic;
//     callers writing JSON must map NaN to null themselves.
//   - Slices of different lengths are a programmer error and panic.
//   - Results are deterministic: the same inputs give the same float64 bits,
//     because every sum runs in a fixed order (sorted order or input order)
//     and pair counts are integers.
package metric

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Eps is the clamp used by LogLoss: probabilities are clamped to
// [Eps, 1-Eps] before taking logarithms.
const Eps = 1e-7

// scored is one (score, label) pair used by the sort-based AUC.
type scored struct {
	s   float32
	pos bool
}

func checkLen(op string, a, b int) {
	if a != b {
		panic(fmt.Sprintf("metric: %s: %d scores but %d labels", op, a, b))
	}
}

// AUC returns the exact area under the ROC curve of scores against labels:
// the probability that a random positive scores above a random negative,
// with ties counted as half. It sorts a copy of the data (O(n log n) time,
// O(n) memory). It returns NaN when there is no positive or no negative.
func AUC(scores, labels []float32) float64 {
	checkLen("AUC", len(scores), len(labels))
	buf := make([]scored, len(scores))
	for i, s := range scores {
		buf[i] = scored{s, labels[i] > 0.5}
	}
	return aucSorted(sortScored(buf))
}

func sortScored(buf []scored) []scored {
	slices.SortFunc(buf, func(a, b scored) int { return cmp.Compare(a.s, b.s) })
	return buf
}

// aucSorted computes the AUC of buf, which must be sorted by ascending score.
// For each block of tied scores it adds pos·(negatives below) + pos·neg/2.
// Counts are exact integers, so the result does not depend on the order of
// tied elements.
func aucSorted(buf []scored) float64 {
	var negBelow, posTotal int64
	var pairs2 int64 // twice the number of correctly ordered pairs (ties count 1)
	for i := 0; i < len(buf); {
		j := i
		var p, n int64
		for j < len(buf) && cmp.Compare(buf[j].s, buf[i].s) == 0 {
			if buf[j].pos {
				p++
			} else {
				n++
			}
			j++
		}
		pairs2 += 2*p*negBelow + p*n
		negBelow += n
		posTotal += p
		i = j
	}
	if posTotal == 0 || negBelow == 0 {
		return math.NaN()
	}
	return float64(pairs2) / 2 / (float64(posTotal) * float64(negBelow))
}

// LogLoss returns the mean binary cross-entropy
// -(y·ln p + (1-y)·ln(1-p)) over all rows, with p clamped to [Eps, 1-Eps] and
// everything computed in float64, summed in input order. It returns NaN for
// empty input.
func LogLoss(p, y []float32) float64 {
	checkLen("LogLoss", len(p), len(y))
	if len(p) == 0 {
		return math.NaN()
	}
	var sum float64
	for i := range p {
		sum += logLoss1(float64(p[i]), float64(y[i]))
	}
	return sum / float64(len(p))
}

func logLoss1(p, y float64) float64 {
	p = min(max(p, Eps), 1-Eps) // NaN p stays NaN and poisons the sum, as it should
	return -(y*math.Log(p) + (1-y)*math.Log(1-p))
}

// Calibration returns mean(p) / mean(y): 1 is perfectly calibrated on
// average, above 1 over-predicts. It returns NaN for empty input or when the
// labels sum to zero.
func Calibration(p, y []float32) float64 {
	checkLen("Calibration", len(p), len(y))
	var sp, sy float64
	for i := range p {
		sp += float64(p[i])
		sy += float64(y[i])
	}
	if len(p) == 0 || sy == 0 {
		return math.NaN()
	}
	return sp / sy
}

// groupScored is one row for GAUC.
type groupScored struct {
	g int64
	scored
}

// GAUC returns the group AUC: the mean of the per-group AUC over the groups
// that hold both classes, each weighted by its number of rows (impressions).
// Groups are given by an int64 key per row (e.g. a hashed user id). It sorts
// a copy by (group, score), O(n log n), and sums the groups in ascending key
// order. It returns NaN when no group holds both classes.
func GAUC(scores, labels []float32, groups []int64) float64 {
	checkLen("GAUC", len(scores), len(labels))
	if len(groups) != len(scores) {
		panic(fmt.Sprintf("metric: GAUC: %d scores but %d group keys", len(scores), len(groups)))
	}
	buf := make([]groupScored, len(scores))
	for i := range scores {
		buf[i] = groupScored{groups[i], scored{scores[i], labels[i] > 0.5}}
	}
	slices.SortFunc(buf, func(a, b groupScored) int {
		if c := cmp.Compare(a.g, b.g); c != 0 {
			return c
		}
		return cmp.Compare(a.s, b.s)
	})
	tmp := make([]scored, 0, 64)
	var wsum, w float64
	for i := 0; i < len(buf); {
		j := i
		tmp = tmp[:0]
		for j < len(buf) && buf[j].g == buf[i].g {
			tmp = append(tmp, buf[j].scored)
			j++
		}
		if a := aucSorted(tmp); !math.IsNaN(a) {
			wsum += float64(len(tmp)) * a
			w += float64(len(tmp))
		}
		i = j
	}
	if w == 0 {
		return math.NaN()
	}
	return wsum / w
}
