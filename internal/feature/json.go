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
	Name     string   `json:"name"`
	MinCount int      `json:"min_count,omitempty"`
	Vocab    []string `json:"vocab,omitempty"`
	// VocabSize is the number of kept values of a vocabulary stored as
	// blobs beside the JSON (pipeline version 3); Vocab is then absent.
	VocabSize int           `json:"vocab_size,omitempty"`
	Stats     *NumericStats `json:"stats,omitempty"`
	// Admitted is the Bloom filter of the admitted values of a hashed field
	// with min_count > 1 (pipeline version 2).
	Admitted *bloomJSON `json:"admitted,omitempty"`
}

// MarshalJSON writes the fitted pipeline: the schema, the training columns,
// and per field its vocabulary (id = index+1), its Bloom filter of
// admitted values (a hashed field with min_count > 1; about
// AdmitBloomBitsPerValue/6 bytes of base64 per admitted value) or numeric
// statistics, everything inline. The version is 2 when some field has such
// a filter, else 1, which readers from before admission also read (a
// version-1 reader would silently admit every hashed value, so it must
// refuse a file with a filter).
func (p *Pipeline) MarshalJSON() ([]byte, error) {
	b, _, err := p.marshal(-1, false)
	return b, err
}

// MarshalWithBlobs is MarshalJSON for a container that can store large
// arrays beside the JSON, as the model file stores tensors: every
// vocabulary and Bloom filter whose JSON form would take more than
// blobMinBytes bytes leaves the JSON and is returned as blobs (see Blob),
// which UnmarshalPipelineWithBlobs takes back. A pipeline with such blobs
// is version 3, which older readers refuse rather than read as empty
// vocabularies. A pipeline without any is exactly MarshalJSON's bytes.
func (p *Pipeline) MarshalWithBlobs() ([]byte, []Blob, error) {
	return p.marshal(BlobMinBytes, true)
}

// DocumentJSON returns MarshalWithBlobs' JSON without building the blobs:
// what a model file's header holds of the pipeline (model.CheckSavable
// measures it before training, when copying a 10⁷-value vocabulary into
// blobs only to drop them would cost its size again).
func (p *Pipeline) DocumentJSON() ([]byte, error) {
	b, _, err := p.marshal(BlobMinBytes, false)
	return b, err
}

// BlobMinBytes is the size of a vocabulary's or Bloom filter's JSON form
// above which MarshalWithBlobs stores it as blobs: a vocabulary counts its
// values' bytes plus 3 per value (quotes and comma), a filter 32 bytes per
// 24 of bits (base64). 64 KiB keeps small pipelines, whose JSON a person
// may read, as they were.
const BlobMinBytes = 64 << 10

// Blob is a large part of a field's fitted state stored outside the
// pipeline's JSON. Name is the field's name and a suffix:
//
//	<field>.vocab.bytes    Bytes: the kept values' bytes, back to back
//	<field>.vocab.offsets  Ints: len(vocabulary)+1 offsets into those
//	                       bytes, from 0 to their length; value i (id
//	                       i+1) is bytes[offsets[i]:offsets[i+1]]
//	<field>.admitted       Ints: the Bloom filter's 64-bit words
//
// Exactly one of Bytes and Ints is set.
type Blob struct {
	Name  string
	Bytes []byte
	Ints  []int64
}

// Blob name suffixes (see Blob).
const (
	blobVocabBytes   = ".vocab.bytes"
	blobVocabOffsets = ".vocab.offsets"
	blobAdmitted     = ".admitted"
)

// marshal writes the pipeline's JSON; with minBlob ≥ 0 the vocabularies and
// filters whose JSON form exceeds minBlob bytes leave it, returned as blobs
// when withBlobs is set.
func (p *Pipeline) marshal(minBlob int, withBlobs bool) ([]byte, []Blob, error) {
	j := pipelineJSON{Version: 1, Schema: p.schema, Columns: p.lay.columns, Rows: p.rows}
	var blobs []Blob
	for i := range p.fields {
		f := &p.fields[i]
		fj := fieldJSON{Name: f.def.Name, MinCount: f.minCount, Vocab: f.vocabList}
		if f.op == opNumeric || f.op == opBucket {
			st := f.stats
			fj.Stats = &st
		}
		if minBlob >= 0 && vocabJSONSize(f.vocabList) > minBlob {
			if withBlobs {
				blobs = append(blobs, vocabBlobs(f.def.Name, f.vocabList)...)
			}
			fj.Vocab, fj.VocabSize = nil, len(f.vocabList)
			j.Version = max(j.Version, 3)
		}
		if f.admit != nil {
			j.Version = max(j.Version, 2)
			if minBlob >= 0 && (8*len(f.admit.bits)+2)/3*4 > minBlob {
				if withBlobs {
					words := make([]int64, len(f.admit.bits))
					for i, w := range f.admit.bits {
						words[i] = int64(w)
					}
					blobs = append(blobs, Blob{Name: f.def.Name + blobAdmitted, Ints: words})
				}
				fj.Admitted = &bloomJSON{Values: f.admit.n, Hashes: f.admit.k, Words: len(f.admit.bits)}
				j.Version = max(j.Version, 3)
			} else {
				fj.Admitted = f.admit.toJSON()
			}
		}
		j.Fields = append(j.Fields, fj)
	}
	b, err := json.Marshal(j)
	return b, blobs, err
}

