package synth

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/dcrnn/dcrnn/internal/metric"
)

// Oracle holds the metrics the true probabilities reach on the sampled
// labels of the whole generated file (the best any model can expect).
type Oracle struct {
	ClickAUC             float64 // AUC of p_click vs click, all rows
	ClickLogLoss         float64 // logloss of p_click vs click
	ConversionAUC        float64 // AUC of p_ctcvr vs conversion, all rows (the "auc" of the later task in --metrics-out)
	ConversionAUCClicked float64 // AUC of p_cvr vs conversion on clicked rows
	CTCVRAUC             float64 // AUC of p_ctcvr vs conversion, all rows
	CTCVRLogLoss         float64 // logloss of p_ctcvr vs conversion
}

// oracleOf computes the oracle metrics of true probabilities p_click (pc),
// p_cvr (pv) and p_ctcvr (pcv) against the sampled labels.
func oracleOf(pc, pv, pcv, click, conv []float32) *Oracle {
	var cpv, cconv []float32
	for i := range click {
		if click[i] == 1 {
			cpv, cconv = append(cpv, pv[i]), append(cconv, conv[i])
		}
	}
	ctcvr := metric.AUC(pcv, conv)
	return &Oracle{
		ClickAUC:             metric.AUC(pc, click),
		ClickLogLoss:         metric.LogLoss(pc, click),
		ConversionAUC:        ctcvr,
		ConversionAUCClicked: metric.AUC(cpv, cconv),
		CTCVRAUC:             ctcvr,
		CTCVRLogLoss:         metric.LogLoss(pcv, conv),
	}
}

// ReadOracle computes the oracle metrics on the rows of a generated
// directory (data.csv and truth.csv, as written by WriteDir with truth)
// that keep accepts, given the 0-based data row index — for example the test
// part of a split, to compare a model with the oracle on the same rows.
func ReadOracle(dir string, keep func(row int64) bool) (*Oracle, error) {
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
		click, conv = append(click, bit(d[0] == "1")), append(conv, bit(d[1] == "1"))
	}
	if err := ds.Err(); err != nil {
		return nil, fmt.Errorf("synth: %s: %w", dir, err)
	}
	return oracleOf(pc, pv, pcv, click, conv), nil
}

// jsonNum renders NaN (an undefined AUC) as null.
type jsonNum float64

func (v jsonNum) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, float64(v), 'g', -1, 64), nil
}

// OracleJSON returns the oracle.json document:
// {"rows":…, "seed":…, "rates": {"ctr":…, "cvr":…},
// "tasks": {"click": {"auc":…, "logloss":…}, "conversion": {"auc":…, "auc_clicked":…}},
// "funnel": {"ctcvr": {"auc":…, "logloss":…}}}.
func (s Stats) OracleJSON(seed uint64) ([]byte, error) {
	if s.Oracle == nil {
		return nil, errors.New("synth: no oracle (generated without truth)")
	}
	o := s.Oracle
	type m = map[string]any
	doc := m{
		"rows":  s.Rows,
		"seed":  seed,
		"rates": m{"ctr": jsonNum(s.CTR()), "cvr": jsonNum(s.CVR())},
		"tasks": m{
			"click":      m{"auc": jsonNum(o.ClickAUC), "logloss": jsonNum(o.ClickLogLoss)},
			"conversion": m{"auc": jsonNum(o.ConversionAUC), "auc_clicked": jsonNum(o.ConversionAUCClicked)},
		},
		"funnel": m{"ctcvr": m{"auc": jsonNum(o.CTCVRAUC), "logloss": jsonNum(o.CTCVRLogLoss)}},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	return append(b, '\n'), err
}
