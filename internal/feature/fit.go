package feature

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
)

// minCountLadder holds the values DefaultMinCount picks from.
var minCountLadder = []int{2, 3, 5, 10, 20, 50, 100, 200, 500, 1000}

// MinCountPositives is the number of positives of the most frequent task an
// id is expected to carry before DefaultMinCount gives it its own embedding
// row.
const MinCountPositives = 5

// DefaultMinCount returns the min_count of a categorical field that does not
// set one, chosen from the training rows and the positives of each task on
// them: the smallest value of the ladder 2, 3, 5, 10, 20, 50, 100, 200, 500,
// 1000 that is at least both
//
//   - √rows / 1000: ids seen once always share the OOV row (a single
//     impression teaches an embedding nothing but its own label); 45M rows
//     (Criteo) give at least 10, 1B rows 50; and
//   - MinCountPositives / p, p being the positive rate of the most frequent
//     task: an id seen fewer times is expected to carry fewer than 5 positives
//     of any task, too few to learn from and enough to memorise (at a 5% CTR
//     this is 100 impressions; at Census's 43% "Never married" rate, 20).
//
// With no positives (or no tasks) only the first bound applies. The ladder
// tops out at 1000.
//
// Why: rare ids are the main source of over-fitting in click logs. On the
// synthetic funnel (5% CTR, 200k rows) a network that keeps every id seen
// twice reaches its best validation AUC after two epochs and 0.03 lower test
// click AUC than with 100; on Census the change is within seed noise.
func DefaultMinCount(rows int64, positives []int64) int {
	need := math.Sqrt(float64(rows)) / 1000
	var most int64
	for _, p := range positives {
		most = max(most, p)
	}
	if most > 0 && rows > 0 {
		need = math.Max(need, MinCountPositives*float64(rows)/float64(most))
	}
	for _, c := range minCountLadder {
		if float64(c) >= need {
			return c
		}
	}
	return minCountLadder[len(minCountLadder)-1]
}

// DefaultMinCountRule states the rule of DefaultMinCount in one line, for
// reports.
func DefaultMinCountRule() string {
	steps := make([]string, len(minCountLadder))
	for i, c := range minCountLadder {
		steps[i] = strconv.Itoa(c)
	}
	return fmt.Sprintf("smallest of %s >= sqrt(rows)/1000 and >= %d/p, p the rate of the most frequent label", strings.Join(steps, ","), MinCountPositives)
}

// InspectMinCounts are the thresholds at which Summary reports OOV rates.
var InspectMinCounts = []int{1, 2, 5, 10, 20, 50, 100}

// Leakage-check constants (see the package doc).
const (
	leakMinClass    = 10  // each class needs this many evidence rows
	leakMinCoverage = 0.5 // evidence rows must cover this share of the rows
)

// fitField accumulates the statistics of one field.
type fitField struct {
	pf     pfield
	counts *valueCounts // vocabulary: raw value → [count, positives per task...] (multi: [count])
	empty  int64        // categorical: empty cells
	tokens int64        // multi: tokens seen

	hashN, hashPos []int64    // hashed: per bucket count; opHash: per bucket×task positives
	ids            *idCounter // hashed with admission: the values' counts

	// numeric
	n, missingN                    int64
	sum, sumsq, rawSum             exactSum // exact: the same over any grouping of the rows
	tmin, tmax                     float64
	posMin, posMax, negMin, negMax []float64 // per task, raw values
	posN, negN                     []int64
	bucketN, bucketPos             []int64
}

// Fitter accumulates training rows and produces a frozen Pipeline. Add rows
// (cells in the order of the columns given to NewFitter), then call Finish.
type Fitter struct {
	schema Schema
	lay    *layout
	tasks  []ptask
	fields []fitField
	rows   int64
	pos    []int64
	viol   int64
	xs     []float64
	miss   []bool

	// KeepFunnelViolations makes Add count a funnel violation and keep the row
	// instead of returning an error (used by inspect).
	KeepFunnelViolations bool

	level, levelUntil int64 // admitLevel's default level, valid while rows < levelUntil
}

