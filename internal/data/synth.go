package data

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/dcrnn/dcrnn/internal/atomicfile"
	"github.com/dcrnn/dcrnn/internal/metric"
)

// Target base rates of the synthetic funnel.
const (
	SynthCTR = 0.05
	SynthCVR = 0.10
)

// SynthChunk is the number of rows generated from one PCG stream.
const SynthChunk = 1 << 14

// SynthColumns are the columns of the generated data.csv, in order.
var SynthColumns = []string{"click", "conversion", "user_id", "item_id", "item_category", "city",
	"age_group", "gender", "device", "hour", "position", "channel", "noise_cat",
	"price", "user_activity", "item_quality", "noise_num"}

// SynthSchemaYAML is the schema.yaml written next to the generated data.
const SynthSchemaYAML = `# Synthetic funnel written by dcrnn gen (generative process: see the doc of
# data.SynthConfig in internal/data). noise_cat and noise_num have no effect.
format: {type: csv, separator: ",", header: true}
fields:
  - {name: user_id,       type: categorical}
  - {name: item_id,       type: categorical}
  - {name: item_category, type: categorical}
  - {name: city,          type: categorical}
  - {name: age_group,     type: categorical}
  - {name: gender,        type: categorical}
  - {name: device,        type: categorical}
  - {name: hour,          type: categorical}
  - {name: position,      type: categorical}
  - {name: channel,       type: categorical}
  - {name: noise_cat,     type: categorical}
  - {name: price,         type: numeric, transform: log1p, normalize: standard}
  - {name: user_activity, type: numeric, transform: log1p, normalize: standard}
  - {name: item_quality,  type: numeric, normalize: standard}
  - {name: noise_num,     type: numeric, normalize: standard}
tasks:
  - {name: click,      label: click,      positive: ["1"]}
  - {name: conversion, label: conversion, positive: ["1"], after: click}
`

// synZipf samples ranks 0..V-1 with P(k) ∝ (k+1)^-s by binary search in its CDF.
type synZipf struct {
	cdf []float64
	pmf []float64
}

func newSynZipf(v int, s float64) *synZipf {
	z := &synZipf{cdf: make([]float64, v), pmf: make([]float64, v)}
	var sum float64
	for k := range v {
		z.pmf[k] = math.Pow(float64(k+1), -s)
		sum += z.pmf[k]
	}
	var acc float64
	for k := range v {
		z.pmf[k] /= sum
		acc += z.pmf[k]
		z.cdf[k] = acc
	}
	z.cdf[v-1] = 1
	return z
}

func (z *synZipf) draw(r *rand.Rand) int {
	u := r.Float64()
	k, _ := slices.BinarySearch(z.cdf, u)
	if k < len(z.cdf) && z.cdf[k] == u {
		k++ // cdf[k] == u belongs to the next rank (P(u < cdf[k]))
	}
	return min(k, len(z.cdf)-1)
}

// Sizes of the synthetic fields.
const (
	synUsers, synItems, synCats, synCities = 5000, 3000, 20, 50
	synAges, synGenders, synDevices        = 7, 3, 5
	synHours, synPositions, synChannels    = 24, 10, 4
	synNoise                               = 1000
)

type synUser struct {
	age, gender, city int
	activity          int
	la, eff           float64
}

type synItem struct {
	cat              int
	logPrice, eff    float64
	quality          float64
	qualityFormatted []byte
}

// synthModel holds the hidden parameters of one seed.
type synthModel struct {
	users                                          []synUser
	items                                          []synItem
	zUser, zItem, zDev, zHour, zPos, zChan, zNoise *synZipf
	// printed ids per field (rank -> id)
	idUser, idItem, idCat, idCity, idAge, idGender, idDev, idHour, idChan, idNoise []int

	pos, catC, city, catV, ageV, chanV []float64
	xGC, xDH, xAC, x3, yDA             []float64 // flattened, row-major
	bc, bv                             float64
}

func synNormals(r *rand.Rand, n int, sd float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = sd * r.NormFloat64()
	}
	return out
}

func synPerm1(r *rand.Rand, n int) []int {
	p := r.Perm(n)
	for i := range p {
		p[i]++
	}
	return p
}

