package synth_test

import (
	"bytes"
	"context"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/metric"
	"github.com/dcrnn/dcrnn/internal/synth"
)

// synthFile is a parsed generated file.
type synthFile struct {
	header []string
	rows   [][]string // data columns as text
	truth  [][3]float32
	stats  synth.Stats
}

func (f *synthFile) col(name string) int { return slices.Index(f.header, name) }

func (f *synthFile) labels(name string) []float32 {
	c := f.col(name)
	out := make([]float32, len(f.rows))
	for i, r := range f.rows {
		if r[c] == "1" {
			out[i] = 1
		}
	}
	return out
}

func genParsed(t testing.TB, cfg synth.Config) *synthFile {
	t.Helper()
	var d, tr bytes.Buffer
	st, err := synth.Generate(context.Background(), cfg, &d, &tr)
	if err != nil {
		t.Fatal(err)
	}
	f := &synthFile{stats: st}
	lines := strings.Split(strings.TrimSuffix(d.String(), "\n"), "\n")
	f.header = strings.Split(lines[0], ",")
	for _, l := range lines[1:] {
		f.rows = append(f.rows, strings.Split(l, ","))
	}
	tl := strings.Split(strings.TrimSuffix(tr.String(), "\n"), "\n")
	if tl[0] != "p_click,p_conversion_given_click,p_ctcvr" {
		t.Fatalf("truth header %q", tl[0])
	}
	for i, l := range tl[1:] {
		var v [3]float32
		for j, s := range strings.Split(l, ",") {
			x, err := strconv.ParseFloat(s, 32)
			if err != nil || j > 2 {
				t.Fatalf("truth line %d: %q", i+2, l)
			}
			v[j] = float32(x)
		}
		f.truth = append(f.truth, v)
	}
	return f
}

var (
	seed1Once sync.Once
	seed1File *synthFile
)

// seed1Config is the file most tests read: 200,000 rows of seed 1 with the
// noise ids, as dcrnn gen writes by default.
var seed1Config = synth.Config{Rows: 200000, Seed: 1, NoiseIDs: true}

// seed1 returns the file of seed1Config (parsed once per test binary).
func seed1(t *testing.T) *synthFile {
	if testing.Short() {
		t.Skip("200k-row generation skipped in -short")
	}
	seed1Once.Do(func() { seed1File = genParsed(t, seed1Config) })
	return seed1File
}

func TestDeterministicAcrossThreadsAndLength(t *testing.T) {
	for _, noise := range []bool{false, true} {
		gen := func(rows int64, seed uint64, threads int) (string, string) {
			var d, tr bytes.Buffer
			cfg := synth.Config{Rows: rows, Seed: seed, Threads: threads, NoiseIDs: noise}
			if _, err := synth.Generate(context.Background(), cfg, &d, &tr); err != nil {
				t.Fatal(err)
			}
			return d.String(), tr.String()
		}
		d1, t1 := gen(40000, 5, 1)
		d3, t3 := gen(40000, 5, 3)
		if d1 != d3 || t1 != t3 {
			t.Fatalf("noise ids %v: output depends on the number of threads", noise)
		}
		dShort, tShort := gen(20000, 5, 2)
		if !strings.HasPrefix(d1, dShort) || !strings.HasPrefix(t1, tShort) {
			t.Fatalf("noise ids %v: a shorter file is not a prefix of a longer one with the same seed", noise)
		}
		if d6, _ := gen(40000, 6, 2); d6 == d1 {
			t.Fatalf("noise ids %v: seeds 5 and 6 give the same data", noise)
		}
	}
	if _, err := synth.Generate(context.Background(), synth.Config{Rows: 0}, &bytes.Buffer{}, nil); err != synth.ErrRows {
		t.Fatalf("rows 0: err %v, want synth.ErrRows", err)
	}
}