// NewFitter binds s to the column names of the training file.
func NewFitter(s *Schema, columns []string) (*Fitter, error) {
	lay, err := s.bind(columns, true)
	if err != nil {
		return nil, err
	}
	f := &Fitter{schema: *s, lay: lay, tasks: makeTasks(s), pos: make([]int64, len(s.Tasks))}
	T := len(s.Tasks)
	for i, fd := range s.Fields {
		if fd.Type == TypeIgnore {
			continue
		}
		ff := fitField{pf: pfield{def: fd, col: lay.field[i], op: opFor(fd)}}
		switch {
		case fd.HashBuckets > 0:
			ff.pf.hashN = uint64(fd.HashBuckets)
			ff.hashN = make([]int64, fd.HashBuckets+1)
			if ff.pf.op == opHash {
				ff.hashPos = make([]int64, (fd.HashBuckets+1)*T)
			}
			if fd.MinCount == nil || *fd.MinCount > 1 {
				ff.ids = newHashCounter()
			}
		case ff.pf.op == opVocab:
			ff.counts = newValueCounts(1 + T)
		case ff.pf.op == opMulti:
			ff.counts = newValueCounts(1)
		default:
			if ff.pf.op == opBucket {
				ff.bucketN = make([]int64, len(fd.Buckets)+2)
				ff.bucketPos = make([]int64, (len(fd.Buckets)+2)*T)
			}
			ff.pf.missing = fd.MissingValues
			ff.tmin, ff.tmax = math.Inf(1), math.Inf(-1)
			ff.posMin, ff.negMin = fill(T, math.Inf(1)), fill(T, math.Inf(1))
			ff.posMax, ff.negMax = fill(T, math.Inf(-1)), fill(T, math.Inf(-1))
			ff.posN, ff.negN = make([]int64, T), make([]int64, T)
		}
		f.fields = append(f.fields, ff)
	}
	f.xs = make([]float64, len(f.fields))
	f.miss = make([]bool, len(f.fields))
	return f, nil
}

func fill(n int, v float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = v
	}
	return s
}

func makeTasks(s *Schema) []ptask {
	out := make([]ptask, len(s.Tasks))
	for i, t := range s.Tasks {
		out[i] = ptask{name: t.Name, label: t.Label, pos: t.Positive, neg: t.Negative, after: -1}
		if t.After != "" {
			for j := range s.Tasks[:i] {
				if s.Tasks[j].Name == t.After {
					out[i].after = j
				}
			}
		}
	}
	return out
}

// Rows returns the number of rows added so far.
func (f *Fitter) Rows() int64 { return f.rows }

// newHashCounter returns the counter of a hashed field's values, sized by
// AdmitExactValues, AdmitSketchDepth and AdmitSketchWidth.
func newHashCounter() *idCounter {
	return newIDCounter(AdmitExactValues, AdmitSketchDepth, uint(bits.TrailingZeros(AdmitSketchWidth)))
}

// CountHashedValues makes the fitter count the values of hashed fields with
// min_count 1 too (it does not need to: they admit every value), so that
// Summary reports their OOV rates at every threshold. Call it before Add;
// inspect does.
func (f *Fitter) CountHashedValues() {
	for i := range f.fields {
		if ff := &f.fields[i]; ff.pf.hashN != 0 && ff.ids == nil {
			ff.ids = newHashCounter()
		}
	}
}

