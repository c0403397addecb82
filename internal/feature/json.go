package feature

import (
	"encoding/json"
	"fmt"
	"math"
)

// pipelineJSON is the serialized form of a Pipeline.
type pipelineJSON struct {
	Version int         `json:"version"`
	Schema  Schema      `json:"schema"`
	Columns []string    `json:"columns"`
	Rows    int64       `json:"rows"`
	Fields  []fieldJSON `json:"fields"`
}

type fieldJSON struct {
	Name     string        `json:"name"`
	MinCount int           `json:"min_count,omitempty"`
	Vocab    []string      `json:"vocab,omitempty"`
	Stats    *NumericStats `json:"stats,omitempty"`
	// Admitted is the Bloom filter of the admitted values of a hashed field
	// with min_count > 1 (pipeline version 2).
	Admitted *bloomJSON `json:"admitted,omitempty"`
}

// MarshalJSON writes the fitted pipeline: the schema, the training columns,
// and per field its vocabulary (id = index+1), its Bloom filter of
// admitted values (a hashed field with min_count > 1; about
// AdmitBloomBitsPerValue/6 bytes of base64 per admitted value) or numeric
// statistics. The version is PipelineVersion when some field has such a
// filter, else 1, which readers from before admission also read (a version-1
// reader would silently admit every hashed value, so it must refuse a file
// with a filter).
func (p *Pipeline) MarshalJSON() ([]byte, error) {
	j := pipelineJSON{Version: 1, Schema: p.schema, Columns: p.lay.columns, Rows: p.rows}
	for i := range p.fields {
		f := &p.fields[i]
		fj := fieldJSON{Name: f.def.Name, MinCount: f.minCount, Vocab: f.vocabList}
		if f.op == opNumeric || f.op == opBucket {
			st := f.stats
			fj.Stats = &st
		}
		if f.admit != nil {
			fj.Admitted = f.admit.toJSON()
			j.Version = PipelineVersion
		}
		j.Fields = append(j.Fields, fj)
	}
	return json.Marshal(j)
}

// UnmarshalPipeline rebuilds a Pipeline written by MarshalJSON. Damaged or
// inconsistent input is an error, never a panic.
func UnmarshalPipeline(b []byte) (*Pipeline, error) {
	var j pipelineJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("feature: read pipeline: %w", err)
	}
	if j.Version < 1 || j.Version > PipelineVersion {
		return nil, fmt.Errorf("feature: read pipeline: version %d, want 1..%d: %w", j.Version, PipelineVersion, ErrSchema)
	}
	s := j.Schema
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("feature: read pipeline: %w", err)
	}
	lay, err := s.bind(j.Columns, true)
	if err != nil {
		return nil, fmt.Errorf("feature: read pipeline: %w", err)
	}
	p := &Pipeline{schema: s, lay: lay, tasks: makeTasks(&s), rows: j.Rows}
	k := 0
	for i, fd := range s.Fields {
		if fd.Type == TypeIgnore {
			continue
		}
		if k >= len(j.Fields) || j.Fields[k].Name != fd.Name {
			return nil, fmt.Errorf("feature: read pipeline: fitted field %d is not %q: %w", k, fd.Name, ErrSchema)
		}
		fj := j.Fields[k]
		k++
		pf := pfield{def: fd, col: lay.field[i], op: opFor(fd), minCount: fj.MinCount, vocabList: fj.Vocab}
		isNum := pf.op == opNumeric || pf.op == opBucket
		hashed := fd.HashBuckets > 0
		isVocab := (pf.op == opVocab || pf.op == opMulti) && !hashed
		// A vocabulary field may have no kept value (every value rarer than
		// min_count): its empty list is omitted from the JSON. A hashed field
		// has a filter of admitted values exactly when min_count > 1 (a
		// pipeline from before admission has min_count 0 and none).
		if isNum != (fj.Stats != nil) || (fj.Vocab != nil && !isVocab) || (fj.Admitted != nil) != (hashed && fj.MinCount > 1) || fj.MinCount < 0 {
			return nil, fmt.Errorf("feature: read pipeline: field %q: fitted state does not match its type %s: %w", fd.Name, fd.Type, ErrSchema)
		}
		if fj.Admitted != nil {
			if j.Version < 2 {
				return nil, fmt.Errorf("feature: read pipeline: field %q: admitted values in a version %d pipeline: %w", fd.Name, j.Version, ErrSchema)
			}
			if pf.admit, err = fj.Admitted.filter(); err != nil {
				return nil, fmt.Errorf("feature: read pipeline: field %q: %v: %w", fd.Name, err, ErrSchema)
			}
		}
		if isNum {
			pf.stats = *fj.Stats
			st := pf.stats
			for _, v := range []float64{st.Mean, st.Std, st.Min, st.Max, st.RawMean} {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return nil, fmt.Errorf("feature: read pipeline: field %q: non-finite statistics: %w", fd.Name, ErrSchema)
				}
			}
		}
		if err := pf.finish(); err != nil {
			return nil, fmt.Errorf("feature: read pipeline: %w", err)
		}
		p.fields = append(p.fields, pf)
	}
	if k != len(j.Fields) {
		return nil, fmt.Errorf("feature: read pipeline: %d fitted fields for %d schema features: %w", len(j.Fields), k, ErrSchema)
	}
	p.finish()
	return p, nil
}
