package feature

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// batchBits renders a batch exactly: ids, offsets, labels, group keys and
// the bits of every value.
func batchBits(b *Batch) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "N=%d", b.N)
	for i, d := range b.Fields {
		bits := make([]uint32, len(d.Values))
		for k, v := range d.Values {
			bits[k] = math.Float32bits(v)
		}
		fmt.Fprintf(&sb, " f%d:%v/%v/%x", i, d.IDs, d.Offsets, bits)
	}
	fmt.Fprintf(&sb, " y:%v g:%v", b.Labels, b.Group)
	return sb.String()
}

// TestTransformRowValuesMatchesText: a numeric cell given as its number
// (TransformRowValues) gives the batch bits and the error of its text
// (TransformRow): integers, shortest floats, values at and beyond the
// bounds; NaN means the cell is parsed; and a field with a missing value
// that is a number takes no number (its cell may be missing).
func TestTransformRowValuesMatchesText(t *testing.T) {
	const x, age, w = 2, 5, 6 // standard numeric, bucketized, log1p
	numericMissing := strings.Replace(testSchema, "{name: x, type: numeric}", `{name: x, type: numeric, missing_values: ["", "?", "-1"]}`, 1)
	values := []struct {
		num  float64
		text string
	}{
		{0, "0"}, {-1, "-1"}, {17, "17"}, {18, "18"}, {30, "30"}, {-5, "-5"},
		{1e15, "1000000000000000"}, {1e15 + 2, "1000000000000002"}, {-1e15, "-1000000000000000"},
		{9007199254740993, "9007199254740993"}, // 2^53+1: rounds alike
		{0.1, "0.1"}, {math.Copysign(0, -1), "-0"}, {1e-7, "1e-07"}, {5e-324, "5e-324"},
		{2.5, "2.5"}, {1e20, "1e+20"}, {123.456, "123.456"}, {1e6, "1e+06"},
		{math.NaN(), ""}, {math.NaN(), "?"}, {math.NaN(), "NaN"}, {math.NaN(), "+Inf"}, {math.NaN(), "7"},
	}
	for _, schema := range []string{testSchema, numericMissing} {
		p := fitTest(t, schema, testColumns, testRows)
		want := make([]bool, len(testColumns))
		want[x], want[age], want[w] = schema == testSchema, true, true
		if got := p.ColumnNumbers(); !slices.Equal(got, want) {
			t.Errorf("ColumnNumbers() = %v, want %v", got, want)
		}
		for _, col := range []int{x, age, w} {
			for _, v := range values {
				rec := slices.Clone(testRows[1])
				rec[col] = v.text
				nums := make([]float64, len(rec))
				for i := range nums {
					nums[i] = math.NaN()
				}
				nums[col] = v.num
				a, b := p.NewBatch(2), p.NewBatch(2)
				p.TransformRecord(testRows[0], a)
				p.TransformRecord(testRows[0], b)
				errA := p.TransformRow(bytesRec(rec), a)
				errB := p.TransformRowValues(bytesRec(rec), nil, nums, b)
				if fmt.Sprint(errA) != fmt.Sprint(errB) || batchBits(a) != batchBits(b) {
					t.Errorf("column %d = %q (%v): text %v %s\nnumber %v %s", col, v.text, v.num, errA, batchBits(a), errB, batchBits(b))
				}
			}
		}
	}
}