// admitLevel returns the promotion level of hashed field ff's counter (see
// idCounter): a lower bound of the min_count the fit will end with, so that
// no value that reaches it is forgotten. It is the field's own min_count
// (at least 2: with min_count 1, counted only for Summary, values seen
// once may be forgotten), else the smallest ladder value ≥ √rows/1000 (at
// least 2), the part of DefaultMinCount that can only grow with the rows;
// the positive-rate part is not known before the end.
func (f *Fitter) admitLevel(ff *fitField) uint32 {
	if ff.pf.def.MinCount != nil {
		return uint32(max(*ff.pf.def.MinCount, 2))
	}
	if f.rows >= f.levelUntil {
		f.level = int64(DefaultMinCount(f.rows, nil))
		// The level changes when √rows/1000 passes it.
		f.levelUntil = f.level*f.level*1000000 + 1
		if f.level == int64(minCountLadder[len(minCountLadder)-1]) {
			f.levelUntil = math.MaxInt64
		}
	}
	return uint32(f.level)
}

// Add accumulates one training record. A bad value returns a *FieldError
// wrapping ErrBadRow and a funnel violation one wrapping ErrFunnelViolation
// (unless KeepFunnelViolations); the row is then not counted.
func (f *Fitter) Add(rec [][]byte) error {
	if len(rec) != len(f.lay.columns) {
		return &FieldError{Column: -1, Value: fmt.Sprintf("%d columns", len(rec)), Expected: fmt.Sprintf("%d columns", len(f.lay.columns)), Err: ErrBadRow}
	}
	var ybuf [MaxTasks]float32
	ys := ybuf[:len(f.tasks)]
	violation := false
	if err := parseLabels(f.tasks, f.lay, rec, ys); err != nil {
		if !errors.Is(err, ErrFunnelViolation) || !f.KeepFunnelViolations {
			return err
		}
		violation = true
	}
	// Check every cell first so that a bad row changes nothing: numbers
	// parse within ±MaxAbsRaw (and, without normalisation, have a model
	// input within ±MaxAbsInput, known already), categorical values hold no
	// NUL byte.
	for i := range f.fields {
		ff := &f.fields[i]
		v := trim(rec[ff.pf.col])
		if ff.pf.op != opNumeric && ff.pf.op != opBucket {
			if hasNUL(v) {
				return ff.pf.nulError(ff.pf.col, v)
			}
			continue
		}
		x, st := parseNumber(v, ff.pf.missing)
		if st > numMissing {
			return ff.pf.badNumber(ff.pf.col, string(v), st, 0)
		}
		if st == numOK && ff.pf.op == opNumeric && ff.pf.def.Normalize == "none" {
			z := x
			if ff.pf.def.Transform == "log1p" {
				z = signedLog1p(x)
			}
			if !inputOK(z) {
				return ff.pf.badNumber(ff.pf.col, string(v), numInput, z)
			}
		}
		f.xs[i], f.miss[i] = x, st == numMissing
	}
	if violation {
		f.viol++
	}
	f.rows++
	T := len(f.tasks)
	for t, y := range ys {
		if y == 1 {
			f.pos[t]++
		}
	}
	for i := range f.fields {
		ff := &f.fields[i]
		v := trim(rec[ff.pf.col])
		switch ff.pf.op {
		case opVocab:
			if len(v) == 0 {
				ff.empty++
			}
			c := ff.counts.at(v)
			c[0]++
			for t, y := range ys {
				if y == 1 {
					c[1+t]++
				}
			}
		case opHash:
			if len(v) == 0 {
				ff.empty++
			}
			h := Hash64(v)
			id := 1 + h%ff.pf.hashN
			ff.hashN[id]++
			for t, y := range ys {
				if y == 1 {
					ff.hashPos[int(id)*T+t]++
				}
			}
			if ff.ids != nil {
				ff.ids.add(h, f.admitLevel(ff))
			}
		case opMulti:
			if len(v) == 0 {
				ff.empty++
			}
			sep := ff.pf.def.Separator
			for len(v) > 0 {
				j := indexSep(v, sep)
				var tok []byte
				if j < 0 {
					tok, v = v, nil
				} else {
					tok, v = v[:j], v[j+len(sep):]
				}
				if tok = trim(tok); len(tok) > 0 {
					ff.tokens++
					if ff.pf.hashN != 0 {
						h := Hash64(tok)
						ff.hashN[1+h%ff.pf.hashN]++
						if ff.ids != nil {
							ff.ids.add(h, f.admitLevel(ff))
						}
						continue
					}
					ff.counts.at(tok)[0]++
				}
			}
		default:
			x := f.xs[i]
			if f.miss[i] {
				ff.missingN++
				if ff.pf.op == opBucket {
					ff.bucketN[0]++
					for t, y := range ys {
						if y == 1 {
							ff.bucketPos[t]++
						}
					}
				}
				continue
			}
			ff.n++
			ff.rawSum.add(x)
			tx := x
			if ff.pf.def.Transform == "log1p" {
				tx = signedLog1p(x)
			}
			ff.sum.add(tx)
			ff.sumsq.add(tx * tx)
			ff.tmin = math.Min(ff.tmin, tx)
			ff.tmax = math.Max(ff.tmax, tx)
			for t, y := range ys {
				if y == 1 {
					ff.posN[t]++
					ff.posMin[t] = math.Min(ff.posMin[t], x)
					ff.posMax[t] = math.Max(ff.posMax[t], x)
				} else {
					ff.negN[t]++
					ff.negMin[t] = math.Min(ff.negMin[t], x)
					ff.negMax[t] = math.Max(ff.negMax[t], x)
				}
			}
			if ff.pf.op == opBucket {
				b := bucketOf(ff.pf.def.Buckets, x)
				ff.bucketN[b]++
				for t, y := range ys {
					if y == 1 {
						ff.bucketPos[int(b)*T+t]++
					}
				}
			}
		}
	}
	return nil
}