// TestNoiseIDsChangeNothingElse: with the noise ids, data.csv is the file
// written without them plus two columns, and truth.csv, the stats and the
// oracle are the same, so the noise ids cannot affect the labels.
func TestNoiseIDsChangeNothingElse(t *testing.T) {
	gen := func(noise bool) (string, string, synth.Stats) {
		var d, tr bytes.Buffer
		st, err := synth.Generate(context.Background(), synth.Config{Rows: 40000, Seed: 8, NoiseIDs: noise}, &d, &tr)
		if err != nil {
			t.Fatal(err)
		}
		return d.String(), tr.String(), st
	}
	dOff, tOff, sOff := gen(false)
	dOn, tOn, sOn := gen(true)
	if tOn != tOff {
		t.Fatal("truth.csv differs with the noise ids")
	}
	if sOn.Rows != sOff.Rows || sOn.Clicks != sOff.Clicks || sOn.Conversions != sOff.Conversions || *sOn.Oracle != *sOff.Oracle {
		t.Fatalf("stats %+v with the noise ids, %+v without", sOn, sOff)
	}
	var stripped strings.Builder
	for _, l := range strings.SplitAfter(dOn, "\n") {
		if l == "" {
			continue
		}
		cells := strings.Split(strings.TrimSuffix(l, "\n"), ",")
		if len(cells) != len(synth.Config{NoiseIDs: true}.Columns()) {
			t.Fatalf("line %q has %d cells", l, len(cells))
		}
		stripped.WriteString(strings.Join(cells[:len(cells)-2], ",") + "\n")
	}
	if stripped.String() != dOff {
		t.Fatal("data.csv without its last two columns differs from the file written without the noise ids")
	}
}

// TestNoiseIDsLookLikeLogs checks the shapes the package doc promises:
// request_id is mostly unique with a Zipf head, session_user has about
// 1/H(50,000) of the rows on its most frequent value.
func TestNoiseIDsLookLikeLogs(t *testing.T) {
	f := seed1(t)
	count := func(name string) map[string]int {
		c := f.col(name)
		n := map[string]int{}
		for _, r := range f.rows {
			n[r[c]]++
		}
		return n
	}
	maxOf := func(n map[string]int) int {
		m := 0
		for _, v := range n {
			m = max(m, v)
		}
		return m
	}
	rows := float64(len(f.rows))
	req := count("request_id")
	if d := float64(len(req)) / rows; d < 0.85 || d > 0.99 {
		t.Errorf("request_id: %d distinct values in %.0f rows (%.3f), want 0.85–0.99 of the rows", len(req), rows, d)
	}
	if m := maxOf(req); m < 100 || m > 2000 {
		t.Errorf("request_id: the most frequent value has %d rows, want a Zipf head of 100–2000", m)
	}
	for v := range req {
		if len(v) != 16 || strings.Trim(v, "0123456789abcdef") != "" {
			t.Fatalf("request_id %q is not 16 hex digits", v)
		}
	}
	ses := count("session_user")
	t.Logf("request_id: %d distinct in %.0f rows, top %d rows; session_user: %d distinct, top %d rows",
		len(req), rows, maxOf(req), len(ses), maxOf(ses))
	var h float64
	for k := 1; k <= 50000; k++ {
		h += 1 / float64(k)
	}
	if top := float64(maxOf(ses)) / rows; math.Abs(top-1/h) > 0.004 {
		t.Errorf("session_user: top value share %.4f, want 1/H(50000) = %.4f", top, 1/h)
	}
	if len(ses) < 20000 || len(ses) > 50000 {
		t.Errorf("session_user: %d distinct values, want 20,000–50,000", len(ses))
	}
	for v := range ses {
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 50000 {
			t.Fatalf("session_user %q is not an id in 1..50000", v)
		}
	}
}

func TestBaseRatesFunnelAndTruth(t *testing.T) {
	f := seed1(t)
	if !slices.Equal(f.header, seed1Config.Columns()) {
		t.Fatalf("header %v", f.header)
	}
	if len(f.rows) != 200000 || len(f.truth) != 200000 {
		t.Fatalf("%d data rows, %d truth rows, want 200000", len(f.rows), len(f.truth))
	}
	click, conv := f.labels("click"), f.labels("conversion")
	var clicks, convs float64
	for i, r := range f.rows {
		if len(r) != len(f.header) {
			t.Fatalf("row %d has %d columns", i+1, len(r))
		}
		if conv[i] == 1 && click[i] == 0 {
			t.Fatalf("row %d: conversion without click", i+1)
		}
		clicks += float64(click[i])
		convs += float64(conv[i])
		p := f.truth[i]
		if math.Abs(float64(p[2])-float64(p[0])*float64(p[1])) > 1e-6*float64(p[2])+1e-12 {
			t.Fatalf("row %d: p_ctcvr %v != p_click·p_cvr %v", i+1, p[2], p[0]*p[1])
		}
	}
	ctr, cvr := clicks/200000, convs/clicks
	if math.Abs(ctr-synth.CTR) > 0.004 || math.Abs(cvr-synth.CVR) > 0.012 {
		t.Errorf("CTR %.4f (want %.2f±0.004), CVR %.4f (want %.2f±0.012)", ctr, synth.CTR, cvr, synth.CVR)
	}
	if int64(clicks) != f.stats.Clicks || int64(convs) != f.stats.Conversions {
		t.Errorf("stats %+v disagree with the file (%v clicks, %v conversions)", f.stats, clicks, convs)
	}
	// The expected rates of the truth match the targets closely.
	var spc, spcv float64
	for _, p := range f.truth {
		spc += float64(p[0])
		spcv += float64(p[2])
	}
	if math.Abs(spc/200000-synth.CTR) > 0.002 || math.Abs(spcv/spc-synth.CVR) > 0.005 {
		t.Errorf("expected CTR %.4f, expected CVR %.4f", spc/200000, spcv/spc)
	}
}

