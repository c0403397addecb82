package model

import (
	"math/rand/v2"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/nn"
)

// ESMM is the Entire Space Multi-task Model of Ma et al., "Entire Space
// Multi-Task Model: An Effective Approach for Estimating Post-Click
// Conversion Rate" (SIGIR 2018): the tasks share the embedding tables
// (the paper's only shared part, which lets the sparse conversion task learn
// from every impression), and each task has its own network on x0 [B×F·d]:
// an MLP with hidden sizes deep followed by the tower's hidden sizes and a
// linear output.
//
// The entire-space loss (p_CTCVR = p_CTR · p_CVR trained on all impressions,
// never on clicked rows only) is Objective's funnel loss, used when the
// schema declares the conversion task after the click task; the logit this
// model outputs for the conversion task is that of p_CVR. Without a funnel
// ESMM is plain per-task networks on shared embeddings.
//
// Config keys: embedding_dim (16), deep (each task network's first hidden
// sizes, [256, 128]; [] for none), tower ([64]), dropout (0).
type ESMM struct {
	emb    *nn.Embeddings
	nets   []*nn.MLP // nil entries when deep is empty
	towers []*tower
	x0Read []*nn.Linear // the layers that read x0 (see embed); nil when a task has no network
}

func init() {
	register("esmm", "entire-space multi-task model: shared embeddings, one network per task, funnel loss (Ma et al., SIGIR 2018)", newESMM)
}

func newESMM(cfg *Config, spec Spec, rng *rand.Rand) (Model, error) {
	emb, err := nn.NewEmbeddings("emb", spec.Fields, cfg.EmbeddingDim, rng)
	if err != nil {
		return nil, err
	}
	m := &ESMM{emb: emb}
	for _, task := range spec.Tasks {
		net, err := mlpOrNil("net."+task.Name, emb.OutDim(), cfg.Deep, cfg.Dropout, rng)
		if err != nil {
			return nil, err
		}
		tw, err := newTower("tower."+task.Name, mlpOut(net, emb.OutDim()), cfg.Tower, cfg.Dropout, rng)
		if err != nil {
			return nil, err
		}
		m.nets = append(m.nets, net)
		m.towers = append(m.towers, tw)
	}
	m.x0Read = x0Readers(m.nets)
	return m, nil
}

// Forward implements Model.
func (m *ESMM) Forward(t *nn.Tape, b *feature.Batch) []*nn.Mat {
	x0 := embed(t, m.emb, b, m.x0Read)
	out := t.Mats(len(m.towers))
	for i, tw := range m.towers {
		out[i] = tw.logit(t, tw.hidden(t, runMLP(t, m.nets[i], x0)))
	}
	return out
}

// Params implements Model: embeddings (numeric fields), then task by task network and tower.
func (m *ESMM) Params() []*nn.Param {
	ps := m.emb.Params()
	for i, tw := range m.towers {
		ps = append(ps, mlpParams(m.nets[i])...)
		ps = append(ps, tw.params()...)
	}
	return ps
}

// SparseParams implements Model.
func (m *ESMM) SparseParams() []*nn.SparseParam { return m.emb.SparseParams() }