// pureInteraction draws a table of N(0,1) over the product of the given
// marginals, centres it along every axis under those marginals and scales it
// to standard deviation sd under their product.
func synPureInteraction(r *rand.Rand, sd float64, margins ...[]float64) []float64 {
	dims := make([]int, len(margins))
	n := 1
	for i, m := range margins {
		dims[i] = len(m)
		n *= len(m)
	}
	t := synNormals(r, n, 1)
	// stride of axis a
	stride := func(a int) int {
		s := 1
		for _, d := range dims[a+1:] {
			s *= d
		}
		return s
	}
	for a, m := range margins {
		st := stride(a)
		for base := range n {
			if (base/st)%dims[a] != 0 {
				continue // visit each fibre along axis a once, from its first element
			}
			var mean float64
			for k := range dims[a] {
				mean += m[k] * t[base+k*st]
			}
			for k := range dims[a] {
				t[base+k*st] -= mean
			}
		}
	}
	// weighted variance under the product of marginals
	var v float64
	for i := range n {
		w := 1.0
		rem := i
		for a := len(dims) - 1; a >= 0; a-- {
			w *= margins[a][rem%dims[a]]
			rem /= dims[a]
		}
		v += w * t[i] * t[i]
	}
	s := sd / math.Sqrt(v)
	for i := range t {
		t[i] *= s
	}
	return t
}

func newSynthModel(seed uint64) *synthModel {
	r := rand.New(rand.NewPCG(seed, 0))
	m := &synthModel{
		zUser: newSynZipf(synUsers, 0.8), zItem: newSynZipf(synItems, 1.05),
		zDev: newSynZipf(synDevices, 0.9), zHour: newSynZipf(synHours, 0.3),
		zPos: newSynZipf(synPositions, 0.8), zChan: newSynZipf(synChannels, 0.7),
		zNoise: newSynZipf(synNoise, 1.0),
	}
	zAge, zGender, zCity, zCat := newSynZipf(synAges, 0.6), newSynZipf(synGenders, 0.5), newSynZipf(synCities, 1.0), newSynZipf(synCats, 0.9)
	m.idUser, m.idItem, m.idCat, m.idCity = synPerm1(r, synUsers), synPerm1(r, synItems), synPerm1(r, synCats), synPerm1(r, synCities)
	m.idAge, m.idGender, m.idDev, m.idHour = synPerm1(r, synAges), synPerm1(r, synGenders), synPerm1(r, synDevices), synPerm1(r, synHours)
	m.idChan, m.idNoise = synPerm1(r, synChannels), synPerm1(r, synNoise)
	for i := range m.idHour {
		m.idHour[i]-- // hours are 0..23
	}

	// Users and their row-weighted attribute marginals.
	m.users = make([]synUser, synUsers)
	ageW, genW := make([]float64, synAges), make([]float64, synGenders)
	var laSum, laSq float64
	for u := range m.users {
		act := int(math.Exp(1.5 + 0.8*r.NormFloat64()))
		m.users[u] = synUser{age: zAge.draw(r), gender: zGender.draw(r), city: zCity.draw(r), activity: act,
			eff: 0.05 * r.NormFloat64()}
		ageW[m.users[u].age] += m.zUser.pmf[u]
		genW[m.users[u].gender] += m.zUser.pmf[u]
		la := math.Log1p(float64(act))
		laSum += la
		laSq += la * la
	}
	laMean := laSum / synUsers
	laSD := math.Sqrt(laSq/synUsers - laMean*laMean)
	for u := range m.users {
		m.users[u].la = (math.Log1p(float64(m.users[u].activity)) - laMean) / laSD
	}
	m.items = make([]synItem, synItems)
	catW := make([]float64, synCats)
	for i := range m.items {
		it := &m.items[i]
		it.cat = zCat.draw(r)
		it.logPrice = 3 + 0.7*r.NormFloat64()
		it.eff = 0.15 * r.NormFloat64()
		it.quality = it.eff/0.15 + 0.25*r.NormFloat64()
		it.qualityFormatted = strconv.AppendFloat(nil, it.quality, 'f', 4, 64)
		catW[it.cat] += m.zItem.pmf[i]
	}

	m.pos = synNormals(r, synPositions, 0.7)
	slices.SortFunc(m.pos, func(a, b float64) int { return -cmp.Compare(a, b) })
	m.catC = synNormals(r, synCats, 0.4)
	m.city = synNormals(r, synCities, 0.1)
	m.catV = synNormals(r, synCats, 0.3)
	m.ageV = synNormals(r, synAges, 0.7)
	m.chanV = synNormals(r, synChannels, 0.7)
	m.xGC = synPureInteraction(r, 0.6, genW, m.zChan.pmf)
	m.xDH = synPureInteraction(r, 0.2, m.zDev.pmf, m.zHour.pmf)
	m.xAC = synPureInteraction(r, 0.25, ageW, catW)
	m.x3 = synPureInteraction(r, 0.7, ageW, genW, m.zDev.pmf)
	m.yDA = synPureInteraction(r, 0.45, m.zDev.pmf, ageW)

	m.calibrate(rand.New(rand.NewPCG(seed, 1)), 100000)
	return m
}