// minCount returns the threshold of vocabulary or hashed field ff: its own
// min_count, else DefaultMinCount of the rows and positives added so far.
func (f *Fitter) minCount(ff *fitField) int {
	if ff.pf.def.MinCount != nil {
		return *ff.pf.def.MinCount
	}
	return DefaultMinCount(f.rows, f.pos)
}

// Finish freezes the statistics into a Pipeline. It refuses (ErrLeakage) a
// feature that predicts a label perfectly unless the schema allows leakage.
func (f *Fitter) Finish() (*Pipeline, error) {
	if f.rows == 0 {
		return nil, errors.New("feature: fit: no training rows")
	}
	if !f.schema.AllowLeakage {
		if leaks := f.Leaks(); len(leaks) > 0 {
			return nil, fmt.Errorf("feature: fit: %s (remove the field, or set allow_leakage: true): %w", strings.Join(leaks, "; "), ErrLeakage)
		}
	}
	p := &Pipeline{schema: f.schema, lay: f.lay, tasks: f.tasks, rows: f.rows}
	for i := range f.fields {
		ff := &f.fields[i]
		pf := ff.pf
		var counts []int64
		switch {
		case pf.hashN != 0:
			pf.minCount = f.minCount(ff)
			counts = slices.Clone(ff.hashN)
			if pf.minCount > 1 {
				pf.admit, counts = ff.admitted(pf.minCount, f.fieldTotal(ff))
			}
		case pf.op == opVocab || pf.op == opMulti:
			pf.minCount = f.minCount(ff)
			pf.vocabList = ff.keptValues(pf.minCount)
			counts = make([]int64, len(pf.vocabList)+1)
			counts[0] = f.fieldTotal(ff)
			for j, v := range pf.vocabList {
				counts[j+1] = ff.counts.get(v)[0]
				counts[0] -= counts[j+1]
			}
		case pf.op == opBucket:
			counts = slices.Clone(ff.bucketN)
		}
		p.rowCounts = append(p.rowCounts, counts)
		switch pf.op {
		case opNumeric, opBucket:
			st := ff.numericStats()
			for _, v := range []float64{st.Mean, st.Std, st.Min, st.Max, st.RawMean} {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return nil, fmt.Errorf("feature: fit: field %q: values too large for statistics (try transform: log1p): %w", pf.def.Name, ErrBadRow)
				}
			}
			pf.stats = st
		}
		if err := pf.finish(); err != nil {
			return nil, err
		}
		p.fields = append(p.fields, pf)
	}
	p.finish()
	return p, nil
}

