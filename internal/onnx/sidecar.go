package onnx

import (
	"encoding/json"
	"fmt"

	"github.com/dcrnn/dcrnn/internal/model"
)

// SidecarVersion is the version of the JSON written beside an exported model.
const SidecarVersion = 1

// sidecar is the JSON written beside an exported model (M.pipeline.json).
type sidecar struct {
	Version  int    `json:"version"`
	Model    string `json:"model"`
	Checksum string `json:"checksum,omitempty"`
	Sig
	// Pipeline is the model file's fitted feature pipeline (the "pipeline"
	// document): what turns raw rows into the inputs.
	Pipeline json.RawMessage `json:"pipeline"`
}

// Sidecar returns the JSON that goes beside the ONNX file of tr: the
// signature of the graph (inputs in field order with their shapes and
// meaning, outputs) and the fitted feature pipeline that maps raw rows to
// those inputs, the one `dcrnn predict --inputs-out` applies.
func Sidecar(tr *model.Trained) ([]byte, error) {
	sig, err := Signature(tr.Spec)
	if err != nil {
		return nil, err
	}
	sc := sidecar{Version: SidecarVersion, Model: tr.Name, Checksum: tr.Checksum, Sig: sig, Pipeline: json.RawMessage("null")}
	if tr.Pipeline != nil {
		p, err := json.Marshal(tr.Pipeline)
		if err != nil {
			return nil, fmt.Errorf("onnx: pipeline: %w", err)
		}
		sc.Pipeline = p
	}
	out, err := json.MarshalIndent(sc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("onnx: sidecar: %w", err)
	}
	return append(out, '\n'), nil
}