// synRow is one generated row before formatting.
type synRow struct {
	user, item, dev, hour, pos, ch, noise int
	price, noiseNum                       float64
	zc, zv                                float64 // logits without the biases
}

func (m *synthModel) draw(r *rand.Rand, row *synRow) {
	row.user = m.zUser.draw(r)
	row.item = m.zItem.draw(r)
	row.dev = m.zDev.draw(r)
	row.hour = m.zHour.draw(r)
	row.pos = m.zPos.draw(r)
	row.ch = m.zChan.draw(r)
	row.noise = m.zNoise.draw(r)
	it := &m.items[row.item]
	row.price = math.Round(math.Exp(it.logPrice+0.15*r.NormFloat64())*100) / 100
	row.noiseNum = r.NormFloat64()
	u := &m.users[row.user]
	lp := (math.Log1p(row.price) - 3) / 0.7
	x3 := m.x3[(u.age*synGenders+u.gender)*synDevices+row.dev]
	gc := m.xGC[u.gender*synChannels+row.ch]
	row.zc = m.pos[row.pos] + m.catC[it.cat] + m.city[u.city] + u.eff + it.eff + 0.3*u.la - 0.15*lp +
		gc + m.xDH[row.dev*synHours+row.hour] + m.xAC[u.age*synCats+it.cat] + x3
	row.zv = 0.7*m.catC[it.cat] + 0.5*it.eff + gc + 0.5*x3 +
		m.catV[it.cat] + m.ageV[u.age] + m.chanV[row.ch] + m.yDA[row.dev*synAges+u.age] - 0.5*lp
}

func synSigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// calibrate sets bc and bv by bisection on n rows drawn from r.
func (m *synthModel) calibrate(r *rand.Rand, n int) {
	zc, zv := make([]float64, n), make([]float64, n)
	var row synRow
	for i := range n {
		m.draw(r, &row)
		zc[i], zv[i] = row.zc, row.zv
	}
	bisect := func(f func(b float64) float64, target float64) float64 {
		lo, hi := -30.0, 30.0
		for range 50 {
			mid := (lo + hi) / 2
			if f(mid) < target {
				lo = mid
			} else {
				hi = mid
			}
		}
		return (lo + hi) / 2
	}
	m.bc = bisect(func(b float64) float64 {
		var s float64
		for _, z := range zc {
			s += synSigmoid(z + b)
		}
		return s / float64(n)
	}, SynthCTR)
	pc := make([]float64, n)
	var spc float64
	for i, z := range zc {
		pc[i] = synSigmoid(z + m.bc)
		spc += pc[i]
	}
	m.bv = bisect(func(b float64) float64 {
		var s float64
		for i, z := range zv {
			s += pc[i] * synSigmoid(z+b)
		}
		return s / spc
	}, SynthCVR)
}