// targetEncodingAUC scores each row of the second half of the file by its
// column value's label rate in the first half (smoothed towards the overall
// rate with 20 pseudo-rows) and returns the AUC on the second half.
func targetEncodingAUC(f *synthFile, c int, y []float32) float64 {
	half := len(f.rows) / 2
	n, pos := map[string]float64{}, map[string]float64{}
	var all float64
	for i, r := range f.rows[:half] {
		n[r[c]]++
		pos[r[c]] += float64(y[i])
		all += float64(y[i])
	}
	prior := all / float64(half)
	s := make([]float32, 0, len(f.rows)-half)
	for _, r := range f.rows[half:] {
		s = append(s, float32((pos[r[c]]+20*prior)/(n[r[c]]+20)))
	}
	return metric.AUC(s, y[half:])
}

func TestOracleBeatsEverySingleField(t *testing.T) {
	f := seed1(t)
	o := f.stats.Oracle
	click, conv := f.labels("click"), f.labels("conversion")
	pc, pcv := make([]float32, len(f.truth)), make([]float32, len(f.truth))
	for i, p := range f.truth {
		pc[i], pcv[i] = p[0], p[2]
	}
	// The oracle in synth.Stats is what the written truth reaches.
	if got := metric.AUC(pc, click); got != o.ClickAUC {
		t.Errorf("oracle click AUC %v, truth.csv gives %v", o.ClickAUC, got)
	}
	if got := metric.AUC(pcv, conv); got != o.CTCVRAUC || got != o.ConversionAUC {
		t.Errorf("oracle ctcvr AUC %v / %v, truth.csv gives %v", o.CTCVRAUC, o.ConversionAUC, got)
	}
	if o.ClickAUC < 0.70 || o.CTCVRAUC < 0.80 || o.ConversionAUCClicked < 0.70 {
		t.Errorf("oracle too weak: %+v", *o)
	}
	half := len(f.rows) / 2
	oClick, oCTCVR := metric.AUC(pc[half:], click[half:]), metric.AUC(pcv[half:], conv[half:])
	schema, err := feature.ParseSchema([]byte(seed1Config.Schema()))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range schema.Fields {
		if fd.Type != feature.TypeCategorical {
			continue
		}
		name := fd.Name
		c := f.col(name)
		if a := targetEncodingAUC(f, c, click); a >= oClick-0.05 {
			t.Errorf("field %s alone reaches click AUC %.4f, oracle %.4f (second half)", name, a, oClick)
		}
		if a := targetEncodingAUC(f, c, conv); a >= oCTCVR-0.05 {
			t.Errorf("field %s alone reaches ctcvr AUC %.4f, oracle %.4f (second half)", name, a, oCTCVR)
		}
	}
}

// chiSquareTop returns the chi-square statistic of the click counts of the k
// most frequent values of column c against a common rate, and k-1.
func chiSquareTop(f *synthFile, c int, y []float32, k int) (float64, int) {
	n, pos := map[string]float64{}, map[string]float64{}
	for i, r := range f.rows {
		n[r[c]]++
		pos[r[c]] += float64(y[i])
	}
	keys := make([]string, 0, len(n))
	for v := range n {
		keys = append(keys, v)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if n[a] != n[b] {
			return int(n[b] - n[a])
		}
		return strings.Compare(a, b)
	})
	keys = keys[:min(k, len(keys))]
	var tn, tp float64
	for _, v := range keys {
		tn += n[v]
		tp += pos[v]
	}
	rate := tp / tn
	var chi float64
	for _, v := range keys {
		e := n[v] * rate
		chi += (pos[v]-e)*(pos[v]-e)/e + (pos[v]-e)*(pos[v]-e)/(n[v]-e)
	}
	return chi, len(keys) - 1
}

