package model

import (
	"math/rand/v2"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/nn"
)

// Single is the no-sharing baseline: one independent DNN per task, as if
// each task were trained by its own model. Task t has its own embedding
// tables (named "emb.<task>.<field>"), its own bottom MLP on its x0
// [B×F·d] and its own tower; no parameter is shared between tasks, so the
// cost grows linearly with the number of tasks. It is the soft-sharing end
// of the comparison (the "two independent models" of the DCRNN and ESMM
// papers); the funnel loss, when the schema declares one, still ties the
// tasks through Objective.
//
// Config keys: embedding_dim (16), deep (the per-task bottom's hidden
// sizes, [256, 128]; [] for none), tower ([64]), dropout (0).
type Single struct {
	embs    []*nn.Embeddings
	bottoms []*nn.MLP // nil entries when deep is empty
	towers  []*tower
	x0Read  [][]*nn.Linear // per task, the layer that reads its x0 (see embed)
}

func init() {
	register("single", "no sharing: one independent DNN (own embeddings, bottom and tower) per task", newSingle)
}

func newSingle(cfg *Config, spec Spec, rng *rand.Rand) (Model, error) {
	m := &Single{}
	for _, task := range spec.Tasks {
		emb, err := nn.NewEmbeddings("emb."+task.Name, spec.Fields, cfg.EmbeddingDim, rng)
		if err != nil {
			return nil, err
		}
		bottom, err := mlpOrNil("bottom."+task.Name, emb.OutDim(), cfg.Deep, cfg.Dropout, rng)
		if err != nil {
			return nil, err
		}
		tw, err := newTower("tower."+task.Name, mlpOut(bottom, emb.OutDim()), cfg.Tower, cfg.Dropout, rng)
		if err != nil {
			return nil, err
		}
		m.embs = append(m.embs, emb)
		m.bottoms = append(m.bottoms, bottom)
		m.towers = append(m.towers, tw)
		m.x0Read = append(m.x0Read, x0Readers([]*nn.MLP{bottom}))
	}
	return m, nil
}

// Forward implements Model.
func (m *Single) Forward(t *nn.Tape, b *feature.Batch) []*nn.Mat {
	out := t.Mats(len(m.towers))
	for i, tw := range m.towers {
		x := runMLP(t, m.bottoms[i], embed(t, m.embs[i], b, m.x0Read[i]))
		out[i] = tw.logit(t, tw.hidden(t, x))
	}
	return out
}

// Params implements Model: task by task, embeddings (numeric fields), bottom, tower.
func (m *Single) Params() []*nn.Param {
	var ps []*nn.Param
	for i, tw := range m.towers {
		ps = append(ps, m.embs[i].Params()...)
		ps = append(ps, mlpParams(m.bottoms[i])...)
		ps = append(ps, tw.params()...)
	}
	return ps
}

// SparseParams implements Model: each task's tables in field order, task by task.
func (m *Single) SparseParams() []*nn.SparseParam {
	var ps []*nn.SparseParam
	for _, e := range m.embs {
		ps = append(ps, e.SparseParams()...)
	}
	return ps
}
