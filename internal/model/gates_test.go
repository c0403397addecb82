package model_test

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/model/modeltest"
	"github.com/dcrnn/dcrnn/internal/nn"
)

// setGates zeroes the weight matrix of every gate whose W is named in
// biases and sets its bias to the given logits, so that the gate's weights
// are softmax(bias) on every row, known by hand.
func setGates(t *testing.T, m model.Model, biases map[string][]float64) {
	t.Helper()
	found := 0
	for _, p := range m.Params() {
		prefix, ok := strings.CutSuffix(p.Name, ".W")
		if !ok {
			continue
		}
		b, ok := biases[prefix]
		if !ok {
			continue
		}
		clear(p.W)
		for _, q := range m.Params() {
			if q.Name == prefix+".b" {
				if len(q.W) != len(b) {
					t.Fatalf("%s: %d experts, test gives %d logits", prefix, len(q.W), len(b))
				}
				for i, v := range b {
					q.W[i] = float32(v)
				}
				found++
			}
		}
	}
	if found != len(biases) {
		t.Fatalf("set %d gates, want %d", found, len(biases))
	}
}

func TestGateUsage(t *testing.T) {
	ln := math.Log
	tests := []struct {
		name   string
		cfg    model.Config
		biases map[string][]float64
		want   []model.GateUsage
	}{
		{
			name: "mmoe",
			cfg:  tiny(model.Config{Experts: 2}),
			biases: map[string][]float64{
				"gate.click":      {0, ln(3)},     // 1:3
				"gate.conversion": {ln(4), ln(1)}, // 4:1
			},
			want: []model.GateUsage{
				{Gate: "click", Experts: []string{"expert 0", "expert 1"}, Weights: []float64{0.25, 0.75}},
				{Gate: "conversion", Experts: []string{"expert 0", "expert 1"}, Weights: []float64{0.8, 0.2}},
			},
		},
		{
			name: "ple",
			cfg:  tiny(model.Config{Levels: 2, SharedExperts: 2, TaskExperts: 1}),
			biases: map[string][]float64{
				"ple.0.click.gate":      {ln(2), 0, 0},            // 2:1:1
				"ple.0.conversion.gate": {0, 0, 0},                // uniform
				"ple.0.shared.gate":     {ln(5), 0, ln(2), ln(2)}, // 5:1:2:2
				"ple.1.click.gate":      {0, ln(9), 0},            // 1:9:1
				"ple.1.conversion.gate": {ln(3), ln(6), ln(1)},
			},
			want: []model.GateUsage{
				{Gate: "level 0/click", Experts: []string{"click 0", "shared 0", "shared 1"}, Weights: []float64{0.5, 0.25, 0.25}},
				{Gate: "level 0/conversion", Experts: []string{"conversion 0", "shared 0", "shared 1"}, Weights: []float64{1.0 / 3, 1.0 / 3, 1.0 / 3}},
				{Gate: "level 0/shared", Experts: []string{"click 0", "conversion 0", "shared 0", "shared 1"}, Weights: []float64{0.5, 0.1, 0.2, 0.2}},
				{Gate: "level 1/click", Experts: []string{"click 0", "shared 0", "shared 1"}, Weights: []float64{1.0 / 11, 9.0 / 11, 1.0 / 11}},
				{Gate: "level 1/conversion", Experts: []string{"conversion 0", "shared 0", "shared 1"}, Weights: []float64{0.3, 0.6, 0.1}},
			},
		},
	}
	spec := modeltest.TinySpec(true)
	b := modeltest.TinyBatch(spec, 7, 2)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			m, err := model.New(tc.name, &cfg, spec, 1)
			if err != nil {
				t.Fatal(err)
			}
			setGates(t, m, tc.biases)
			gr, ok := m.(model.GateReporter)
			if !ok {
				t.Fatalf("%s does not implement GateReporter", tc.name)
			}
			tape := nn.NewTape(false, 1)
			before := logits(m, tape, b)
			tape.Reset()
			got := gr.GateUsage(tape, b)
			if len(got) != len(tc.want) {
				t.Fatalf("%d gates, want %d: %+v", len(got), len(tc.want), got)
			}
			for i, w := range tc.want {
				g := got[i]
				if g.Gate != w.Gate || !slices.Equal(g.Experts, w.Experts) {
					t.Errorf("gate %d: %q %v, want %q %v", i, g.Gate, g.Experts, w.Gate, w.Experts)
				}
				if len(g.Weights) != len(w.Weights) {
					t.Fatalf("gate %q: %d weights, want %d", g.Gate, len(g.Weights), len(w.Weights))
				}
				for e := range w.Weights {
					if math.Abs(g.Weights[e]-w.Weights[e]) > 1e-6 {
						t.Errorf("gate %q expert %q: weight %.7f, want %.7f", g.Gate, g.Experts[e], g.Weights[e], w.Weights[e])
					}
				}
			}
			// Reading the gates changes nothing the model predicts.
			tape.Reset()
			if after := logits(m, tape, b); !slices.Equal(before, after) {
				t.Errorf("logits changed after GateUsage: %v -> %v", before, after)
			}
		})
	}
}

// TestGateUsageRandomGates: with random gate weights the mean weights still
// form a distribution over the experts; models without gates do not claim
// to report them.
func TestGateUsageRandomGates(t *testing.T) {
	spec := modeltest.TinySpec(false)
	b := modeltest.TinyBatch(spec, 9, 3)
	for _, name := range []string{"mmoe", "ple"} {
		cfg := tiny(model.Config{Levels: 2})
		m, err := model.New(name, &cfg, spec, 4)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range m.(model.GateReporter).GateUsage(nn.NewTape(false, 1), b) {
			sum := 0.0
			for _, w := range g.Weights {
				if !(w > 0 && w < 1) {
					t.Errorf("%s gate %q: weight %v outside (0, 1)", name, g.Gate, w)
				}
				sum += w
			}
			if math.Abs(sum-1) > 1e-5 {
				t.Errorf("%s gate %q: weights sum to %v, want 1", name, g.Gate, sum)
			}
		}
	}
	for _, name := range []string{"dcrnn", "single", "shared_bottom", "esmm", "aitm", "dcnv2"} {
		cfg := tiny(model.Config{})
		m, err := model.New(name, &cfg, spec, 4)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := m.(model.GateReporter); ok {
			t.Errorf("%s has no expert gates but implements GateReporter", name)
		}
	}
}

// logits returns every task's logits of m on b, concatenated.
func logits(m model.Model, tape *nn.Tape, b *feature.Batch) []float32 {
	var out []float32
	for _, z := range m.Forward(tape, b) {
		out = append(out, z.V...)
	}
	return out
}
