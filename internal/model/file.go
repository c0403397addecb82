package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/modelfile"
	"github.com/dcrnn/dcrnn/internal/nn"
)

// Trained is a model together with everything needed to score raw rows the
// way training saw them: its registry name, config, fitted feature pipeline
// and calibration. It is what a model file holds: the documents "model"
// (name and config), "pipeline" (feature.Pipeline's JSON), "info" (optional,
// free-form) and "calibration" (optional, see Calibration), and one tensor
// per weight.
type Trained struct {
	Name     string
	Config   Config
	Pipeline *feature.Pipeline
	Spec     Spec
	Model    Model
	// Objective holds learned loss weights (uncertainty weighting), if any.
	Objective *Objective
	// Calibration holds the post-hoc calibration maps that Predict applies
	// (the "calibration" document); nil: none, the model's probabilities.
	Calibration *Calibration
	// Info is free-form training information saved with the model
	// (metrics, data, timing); nil when absent.
	Info json.RawMessage
	// Checksum is the model file's checksum once saved or loaded.
	Checksum string
}

// SpecFromPipeline derives the model spec from a fitted pipeline.
func SpecFromPipeline(p *feature.Pipeline) Spec {
	s := Spec{Fields: p.Fields()}
	for _, t := range p.Tasks() {
		s.Tasks = append(s.Tasks, Task{Name: t.Name, After: t.After})
	}
	return s
}

// Build makes a new untrained model for pipeline p.
func Build(name string, cfg Config, p *feature.Pipeline, seed uint64) (*Trained, error) {
	spec := SpecFromPipeline(p)
	m, err := New(name, &cfg, spec, seed)
	if err != nil {
		return nil, err
	}
	return &Trained{Name: name, Config: cfg, Pipeline: p, Spec: spec, Model: m, Objective: NewObjective(&cfg, spec)}, nil
}

// header is the "model" document of a model file.
type header struct {
	Name   string `json:"name"`
	Config Config `json:"config"`
}

// ErrModelFile wraps every problem with the content of a model file that
// passed the format checks (unknown model, missing or misshapen weights).
var ErrModelFile = errors.New("model file content")

// Save writes tr to path atomically and records the checksum in tr.
func Save(path string, tr *Trained) (string, error) {
	hdr, err := json.Marshal(header{Name: tr.Name, Config: tr.Config})
	if err != nil {
		return "", fmt.Errorf("model: save: %w", err)
	}
	pipe, blobs, err := tr.Pipeline.MarshalWithBlobs()
	if err != nil {
		return "", fmt.Errorf("model: save pipeline: %w", err)
	}
	f := &modelfile.File{Meta: map[string]string{"model": string(hdr), "pipeline": string(pipe)}}
	for _, b := range blobs {
		t := modelfile.Tensor{Name: pipelineTensorPrefix + b.Name, DType: modelfile.I64, Shape: []int{len(b.Ints)}, Int64: b.Ints}
		if b.Ints == nil {
			t = modelfile.Tensor{Name: pipelineTensorPrefix + b.Name, DType: modelfile.U8, Shape: []int{len(b.Bytes)}, Uint8: b.Bytes}
		}
		f.Tensors = append(f.Tensors, t)
	}
	if tr.Info != nil {
		f.Meta["info"] = string(tr.Info)
	}
	if tr.Calibration != nil {
		if f.Meta["calibration"], err = marshalCalibration(tr.Calibration); err != nil {
			return "", err
		}
	}
	for _, p := range tr.DenseParams() {
		f.Tensors = append(f.Tensors, modelfile.Tensor{Name: p.Name, Shape: []int{p.Rows, p.Cols}, Data: p.W})
	}
	for _, p := range tr.Model.SparseParams() {
		f.Tensors = append(f.Tensors, modelfile.Tensor{Name: p.Name, Shape: []int{p.Rows, p.Cols}, Data: p.W})
	}
	sum, err := modelfile.Write(path, f)
	if err != nil {
		return "", err
	}
	tr.Checksum = sum
	return sum, nil
}

// pipelineTensorPrefix starts the names of the tensors that hold the
// pipeline's blobs (feature.Blob): large vocabularies and filters.
const pipelineTensorPrefix = "pipeline."

// pipelineHeadroom is the part of the model file's header kept for the
// other documents (model, info, calibration) and the tensor index when
// CheckSavable measures the pipeline.
const pipelineHeadroom = 4 << 20

// pipelineLimit is the most bytes of pipeline JSON CheckSavable accepts (a
// variable so that a test can lower it instead of building 100 MB).
var pipelineLimit = modelfile.MaxHeaderSize - pipelineHeadroom