// vocabJSONSize is the size BlobMinBytes measures for a vocabulary.
func vocabJSONSize(vs []string) int {
	n := 0
	for _, v := range vs {
		n += len(v) + 3
	}
	return n
}

// vocabBlobs stores a vocabulary as its bytes and offsets.
func vocabBlobs(field string, vs []string) []Blob {
	offs := make([]int64, len(vs)+1)
	n := 0
	for i, v := range vs {
		n += len(v)
		offs[i+1] = int64(n)
	}
	buf := make([]byte, 0, n)
	for _, v := range vs {
		buf = append(buf, v...)
	}
	return []Blob{{Name: field + blobVocabBytes, Bytes: buf}, {Name: field + blobVocabOffsets, Ints: offs}}
}

// vocabFromBlobs reads back a vocabulary of n values from its blobs. The
// values share one copy of the bytes.
func vocabFromBlobs(field string, n int, blob func(string) (Blob, bool)) ([]string, error) {
	bb, ok := blob(field + blobVocabBytes)
	if !ok || bb.Ints != nil {
		return nil, fmt.Errorf("vocabulary of %d values stored outside the JSON, but its blob %s of bytes is missing or not bytes", n, field+blobVocabBytes)
	}
	ob, ok := blob(field + blobVocabOffsets)
	if !ok || ob.Bytes != nil {
		return nil, fmt.Errorf("vocabulary of %d values stored outside the JSON, but its blob %s of 64-bit offsets is missing or not 64-bit integers", n, field+blobVocabOffsets)
	}
	offs := ob.Ints
	if len(offs) != n+1 || offs[0] != 0 || offs[n] != int64(len(bb.Bytes)) {
		return nil, fmt.Errorf("vocabulary of %d values: %d offsets (want %d, from 0 to the %d bytes)", n, len(offs), n+1, len(bb.Bytes))
	}
	all := string(bb.Bytes)
	vs := make([]string, n)
	for i := range vs {
		a, b := offs[i], offs[i+1]
		if b < a {
			return nil, fmt.Errorf("vocabulary offsets decrease at value %d (%d then %d)", i, a, b)
		}
		vs[i] = all[a:b]
	}
	return vs, nil
}

// UnmarshalPipeline rebuilds a Pipeline written by MarshalJSON. Damaged or
// inconsistent input is an error, never a panic.
func UnmarshalPipeline(b []byte) (*Pipeline, error) {
	return UnmarshalPipelineWithBlobs(b, nil)
}

// UnmarshalPipelineWithBlobs rebuilds a Pipeline written by
// MarshalWithBlobs; blob returns the blob of a name (false when there is
// none). Every blob is checked against the JSON (sizes, offsets), and a
// missing one is an error.
func UnmarshalPipelineWithBlobs(b []byte, blob func(name string) (Blob, bool)) (*Pipeline, error) {
	if blob == nil {
		blob = func(string) (Blob, bool) { return Blob{}, false }
	}
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
		if fj.VocabSize != 0 {
			if j.Version < 3 || !isVocab || fj.Vocab != nil || fj.VocabSize < 0 {
				return nil, fmt.Errorf("feature: read pipeline: field %q: vocab_size %d in a version %d pipeline, for a %s field with %d values in the JSON: %w", fd.Name, fj.VocabSize, j.Version, fd.Type, len(fj.Vocab), ErrSchema)
			}
			if pf.vocabList, err = vocabFromBlobs(fd.Name, fj.VocabSize, blob); err != nil {
				return nil, fmt.Errorf("feature: read pipeline: field %q: %v: %w", fd.Name, err, ErrSchema)
			}
		}
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
			if fj.Admitted.Bits == "" {
				if j.Version < 3 {
					return nil, fmt.Errorf("feature: read pipeline: field %q: admitted values without bits in a version %d pipeline: %w", fd.Name, j.Version, ErrSchema)
				}
				if err := fj.Admitted.fromBlob(fd.Name+blobAdmitted, blob); err != nil {
					return nil, fmt.Errorf("feature: read pipeline: field %q: %v: %w", fd.Name, err, ErrSchema)
				}
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
