package dcrnn

import (
	"fmt"
	"slices"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/score"
)

// MaxModelBytes is the largest model file Load reads (1 GiB); a larger file
// is refused before any byte is read. Use LoadLimited for another bound.
const MaxModelBytes = 1 << 30

// Model is a loaded model file: the network, its feature pipeline and its
// calibration maps. It is read-only and safe for concurrent use; score with
// a Scorer per goroutine (NewScorer).
type Model struct {
	tr     *model.Trained
	tasks  []string
	fields []Field
	funnel bool
	// ctcvr is the index Prediction.Prob gives "ctcvr" (len(tasks)), -1
	// without a funnel.
	ctcvr int
	// frozen holds the weights packed for the kernels and the input
	// layers folded into the embedding tables, shared by the Model's
	// Scorers (score.Frozen).
	frozen *score.Frozen
}

// Load reads and checks the model file at path (at most MaxModelBytes
// bytes; named pipes, devices and directories are refused).
func Load(path string) (*Model, error) { return LoadLimited(path, MaxModelBytes) }

// LoadLimited is Load for a file of at most maxBytes bytes (no bound when
// maxBytes ≤ 0).
func LoadLimited(path string, maxBytes int64) (*Model, error) {
	tr, err := model.LoadLimited(path, maxBytes)
	if err != nil {
		return nil, fmt.Errorf("dcrnn: %w", err)
	}
	return newModel(tr), nil
}

// Decode is Load for the bytes of a model file (read from an object store,
// embedded in the binary). The Model does not keep b.
func Decode(b []byte) (*Model, error) {
	tr, err := model.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("dcrnn: %w", err)
	}
	return newModel(tr), nil
}

func newModel(tr *model.Trained) *Model {
	m := &Model{tr: tr, ctcvr: -1, frozen: score.NewFrozen()}
	for _, t := range tr.Spec.Tasks {
		m.tasks = append(m.tasks, t.Name)
	}
	if _, _, ok := tr.Spec.Funnel(); ok {
		m.funnel = true
		m.ctcvr = len(m.tasks)
	}
	defs := map[string]feature.Field{}
	for _, f := range tr.Pipeline.Schema().Fields {
		defs[f.Name] = f
	}
	for _, fs := range tr.Pipeline.Fields() {
		def := defs[fs.Name]
		f := Field{Name: fs.Name}
		switch def.Type {
		case feature.TypeMultiCategorical:
			f.Kind, f.Separator = MultiCategorical, def.Separator
		case feature.TypeNumeric:
			f.Kind, f.Buckets = Numeric, slices.Clone(def.Buckets)
			f.MissingValues = slices.Clone(def.MissingValues)
		default:
			f.Kind = Categorical
		}
		m.fields = append(m.fields, f)
	}
	return m
}

// Name returns the model's architecture ("dcrnn", "mmoe", ...; `dcrnn
// train --model`).
func (m *Model) Name() string { return m.tr.Name }

// Checksum returns the model file's checksum (hex SHA-256), the one `dcrnn
// serve` reports, to tell model files apart.
func (m *Model) Checksum() string { return m.tr.Checksum }

// Tasks returns the task names in schema order: the order of
// Prediction.Probs.
func (m *Model) Tasks() []string { return slices.Clone(m.tasks) }

// Funnel reports whether the model's second task is conditional on its
// first (a funnel: conversion after click). Its probability is then the
// conditional one, and every Prediction carries the joint probability in
// CTCVR.
func (m *Model) Funnel() bool { return m.funnel }

// Fields describes the feature fields a row may hold, in schema order.
// Keys of a row that are not fields are ignored.
func (m *Model) Fields() []Field {
	out := slices.Clone(m.fields)
	for i := range out {
		out[i].Buckets = slices.Clone(out[i].Buckets)
		out[i].MissingValues = slices.Clone(out[i].MissingValues)
	}
	return out
}

// UnknownKeys returns, sorted, the keys of row that are neither fields,
// labels nor other columns of the model's training file (nil when there
// are none): likely misspellings, which Score ignores.
func (m *Model) UnknownKeys(row map[string]any) []string { return m.tr.Pipeline.UnknownKeys(row) }

// Kind is the kind of raw value a field takes.
type Kind string

// The kinds of Field.
const (
	// Categorical: one value, a string or a number (matched by its
	// shortest decimal form: 5 is "5"); a value not seen in training, or
	// seen too rarely, shares one out-of-vocabulary embedding.
	Categorical Kind = "categorical"
	// MultiCategorical: a list of strings or numbers, or one string that
	// holds them joined by Separator.
	MultiCategorical Kind = "multi_categorical"
	// Numeric: a number, or a string holding one; the strings in
	// MissingValues (and nil) are missing and take the training fill value.
	Numeric Kind = "numeric"
)

// Field describes one input field of a model.
type Field struct {
	Name string
	Kind Kind
	// Separator splits a single string value of a MultiCategorical field.
	Separator string
	// Buckets are the boundaries of a bucketised Numeric field (nil when
	// the field is used as a number).
	Buckets []float64
	// MissingValues are the strings that mean "missing" for a Numeric field.
	MissingValues []string
}
