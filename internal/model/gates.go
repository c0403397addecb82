package model

import (
	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/nn"
)

// GateUsage is how much one softmax gate uses each of its experts over a
// batch: Weights[e] is the mean over the batch rows of the gate's weight for
// expert Experts[e]; the weights sum to 1.
type GateUsage struct {
	// Gate names the gate: the task name for MMoE, "level K/TASK" or
	// "level K/shared" for PLE.
	Gate string `json:"gate"`
	// Experts names the experts in gate order, e.g. "expert 0" (MMoE),
	// "income 0" (a task expert of PLE) or "shared 1".
	Experts []string  `json:"experts"`
	Weights []float64 `json:"weights"`
}

// GateReporter is implemented by the models with softmax expert gates (MMoE
// and PLE). GateUsage runs the forward pass on b (t is an inference tape
// that the caller resets) and returns one GateUsage per gate, in a fixed
// order: per level (PLE), the task gates in task order, then the shared gate.
type GateReporter interface {
	GateUsage(t *nn.Tape, b *feature.Batch) []GateUsage
}

// meanRows returns the column means of g [B×E].
func meanRows(g *nn.Mat) []float64 {
	w := make([]float64, g.Cols)
	for i := 0; i < g.Rows; i++ {
		for j, v := range g.Row(i) {
			w[j] += float64(v)
		}
	}
	for j := range w {
		w[j] /= float64(max(g.Rows, 1))
	}
	return w
}
