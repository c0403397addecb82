package onnx

import (
	"fmt"

	"github.com/dcrnn/dcrnn/internal/model"
)

// cellState is the state of a recurrent cell: h, and c for an LSTM.
type cellState struct{ h, c val }

// step is one step of the cell prefix (nn.GRU, nn.LSTM or nn.RNN with
// PyTorch's equations) on input x from state st; a nil st is the zero state,
// whose hidden products are left out as the Go cells do.
func (b *builder) step(kind, prefix string, in, hidden int, x val, st *cellState) *cellState {
	H := hidden
	one := val{b.constF(nil, 1), 0}
	switch kind {
	case "gru":
		wx, _ := b.weight(prefix+".Wx", in, 3*H)
		bx, _ := b.weight(prefix+".bx", 1, 3*H)
		bh, _ := b.weight(prefix+".bh", 1, 3*H)
		gx := val{b.op("Gemm", []string{x.name, wx, bx}), 3 * H}
		gh := val{bh, 3 * H} // h·Wh + bh with h = 0
		if st != nil {
			wh, _ := b.weight(prefix+".Wh", H, 3*H)
			gh = val{b.op("Gemm", []string{st.h.name, wh, bh}), 3 * H}
		}
		xs, hs := b.split(gx, H, H, H), b.split(gh, H, H, H)
		r := b.unary("Sigmoid", b.add(xs[0], hs[0]))
		z := b.unary("Sigmoid", b.add(xs[1], hs[1]))
		n := b.unary("Tanh", b.add(xs[2], b.mul(r, hs[2])))
		h := b.mul(val{b.op("Sub", []string{one.name, z.name}), H}, n)
		if st != nil {
			h = b.add(h, b.mul(z, st.h))
		}
		return &cellState{h: val{h.name, H}}
	case "lstm":
		wx, _ := b.weight(prefix+".Wx", in, 4*H)
		bias, _ := b.weight(prefix+".b", 1, 4*H)
		pre := val{b.op("Gemm", []string{x.name, wx, bias}), 4 * H}
		if st != nil {
			wh, _ := b.weight(prefix+".Wh", H, 4*H)
			pre = b.add(pre, val{b.op("MatMul", []string{st.h.name, wh}), 4 * H})
		}
		g := b.split(pre, H, H, H, H)
		i, f, gg, o := b.unary("Sigmoid", g[0]), b.unary("Sigmoid", g[1]), b.unary("Tanh", g[2]), b.unary("Sigmoid", g[3])
		c := b.mul(i, gg)
		if st != nil {
			c = b.add(b.mul(f, st.c), c)
		}
		return &cellState{h: b.mul(o, b.unary("Tanh", c)), c: c}
	case "rnn":
		wx, _ := b.weight(prefix+".Wx", in, H)
		bias, _ := b.weight(prefix+".b", 1, H)
		pre := val{b.op("Gemm", []string{x.name, wx, bias}), H}
		if st != nil {
			wh, _ := b.weight(prefix+".Wh", H, H)
			pre = b.add(pre, val{b.op("MatMul", []string{st.h.name, wh}), H})
		}
		return &cellState{h: b.unary("Tanh", pre)}
	}
	b.fail("onnx: cell %s: unknown kind %q", prefix, kind)
	return &cellState{}
}

// idle marks parameters that the graph legitimately leaves out: with a
// single recurrence step, the hidden-state weights only ever multiply the
// zero state.
func (b *builder) idle(names ...string) {
	for _, n := range names {
		if b.has(n) {
			b.used[n] = true
		}
	}
}

// dcrnn is the DCRNN of package model: x0, a deep branch, the recurrent
// cross block with a shared state s and a private state per task, unrolled
// over its steps, then per task a tower on [s_L; p_L; deep(x0)] with the
// optional transfer gate from its predecessor's last hidden layer.
func (b *builder) dcrnn(cfg *model.Config, in *graphInputs) []val {
	x0, fields := b.embeddings("emb", in)
	spec := in.spec
	deep := b.mlp(x0, "deep", len(cfg.Deep))
	hs, hp := cfg.SharedHidden, cfg.PrivateHidden
	steps := 0
	var u val
	switch {
	case !*cfg.Cross:
		hs, hp = 0, 0
	case cfg.CrossMode == "depth":
		u = b.linear(x0, "cross.in", actNone)
		steps = cfg.CrossSteps
	case cfg.CrossMode == "fields":
		steps = len(spec.Fields)
	default:
		b.fail("onnx: dcrnn: cross_mode %q", cfg.CrossMode)
	}
	// crossIn is v ⊙ (A·in + a), or v ⊙ a from the zero state (in nil).
	crossIn := func(prefix string, in *val, v val) val {
		if in == nil {
			a, _ := b.weight(prefix+".b", 1, cfg.Proj)
			return b.mul(v, val{a, cfg.Proj})
		}
		return b.mul(v, b.linear(*in, prefix, actNone))
	}
	nt := len(spec.Tasks)
	var s *cellState
	p := make([]*cellState, nt)
	for l := range steps {
		v := u
		if cfg.CrossMode == "fields" {
			v = b.linear(fields[l], fmt.Sprintf("cross.field.%d.%s", l, spec.Fields[l].Name), actNone)
		}
		if hp > 0 {
			for i, t := range spec.Tasks {
				prefix := "cross.task." + t.Name
				var x *val
				if l > 0 {
					h := p[i].h
					if s != nil {
						h = b.concat(s.h, h)
					}
					x = &h
				}
				p[i] = b.step(cfg.Cell, prefix+".cell", cfg.Proj, hp, crossIn(prefix+".A", x, v), p[i])
			}
		}
		if hs > 0 {
			var x *val
			if s != nil {
				x = &s.h
			}
			s = b.step(cfg.Cell, "cross.shared.cell", cfg.Proj, hs, crossIn("cross.shared.A", x, v), s)
		}
	}
	if steps == 1 {
		b.idle("cross.shared.A.W", "cross.shared.cell.Wh")
		for _, t := range spec.Tasks {
			b.idle("cross.task."+t.Name+".A.W", "cross.task."+t.Name+".cell.Wh")
		}
	}
	hidden := make([]val, nt)
	out := make([]val, nt)
	for i, t := range spec.Tasks {
		var parts []val
		if s != nil {
			parts = append(parts, s.h)
		}
		if p[i] != nil {
			parts = append(parts, p[i].h)
		}
		parts = append(parts, deep)
		h := b.mlp(b.concat(parts...), "tower."+t.Name, len(cfg.Tower))
		if pr := predecessor(spec, i); *cfg.Transfer && pr >= 0 && pr < i {
			ha := hidden[pr]
			g := b.linear(b.concat(ha, h), "transfer."+t.Name, actSigmoid)
			h = b.add(h, b.mul(g, ha))
		}
		hidden[i] = h
		out[i] = b.linear(h, "tower."+t.Name+".out", actNone)
	}
	return out
}
