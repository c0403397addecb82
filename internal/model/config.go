package model

import (
	"fmt"
	"math"
)

// Config holds every hyper-parameter of every model. Keys are the YAML names
// used in a --config file and by --set key=value. A model reads the keys it
// knows and ignores the rest, so one config can drive a comparison.
type Config struct {
	// EmbeddingDim is the size d of every field embedding (default 16).
	EmbeddingDim int `yaml:"embedding_dim" json:"embedding_dim"`
	// Dropout is the dropout rate of hidden MLP layers (default 0).
	Dropout float64 `yaml:"dropout" json:"dropout"`
	// Tower is the hidden layer sizes of each task tower (default [64]).
	Tower []int `yaml:"tower" json:"tower"`
	// Deep is the hidden sizes of the deep branch / shared bottom (default [256, 128]).
	Deep []int `yaml:"deep" json:"deep"`
	// Transfer enables the gated transfer of the previous task's last tower
	// layer into the next task's tower (DCRNN; default true).
	Transfer *bool `yaml:"transfer" json:"transfer"`
	// LossWeighting is "fixed" (default) or "uncertainty" (Kendall et al. 2018).
	LossWeighting string `yaml:"loss_weighting" json:"loss_weighting"`
	// TaskWeights are the fixed loss weights, one per task (default all 1).
	TaskWeights []float64 `yaml:"task_weights" json:"task_weights"`

	// DCRNN: Cross turns the recurrent cross block on (default true). With
	// cross false there is no projection, no cell and no state: each task
	// tower reads the deep branch alone (x0 itself when deep is []), and
	// proj, cross_mode, cross_steps, cell and the state sizes are ignored.
	// It is the ablation "DCRNN without its cross network".
	Cross *bool `yaml:"cross" json:"cross"`
	// DCRNN: projection width K (default 64).
	Proj int `yaml:"proj" json:"proj"`
	// DCRNN: cross mode "depth" (default) or "fields".
	CrossMode string `yaml:"cross_mode" json:"cross_mode"`
	// DCRNN: cross steps L in depth mode (default 3).
	CrossSteps int `yaml:"cross_steps" json:"cross_steps"`
	// DCRNN: recurrent cell "gru" (default), "lstm" or "rnn".
	Cell string `yaml:"cell" json:"cell"`
	// DCRNN: shared state size H_s and private state size H_p per task.
	// When Rho is set they are derived from StateSize: H_s = round(rho·StateSize),
	// H_p = StateSize - H_s. Defaults: StateSize 64, rho 0.5.
	SharedHidden  int      `yaml:"shared_hidden" json:"shared_hidden"`
	PrivateHidden int      `yaml:"private_hidden" json:"private_hidden"`
	Rho           *float64 `yaml:"rho" json:"rho"`
	StateSize     int      `yaml:"state_size" json:"state_size"`

	// MMoE/PLE: experts, expert hidden sizes.
	Experts       int   `yaml:"experts" json:"experts"`
	ExpertHidden  []int `yaml:"expert_hidden" json:"expert_hidden"`
	SharedExperts int   `yaml:"shared_experts" json:"shared_experts"`
	TaskExperts   int   `yaml:"task_experts" json:"task_experts"`
	Levels        int   `yaml:"levels" json:"levels"`
	// DCN-v2: number of cross layers.
	CrossLayers int `yaml:"cross_layers" json:"cross_layers"`
}

// Defaults fills zero values with the documented defaults.
func (c *Config) Defaults() {
	if c.EmbeddingDim == 0 {
		c.EmbeddingDim = 16
	}
	if c.Tower == nil {
		c.Tower = []int{64}
	}
	if c.Deep == nil {
		c.Deep = []int{256, 128}
	}
	if c.Transfer == nil {
		t := true
		c.Transfer = &t
	}
	if c.Cross == nil {
		t := true
		c.Cross = &t
	}
	if c.LossWeighting == "" {
		c.LossWeighting = "fixed"
	}
	if c.Proj == 0 {
		c.Proj = 64
	}
	if c.CrossMode == "" {
		c.CrossMode = "depth"
	}
	if c.CrossSteps == 0 {
		c.CrossSteps = 3
	}
	if c.Cell == "" {
		c.Cell = "gru"
	}
	if c.SharedHidden == 0 && c.PrivateHidden == 0 && c.Rho == nil {
		r := 0.5
		c.Rho = &r
	}
	if c.Rho != nil {
		if c.StateSize == 0 {
			c.StateSize = 64
		}
		c.SharedHidden = int(math.Round(*c.Rho * float64(c.StateSize)))
		c.PrivateHidden = c.StateSize - c.SharedHidden
	}
	if c.Experts == 0 {
		c.Experts = 4
	}
	if c.ExpertHidden == nil {
		c.ExpertHidden = []int{256, 128}
	}
	if c.SharedExperts == 0 {
		c.SharedExperts = 2
	}
	if c.TaskExperts == 0 {
		c.TaskExperts = 1
	}
	if c.Levels == 0 {
		c.Levels = 1
	}
	if c.CrossLayers == 0 {
		c.CrossLayers = 3
	}
}

// Validate reports the first invalid key.
func (c *Config) Validate(ntasks int) error {
	bad := func(key string, format string, a ...any) error {
		return fmt.Errorf("config: %s: %s", key, fmt.Sprintf(format, a...))
	}
	pos := func(key string, v int) error {
		if v <= 0 {
			return bad(key, "must be positive, got %d", v)
		}
		return nil
	}
	for _, e := range []error{pos("embedding_dim", c.EmbeddingDim), pos("proj", c.Proj), pos("cross_steps", c.CrossSteps),
		pos("experts", c.Experts), pos("shared_experts", c.SharedExperts), pos("task_experts", c.TaskExperts),
		pos("levels", c.Levels), pos("cross_layers", c.CrossLayers)} {
		if e != nil {
			return e
		}
	}
	for key, sizes := range map[string][]int{"tower": c.Tower, "deep": c.Deep, "expert_hidden": c.ExpertHidden} {
		for _, s := range sizes {
			if s <= 0 {
				return bad(key, "layer sizes must be positive, got %v", sizes)
			}
		}
	}
	if c.Dropout < 0 || c.Dropout >= 1 {
		return bad("dropout", "must be in [0, 1), got %g", c.Dropout)
	}
	if c.LossWeighting != "fixed" && c.LossWeighting != "uncertainty" {
		return bad("loss_weighting", "want fixed or uncertainty, got %q", c.LossWeighting)
	}
	if c.TaskWeights != nil && len(c.TaskWeights) != ntasks {
		return bad("task_weights", "want %d weights (one per task), got %d", ntasks, len(c.TaskWeights))
	}
	if c.CrossMode != "depth" && c.CrossMode != "fields" {
		return bad("cross_mode", "want depth or fields, got %q", c.CrossMode)
	}
	if c.Cell != "gru" && c.Cell != "lstm" && c.Cell != "rnn" {
		return bad("cell", "want gru, lstm or rnn, got %q", c.Cell)
	}
	if c.Rho != nil && (*c.Rho < 0 || *c.Rho > 1) {
		return bad("rho", "must be in [0, 1], got %g", *c.Rho)
	}
	if c.SharedHidden < 0 || c.PrivateHidden < 0 || c.SharedHidden+c.PrivateHidden == 0 {
		return bad("shared_hidden/private_hidden", "need non-negative sizes with a positive sum, got %d and %d", c.SharedHidden, c.PrivateHidden)
	}
	return nil
}