// SynthConfig configures GenerateSynth, the synthetic funnel generator of
// `dcrnn gen` (DESIGN §2).
//
// Generative process, for seed S. Every random choice comes from math/rand/v2
// PCG generators: the hidden parameters from PCG(S, 0), the calibration
// sample from PCG(S, 1), and data chunk k (rows k·SynthChunk …) from
// PCG(S, 0x10000+k), so the output depends only on (S, rows), never on the
// number of threads, and a longer file starts with the shorter one.
//
// Entities. 5,000 users drawn per row from Zipf(s=0.8); each user has fixed
// hidden attributes: age_group (7 values, Zipf 0.6), gender (3, Zipf 0.5),
// city (50, Zipf 1.0) and an activity count ⌊exp(N(1.5, 0.8))⌋. 3,000
// items drawn per row from Zipf(1.05); each item has a fixed item_category
// (20 values, Zipf 0.9), a log-price level N(3, 0.7) and a click effect
// e_item ~ N(0, 0.15²). Per row, independently: device (5, Zipf 0.9), hour
// (24, Zipf 0.3), position (10, Zipf 0.8; position 1 is the most frequent and
// the best placed), channel (4, Zipf 0.7), and two pure-noise fields that
// enter no logit: noise_cat (1,000, Zipf 1.0) and noise_num ~ N(0,1).
// Zipf(s) over V values means P(rank k) ∝ k^-s; ranks map to the printed ids
// by a hidden random permutation (except position: id = rank).
//
// Numeric columns: price = exp(item log-price + N(0, 0.15²)) rounded to
// cents; user_activity = the user's count; item_quality = e_item/0.15 +
// N(0, 0.25²), fixed per item (a noisy hand-made feature that helps with rare
// items). With lp = (ln(1+price) − 3)/0.7 and la the user's standardised
// ln(1+activity):
//
//	click logit  z_c = b_c + pos[position] + cat_c[item_category] + city[city]
//	                 + user[user_id] + e_item[item_id] + 0.3·la − 0.15·lp
//	                 + X_gc[gender,channel] + X_dh[device,hour]
//	                 + X_ac[age_group,item_category] + X3[age_group,gender,device]
//	conversion-after-click logit
//	             z_v = b_v + 0.7·cat_c[item_category] + 0.5·e_item[item_id]
//	                 + X_gc[gender,channel] + 0.5·X3[age_group,gender,device]
//	                 + cat_v[item_category] + age_v[age_group] + chan_v[channel]
//	                 + Y_da[device,age_group] − 0.5·lp
//
// Main-effect tables are N(0, σ²) per value with σ: pos 0.7 (sorted so that
// position 1 is highest), cat_c 0.4, city 0.1, user 0.05, cat_v 0.3, age_v
// 0.7, chan_v 0.7. The crosses X and Y are pure interactions: a table of
// N(0,1) draws centred along every axis under the row distribution of each
// field (so it holds no main effect, and X3 no pairwise one, up to the
// dependence between age_group and gender through users), then scaled to
// standard deviation σ: X_gc 0.6, X_dh 0.2, X_ac 0.25, X3 0.7, Y_da 0.45.
//
// The biases b_c and b_v are found by bisection on a 100,000-row calibration
// sample so that the expected CTR is SynthCTR (5%) and the expected
// conversion rate among clicks SynthCVR (10%). Then
// p_click = σ(z_c), p_cvr = σ(z_v), p_ctcvr = p_click·p_cvr,
// click ~ Bernoulli(p_click), and conversion ~ Bernoulli(p_cvr) when
// click = 1, else 0.
//
// data.csv columns: click, conversion, user_id, item_id, item_category, city,
// age_group, gender, device, hour, position, channel, noise_cat, price,
// user_activity, item_quality, noise_num. truth.csv (optional) has
// p_click, p_conversion_given_click, p_ctcvr for the same rows, in order.
//
// The effect sizes are chosen so that the signal is learnable from ~160k
// rows: most of the logit variance sits on low-cardinality fields and their
// crosses, the per-id effects of user_id, item_id and city are small, and a
// logistic regression given the true terms gets within 0.01 AUC of the oracle
// (see TestSynthLearnableByWellSpecifiedModel). Oracle AUCs vary with the
// seed (click ≈ 0.79–0.83, ctcvr ≈ 0.89–0.92 for seeds 1–3).
type SynthConfig struct {
	Rows    int64  // data rows to generate (≥ 1)
	Seed    uint64 // selects the hidden parameters and the sample
	Threads int    // worker goroutines; ≤ 0 means GOMAXPROCS. The output does not depend on it.
}

