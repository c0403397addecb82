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
	tasks  []string // task names, for GateUsage
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
	for _, task := range spec.Tasks {
		m.tasks = append(m.tasks, task.Name)
	}
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
func (m *PLE) Forward(t *nn.Tape, b *feature.Batch) []*nn.Mat { return m.forward(t, b, nil) }

// GateUsage implements GateReporter: per level, one gate per task over
// [its task experts, the shared experts], then (but on the last level) the
// shared gate over every task's experts and the shared experts.
func (m *PLE) GateUsage(t *nn.Tape, b *feature.Batch) []GateUsage {
	var out []GateUsage
	m.forward(t, b, func(level, task int, g *nn.Mat) {
		lv := m.levels[level]
		u := GateUsage{Gate: fmt.Sprintf("level %d/shared", level), Weights: meanRows(g)}
		taskExperts := func(i int) {
			for e := range lv.task[i] {
				u.Experts = append(u.Experts, fmt.Sprintf("%s %d", m.tasks[i], e))
			}
		}
		if task >= 0 {
			u.Gate = fmt.Sprintf("level %d/%s", level, m.tasks[task])
			taskExperts(task)
		} else {
			for i := range lv.task {
				taskExperts(i)
			}
		}
		for e := range lv.shared {
			u.Experts = append(u.Experts, fmt.Sprintf("shared %d", e))
		}
		out = append(out, u)
	})
	return out
}

// forward is Forward; when gate is not nil it also receives every gate's
// weights [B×experts] with its level and task index (-1: the shared gate).
func (m *PLE) forward(t *nn.Tape, b *feature.Batch, gate func(level, task int, g *nn.Mat)) []*nn.Mat {
	x0 := m.emb.Forward(t, b)
	nt := len(m.towers)
	s := x0
	u := t.Mats(nt)
	for i := range u {
		u[i] = x0
	}
	for k, lv := range m.levels {
		shared := t.Mats(len(lv.shared))
		for e, ex := range lv.shared {
			shared[e] = runMLP(t, ex, s)
		}
		var all []*nn.Mat // every expert of the level, for the shared gate
		if lv.sharedGate != nil {
			all = t.Mats(lv.sharedGate.Lin.Out)[:0]
		}
		next := t.Mats(nt)
		for i := range u {
			mine := t.Mats(len(lv.task[i]) + len(shared))[:0]
			for _, ex := range lv.task[i] {
				mine = append(mine, runMLP(t, ex, u[i]))
			}
			if lv.sharedGate != nil {
				all = append(all, mine...)
			}
			mine = append(mine, shared...)
			g := lv.taskGate[i].Forward(t, u[i])
			if gate != nil {
				gate(k, i, g)
			}
			next[i] = nn.MixExperts(t, g, mine)
		}
		if lv.sharedGate != nil {
			all = append(all, shared...)
			g := lv.sharedGate.Forward(t, s)
			if gate != nil {
				gate(k, -1, g)
			}
			s = nn.MixExperts(t, g, all)
		}
		u = next
	}
	out := t.Mats(nt)
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