// fieldTotal returns the cells of categorical field ff added so far (the
// tokens of a multi-valued field).
func (f *Fitter) fieldTotal(ff *fitField) int64 {
	if ff.pf.op == opMulti {
		return ff.tokens
	}
	return f.rows
}

// admitted returns the Bloom filter of the values of hashed field ff
// counted at least minCount times, and the count of each id: the admitted
// values' counts summed per bucket, the rest (total − their sum, at least
// 0) for the OOV id 0.
func (ff *fitField) admitted(minCount int, total int64) (*bloomFilter, []int64) {
	m := uint32(minCount)
	n := 0
	ff.ids.each(func(_ uint64, c uint32) {
		if c >= m {
			n++
		}
	})
	b := newBloomFilter(n)
	counts := make([]int64, ff.pf.hashN+1)
	counts[0] = total
	ff.ids.each(func(h uint64, c uint32) {
		if c >= m {
			b.add(h)
			counts[1+h%ff.pf.hashN] += int64(c)
			counts[0] -= int64(c)
		}
	})
	counts[0] = max(counts[0], 0)
	return b, counts
}

// keptValues returns the values seen at least minCount times, by count
// descending then value ascending.
func (ff *fitField) keptValues(minCount int) []string { return ff.counts.kept(minCount) }

// numericStats returns the statistics of a numeric field from its sums
// (all zero but Count when no value was seen).
func (ff *fitField) numericStats() NumericStats {
	st := NumericStats{Count: ff.n}
	if ff.n > 0 {
		st.Mean = ff.sum.Float64() / float64(ff.n)
		st.Std = math.Sqrt(math.Max(0, ff.sumsq.Float64()/float64(ff.n)-st.Mean*st.Mean))
		st.Min, st.Max = ff.tmin, ff.tmax
		st.RawMean = ff.rawSum.Float64() / float64(ff.n)
	}
	return st
}

