package synth_test

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/dcrnn/dcrnn/internal/data"
	"github.com/dcrnn/dcrnn/internal/metric"
)

// lrModel is a sparse logistic regression trained with AdaGrad: the
// best case of a model that is told which crosses exist.
type lrModel struct {
	index map[string]int32
	w, g2 []float64
}

type lrRow struct {
	ids []int32
	num []float64
}

func (m *lrModel) encode(keys []string, num []float64, grow bool) lrRow {
	var r lrRow
	for _, k := range keys {
		id, ok := m.index[k]
		if !ok {
			if !grow {
				continue
			}
			id = int32(len(m.index))
			m.index[k] = id
		}
		r.ids = append(r.ids, id)
	}
	r.num = num
	return r
}

func (m *lrModel) predict(r lrRow) float64 {
	z := m.w[0] // bias
	for _, id := range r.ids {
		z += m.w[1+len(r.num)+int(id)]
	}
	for j, x := range r.num {
		z += m.w[1+j] * x
	}
	return 1 / (1 + math.Exp(-z))
}

func (m *lrModel) fit(rows []lrRow, y []float32, epochs int, seed uint64) {
	nnum := len(rows[0].num)
	m.w = make([]float64, 1+nnum+len(m.index))
	m.g2 = make([]float64, len(m.w))
	order := make([]int, len(rows))
	for i := range order {
		order[i] = i
	}
	r := rand.New(rand.NewPCG(seed, 9))
	const lr, l2 = 0.05, 1e-4
	upd := func(k int, g float64) {
		g += l2 * m.w[k]
		m.g2[k] += g * g
		m.w[k] -= lr * g / (math.Sqrt(m.g2[k]) + 1e-8)
	}
	for range epochs {
		r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, i := range order {
			g := m.predict(rows[i]) - float64(y[i])
			upd(0, g)
			for j, x := range rows[i].num {
				upd(1+j, g*x)
			}
			for _, id := range rows[i].ids {
				upd(1+nnum+int(id), g)
			}
		}
	}
}

// TestLearnableByWellSpecifiedModel checks the design goal that the
// signal is learnable from 160k rows: a logistic regression given exactly
// the generating terms (one-hot main effects and cross cells), trained on the
// train part of `--split 0.8,0.1,0.1 --seed 1` of the seed-1 file, gets
// within 0.01 of the oracle AUC on the held-out valid+test rows (40k rows,
// both AUCs on the same rows; the 20k test rows alone hold only ~100
// conversions, too few for a stable gap). user_id and item_id are left out:
// without a min_count their one-hots over-fit, and their small effects are
// covered by item_quality. It does not show that a neural model finds the
// crosses by itself.
func TestLearnableByWellSpecifiedModel(t *testing.T) {
	f := seed1(t)
	col := func(name string) int { return f.col(name) }
	cPos, cCat, cCity := col("position"), col("item_category"), col("city")
	cAge, cGen, cDev, cHour, cChan := col("age_group"), col("gender"), col("device"), col("hour"), col("channel")
	cPrice, cAct, cQual := col("price"), col("user_activity"), col("item_quality")
	num := func(r []string, c int, log bool) float64 {
		x, _ := strconv.ParseFloat(r[c], 64)
		if log {
			return math.Log1p(x)
		}
		return x
	}
	clickKeys := func(r []string) []string {
		return []string{"p" + r[cPos], "c" + r[cCat], "y" + r[cCity],
			"gc" + r[cGen] + "_" + r[cChan], "dh" + r[cDev] + "_" + r[cHour], "ac" + r[cAge] + "_" + r[cCat],
			"agd" + r[cAge] + "_" + r[cGen] + "_" + r[cDev]}
	}
	convKeys := func(r []string) []string {
		return []string{"c" + r[cCat], "a" + r[cAge], "h" + r[cChan],
			"gc" + r[cGen] + "_" + r[cChan], "agd" + r[cAge] + "_" + r[cGen] + "_" + r[cDev], "da" + r[cDev] + "_" + r[cAge]}
	}
	nums := func(r []string) []float64 {
		return []float64{(num(r, cPrice, true) - 3) / 0.7, (num(r, cAct, true) - 1.7) / 0.8, num(r, cQual, false) / 1.2}
	}
	sp := data.Splitter{Ratios: []float64{0.8, 0.1, 0.1}, Seed: 1}
	click, conv := f.labels("click"), f.labels("conversion")
	ctr := &lrModel{index: map[string]int32{}}
	cvr := &lrModel{index: map[string]int32{}}
	var trC, trV []lrRow
	var yC, yV []float32
	for i, r := range f.rows {
		if sp.Part(int64(i)) != 0 {
			continue
		}
		trC = append(trC, ctr.encode(clickKeys(r), nums(r), true))
		yC = append(yC, click[i])
		if click[i] == 1 {
			trV = append(trV, cvr.encode(convKeys(r), nums(r), true))
			yV = append(yV, conv[i])
		}
	}
	ctr.fit(trC, yC, 4, 1)
	cvr.fit(trV, yV, 6, 2)
	var sC, sCV, oC, oCV, tC, tV []float32
	for i, r := range f.rows {
		if sp.Part(int64(i)) == 0 {
			continue
		}
		pc := ctr.predict(ctr.encode(clickKeys(r), nums(r), false))
		pv := cvr.predict(cvr.encode(convKeys(r), nums(r), false))
		sC, sCV = append(sC, float32(pc)), append(sCV, float32(pc*pv))
		oC, oCV = append(oC, f.truth[i][0]), append(oCV, f.truth[i][2])
		tC, tV = append(tC, click[i]), append(tV, conv[i])
	}
	gapC := metric.AUC(oC, tC) - metric.AUC(sC, tC)
	gapV := metric.AUC(oCV, tV) - metric.AUC(sCV, tV)
	t.Logf("test rows %d: click AUC oracle %.4f model %.4f; ctcvr AUC oracle %.4f model %.4f",
		len(tC), metric.AUC(oC, tC), metric.AUC(sC, tC), metric.AUC(oCV, tV), metric.AUC(sCV, tV))
	if gapC > 0.01 || gapV > 0.01 {
		t.Errorf("well-specified model trails the oracle by %.4f (click) and %.4f (ctcvr), want ≤ 0.01", gapC, gapV)
	}
}
