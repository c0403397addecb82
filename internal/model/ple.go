package model

import (
	"fmt"
	"math/rand/v2"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/nn"
)

// PLE is Progressive Layered Extraction of Tang et al., "Progressive Layered
// Extraction (PLE): A Novel Multi-Task Learning (MTL) Model for
// Personalized Recommendations" (RecSys 2020): a stack of Customized Gate
// Control (CGC) levels on shared embeddings.
//
// Level k has S shared experts reading the shared input s_k and, for each
// task t, P task experts reading the task's input u^t_k (at level 0 both are
// x0 [B×F·d]). Task t's gate, softmax over its P+S experts computed from
// u^t_k, mixes [task t's experts, shared experts] into u^t_{k+1} [B×H].
// Every level but the last also has a shared gate, softmax over all T·P+S
// experts computed from s_k, whose mixture is s_{k+1}. Task t's tower reads
// u^t after the last level. With levels 1 PLE is CGC.
//
// Config keys: embedding_dim (16), levels (1), shared_experts (S, 2),
// task_experts (P, 1 per task), expert_hidden (each expert's hidden sizes,
// [256, 128]; must not be empty), tower ([64]), dropout (0).
type PLE struct {
	emb    *nn.Embeddings
	levels []pleLevel
	towers []*tower
}

type pleLevel struct {
	shared     []*nn.MLP
	task       [][]*nn.MLP // [task][expert]
	taskGate   []*nn.SoftmaxGate
	sharedGate *nn.SoftmaxGate // nil on the last level
}

func init() {
	register("ple", "progressive layered extraction: CGC levels of task and shared experts (Tang et al., RecSys 2020)", newPLE)
}

func newPLE(cfg *Config, spec Spec, rng *rand.Rand) (Model, error) {
	if err := needExpertHidden("ple", cfg); err != nil {
		return nil, err
	}
	emb, err := nn.NewEmbeddings("emb", spec.Fields, cfg.EmbeddingDim, rng)
	if err != nil {
		return nil, err
	}
	m := &PLE{emb: emb}
	in := emb.OutDim()
	nt, np, ns := len(spec.Tasks), cfg.TaskExperts, cfg.SharedExperts
	expert := func(name string) (*nn.MLP, error) {
		return mlpOrNil(name, in, cfg.ExpertHidden, cfg.Dropout, rng)
	}
	for k := 0; k < cfg.Levels; k++ {
		var lv pleLevel
		prefix := fmt.Sprintf("ple.%d", k)
		for e := 0; e < ns; e++ {
			ex, err := expert(fmt.Sprintf("%s.shared.expert.%d", prefix, e))
			if err != nil {
				return nil, err
			}
			lv.shared = append(lv.shared, ex)
		}
		for _, task := range spec.Tasks {
			var exs []*nn.MLP
			for e := 0; e < np; e++ {
				ex, err := expert(fmt.Sprintf("%s.%s.expert.%d", prefix, task.Name, e))
				if err != nil {
					return nil, err
				}
				exs = append(exs, ex)
			}
			lv.task = append(lv.task, exs)
			lv.taskGate = append(lv.taskGate, nn.NewSoftmaxGate(prefix+"."+task.Name+".gate", in, np+ns, rng))
		}
		if k+1 < cfg.Levels {
			lv.sharedGate = nn.NewSoftmaxGate(prefix+".shared.gate", in, nt*np+ns, rng)
		}
		m.levels = append(m.levels, lv)
		in = lv.shared[0].Out()
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
func (m *PLE) Forward(t *nn.Tape, b *feature.Batch) []*nn.Mat {
	x0 := m.emb.Forward(t, b)
	nt := len(m.towers)
	s := x0
	u := make([]*nn.Mat, nt)
	for i := range u {
		u[i] = x0
	}
	for _, lv := range m.levels {
		shared := make([]*nn.Mat, len(lv.shared))
		for e, ex := range lv.shared {
			shared[e] = runMLP(t, ex, s)
		}
		var all []*nn.Mat // every expert of the level, for the shared gate
		next := make([]*nn.Mat, nt)
		for i := range u {
			mine := make([]*nn.Mat, 0, len(lv.task[i])+len(shared))
			for _, ex := range lv.task[i] {
				mine = append(mine, runMLP(t, ex, u[i]))
			}
			if lv.sharedGate != nil {
				all = append(all, mine...)
			}
			mine = append(mine, shared...)
			next[i] = nn.MixExperts(t, lv.taskGate[i].Forward(t, u[i]), mine)
		}
		if lv.sharedGate != nil {
			all = append(all, shared...)
			s = nn.MixExperts(t, lv.sharedGate.Forward(t, s), all)
		}
		u = next
	}
	out := make([]*nn.Mat, nt)
	for i, tw := range m.towers {
		out[i] = tw.logit(t, tw.hidden(t, u[i]))
	}
	return out
}

// Params implements Model: embeddings (numeric fields); level by level the
// shared experts, then per task its experts and gate, then the shared gate;
// then the towers.
func (m *PLE) Params() []*nn.Param {
	ps := m.emb.Params()
	for _, lv := range m.levels {
		for _, ex := range lv.shared {
			ps = append(ps, ex.Params()...)
		}
		for i, exs := range lv.task {
			for _, ex := range exs {
				ps = append(ps, ex.Params()...)
			}
			ps = append(ps, lv.taskGate[i].Params()...)
		}
		if lv.sharedGate != nil {
			ps = append(ps, lv.sharedGate.Params()...)
		}
	}
	for _, tw := range m.towers {
		ps = append(ps, tw.params()...)
	}
	return ps
}

// SparseParams implements Model.
func (m *PLE) SparseParams() []*nn.SparseParam { return m.emb.SparseParams() }