// finish derives the transform state (maps, spec, normalization) from the
// fitted data in pf (vocabList, stats, ...).
func (pf *pfield) finish() error {
	pf.spec = FieldSpec{Name: pf.def.Name}
	switch pf.op {
	case opMulti, opHash:
		if pf.def.HashBuckets == 0 {
			break
		}
		pf.hashN = uint64(pf.def.HashBuckets)
		pf.scanNUL = true // every id is in use
		pf.spec.Kind, pf.spec.Vocab = Categorical, pf.def.HashBuckets+1
		if pf.op == opMulti {
			pf.spec.Kind = MultiCategorical
		}
		return nil
	}
	switch pf.op {
	case opVocab, opMulti:
		pf.vocab = make(map[string]int32, len(pf.vocabList))
		for i, v := range pf.vocabList {
			if _, dup := pf.vocab[v]; dup {
				return fmt.Errorf("feature: field %q: duplicate vocabulary value %q: %w", pf.def.Name, v, ErrSchema)
			}
			pf.vocab[v] = int32(i + 1)
			pf.scanNUL = pf.scanNUL || strings.IndexByte(v, 0) >= 0
		}
		if len(pf.vocabList) >= math.MaxInt32 {
			return fmt.Errorf("feature: field %q: vocabulary too large: %w", pf.def.Name, ErrSchema)
		}
		pf.spec.Kind, pf.spec.Vocab = Categorical, len(pf.vocabList)+1
		if pf.op == opMulti {
			pf.spec.Kind = MultiCategorical
		}
	case opBucket:
		pf.missing = pf.def.MissingValues
		pf.direct = !hasNumberText(pf.missing)
		pf.spec.Kind, pf.spec.Vocab = Categorical, len(pf.def.Buckets)+2
	case opNumeric:
		pf.missing = pf.def.MissingValues
		pf.direct = !hasNumberText(pf.missing)
		pf.spec.Kind = Numeric
		pf.log = pf.def.Transform == "log1p"
		st := pf.stats
		switch pf.def.Missing {
		case "mean":
			pf.fill = st.RawMean
		case "zero":
			pf.fill = 0
		default:
			pf.fill, _ = parseNumber([]byte(pf.def.Missing), nil) // validated by the schema
		}
		pf.shift, pf.scale = 0, 1
		switch pf.def.Normalize {
		case "standard":
			pf.shift = st.Mean
			if st.Std > 0 {
				pf.scale = 1 / st.Std
			}
		case "minmax":
			pf.shift = st.Min
			if st.Max > st.Min {
				pf.scale = 1 / (st.Max - st.Min)
			}
		}
		// Missing cells all get the fill's model input: check it once here.
		if z := pf.input(pf.fill); !inputOK(z) {
			return fmt.Errorf("feature: field %q: the missing fill %g gives the model input z = %.4g (after %s), beyond ±%s (try missing: mean): %w",
				pf.def.Name, pf.fill, z, transformName(pf.def), maxAbsInputText, ErrSchema)
		}
	}
	return nil
}

func (p *Pipeline) finish() {
	p.known = map[string]bool{}
	for _, c := range p.lay.columns {
		p.known[c] = true
	}
	for _, fd := range p.schema.Fields {
		p.known[fd.Name] = true
	}
	for _, t := range p.schema.Tasks {
		p.known[t.Label] = true
	}
	if p.schema.GroupBy != "" {
		p.known[p.schema.GroupBy] = true
	}
	p.hasLbls = !slices.Contains(p.lay.label, -1)
}

// idStat is the count and positive count of one fitted id for one task.
type idStat struct{ n, pos int64 }

// pureByID reports whether the label of task t is a function of the fitted
// id on the evidence rows (ids seen at least twice), and the evidence size.
func pureByID(stats map[int64]idStat) (pure bool, evidence, pos int64) {
	pure = true
	for _, s := range stats {
		if s.n < 2 {
			continue
		}
		evidence += s.n
		pos += s.pos
		if s.pos != 0 && s.pos != s.n {
			pure = false
		}
	}
	return pure, evidence, pos
}