// SynthOracle holds the metrics the true probabilities reach on the sampled
// labels of the whole generated file (the best any model can expect).
type SynthOracle struct {
	ClickAUC             float64 // AUC of p_click vs click, all rows
	ClickLogLoss         float64 // logloss of p_click vs click
	ConversionAUC        float64 // AUC of p_ctcvr vs conversion, all rows (DESIGN §3 "auc" of the later task)
	ConversionAUCClicked float64 // AUC of p_cvr vs conversion on clicked rows
	CTCVRAUC             float64 // AUC of p_ctcvr vs conversion, all rows
	CTCVRLogLoss         float64 // logloss of p_ctcvr vs conversion
}

// SynthStats reports a generated file.
type SynthStats struct {
	Rows, Clicks, Conversions int64
	Oracle                    *SynthOracle // nil unless truth was requested
}

// CTR returns clicks / rows.
func (s SynthStats) CTR() float64 { return float64(s.Clicks) / float64(s.Rows) }

// CVR returns conversions / clicks.
func (s SynthStats) CVR() float64 { return float64(s.Conversions) / float64(s.Clicks) }

// synChunk is the output of one chunk.
type synChunk struct {
	data, truth         []byte
	pc, pv, pcv         []float32
	click, conv         []float32
	clicks, conversions int64
}

func (m *synthModel) genChunk(seed uint64, k int64, rows int, withTruth bool, out *synChunk) {
	r := rand.New(rand.NewPCG(seed, 0x10000+uint64(k)))
	out.data = out.data[:0]
	out.truth = out.truth[:0]
	out.pc, out.pv, out.pcv = out.pc[:0], out.pv[:0], out.pcv[:0]
	out.click, out.conv = out.click[:0], out.conv[:0]
	out.clicks, out.conversions = 0, 0
	var row synRow
	b := out.data
	for range rows {
		m.draw(r, &row)
		pc := synSigmoid(row.zc + m.bc)
		pv := synSigmoid(row.zv + m.bv)
		click := r.Float64() < pc
		conv := false
		if click {
			conv = r.Float64() < pv
			out.clicks++
			if conv {
				out.conversions++
			}
		}
		u := &m.users[row.user]
		it := &m.items[row.item]
		b = synAppendBit(b, click)
		b = append(b, ',')
		b = synAppendBit(b, conv)
		for _, id := range [...]int{m.idUser[row.user], m.idItem[row.item], m.idCat[it.cat], m.idCity[u.city],
			m.idAge[u.age], m.idGender[u.gender], m.idDev[row.dev], m.idHour[row.hour], row.pos + 1,
			m.idChan[row.ch], m.idNoise[row.noise]} {
			b = append(b, ',')
			b = strconv.AppendInt(b, int64(id), 10)
		}
		b = append(b, ',')
		b = strconv.AppendFloat(b, row.price, 'f', 2, 64)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(u.activity), 10)
		b = append(b, ',')
		b = append(b, it.qualityFormatted...)
		b = append(b, ',')
		b = strconv.AppendFloat(b, row.noiseNum, 'f', 4, 64)
		b = append(b, '\n')
		if withTruth {
			f1, f2, f3 := float32(pc), float32(pv), float32(pc*pv)
			out.truth = strconv.AppendFloat(out.truth, float64(f1), 'g', -1, 32)
			out.truth = append(out.truth, ',')
			out.truth = strconv.AppendFloat(out.truth, float64(f2), 'g', -1, 32)
			out.truth = append(out.truth, ',')
			out.truth = strconv.AppendFloat(out.truth, float64(f3), 'g', -1, 32)
			out.truth = append(out.truth, '\n')
			out.pc, out.pv, out.pcv = append(out.pc, f1), append(out.pv, f2), append(out.pcv, f3)
			out.click, out.conv = append(out.click, synBit(click)), append(out.conv, synBit(conv))
		}
	}
	out.data = b
}

func synAppendBit(b []byte, v bool) []byte {
	if v {
		return append(b, '1')
	}
	return append(b, '0')
}

func synBit(v bool) float32 {
	if v {
		return 1
	}
	return 0
}

// ErrSynthRows marks a non-positive row count.
var ErrSynthRows = errors.New("synth: rows must be at least 1")