func TestNoiseFieldsIndependentOfLabels(t *testing.T) {
	f := seed1(t)
	click := f.labels("click")
	// noise_num: AUC against click ≈ 0.5 (sd ≈ 0.003 with 10k positives).
	c := f.col("noise_num")
	s := make([]float32, len(f.rows))
	for i, r := range f.rows {
		x, _ := strconv.ParseFloat(r[c], 32)
		s[i] = float32(x)
	}
	if a := metric.AUC(s, click); math.Abs(a-0.5) > 0.015 {
		t.Errorf("noise_num AUC vs click %.4f, want 0.5±0.015", a)
	}
	// noise_cat: chi-square over the 20 most frequent ids stays below the
	// 0.1% critical value of chi²(19) = 43.82, while position (which has an
	// effect) is far above it.
	chi, df := chiSquareTop(f, f.col("noise_cat"), click, 20)
	if df != 19 || chi > 43.82 {
		t.Errorf("noise_cat vs click: chi² = %.1f with %d df, want ≤ 43.82", chi, df)
	}
	if chi, _ := chiSquareTop(f, f.col("position"), click, 20); chi < 200 {
		t.Errorf("position vs click: chi² = %.1f, want a strong effect", chi)
	}
	conv := f.labels("conversion")
	if chi, _ := chiSquareTop(f, f.col("noise_cat"), conv, 20); chi > 43.82 {
		t.Errorf("noise_cat vs conversion: chi² = %.1f, want ≤ 43.82", chi)
	}
	// session_user likewise; request_id over its 5 most frequent values
	// (≥ 100 rows each, so ≥ 5 expected clicks), chi²(4) at 0.1% = 18.47.
	for _, y := range []struct {
		name   string
		labels []float32
	}{{"click", click}, {"conversion", conv}} {
		if chi, df := chiSquareTop(f, f.col("session_user"), y.labels, 20); df != 19 || chi > 43.82 {
			t.Errorf("session_user vs %s: chi² = %.1f with %d df, want ≤ 43.82", y.name, chi, df)
		}
	}
	if chi, df := chiSquareTop(f, f.col("request_id"), click, 5); df != 4 || chi > 18.47 {
		t.Errorf("request_id vs click: chi² = %.1f with %d df, want ≤ 18.47", chi, df)
	}
}

func TestSchemaMatchesData(t *testing.T) {
	for _, cfg := range []synth.Config{{}, {NoiseIDs: true}} {
		s, err := feature.ParseSchema([]byte(cfg.Schema()))
		if err != nil {
			t.Fatalf("noise ids %v: schema does not parse: %v", cfg.NoiseIDs, err)
		}
		var cols []string
		for _, tk := range s.Tasks {
			cols = append(cols, tk.Label)
		}
		for _, fd := range s.Fields {
			cols = append(cols, fd.Name)
		}
		if !slices.Equal(cols, cfg.Columns()) || !s.Format.Header {
			t.Fatalf("noise ids %v: schema columns %v, data columns %v", cfg.NoiseIDs, cols, cfg.Columns())
		}
		if len(s.Tasks) != 2 || s.Tasks[1].After != "click" || s.Tasks[1].Name != "conversion" {
			t.Fatalf("tasks %+v", s.Tasks)
		}
		if !cfg.NoiseIDs {
			continue
		}
		// request_id is hashed; session_user is a vocabulary field whose
		// min_count comes from the training rows.
		req, ses := s.Fields[len(s.Fields)-2], s.Fields[len(s.Fields)-1]
		if req.Name != "request_id" || req.HashBuckets != 100000 || req.MinCount != nil {
			t.Errorf("request_id field %+v, want hash_buckets 100000", req)
		}
		if ses.Name != "session_user" || ses.HashBuckets != 0 || ses.MinCount != nil || ses.Type != feature.TypeCategorical {
			t.Errorf("session_user field %+v, want a plain categorical field", ses)
		}
	}
}