// Leaks returns one message per (feature, task) pair where the feature alone
// predicts the label perfectly on the rows added so far (see the package
// doc for the exact rule). It is empty when nothing leaks.
func (f *Fitter) Leaks() []string {
	var out []string
	T := len(f.tasks)
	for i := range f.fields {
		ff := &f.fields[i]
		for t := 0; t < T; t++ {
			neg := f.rows - f.pos[t]
			if f.pos[t] < leakMinClass || neg < leakMinClass {
				continue
			}
			var why string
			switch ff.pf.op {
			case opVocab, opHash, opBucket:
				stats := map[int64]idStat{}
				switch ff.pf.op {
				case opVocab:
					// A kept value is its own id, every other value shares
					// the OOV id 0; which kept value gets which id does not
					// matter here, so no vocabulary order is built.
					mc := int64(f.minCount(ff))
					var kept int64
					ff.counts.each(func(_ string, c []int64) {
						id := int64(0)
						if c[0] >= mc {
							kept++
							id = kept
						}
						s := stats[id]
						s.n += c[0]
						s.pos += c[1+t]
						stats[id] = s
					})
				case opHash:
					for id, n := range ff.hashN {
						if n > 0 {
							stats[int64(id)] = idStat{n, ff.hashPos[id*T+t]}
						}
					}
				case opBucket:
					for id, n := range ff.bucketN {
						if n > 0 {
							stats[int64(id)] = idStat{n, ff.bucketPos[id*T+t]}
						}
					}
				}
				pure, ev, pos := pureByID(stats)
				if pure && pos >= leakMinClass && ev-pos >= leakMinClass && float64(ev) >= leakMinCoverage*float64(f.rows) {
					why = fmt.Sprintf("every value seen twice or more has a single %s label (%d of %d rows)", f.tasks[t].name, ev, f.rows)
				}
			case opNumeric:
				if ff.posN[t] < leakMinClass || ff.negN[t] < leakMinClass || float64(ff.n) < leakMinCoverage*float64(f.rows) {
					continue
				}
				if ff.posMin[t] > ff.negMax[t] {
					why = fmt.Sprintf("%s is positive exactly when the value is > %g", f.tasks[t].name, ff.negMax[t])
				} else if ff.posMax[t] < ff.negMin[t] {
					why = fmt.Sprintf("%s is positive exactly when the value is < %g", f.tasks[t].name, ff.negMin[t])
				}
			}
			if why != "" {
				out = append(out, fmt.Sprintf("field %q predicts task %q (label %q) perfectly on the training rows: %s", ff.pf.def.Name, f.tasks[t].name, f.tasks[t].label, why))
			}
		}
	}
	return out
}

// OOVRate is the share of cells that a threshold sends to the OOV id.
type OOVRate struct {
	MinCount int
	Vocab    int     // kept values (vocabulary: embedding rows minus the OOV row; hashed: admitted values)
	Rate     float64 // share of cells (tokens for multi) mapped to OOV
	// RateMin is a lower bound of Rate, below it only for a hashed field
	// whose counts spilled into the sketch, at a threshold below the level
	// under which values may have been forgotten (Rate then counts every
	// forgotten value as OOV, which the fit does); else RateMin = Rate.
	RateMin float64
}

// FieldSummary describes one feature field of the rows added to a Fitter.
type FieldSummary struct {
	Name     string
	Type     FieldType
	Hashed   bool
	Distinct int       // distinct values (tokens for multi; non-empty buckets when hashed or bucketized); -1 for plain numeric
	Missing  int64     // numeric: missing cells; categorical: empty cells
	OOV      []OOVRate // vocabulary and hashed fields: at InspectMinCounts and the chosen min_count
	MinCount int       // chosen min_count (vocabulary and hashed fields)
	Default  bool      // MinCount is the data-chosen default
	// Buckets is a hashed field's hash_buckets (its embedding rows are
	// Buckets+1, whatever it admits).
	Buckets int
	// Values is the number of distinct values of a hashed field (0 when its
	// values were not counted), and Sketched reports that more than
	// AdmitExactValues did not fit the exact table, so the rarer ones were
	// counted in the sketch; Values is then AdmitExactValues, a lower bound.
	Values   int
	Sketched bool
	Stats    NumericStats
}

// TaskSummary describes one task's labels.
type TaskSummary struct {
	Name, Label, After string
	Positives          int64
}

// Summary is what `dcrnn data inspect` shows about a set of rows.
type Summary struct {
	Rows             int64
	Fields           []FieldSummary
	Tasks            []TaskSummary
	FunnelViolations int64 // counted only with KeepFunnelViolations
	DefaultMinCount  int
	Leaks            []string
}

