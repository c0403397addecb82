package model

import (
	"fmt"
	"math/rand/v2"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/nn"
)

// MMoE is the Multi-gate Mixture-of-Experts of Ma et al., "Modeling Task
// Relationships in Multi-task Learning with Multi-gate Mixture-of-Experts"
// (KDD 2018). On x0 [B×F·d] (shared embeddings) run E expert MLPs, each
// giving [B×H]; task t's gate is softmax(x0·W_t + b_t) [B×E] and its tower
// reads the mixture Σ_e g_t[:,e] ⊙ expert_e [B×H].
//
// Config keys: embedding_dim (16), experts (E, 4), expert_hidden (each
// expert's hidden sizes, [256, 128]; must not be empty), tower ([64]),
// dropout (0, after every expert and tower hidden layer).
type MMoE struct {
	emb     *nn.Embeddings
	experts []*nn.MLP
	gates   []*nn.SoftmaxGate
	towers  []*tower
	tasks   []string     // task names, for GateUsage
	x0Read  []*nn.Linear // the layers that read x0 (see embed): the experts' first and the gates'
}

func init() {
	register("mmoe", "multi-gate mixture of experts: shared experts, one softmax gate per task (Ma et al., KDD 2018)", newMMoE)
}

// needExpertHidden reports the error of an empty expert_hidden for model name.
func needExpertHidden(name string, cfg *Config) error {
	if len(cfg.ExpertHidden) == 0 {
		return fmt.Errorf("config: expert_hidden: %s needs at least one expert layer, got []", name)
	}
	return nil
}

func newMMoE(cfg *Config, spec Spec, rng *rand.Rand) (Model, error) {
	if err := needExpertHidden("mmoe", cfg); err != nil {
		return nil, err
	}
	emb, err := nn.NewEmbeddings("emb", spec.Fields, cfg.EmbeddingDim, rng)
	if err != nil {
		return nil, err
	}
	m := &MMoE{emb: emb}
	d0 := emb.OutDim()
	for e := 0; e < cfg.Experts; e++ {
		ex, err := mlpOrNil(fmt.Sprintf("expert.%d", e), d0, cfg.ExpertHidden, cfg.Dropout, rng)
		if err != nil {
			return nil, err
		}
		m.experts = append(m.experts, ex)
	}
	h := m.experts[0].Out()
	for _, task := range spec.Tasks {
		m.tasks = append(m.tasks, task.Name)
		m.gates = append(m.gates, nn.NewSoftmaxGate("gate."+task.Name, d0, cfg.Experts, rng))
		tw, err := newTower("tower."+task.Name, h, cfg.Tower, cfg.Dropout, rng)
		if err != nil {
			return nil, err
		}
		m.towers = append(m.towers, tw)
	}
	if m.x0Read = x0Readers(m.experts); m.x0Read != nil {
		for _, g := range m.gates {
			m.x0Read = append(m.x0Read, g.Lin)
		}
	}
	return m, nil
}

// Forward implements Model.
func (m *MMoE) Forward(t *nn.Tape, b *feature.Batch) []*nn.Mat {
	x0 := embed(t, m.emb, b, m.x0Read)
	ex := t.Mats(len(m.experts))
	for e, mlp := range m.experts {
		ex[e] = runMLP(t, mlp, x0)
	}
	out := t.Mats(len(m.towers))
	for i, tw := range m.towers {
		mix := nn.MixExperts(t, m.gates[i].Forward(t, x0), ex)
		out[i] = tw.logit(t, tw.hidden(t, mix))
	}
	return out
}

// GateUsage implements GateReporter: one gate per task, over the experts
// "expert 0" … "expert E-1".
func (m *MMoE) GateUsage(t *nn.Tape, b *feature.Batch) []GateUsage {
	x0 := m.emb.Forward(t, b)
	names := make([]string, len(m.experts))
	for e := range names {
		names[e] = fmt.Sprintf("expert %d", e)
	}
	out := make([]GateUsage, len(m.gates))
	for i, g := range m.gates {
		out[i] = GateUsage{Gate: m.tasks[i], Experts: names, Weights: meanRows(g.Forward(t, x0))}
	}
	return out
}

// Params implements Model: embeddings (numeric fields), experts, then per task gate and tower.
func (m *MMoE) Params() []*nn.Param {
	ps := m.emb.Params()
	for _, ex := range m.experts {
		ps = append(ps, ex.Params()...)
	}
	for i, tw := range m.towers {
		ps = append(ps, m.gates[i].Params()...)
		ps = append(ps, tw.params()...)
	}
	return ps
}

// SparseParams implements Model.
func (m *MMoE) SparseParams() []*nn.SparseParam { return m.emb.SparseParams() }