// GenerateSynth writes cfg.Rows rows of the synthetic funnel (see the
// generative process above) with a header line to data. When truth is not
// nil it also writes the true probabilities (header
// p_click,p_conversion_given_click,p_ctcvr; one line per data row, float32
// values in shortest form) and fills SynthStats.Oracle, computed on exactly
// those float32 values; this keeps 20 bytes per row in memory.
func GenerateSynth(ctx context.Context, cfg SynthConfig, data, truth io.Writer) (SynthStats, error) {
	if cfg.Rows < 1 {
		return SynthStats{}, ErrSynthRows
	}
	threads := cfg.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	m := newSynthModel(cfg.Seed)
	withTruth := truth != nil
	st := SynthStats{Rows: cfg.Rows}
	if _, err := io.WriteString(data, strings.Join(SynthColumns, ",")+"\n"); err != nil {
		return st, fmt.Errorf("synth: write data: %w", err)
	}
	if withTruth {
		if _, err := io.WriteString(truth, "p_click,p_conversion_given_click,p_ctcvr\n"); err != nil {
			return st, fmt.Errorf("synth: write truth: %w", err)
		}
	}
	var pc, pv, pcv, click, conv []float32
	if withTruth {
		n := int(cfg.Rows)
		pc, pv, pcv = make([]float32, 0, n), make([]float32, 0, n), make([]float32, 0, n)
		click, conv = make([]float32, 0, n), make([]float32, 0, n)
	}
	chunks := (cfg.Rows + SynthChunk - 1) / SynthChunk
	bufs := make([]synChunk, threads)
	for first := int64(0); first < chunks; first += int64(threads) {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		n := int(min(int64(threads), chunks-first))
		var wg sync.WaitGroup
		for j := range n {
			k := first + int64(j)
			rows := int(min(SynthChunk, cfg.Rows-k*SynthChunk))
			wg.Go(func() { m.genChunk(cfg.Seed, k, rows, withTruth, &bufs[j]) })
		}
		wg.Wait()
		for j := range n {
			c := &bufs[j]
			if _, err := data.Write(c.data); err != nil {
				return st, fmt.Errorf("synth: write data: %w", err)
			}
			st.Clicks += c.clicks
			st.Conversions += c.conversions
			if withTruth {
				if _, err := truth.Write(c.truth); err != nil {
					return st, fmt.Errorf("synth: write truth: %w", err)
				}
				pc, pv, pcv = append(pc, c.pc...), append(pv, c.pv...), append(pcv, c.pcv...)
				click, conv = append(click, c.click...), append(conv, c.conv...)
			}
		}
	}
	if withTruth {
		st.Oracle = synthOracle(pc, pv, pcv, click, conv)
	}
	return st, nil
}

// synthOracle computes the oracle metrics of true probabilities p_click
// (pc), p_cvr (pv) and p_ctcvr (pcv) against the sampled labels.
func synthOracle(pc, pv, pcv, click, conv []float32) *SynthOracle {
	var cpv, cconv []float32
	for i := range click {
		if click[i] == 1 {
			cpv, cconv = append(cpv, pv[i]), append(cconv, conv[i])
		}
	}
	ctcvr := metric.AUC(pcv, conv)
	return &SynthOracle{
		ClickAUC:             metric.AUC(pc, click),
		ClickLogLoss:         metric.LogLoss(pc, click),
		ConversionAUC:        ctcvr,
		ConversionAUCClicked: metric.AUC(cpv, cconv),
		CTCVRAUC:             ctcvr,
		CTCVRLogLoss:         metric.LogLoss(pcv, conv),
	}
}

