package model

import (
	"fmt"
	"math/rand/v2"

	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/nn"
)

// DCRNN is the deep cross network run by a recurrent cell with partial
// parameter sharing between tasks, after Zhou & Yu, "Deep Cross network based
// on RNN for partial parameter sharing in multi-task learning" (arXiv
// 2310.11777).
//
// Only the paper's abstract is available to us: this architecture is our
// reading of its three ideas (a cross network whose crossing is done by an
// RNN, partial parameter sharing between the tasks, and modelling the
// correlation between the click and the conversion task). Numbers produced
// with it are ours, not the paper's.
//
// With x0 [B×D] the concatenated field embeddings (D = F·d):
//
//	u      = W_in x0 + b_in                     projected input [B×K], shared
//	c_l    = v_l ⊙ (A h_{l-1} + a)               the cross: one order higher, [B×K]
//	h_l    = Cell(c_l, h_{l-1}),  h_0 = 0         GRU (default), LSTM or tanh RNN
//
// v_l = u for l = 1..L in mode "depth" (L = cross_steps, default 3); in mode
// "fields" the steps walk the fields, v_l = P_f e_f, L = F. The gates of the
// cell decide how much of each new cross to admit, which lets the model
// filter noisy features. The state is split into a shared part s (size H_s,
// computed once for all tasks) and a private part p_t per task (size H_p):
//
//	c^s_l = v_l ⊙ (A_s s_{l-1} + a_s),              s_l   = Cell_s(c^s_l, s_{l-1})
//	c^t_l = v_l ⊙ (A_t [s_{l-1}; p^t_{l-1}] + a_t),  p^t_l = Cell_t(c^t_l, p^t_{l-1})
//
// rho = H_s/(H_s+H_p) is the sharing ratio: 1 is hard sharing, 0 a separate
// cross network per task (embeddings are always shared). A deep MLP on x0
// runs beside the cross block; task t's tower reads [s_L; p^t_L; deep(x0)].
// With transfer on (default), the tower of task t adds a gated copy of its
// predecessor's last hidden layer: h_t + g ⊙ h_a, g = σ(G [h_a; h_t] + b). The
// funnel loss and the loss weighting are those of Objective.
//
// Config keys: embedding_dim, proj (K, 64), cross_mode (depth), cross_steps
// (3), cell (gru), rho (0.5) with state_size (64) or shared_hidden and
// private_hidden, deep ([256, 128]), tower ([64]), transfer (true), dropout,
// cross (true; false removes the cross block, for ablations: the towers then
// read [deep(x0)] only).
type DCRNN struct {
	spec     Spec
	dim      int
	emb      *nn.Embeddings
	deep     *nn.MLP
	inProj   *nn.Linear   // depth mode
	fieldPrj []*nn.Linear // fields mode, one per field
	steps    int

	sharedA    *nn.Linear // nil when H_s = 0
	sharedCell nn.Cell
	taskA      []*nn.Linear // nil entries when H_p = 0
	taskCell   []nn.Cell
	towers     []*tower
	gates      []*nn.Linear // transfer gates; nil where a task has none
	x0Read     []*nn.Linear // the layers that read x0 in depth mode (see embed); nil otherwise
}

func init() {
	register("dcrnn", "recurrent deep cross network with partial sharing (our reading of Zhou & Yu, arXiv 2310.11777)", newDCRNN)
}

func newDCRNN(cfg *Config, spec Spec, rng *rand.Rand) (Model, error) {
	emb, err := nn.NewEmbeddings("emb", spec.Fields, cfg.EmbeddingDim, rng)
	if err != nil {
		return nil, err
	}
	m := &DCRNN{spec: spec, dim: cfg.EmbeddingDim, emb: emb}
	d0 := emb.OutDim()
	if m.deep, err = mlpOrNil("deep", d0, cfg.Deep, cfg.Dropout, rng); err != nil {
		return nil, err
	}
	k := cfg.Proj
	hs, hp := cfg.SharedHidden, cfg.PrivateHidden
	switch {
	case !*cfg.Cross: // no cross block: 0 steps, no state; the towers read the deep branch alone
		hs, hp = 0, 0
	case cfg.CrossMode == "depth":
		m.inProj = nn.NewLinear("cross.in", d0, k, nn.Identity, rng)
		m.steps = cfg.CrossSteps
	case cfg.CrossMode == "fields":
		for f, fs := range spec.Fields {
			m.fieldPrj = append(m.fieldPrj, nn.NewLinear(fmt.Sprintf("cross.field.%d.%s", f, fs.Name), cfg.EmbeddingDim, k, nn.Identity, rng))
		}
		m.steps = len(spec.Fields)
	}
	if hs > 0 {
		m.sharedA = nn.NewLinear("cross.shared.A", hs, k, nn.Identity, rng)
		if m.sharedCell, err = nn.NewCell(cfg.Cell, "cross.shared.cell", k, hs, rng); err != nil {
			return nil, err
		}
	}
	repIn := hs + hp + mlpOut(m.deep, d0)
	for ti, task := range spec.Tasks {
		if hp > 0 {
			prefix := "cross.task." + task.Name
			m.taskA = append(m.taskA, nn.NewLinear(prefix+".A", hs+hp, k, nn.Identity, rng))
			c, err := nn.NewCell(cfg.Cell, prefix+".cell", k, hp, rng)
			if err != nil {
				return nil, err
			}
			m.taskCell = append(m.taskCell, c)
		}
		tw, err := newTower("tower."+task.Name, repIn, cfg.Tower, cfg.Dropout, rng)
		if err != nil {
			return nil, err
		}
		m.towers = append(m.towers, tw)
		var g *nn.Linear
		if pr := predecessor(spec, ti); *cfg.Transfer && pr >= 0 && pr < ti {
			w := tw.width()
			g = nn.NewLinear("transfer."+task.Name, 2*w, w, nn.Sigmoid, rng)
		}
		m.gates = append(m.gates, g)
	}
	if m.fieldPrj == nil {
		m.x0Read = x0Readers([]*nn.MLP{m.deep}, m.inProj)
	}
	return m, nil
}

