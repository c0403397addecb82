package model

import (
	"fmt"
	"math/rand/v2"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/nn"
)

// DCNv2 is the improved Deep & Cross Network of Wang et al., "DCN V2:
// Improved Deep & Cross Network and Practical Lessons for Web-scale
// Learning to Rank Systems" (WWW 2021), in its parallel form, used as a
// hard-shared bottom for multi-task learning. On x0 [B×D] (shared
// embeddings, D = F·d) the cross network computes
//
//	x_{l+1} = x0 ⊙ (x_l·W_l + b_l) + x_l,   W_l [D×D] full rank, l = 0..L-1
//
// beside a deep MLP on x0; [x_L; deep(x0)] is the shared representation
// every task tower reads. It is the non-recurrent, fully shared counterpart
// of DCRNN's cross block.
//
// Config keys: embedding_dim (16), cross_layers (L, 3), deep ([256, 128];
// [] drops the deep branch), tower ([64]), dropout (0).
type DCNv2 struct {
	emb    *nn.Embeddings
	cross  []*nn.Linear
	deep   *nn.MLP
	towers []*tower
}

func init() {
	register("dcnv2", "DCN-v2 full-rank cross network beside a deep MLP, shared by task towers (Wang et al., WWW 2021)", newDCNv2)
}

func newDCNv2(cfg *Config, spec Spec, rng *rand.Rand) (Model, error) {
	emb, err := nn.NewEmbeddings("emb", spec.Fields, cfg.EmbeddingDim, rng)
	if err != nil {
		return nil, err
	}
	m := &DCNv2{emb: emb}
	d0 := emb.OutDim()
	for l := 0; l < cfg.CrossLayers; l++ {
		m.cross = append(m.cross, nn.NewLinear(fmt.Sprintf("cross.%d", l), d0, d0, nn.Identity, rng))
	}
	if m.deep, err = mlpOrNil("deep", d0, cfg.Deep, cfg.Dropout, rng); err != nil {
		return nil, err
	}
	in := d0
	if m.deep != nil {
		in += m.deep.Out()
	}
	for _, task := range spec.Tasks {
		tw, err := newTower("tower."+task.Name, in, cfg.Tower, cfg.Dropout, rng)
		if err != nil {
			return nil, err
		}
		m.towers = append(m.towers, tw)
	}
	return m, nil
}

// Forward implements Model.
func (m *DCNv2) Forward(t *nn.Tape, b *feature.Batch) []*nn.Mat {
	x0 := m.emb.Forward(t, b)
	x := x0
	for _, l := range m.cross {
		x = nn.Add(t, nn.Mul(t, x0, l.Forward(t, x)), x)
	}
	rep := x
	if m.deep != nil {
		rep = nn.Concat(t, x, runMLP(t, m.deep, x0))
	}
	out := t.Mats(len(m.towers))
	for i, tw := range m.towers {
		out[i] = tw.logit(t, tw.hidden(t, rep))
	}
	return out
}

// Params implements Model: embeddings (numeric fields), cross layers, deep, towers.
func (m *DCNv2) Params() []*nn.Param {
	ps := m.emb.Params()
	for _, l := range m.cross {
		ps = append(ps, l.Params()...)
	}
	ps = append(ps, mlpParams(m.deep)...)
	for _, tw := range m.towers {
		ps = append(ps, tw.params()...)
	}
	return ps
}

// SparseParams implements Model.
func (m *DCNv2) SparseParams() []*nn.SparseParam { return m.emb.SparseParams() }
