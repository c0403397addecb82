package model

import (
	"math/rand/v2"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/nn"
)

// SharedBottom is hard parameter sharing (Caruana, "Multitask Learning",
// Machine Learning 28, 1997): one bottom MLP on the concatenated field
// embeddings x0, shared by all tasks, and one tower per task.
//
// Config keys: embedding_dim, deep (the bottom's hidden sizes; [] for none,
// which makes the towers read x0 directly), tower, dropout.
type SharedBottom struct {
	emb    *nn.Embeddings
	bottom *nn.MLP
	towers []*tower
	x0Read []*nn.Linear // the layer that reads x0 (see embed); nil without a bottom
}

func init() {
	register("shared_bottom", "hard sharing: one bottom MLP, one tower per task (Caruana 1997)", newSharedBottom)
}

func newSharedBottom(cfg *Config, spec Spec, rng *rand.Rand) (Model, error) {
	emb, err := nn.NewEmbeddings("emb", spec.Fields, cfg.EmbeddingDim, rng)
	if err != nil {
		return nil, err
	}
	m := &SharedBottom{emb: emb}
	if m.bottom, err = mlpOrNil("bottom", emb.OutDim(), cfg.Deep, cfg.Dropout, rng); err != nil {
		return nil, err
	}
	in := mlpOut(m.bottom, emb.OutDim())
	for _, task := range spec.Tasks {
		tw, err := newTower("tower."+task.Name, in, cfg.Tower, cfg.Dropout, rng)
		if err != nil {
			return nil, err
		}
		m.towers = append(m.towers, tw)
	}
	m.x0Read = x0Readers([]*nn.MLP{m.bottom})
	return m, nil
}

// Forward implements Model.
func (m *SharedBottom) Forward(t *nn.Tape, b *feature.Batch) []*nn.Mat {
	x := runMLP(t, m.bottom, embed(t, m.emb, b, m.x0Read))
	out := t.Mats(len(m.towers))
	for i, tw := range m.towers {
		out[i] = tw.logit(t, tw.hidden(t, x))
	}
	return out
}

// Params implements Model.
func (m *SharedBottom) Params() []*nn.Param {
	ps := append(m.emb.Params(), mlpParams(m.bottom)...)
	for _, tw := range m.towers {
		ps = append(ps, tw.params()...)
	}
	return ps
}

// SparseParams implements Model.
func (m *SharedBottom) SparseParams() []*nn.SparseParam { return m.emb.SparseParams() }