// Summary describes the rows added so far.
func (f *Fitter) Summary() Summary {
	s := Summary{Rows: f.rows, FunnelViolations: f.viol, DefaultMinCount: DefaultMinCount(f.rows, f.pos), Leaks: f.Leaks()}
	for t, tk := range f.tasks {
		ts := TaskSummary{Name: tk.name, Label: tk.label, Positives: f.pos[t]}
		if tk.after >= 0 {
			ts.After = f.tasks[tk.after].name
		}
		s.Tasks = append(s.Tasks, ts)
	}
	for i := range f.fields {
		ff := &f.fields[i]
		fs := FieldSummary{Name: ff.pf.def.Name, Type: ff.pf.def.Type, Distinct: -1}
		switch {
		case ff.pf.hashN != 0:
			fs.Hashed, fs.Buckets, fs.Missing = true, int(ff.pf.hashN), ff.empty
			fs.MinCount, fs.Default = f.minCount(ff), ff.pf.def.MinCount == nil
			fs.Distinct = 0
			for _, c := range ff.hashN {
				if c > 0 {
					fs.Distinct++
				}
			}
			if ff.ids != nil {
				fs.Values, fs.Sketched = ff.ids.n, ff.ids.sketch != nil
				if fs.Sketched {
					fs.Values = ff.ids.maxN
				}
				fs.OOV = ff.hashedOOV(inspectThresholds(fs.MinCount), f.fieldTotal(ff))
			}
		case ff.pf.op == opVocab || ff.pf.op == opMulti:
			fs.Distinct = ff.counts.len()
			fs.Missing = ff.empty
			fs.MinCount = f.minCount(ff)
			fs.Default = ff.pf.def.MinCount == nil
			total := f.rows
			if ff.pf.op == opMulti {
				total = ff.tokens
			}
			for _, th := range inspectThresholds(fs.MinCount) {
				r := OOVRate{MinCount: th}
				var oov int64
				ff.counts.each(func(_ string, c []int64) {
					if c[0] >= int64(th) {
						r.Vocab++
					} else {
						oov += c[0]
					}
				})
				if total > 0 {
					r.Rate = float64(oov) / float64(total)
				}
				r.RateMin = r.Rate
				fs.OOV = append(fs.OOV, r)
			}
		case ff.pf.op == opBucket:
			fs.Missing = ff.missingN
			fs.Distinct = 0
			for _, c := range ff.bucketN {
				if c > 0 {
					fs.Distinct++
				}
			}
		case ff.pf.op == opNumeric:
			fs.Missing = ff.missingN
		}
		if ff.pf.op == opNumeric || ff.pf.op == opBucket {
			fs.Stats = ff.numericStats()
		}
		s.Fields = append(s.Fields, fs)
	}
	return s
}

// inspectThresholds returns InspectMinCounts with chosen added, sorted.
func inspectThresholds(chosen int) []int {
	ths := slices.Clone(InspectMinCounts)
	if !slices.Contains(ths, chosen) {
		ths = append(ths, chosen)
		slices.Sort(ths)
	}
	return ths
}

// hashedOOV returns the OOV rates of hashed field ff at thresholds ths, of
// total cells: the cells of values counted fewer than th times (every value
// at th = 1, which admits all). Values forgotten into the sketch count as
// OOV in Rate, as in the fit, and as kept in RateMin when th is below the
// level they were forgotten under.
func (ff *fitField) hashedOOV(ths []int, total int64) []OOVRate {
	c := ff.ids
	var tracked int64
	c.each(func(_ uint64, n uint32) { tracked += int64(n) })
	untracked := max(total-tracked, 0)
	out := make([]OOVRate, 0, len(ths))
	for _, th := range ths {
		r := OOVRate{MinCount: th}
		if th <= 1 {
			r.Vocab = c.n
			out = append(out, r)
			continue
		}
		var kept int64
		c.each(func(_ uint64, n uint32) {
			if n >= uint32(th) {
				r.Vocab++
				kept += int64(n)
			}
		})
		if total > 0 {
			oov := max(total-kept, 0)
			r.Rate = float64(oov) / float64(total)
			r.RateMin = r.Rate
			if c.sketch != nil && uint32(th) < c.highest {
				r.RateMin = float64(max(oov-untracked, 0)) / float64(total)
			}
		}
		out = append(out, r)
	}
	return out
}