// CheckSavable reports whether a model with pipeline p can be written by
// Save: the pipeline's JSON, less the large vocabularies and filters that
// Save stores as tensors, must fit in the model file's header
// (modelfile.MaxHeaderSize, less pipelineHeadroom): many vocabularies of
// just under feature.BlobMinBytes each can still overflow it.
// Training checks it before its first step, so that a vocabulary too big
// for the file is refused in seconds, not after the epochs. The error
// names the largest vocabularies and what to change in the schema.
func CheckSavable(p *feature.Pipeline) error {
	b, err := p.DocumentJSON()
	if err != nil {
		return fmt.Errorf("model: pipeline: %w", err)
	}
	if limit := pipelineLimit; len(b) > limit {
		type vocab struct {
			name string
			n    int
		}
		var vs []vocab
		for _, f := range p.Fields() {
			if n := len(p.Vocabulary(f.Name)); n > 0 {
				vs = append(vs, vocab{f.Name, n})
			}
		}
		slices.SortFunc(vs, func(a, b vocab) int { return b.n - a.n })
		var names []string
		for _, v := range vs[:min(3, len(vs))] {
			names = append(names, fmt.Sprintf("%s: %d values", v.name, v.n))
		}
		return fmt.Errorf("model: the fitted pipeline is %d bytes of JSON, over the %d a model file's header holds for it (largest vocabularies: %s): declare such a field with hash_buckets, or raise its min_count",
			len(b), limit, strings.Join(names, ", "))
	}
	return nil
}

// DenseParams returns the dense parameters of the model and then of its
// objective (the uncertainty weights, when used), the order the optimizer
// and the model file use.
func (tr *Trained) DenseParams() []*nn.Param {
	ps := tr.Model.Params()
	if tr.Objective != nil {
		ps = append(ps, tr.Objective.Params()...)
	}
	return ps
}

// Load reads a model file: the format is checked by package modelfile, then
// the model is rebuilt from its config and pipeline, every weight is copied
// in by name with its shape checked, and the calibration document, when
// there is one, is checked against the tasks. Nothing is half-loaded. It is
// LoadLimited without a size limit.
func Load(path string) (*Trained, error) { return LoadLimited(path, 0) }

// LoadLimited is Load for a file of at most maxBytes bytes (no limit when
// maxBytes ≤ 0): a larger file is refused with modelfile.ErrTooLarge before
// it is read. Non-regular files (directories, named pipes, devices) are
// refused with modelfile.ErrNotRegular.
func LoadLimited(path string, maxBytes int64) (*Trained, error) {
	f, sum, err := modelfile.ReadLimited(path, maxBytes)
	if err != nil {
		return nil, err
	}
	return fromFile(f, sum, path)
}

// Decode is Load for the bytes of a model file; errors name the file
// "model file".
func Decode(b []byte) (*Trained, error) {
	f, sum, err := modelfile.Decode(b)
	if err != nil {
		return nil, err
	}
	return fromFile(f, sum, "model file")
}

// fromFile rebuilds a model from a checked model file; path names it in errors.
func fromFile(f *modelfile.File, sum, path string) (*Trained, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("model: %s: %w: %s", path, ErrModelFile, fmt.Sprintf(format, a...))
	}
	var hdr header
	if err := json.Unmarshal([]byte(f.Meta["model"]), &hdr); err != nil {
		return nil, bad("model document: %v", err)
	}
	if _, ok := registry[hdr.Name]; !ok {
		return nil, bad("unknown model %q (this build has %v)", hdr.Name, Names())
	}
	byName := make(map[string]*modelfile.Tensor, len(f.Tensors))
	for i := range f.Tensors {
		byName[f.Tensors[i].Name] = &f.Tensors[i]
	}
	blob := func(name string) (feature.Blob, bool) {
		t, ok := byName[pipelineTensorPrefix+name]
		if !ok || len(t.Shape) != 1 {
			return feature.Blob{}, false
		}
		delete(byName, pipelineTensorPrefix+name)
		switch t.DType {
		case modelfile.U8:
			return feature.Blob{Name: name, Bytes: t.Uint8}, true
		case modelfile.I64:
			return feature.Blob{Name: name, Ints: t.Int64}, true
		}
		return feature.Blob{}, false
	}
	p, err := feature.UnmarshalPipelineWithBlobs([]byte(f.Meta["pipeline"]), blob)
	if err != nil {
		return nil, bad("pipeline document (its large vocabularies and filters are the tensors %s<blob>): %v", pipelineTensorPrefix, err)
	}
	tr, err := Build(hdr.Name, hdr.Config, p, 0)
	if err != nil {
		return nil, bad("%v", err)
	}
	if info, ok := f.Meta["info"]; ok {
		tr.Info = json.RawMessage(info)
	}
	if doc, ok := f.Meta["calibration"]; ok {
		var c Calibration
		if err := json.Unmarshal([]byte(doc), &c); err != nil {
			return nil, bad("calibration document: %v", err)
		}
		if err := c.validate(tr.Spec); err != nil {
			return nil, bad("calibration document: %v", err)
		}
		tr.Calibration = &c
	}
	take := func(name string, rows, cols int, dst []float32) error {
		t, ok := byName[name]
		if !ok {
			return bad("weight %q missing", name)
		}
		if len(t.Shape) != 2 || t.Shape[0] != rows || t.Shape[1] != cols || len(t.Data) != len(dst) {
			return bad("weight %q has shape %v, the model needs [%d %d]", name, t.Shape, rows, cols)
		}
		copy(dst, t.Data)
		delete(byName, name)
		return nil
	}
	for _, q := range tr.DenseParams() {
		if err := take(q.Name, q.Rows, q.Cols, q.W); err != nil {
			return nil, err
		}
	}
	for _, q := range tr.Model.SparseParams() {
		if err := take(q.Name, q.Rows, q.Cols, q.W); err != nil {
			return nil, err
		}
	}
	for name := range byName {
		return nil, bad("unexpected weight %q (file written by another model or version?)", name)
	}
	tr.Checksum = sum
	return tr, nil
}