// ReadSynthOracle computes the oracle metrics on the rows of a generated
// directory (data.csv and truth.csv, as written by WriteSynthDir with truth)
// that keep accepts, given the 0-based data row index — for example the test
// part of a split, to compare a model with the oracle on the same rows.
func ReadSynthOracle(dir string, keep func(row int64) bool) (*SynthOracle, error) {
	df, err := os.Open(filepath.Join(dir, "data.csv"))
	if err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	defer df.Close()
	tf, err := os.Open(filepath.Join(dir, "truth.csv"))
	if err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	defer tf.Close()
	ds, ts := bufio.NewScanner(df), bufio.NewScanner(tf)
	ds.Scan() // headers
	ts.Scan()
	var pc, pv, pcv, click, conv []float32
	row := int64(0)
	for ; ds.Scan(); row++ {
		if !ts.Scan() {
			return nil, fmt.Errorf("synth: %s: truth.csv ends at row %d, before data.csv", dir, row)
		}
		if keep != nil && !keep(row) {
			continue
		}
		d, t := strings.SplitN(ds.Text(), ",", 3), strings.Split(ts.Text(), ",")
		if len(d) < 3 || len(t) != 3 {
			return nil, fmt.Errorf("synth: %s: row %d: not a generated data/truth line", dir, row)
		}
		var p [3]float32
		for i := range p {
			v, err := strconv.ParseFloat(t[i], 32)
			if err != nil {
				return nil, fmt.Errorf("synth: %s: truth.csv row %d: %w", dir, row, err)
			}
			p[i] = float32(v)
		}
		pc, pv, pcv = append(pc, p[0]), append(pv, p[1]), append(pcv, p[2])
		click, conv = append(click, synBit(d[0] == "1")), append(conv, synBit(d[1] == "1"))
	}
	if err := ds.Err(); err != nil {
		return nil, fmt.Errorf("synth: %s: %w", dir, err)
	}
	return synthOracle(pc, pv, pcv, click, conv), nil
}

// synJSONNum renders NaN (an undefined AUC) as null.
type synJSONNum float64

func (v synJSONNum) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, float64(v), 'g', -1, 64), nil
}

// OracleJSON returns the oracle.json document:
// {"rows":…, "seed":…, "rates": {"ctr":…, "cvr":…},
// "tasks": {"click": {"auc":…, "logloss":…}, "conversion": {"auc":…, "auc_clicked":…}},
// "funnel": {"ctcvr": {"auc":…, "logloss":…}}}.
func (s SynthStats) OracleJSON(seed uint64) ([]byte, error) {
	if s.Oracle == nil {
		return nil, errors.New("synth: no oracle (generated without truth)")
	}
	o := s.Oracle
	type m = map[string]any
	doc := m{
		"rows":  s.Rows,
		"seed":  seed,
		"rates": m{"ctr": synJSONNum(s.CTR()), "cvr": synJSONNum(s.CVR())},
		"tasks": m{
			"click":      m{"auc": synJSONNum(o.ClickAUC), "logloss": synJSONNum(o.ClickLogLoss)},
			"conversion": m{"auc": synJSONNum(o.ConversionAUC), "auc_clicked": synJSONNum(o.ConversionAUCClicked)},
		},
		"funnel": m{"ctcvr": m{"auc": synJSONNum(o.CTCVRAUC), "logloss": synJSONNum(o.CTCVRLogLoss)}},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	return append(b, '\n'), err
}

// WriteSynthDir generates the synthetic funnel into dir (created if needed):
// data.csv and schema.yaml, plus truth.csv and oracle.json when truth is set.
// The files (mode 0644) are one atomicfile.Group: each is written to a
// temporary file, and all are synced before any is renamed into place.
func WriteSynthDir(ctx context.Context, dir string, cfg SynthConfig, truth bool) (SynthStats, error) {
	if cfg.Rows < 1 {
		return SynthStats{}, ErrSynthRows
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return SynthStats{}, fmt.Errorf("synth: %w", err)
	}
	var files atomicfile.Group
	defer files.Abort()
	open := func(name string) (io.Writer, error) {
		f, err := files.Create(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("synth: %w", err)
		}
		return f, nil
	}
	dw, err := open("data.csv")
	if err != nil {
		return SynthStats{}, err
	}
	var tw io.Writer
	if truth {
		if tw, err = open("truth.csv"); err != nil {
			return SynthStats{}, err
		}
	}
	st, err := GenerateSynth(ctx, cfg, dw, tw)
	if err != nil {
		return st, err
	}
	sw, err := open("schema.yaml")
	if err != nil {
		return st, err
	}
	if _, err := io.WriteString(sw, SynthSchemaYAML); err != nil {
		return st, fmt.Errorf("synth: schema.yaml: %w", err)
	}
	if truth {
		ow, err := open("oracle.json")
		if err != nil {
			return st, err
		}
		b, err := st.OracleJSON(cfg.Seed)
		if err != nil {
			return st, err
		}
		if _, err := ow.Write(b); err != nil {
			return st, fmt.Errorf("synth: oracle.json: %w", err)
		}
	}
	if err := files.Commit(); err != nil {
		return st, fmt.Errorf("synth: %w", err)
	}
	return st, nil
}
