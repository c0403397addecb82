package dcrnn

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/score"
)

// Scorer scores rows with one Model, reusing its scratch memory (inference
// buffers, transformed batch, probabilities) from call to call. It is not
// safe for concurrent use: make one per goroutine with Model.NewScorer.
// Large inputs are scored 512 rows at a time, so its memory stays bounded
// by the batch size given to it.
type Scorer struct {
	m  *Model
	sc *score.Scorer
}

// NewScorer returns a Scorer of m.
func (m *Model) NewScorer() *Scorer {
	sc := score.New(m.tr)
	sc.Share(m.frozen) // a Model's weights never change
	return &Scorer{m: m, sc: sc}
}

// Prediction is the model's output for one row.
type Prediction struct {
	// Probs holds the probability of every task, in Model.Tasks order (for
	// the later task of a funnel, the conditional probability, e.g. of a
	// conversion given a click), calibrated as the model file says.
	Probs []float32
	// CTCVR is, for a funnel model, the joint probability of both steps
	// (the product of the two Probs); 0 otherwise.
	CTCVR float32

	m *Model
}

// Prob returns the probability of the named task, or CTCVR for "ctcvr" in
// a funnel model; NaN when the model has no such task.
func (p Prediction) Prob(task string) float32 {
	if p.m != nil {
		for i, t := range p.m.tasks {
			if t == task && i < len(p.Probs) {
				return p.Probs[i]
			}
		}
		if p.m.funnel && task == "ctcvr" {
			return p.CTCVR
		}
	}
	return float32(math.NaN())
}

// Score scores rows, each a map from column name to its raw value as in
// the training file (see the package doc), and returns one Prediction per
// row, in order. On a bad value it returns a *FieldError and no
// predictions.
func (s *Scorer) Score(rows []map[string]any) ([]Prediction, error) {
	out := make([]Prediction, len(rows))
	t := len(s.m.tasks)
	buf := make([]float32, len(rows)*t)
	for i := range out {
		out[i].Probs = buf[i*t : (i+1)*t : (i+1)*t]
	}
	if err := s.ScoreInto(out, rows); err != nil {
		return nil, err
	}
	return out, nil
}

// ScoreInto is Score writing into dst, which must have one element per
// row. An element's Probs is reused when it has room for every task, so a
// loop that passes the same dst allocates nothing once the Scorer has
// scored a batch of that size. On error dst is left as it was.
func (s *Scorer) ScoreInto(dst []Prediction, rows []map[string]any) error {
	if len(dst) != len(rows) {
		return fmt.Errorf("dcrnn: ScoreInto: %d predictions for %d rows (want one per row)", len(dst), len(rows))
	}
	probs, ctcvr, err := s.sc.Maps(rows, nil, nil)
	if err != nil {
		return fieldError(err)
	}
	t := len(s.m.tasks)
	for i := range dst {
		d := &dst[i]
		if cap(d.Probs) < t {
			d.Probs = make([]float32, t)
		}
		d.Probs = d.Probs[:t]
		for k := range t {
			d.Probs[k] = probs[k][i]
		}
		d.CTCVR = 0
		if ctcvr != nil {
			d.CTCVR = ctcvr[i]
		}
		d.m = s.m
	}
	return nil
}

// FieldError is a row Score could not read: the value of one field is not
// of a kind the field takes.
type FieldError struct {
	Row      int    // 0-based index of the row
	Field    string // the field's name; "" when the row as a whole is wrong
	Value    string // the offending value, as text
	Expected string // what the field takes ("a number", "a string or a number", ...)
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("dcrnn: row %d: expected %s, got %s", e.Row, e.Expected, e.Value)
	}
	return fmt.Sprintf("dcrnn: row %d: field %q: expected %s, got %s", e.Row, e.Field, e.Expected, quote(e.Value))
}

func quote(v string) string {
	if len(v) > 64 {
		v = v[:64] + "…"
	}
	return strconv.Quote(v)
}

// fieldError turns a scoring error into a *FieldError.
func fieldError(err error) error {
	var re *score.RowError
	if !errors.As(err, &re) {
		return fmt.Errorf("dcrnn: %w", err)
	}
	var fe *feature.FieldError
	if errors.As(re.Err, &fe) {
		return &FieldError{Row: re.Row, Field: fe.Name, Value: fe.Value, Expected: fe.Expected}
	}
	return &FieldError{Row: re.Row, Value: re.Err.Error(), Expected: "a row the model's pipeline reads"}
}
