package train

import (
	"math"
	"slices"
	"testing"

	"github.com/dcrnn/dcrnn/internal/model"
)

// run feeds scores to a selector and returns the index of the selected
// evaluation and the index after which training stopped (-1: never).
func run(scores []float64, smooth, patience int) (best, stop int) {
	s := newSelector(smooth, patience)
	for i, v := range scores {
		if _, st := s.add(v); st {
			return s.best, i
		}
	}
	return s.best, -1
}

// TestSelectorRule: a spike at evaluation 2 wins on the raw metric and stops
// training three evaluations later; averaged over 3 evaluations it does not
// (means by hand: .70 .71 .7733 .7767 .8033 | .7733 | .81 | .8083 .8017
// .7883), the plateau at evaluation 6 wins and training stops at 9.
func TestSelectorRule(t *testing.T) {
	s := []float64{0.70, 0.72, 0.90, 0.71, 0.80, 0.81, 0.82, 0.795, 0.79, 0.78}
	for _, c := range []struct {
		smooth, patience int
		best, stop       int
	}{
		{1, 3, 2, 5},
		{3, 3, 6, 9},
		{3, 1, 4, 5},
		{1, 100, 2, -1},
		{2, 100, 6, -1}, // pairs from evaluation 1: .71 .81 .805 .755 .805 .815 .8075 .7925 .785
	} {
		best, stop := run(s, c.smooth, c.patience)
		if best != c.best || stop != c.stop {
			t.Errorf("smooth %d patience %d: best %d stop %d, want %d %d", c.smooth, c.patience, best, stop, c.best, c.stop)
		}
	}
	// A NaN score never becomes the best, and while a NaN is in the window
	// the mean is NaN.
	if best, stop := run([]float64{math.NaN(), 0.6, math.NaN(), 0.5}, 1, 2); best != 1 || stop != 3 {
		t.Errorf("NaN scores: best %d stop %d, want 1 3", best, stop)
	}
	if best, _ := run([]float64{0.5, math.NaN(), 0.9}, 2, 5); best != 0 {
		t.Errorf("NaN in the window: best %d, want 0", best)
	}
}

// TestSelectPerMetric: five fake validation reports where the mean AUC peaks
// at evaluation 1, the click AUC at 2 and the mean logloss is lowest at 3;
// each metric selects its own evaluation.
func TestSelectPerMetric(t *testing.T) {
	spec := model.Spec{Tasks: []model.Task{{Name: "click", After: -1}, {Name: "conversion", After: 0}}}
	type row struct{ clickAUC, convAUC, clickLL, convLL float64 }
	rows := []row{
		{0.70, 0.80, 0.20, 0.030},
		{0.72, 0.84, 0.19, 0.029}, // mean AUC .78
		{0.73, 0.80, 0.19, 0.028}, // click AUC .73, mean .765
		{0.71, 0.81, 0.18, 0.027}, // mean logloss .1035
		{0.70, 0.79, 0.19, 0.027},
	}
	reps := make([]*Report, len(rows))
	for i, r := range rows {
		reps[i] = &Report{Tasks: map[string]TaskMetrics{
			"click":      {AUC: Num(r.clickAUC), LogLoss: Num(r.clickLL)},
			"conversion": {AUC: Num(r.convAUC), LogLoss: Num(r.convLL)},
		}}
	}
	for metric, want := range map[string]int{"mean_auc": 1, "auc:click": 2, "auc:conversion": 1, "logloss": 3} {
		var scores []float64
		for _, r := range reps {
			sc, err := score(r, spec, metric)
			if err != nil {
				t.Fatal(err)
			}
			scores = append(scores, sc)
		}
		if best, _ := run(scores, 1, 10); best != want {
			t.Errorf("metric %s: selected evaluation %d (scores %v), want %d", metric, best, scores, want)
		}
	}
	// mean_auc over the tasks whose AUC is defined.
	reps[0].Tasks["conversion"] = TaskMetrics{AUC: Num(math.NaN())}
	if sc, _ := score(reps[0], spec, "mean_auc"); sc != 0.70 {
		t.Errorf("mean_auc with an undefined task: %v, want 0.70", sc)
	}
}

// TestMidEpochSchedule: the evaluation steps within an epoch, by hand.
func TestMidEpochSchedule(t *testing.T) {
	for _, c := range []struct {
		steps, perEpoch int
		want            []int
	}{
		{10, 4, []int{3, 5, 8}}, // ⌈10/4⌉, ⌈20/4⌉, ⌈30/4⌉; 10 is the epoch end
		{10, 1, nil},
		{10, 2, []int{5}},
		{3, 5, []int{1, 2}}, // ⌈3/5⌉ = 1, ⌈6/5⌉ = ⌈9/5⌉ = 2, ⌈12/5⌉ = 3 is the end
		{1, 4, nil},
	} {
		var got []int
		for s := 1; s <= c.steps+2; s++ {
			if midEpochEval(s, c.steps, c.perEpoch) {
				got = append(got, s)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%d steps, %d per epoch: mid-epoch evaluations after steps %v, want %v", c.steps, c.perEpoch, got, c.want)
		}
	}
}