// Forward implements Model. The recurrence starts from the zero state: the
// first step's crosses are v ⊙ a (ForwardMul with a nil input) and its cell
// steps get a nil state, so no product with a zero matrix is computed. Each
// cross v ⊙ (A h + a) is one op (Linear.ForwardMul); in fields mode the
// field projections read their columns of x0 in place (Linear.ForwardCols).
func (m *DCRNN) Forward(t *nn.Tape, b *feature.Batch) []*nn.Mat {
	x0 := embed(t, m.emb, b, m.x0Read)
	deep := runMLP(t, m.deep, x0) // x0 itself without a deep branch
	var u *nn.Mat
	if m.inProj != nil {
		u = m.inProj.Forward(t, x0)
	}
	nt := len(m.spec.Tasks)
	var s *nn.Mat   // shared state, nil while zero
	p := t.Mats(nt) // private states, nil while zero
	for l := 0; l < m.steps; l++ {
		v := u
		if v == nil {
			v = m.fieldPrj[l].ForwardCols(t, x0, l*m.dim)
		}
		var sh *nn.Mat
		if s != nil {
			sh = m.sharedCell.Output(t, s)
		}
		for i, cell := range m.taskCell {
			var in *nn.Mat // [s; p_i], nil on the first step
			if l > 0 {
				in = cell.Output(t, p[i])
				if sh != nil {
					in = nn.Concat(t, sh, in)
				}
			}
			p[i] = cell.Step(t, m.taskA[i].ForwardMul(t, in, v), p[i])
		}
		if m.sharedCell != nil {
			s = m.sharedCell.Step(t, m.sharedA.ForwardMul(t, sh, v), s)
		}
	}
	var sL *nn.Mat
	if s != nil {
		sL = m.sharedCell.Output(t, s)
	}
	hidden := t.Mats(nt)
	out := t.Mats(nt)
	parts := t.Mats(3)
	for i, tw := range m.towers {
		parts = parts[:0]
		if sL != nil {
			parts = append(parts, sL)
		}
		if p[i] != nil {
			parts = append(parts, m.taskCell[i].Output(t, p[i]))
		}
		parts = append(parts, deep)
		h := tw.hidden(t, nn.Concat(t, parts...))
		if g := m.gates[i]; g != nil {
			ha := hidden[predecessor(m.spec, i)]
			h = nn.Add(t, h, nn.Mul(t, g.Forward(t, nn.Concat(t, ha, h)), ha))
		}
		hidden[i] = h
		out[i] = tw.logit(t, h)
	}
	return out
}

// Params implements Model.
func (m *DCRNN) Params() []*nn.Param {
	ps := append(m.emb.Params(), mlpParams(m.deep)...)
	if m.inProj != nil {
		ps = append(ps, m.inProj.Params()...)
	}
	for _, l := range m.fieldPrj {
		ps = append(ps, l.Params()...)
	}
	if m.sharedA != nil {
		ps = append(ps, m.sharedA.Params()...)
		ps = append(ps, m.sharedCell.Params()...)
	}
	for i := range m.taskA {
		ps = append(ps, m.taskA[i].Params()...)
		ps = append(ps, m.taskCell[i].Params()...)
	}
	for i, tw := range m.towers {
		ps = append(ps, tw.params()...)
		if m.gates[i] != nil {
			ps = append(ps, m.gates[i].Params()...)
		}
	}
	return ps
}

// SparseParams implements Model.
func (m *DCRNN) SparseParams() []*nn.SparseParam { return m.emb.SparseParams() }
