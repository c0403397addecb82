package onnx

import (
	"fmt"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/model"
)

// CTCVR is the name of a funnel model's joint-probability output.
const CTCVR = "ctcvr"

// LengthsSuffix ends the name of a multi-valued field's lengths input.
const LengthsSuffix = ".lengths"

// Tensor describes one graph input or output.
type Tensor struct {
	// Name is the graph's name for it: a field's name (its ids, or its value),
	// the field's name + LengthsSuffix (a multi-valued field's lengths), a
	// task's name, or CTCVR.
	Name string `json:"name"`
	// Field is the pipeline field an input belongs to; empty for an output.
	Field string `json:"field,omitempty"`
	// Type is "int64" or "float32".
	Type string `json:"type"`
	// Shape is the tensor shape with symbolic sizes: "N" the rows, "M_<field>"
	// the longest id list of a multi-valued field in the batch.
	Shape []string `json:"shape"`
	Doc   string   `json:"doc"`
}

// Sig is the signature of an exported model: its inputs in field order (a
// multi-valued field has two, ids then lengths) and its outputs in task
// order, then ctcvr for a funnel.
type Sig struct {
	Inputs  []Tensor `json:"inputs"`
	Outputs []Tensor `json:"outputs"`
}

func (s Sig) outputNames() []string {
	var n []string
	for _, o := range s.Outputs {
		n = append(n, o.Name)
	}
	return n
}

// Signature returns the inputs and outputs of the graph of a model with
// spec, or an error when two of their names clash.
func Signature(spec model.Spec) (Sig, error) {
	var s Sig
	for _, f := range spec.Fields {
		switch f.Kind {
		case feature.Categorical:
			s.Inputs = append(s.Inputs, Tensor{Name: f.Name, Field: f.Name, Type: "int64", Shape: []string{"N"},
				Doc: fmt.Sprintf("ids of categorical field %s, in [0, %d); 0 is the out-of-vocabulary id", f.Name, f.Vocab)})
		case feature.MultiCategorical:
			m := "M_" + f.Name
			s.Inputs = append(s.Inputs,
				Tensor{Name: f.Name, Field: f.Name, Type: "int64", Shape: []string{"N", m},
					Doc: fmt.Sprintf("ids of multi-valued field %s, in [0, %d), row i's list in its first lengths[i] columns, the rest padding (any valid id, e.g. 0)", f.Name, f.Vocab)},
				Tensor{Name: f.Name + LengthsSuffix, Field: f.Name, Type: "int64", Shape: []string{"N"},
					Doc: fmt.Sprintf("length of each row's id list of %s, in [0, %s]; an empty list embeds as zeros", f.Name, m)})
		case feature.Numeric:
			s.Inputs = append(s.Inputs, Tensor{Name: f.Name, Field: f.Name, Type: "float32", Shape: []string{"N"},
				Doc: fmt.Sprintf("value of numeric field %s after its transform, normalisation and missing fill", f.Name)})
		default:
			return s, fmt.Errorf("onnx: field %q: unknown kind %d", f.Name, f.Kind)
		}
	}
	for _, t := range spec.Tasks {
		doc := "probability of task " + t.Name
		if t.After >= 0 {
			doc += " given " + spec.Tasks[t.After].Name
		}
		s.Outputs = append(s.Outputs, Tensor{Name: t.Name, Type: "float32", Shape: []string{"N"}, Doc: doc})
	}
	if a, b, ok := spec.Funnel(); ok {
		s.Outputs = append(s.Outputs, Tensor{Name: CTCVR, Type: "float32", Shape: []string{"N"},
			Doc: fmt.Sprintf("joint probability %s × %s", spec.Tasks[a].Name, spec.Tasks[b].Name)})
	}
	seen := map[string]bool{}
	for _, t := range append(append([]Tensor(nil), s.Inputs...), s.Outputs...) {
		if seen[t.Name] {
			return s, fmt.Errorf("onnx: two graph inputs or outputs would be named %q (field, field%s, task and %q names must differ)", t.Name, LengthsSuffix, CTCVR)
		}
		seen[t.Name] = true
	}
	return s, nil
}
