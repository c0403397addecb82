package model

import (
	"math/rand/v2"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/nn"
)

// AITM is the Adaptive Information Transfer Multi-task framework of Xi et
// al., "Modeling the Sequential Dependence among Audience Multi-step
// Conversions with Multi-task Learning in Targeted Display Advertising"
// (KDD 2021). The tasks share the embeddings; task t has its own network
// q_t = net_t(x0) [B×H] (an MLP with hidden sizes deep). The first task uses
// z_t = q_t. A task with an earlier predecessor a (predecessor: the funnel
// step it follows, else the previous task) receives the transferred
// information p = ReLU(z_a·W_t + b_t) [B×H] (the "info" layer, with dropout)
// and combines it with its own q_t by the AIT module: self-attention over
// the two vectors u ∈ {p, q_t} with projections h1, h2, h3 (no bias),
// weights softmax_u(⟨h1(u), h2(u)⟩/√H), z_t = Σ_u w_u·h3(u). Task t's tower
// (the prediction layer) reads z_t. Since z_a is itself the AIT output of
// task a, information flows along the whole chain of steps.
//
// The paper's behavioural expectation calibrator (a hinge penalty keeping
// p_conversion ≤ p_click) is not implemented: with a funnel schema the
// objective multiplies the click and the conditional conversion
// probabilities, p_CTCVR = p_CTR·p_CVR ≤ p_CTR, which enforces the same
// ordering by construction.
//
// Config keys: embedding_dim (16), deep (each task network's hidden sizes,
// [256, 128]; [] makes q_t = x0), tower ([64]), dropout (0).
type AITM struct {
	spec Spec
	emb  *nn.Embeddings
	nets []*nn.MLP // nil entries when deep is empty
	info []*nn.Linear
	ait  []*nn.PairAttention // nil entries (and info) for a task without predecessor
	tws  []*tower
	drop float32
}

func init() {
	register("aitm", "adaptive information transfer between task towers by attention (Xi et al., KDD 2021)", newAITM)
}

func newAITM(cfg *Config, spec Spec, rng *rand.Rand) (Model, error) {
	emb, err := nn.NewEmbeddings("emb", spec.Fields, cfg.EmbeddingDim, rng)
	if err != nil {
		return nil, err
	}
	m := &AITM{spec: spec, emb: emb, drop: float32(cfg.Dropout)}
	for ti, task := range spec.Tasks {
		net, err := mlpOrNil("net."+task.Name, emb.OutDim(), cfg.Deep, cfg.Dropout, rng)
		if err != nil {
			return nil, err
		}
		h := mlpOut(net, emb.OutDim())
		var info *nn.Linear
		var ait *nn.PairAttention
		if pr := predecessor(spec, ti); pr >= 0 && pr < ti {
			info = nn.NewLinear("info."+task.Name, h, h, nn.ReLU, rng)
			ait = nn.NewPairAttention("ait."+task.Name, h, rng)
		}
		tw, err := newTower("tower."+task.Name, h, cfg.Tower, cfg.Dropout, rng)
		if err != nil {
			return nil, err
		}
		m.nets = append(m.nets, net)
		m.info = append(m.info, info)
		m.ait = append(m.ait, ait)
		m.tws = append(m.tws, tw)
	}
	return m, nil
}

// Forward implements Model.
func (m *AITM) Forward(t *nn.Tape, b *feature.Batch) []*nn.Mat {
	x0 := m.emb.Forward(t, b)
	z := t.Mats(len(m.tws))
	out := t.Mats(len(m.tws))
	for i, tw := range m.tws {
		q := runMLP(t, m.nets[i], x0)
		if m.ait[i] != nil {
			p := nn.Dropout(t, m.info[i].Forward(t, z[predecessor(m.spec, i)]), m.drop)
			q = m.ait[i].Forward(t, p, q)
		}
		z[i] = q
		out[i] = tw.logit(t, tw.hidden(t, q))
	}
	return out
}

// Params implements Model: embeddings (numeric fields), then task by task
// network, info layer and AIT projections (if any), tower.
func (m *AITM) Params() []*nn.Param {
	ps := m.emb.Params()
	for i, tw := range m.tws {
		ps = append(ps, mlpParams(m.nets[i])...)
		if m.ait[i] != nil {
			ps = append(ps, m.info[i].Params()...)
			ps = append(ps, m.ait[i].Params()...)
		}
		ps = append(ps, tw.params()...)
	}
	return ps
}

// SparseParams implements Model.
func (m *AITM) SparseParams() []*nn.SparseParam { return m.emb.SparseParams() }
