package score_test

import (
	"math"
	"testing"

	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/score"
)

// TestFoldsEveryModel: for every registered model at its default config on
// the Census and the funnel pipelines, a Scorer with folds (Share of a
// Frozen, as every scoring path of a fixed model runs) gives every probability within 1e-5 of a Scorer
// without, and the models whose first layers read the embeddings fold them.
func TestFoldsEveryModel(t *testing.T) {
	mustFold := map[string]bool{"dcrnn": true, "shared_bottom": true, "mmoe": true, "single": true}
	for _, path := range [][2]string{{censusModel, censusRows}, {funnelModel, funnelRows}} {
		base := load(t, path[0])
		rows := fileRows(t, path[1])
		for _, name := range model.Names() {
			var cfg model.Config
			m, err := model.New(name, &cfg, base.Spec, 7)
			if err != nil {
				t.Fatal(err)
			}
			tr := &model.Trained{Name: name, Config: cfg, Pipeline: base.Pipeline, Spec: base.Spec, Model: m}
			want, wantc, err := score.New(tr).Maps(rows, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			frozen := score.NewFrozen()
			sc := score.New(tr)
			sc.Share(frozen)
			got, gotc, err := sc.Maps(rows, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			worst := 0.0
			for k := range want {
				for i := range want[k] {
					worst = max(worst, math.Abs(float64(got[k][i])-float64(want[k][i])))
				}
			}
			for i := range wantc {
				worst = max(worst, math.Abs(float64(gotc[i])-float64(wantc[i])))
			}
			if worst > 1e-5 {
				t.Errorf("%s on %s: folded probabilities differ by up to %g", name, path[0], worst)
			}
			if mustFold[name] && frozen.Folded() == 0 {
				t.Errorf("%s on %s: no layer folded", name, path[0])
			}
			t.Logf("%s on %s: %d layers folded, max |Δp| %.2g", name, path[0], frozen.Folded(), worst)
		}
	}
}
