"""The eight dcrnn models as torch.nn.Modules.

Each model is built from a model config (the "config" of a model file's
"model" document: the keys of `dcrnn train --set`) and a Spec (the fields
with their kinds and vocabulary sizes, and the tasks with their funnel
links; from manifest.json of `dcrnn prepare`, or from a model file). Its
parameters are named exactly as the model file names its tensors
("emb.age", "tower.income.0.W", "cross.shared.cell.Wx", ...) and have the
same shapes: a dense layer y = x·W + b keeps W as [in, out] and b as
[1, out]. `named_parameters()` yields those names (the dots become nested
submodules), so `model.state_dict()` is the model file's tensors.

forward(batch) returns one logit tensor [B] per task, in task order, the
later step of a funnel giving the conditional logit (CVR). The objective
(Objective) is that of the Go trainer: per-task binary cross-entropy, the
entire-space loss BCE(σ(z_a)·σ(z_b), y_a·y_b) for a funnel step, fixed task
weights, or learned log-variances s_t (loss.log_var) with
Σ exp(-s_t)·L_t + s_t.

Inputs (Batch): one entry per field in field order: an int64 tensor [B] of
ids for a categorical field, a pair (ids, offsets) for a multi-categorical
field (offsets [B+1], row i's ids are ids[offsets[i]:offsets[i+1]], its
embedding their mean, zero when empty), a float32 tensor [B] for a numeric
field (its embedding value·v + b).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

EMBEDDING_INIT = 0.05
MODELS = ("aitm", "dcnv2", "dcrnn", "esmm", "mmoe", "ple", "shared_bottom", "single")


@dataclass
class FieldSpec:
    name: str
    kind: str  # "categorical", "multi_categorical" or "numeric"
    vocab: int = 0


@dataclass
class Task:
    name: str
    after: int = -1  # index of the earlier funnel step, -1 if none


@dataclass
class Spec:
    fields: list[FieldSpec]
    tasks: list[Task]

    def funnel(self) -> tuple[int, int] | None:
        for i, t in enumerate(self.tasks):
            if t.after >= 0:
                return t.after, i
        return None

    @staticmethod
    def from_manifest(m: dict) -> Spec:
        names = [t["name"] for t in m["tasks"]]
        fields = [FieldSpec(f["name"], f["kind"], int(f.get("vocab", 0))) for f in m["fields"]]
        tasks = [Task(t["name"], names.index(t["after"]) if t.get("after") else -1) for t in m["tasks"]]
        return Spec(fields, tasks)

    @staticmethod
    def from_pipeline(pipe: dict, tensors: dict, model: str) -> Spec:
        """The spec of a model file: kinds from the pipeline's schema,
        vocabulary sizes from the embedding tables."""
        schema = pipe["schema"]
        by_name = {f["name"]: f for f in schema["fields"]}
        names = [t["name"] for t in schema["tasks"]]
        tasks = [Task(t["name"], names.index(t["after"]) if t.get("after") else -1) for t in schema["tasks"]]
        prefix = "emb." + tasks[0].name + "." if model == "single" else "emb."
        fields = []
        for f in pipe["fields"]:
            d = by_name[f["name"]]
            if d["type"] == "multi_categorical":
                kind = "multi_categorical"
            elif d["type"] == "categorical" or d.get("buckets") is not None:
                kind = "categorical"
            else:
                kind = "numeric"
            vocab = 0
            if kind != "numeric":
                t = tensors.get(prefix + f["name"])
                if t is None:
                    raise ValueError(f"model file: no embedding table {prefix + f['name']!r}")
                vocab = int(t.shape[0])
            fields.append(FieldSpec(f["name"], kind, vocab))
        return Spec(fields, tasks)


def config_defaults(cfg: dict) -> dict:
    """Fills a model config's zero values with the defaults, as model.Config.Defaults does."""
    c = copy.deepcopy(cfg)

    def zero(k):
        return not c.get(k)

    if zero("embedding_dim"):
        c["embedding_dim"] = 16
    if c.get("tower") is None:
        c["tower"] = [64]
    if c.get("deep") is None:
        c["deep"] = [256, 128]
    if c.get("transfer") is None:
        c["transfer"] = True
    if c.get("cross") is None:
        c["cross"] = True
    if zero("loss_weighting"):
        c["loss_weighting"] = "fixed"
    c.setdefault("dropout", 0.0)
    c.setdefault("task_weights", None)
    for k, v in (("proj", 64), ("cross_mode", "depth"), ("cross_steps", 3), ("cell", "gru")):
        if zero(k):
            c[k] = v
    if zero("shared_hidden") and zero("private_hidden") and c.get("rho") is None:
        c["rho"] = 0.5
    if c.get("rho") is not None:
        if zero("state_size"):
            c["state_size"] = 64
        # Go's math.Round rounds half away from zero.
        x = c["rho"] * c["state_size"]
        c["shared_hidden"] = math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)
        c["private_hidden"] = c["state_size"] - c["shared_hidden"]
    c.setdefault("shared_hidden", 0)
    c.setdefault("private_hidden", 0)
    c.setdefault("state_size", 0)
    for k, v in (("experts", 4), ("shared_experts", 2), ("task_experts", 1), ("levels", 1), ("cross_layers", 3)):
        if zero(k):
            c[k] = v
    if c.get("expert_hidden") is None:
        c["expert_hidden"] = [256, 128]
    return c


def _act(x, act):
    if act == "relu":
        return torch.relu(x)
    if act == "sigmoid":
        return torch.sigmoid(x)
    if act == "tanh":
        return torch.tanh(x)
    return x


class Base(nn.Module):
    """Holds parameters under their model-file names (nested submodules)."""

    def __init__(self, spec: Spec, cfg: dict):
        super().__init__()
        self.spec = spec
        self.cfg = cfg
        self.dense_names: list[str] = []  # in the Go order (model, then objective)
        self.sparse_names: list[str] = []
        self.dropout = float(cfg.get("dropout") or 0.0)
        g = torch.Generator().manual_seed(int(cfg.get("_init_seed", 1)))
        self._gen = g

    # -- parameter registry
    def _param(self, name: str, rows: int, cols: int, init=None, sparse=False) -> str:
        parts = name.split(".")
        mod: nn.Module = self
        for p in parts[:-1]:
            sub = mod._modules.get(p)
            if sub is None:
                if hasattr(mod, p) or p == "":
                    raise ValueError(f"parameter {name!r}: the name part {p!r} cannot be a submodule name")
                sub = nn.Module()
                mod.add_module(p, sub)
            mod = sub
        leaf = parts[-1]
        if leaf in mod._parameters or hasattr(mod, leaf) or leaf == "":
            raise ValueError(f"parameter {name!r} is defined twice or collides with an attribute")
        w = torch.zeros(rows, cols, dtype=torch.float32)
        if init is not None:
            init(w)
        mod.register_parameter(leaf, nn.Parameter(w))
        (self.sparse_names if sparse else self.dense_names).append(name)
        return name

    def p(self, name: str) -> torch.Tensor:
        return self.get_parameter(name)

    def _uniform(self, lim):
        def f(w):
            w.uniform_(-lim, lim, generator=self._gen)

        return f

    # -- layers
    def linear(self, prefix: str, fan_in: int, fan_out: int, act: str = "identity") -> str:
        lim = math.sqrt(6 / fan_in) if act == "relu" else math.sqrt(6 / (fan_in + fan_out))
        self._param(prefix + ".W", fan_in, fan_out, self._uniform(lim))
        self._param(prefix + ".b", 1, fan_out)
        return prefix

    def run_linear(self, prefix: str, x: torch.Tensor, act: str = "identity") -> torch.Tensor:
        return _act(x @ self.p(prefix + ".W") + self.p(prefix + ".b"), act)

    def mlp(self, prefix: str, fan_in: int, sizes: list[int]) -> tuple[list[str] | None, int]:
        """An MLP with ReLU on every layer, or None when sizes is empty."""
        if not sizes:
            return None, fan_in
        layers = []
        for k, s in enumerate(sizes):
            layers.append(self.linear(f"{prefix}.{k}", fan_in, s, "relu"))
            fan_in = s
        return layers, fan_in

    def run_mlp(self, layers, x):
        """Runs an MLP with dropout after every layer (the last too); x when None."""
        if layers is None:
            return x
        for name in layers:
            x = self.drop(self.run_linear(name, x, "relu"))
        return x

    def drop(self, x):
        if self.dropout > 0 and self.training:
            return F.dropout(x, self.dropout, True)
        return x

    def make_tower(self, prefix: str, fan_in: int, sizes: list[int]):
        body, w = self.mlp(prefix, fan_in, sizes)
        out = self.linear(prefix + ".out", w, 1)
        return (body, out, w)

    # -- embeddings
    def embeddings(self, prefix: str) -> str:
        d = self.cfg["embedding_dim"]
        for f in self.spec.fields:
            name = prefix + "." + f.name
            if f.kind in ("categorical", "multi_categorical"):
                if f.vocab <= 0:
                    raise ValueError(f"field {f.name!r}: vocabulary {f.vocab}, want > 0")
                self._param(name, f.vocab, d, self._uniform(EMBEDDING_INIT), sparse=True)
            elif f.kind == "numeric":
                self._param(name + ".v", 1, d, self._uniform(EMBEDDING_INIT))
                self._param(name + ".b", 1, d)
            else:
                raise ValueError(f"field {f.name!r}: unknown kind {f.kind!r}")
        return prefix

    def embed(self, prefix: str, batch) -> torch.Tensor:
        cols = []
        sparse = getattr(self, "sparse_grad", False)
        pooled = getattr(self, "pooled", None)  # {table: [B, d]} looked up elsewhere (TorchRec sharding)
        for f, x in zip(self.spec.fields, batch.fields):
            name = prefix + "." + f.name
            if pooled is not None and f.kind != "numeric":
                cols.append(pooled[name])
            elif f.kind == "categorical":
                cols.append(F.embedding(x, self.p(name), sparse=sparse))
            elif f.kind == "multi_categorical":
                ids, offsets = x
                cols.append(F.embedding_bag(ids, self.p(name), offsets[:-1], mode="mean", sparse=sparse, include_last_offset=False))
            else:
                cols.append(x.unsqueeze(1) * self.p(name + ".v") + self.p(name + ".b"))
        return torch.cat(cols, dim=1)

    def predecessor(self, ti: int) -> int:
        a = self.spec.tasks[ti].after
        return a if a >= 0 else ti - 1

    def d0(self) -> int:
        return len(self.spec.fields) * self.cfg["embedding_dim"]

    def run_tower(self, tw, x):
        body, out, _ = tw
        return self.run_mlp(body, x), out

    def add_objective_params(self):
        if self.cfg.get("loss_weighting") == "uncertainty":
            self._param("loss.log_var", 1, len(self.spec.tasks))


# ------------------------------------------------------------------ models


class Single(Base):
    def __init__(self, spec, cfg):
        super().__init__(spec, cfg)
        self.parts = []
        for t in spec.tasks:
            emb = self.embeddings("emb." + t.name)
            bottom, w = self.mlp("bottom." + t.name, self.d0(), cfg["deep"])
            self.parts.append((emb, bottom, self.make_tower("tower." + t.name, w, cfg["tower"])))

    def forward(self, batch):
        out = []
        for emb, bottom, tw in self.parts:
            h, o = self.run_tower(tw, self.run_mlp(bottom, self.embed(emb, batch)))
            out.append(self.run_linear(o, h)[:, 0])
        return out


class SharedBottom(Base):
    def __init__(self, spec, cfg):
        super().__init__(spec, cfg)
        self.embeddings("emb")
        self._bottom, w = self.mlp("bottom", self.d0(), cfg["deep"])
        self.towers = [self.make_tower("tower." + t.name, w, cfg["tower"]) for t in spec.tasks]

    def forward(self, batch):
        x = self.run_mlp(self._bottom, self.embed("emb", batch))
        out = []
        for tw in self.towers:
            h, o = self.run_tower(tw, x)
            out.append(self.run_linear(o, h)[:, 0])
        return out


class ESMM(Base):
    def __init__(self, spec, cfg):
        super().__init__(spec, cfg)
        self.embeddings("emb")
        self.nets, self.towers = [], []
        for t in spec.tasks:
            net, w = self.mlp("net." + t.name, self.d0(), cfg["deep"])
            self.nets.append(net)
            self.towers.append(self.make_tower("tower." + t.name, w, cfg["tower"]))

    def forward(self, batch):
        x0 = self.embed("emb", batch)
        out = []
        for net, tw in zip(self.nets, self.towers):
            h, o = self.run_tower(tw, self.run_mlp(net, x0))
            out.append(self.run_linear(o, h)[:, 0])
        return out


def _mix(gate, experts):
    """Σ_k gate[:, k] · experts[k]."""
    y = gate[:, 0:1] * experts[0]
    for k in range(1, len(experts)):
        y = y + gate[:, k : k + 1] * experts[k]
    return y


class MMoE(Base):
    def __init__(self, spec, cfg):
        super().__init__(spec, cfg)
        if not cfg["expert_hidden"]:
            raise ValueError("config: expert_hidden: mmoe needs at least one expert layer, got []")
        self.embeddings("emb")
        d0 = self.d0()
        self.experts = []
        for e in range(cfg["experts"]):
            ex, h = self.mlp(f"expert.{e}", d0, cfg["expert_hidden"])
            self.experts.append(ex)
        self.gates, self.towers = [], []
        for t in spec.tasks:
            self.gates.append(self.linear("gate." + t.name, d0, cfg["experts"]))
            self.towers.append(self.make_tower("tower." + t.name, h, cfg["tower"]))

    def forward(self, batch):
        x0 = self.embed("emb", batch)
        ex = [self.run_mlp(e, x0) for e in self.experts]
        out = []
        for g, tw in zip(self.gates, self.towers):
            mix = _mix(torch.softmax(self.run_linear(g, x0), dim=1), ex)
            h, o = self.run_tower(tw, mix)
            out.append(self.run_linear(o, h)[:, 0])
        return out


class PLE(Base):
    def __init__(self, spec, cfg):
        super().__init__(spec, cfg)
        if not cfg["expert_hidden"]:
            raise ValueError("config: expert_hidden: ple needs at least one expert layer, got []")
        self.embeddings("emb")
        fan_in = self.d0()
        nt, np_, ns = len(spec.tasks), cfg["task_experts"], cfg["shared_experts"]
        self.levels = []
        for k in range(cfg["levels"]):
            prefix = f"ple.{k}"
            shared = []
            for e in range(ns):
                ex, w = self.mlp(f"{prefix}.shared.expert.{e}", fan_in, cfg["expert_hidden"])
                shared.append(ex)
            task, gates = [], []
            for t in spec.tasks:
                exs = []
                for e in range(np_):
                    ex, w = self.mlp(f"{prefix}.{t.name}.expert.{e}", fan_in, cfg["expert_hidden"])
                    exs.append(ex)
                task.append(exs)
                gates.append(self.linear(f"{prefix}.{t.name}.gate", fan_in, np_ + ns))
            sgate = self.linear(f"{prefix}.shared.gate", fan_in, nt * np_ + ns) if k + 1 < cfg["levels"] else None
            self.levels.append((shared, task, gates, sgate))
            fan_in = w
        self.towers = [self.make_tower("tower." + t.name, fan_in, cfg["tower"]) for t in spec.tasks]

    def forward(self, batch):
        x0 = self.embed("emb", batch)
        s = x0
        u = [x0] * len(self.towers)
        for shared, task, gates, sgate in self.levels:
            sh = [self.run_mlp(e, s) for e in shared]
            allx = []
            nxt = []
            for i in range(len(u)):
                mine = [self.run_mlp(e, u[i]) for e in task[i]]
                allx.extend(mine)
                g = torch.softmax(self.run_linear(gates[i], u[i]), dim=1)
                nxt.append(_mix(g, mine + sh))
            if sgate is not None:
                g = torch.softmax(self.run_linear(sgate, s), dim=1)
                s = _mix(g, allx + sh)
            u = nxt
        out = []
        for i, tw in enumerate(self.towers):
            h, o = self.run_tower(tw, u[i])
            out.append(self.run_linear(o, h)[:, 0])
        return out


class AITM(Base):
    def __init__(self, spec, cfg):
        super().__init__(spec, cfg)
        self.embeddings("emb")
        self.parts = []
        for ti, t in enumerate(spec.tasks):
            net, h = self.mlp("net." + t.name, self.d0(), cfg["deep"])
            info = ait = None
            pr = self.predecessor(ti)
            if 0 <= pr < ti:
                info = self.linear("info." + t.name, h, h, "relu")
                ait = self._param("ait." + t.name + ".Wqkv", h, 3 * h, self._uniform(math.sqrt(6 / (h + h))))
            self.parts.append((net, info, ait, h, self.make_tower("tower." + t.name, h, cfg["tower"])))

    def forward(self, batch):
        x0 = self.embed("emb", batch)
        z, out = [], []
        for i, (net, info, ait, h, tw) in enumerate(self.parts):
            q = self.run_mlp(net, x0)
            if ait is not None:
                p = self.drop(self.run_linear(info, z[self.predecessor(i)], "relu"))
                q = _pair_attention(self.p(ait), h, p, q)
            z.append(q)
            hh, o = self.run_tower(tw, q)
            out.append(self.run_linear(o, hh)[:, 0])
        return out


def _pair_attention(w, h, u, v):
    pu, pv = u @ w, v @ w
    scale = 1 / math.sqrt(h)
    su = (pu[:, :h] * pu[:, h : 2 * h]).sum(1) * scale
    sv = (pv[:, :h] * pv[:, h : 2 * h]).sum(1) * scale
    a = torch.softmax(torch.stack([su, sv], dim=1), dim=1)
    return a[:, 0:1] * pu[:, 2 * h :] + a[:, 1:2] * pv[:, 2 * h :]


class DCNv2(Base):
    def __init__(self, spec, cfg):
        super().__init__(spec, cfg)
        self.embeddings("emb")
        d0 = self.d0()
        self._cross = [self.linear(f"cross.{k}", d0, d0) for k in range(cfg["cross_layers"])]
        self._deep, w = self.mlp("deep", d0, cfg["deep"])
        fan_in = d0 + (w if self._deep is not None else 0)
        self.towers = [self.make_tower("tower." + t.name, fan_in, cfg["tower"]) for t in spec.tasks]

    def forward(self, batch):
        x0 = self.embed("emb", batch)
        x = x0
        for c in self._cross:
            x = x0 * self.run_linear(c, x) + x
        rep = torch.cat([x, self.run_mlp(self._deep, x0)], dim=1) if self._deep is not None else x
        out = []
        for tw in self.towers:
            h, o = self.run_tower(tw, rep)
            out.append(self.run_linear(o, h)[:, 0])
        return out


class DCRNN(Base):
    def __init__(self, spec, cfg):
        super().__init__(spec, cfg)
        self.embeddings("emb")
        d0 = self.d0()
        self._deep, wdeep = self.mlp("deep", d0, cfg["deep"])
        k = cfg["proj"]
        hs, hp = cfg["shared_hidden"], cfg["private_hidden"]
        self.kind = cfg["cell"]
        self.mode = None
        self.steps = 0
        if not cfg["cross"]:
            hs = hp = 0
        elif cfg["cross_mode"] == "depth":
            self.mode = "depth"
            self.linear("cross.in", d0, k)
            self.steps = cfg["cross_steps"]
        elif cfg["cross_mode"] == "fields":
            self.mode = "fields"
            self.field_prj = [self.linear(f"cross.field.{f}.{fs.name}", cfg["embedding_dim"], k) for f, fs in enumerate(spec.fields)]
            self.steps = len(spec.fields)
        else:
            raise ValueError(f"config: cross_mode: want depth or fields, got {cfg['cross_mode']!r}")
        self.hs, self.hp = hs, hp
        if hs > 0:
            self.linear("cross.shared.A", hs, k)
            self.cell("cross.shared.cell", k, hs)
        rep = hs + hp + wdeep
        self.towers, self.gates = [], []
        for ti, t in enumerate(spec.tasks):
            if hp > 0:
                self.linear(f"cross.task.{t.name}.A", hs + hp, k)
                self.cell(f"cross.task.{t.name}.cell", k, hp)
            tw = self.make_tower("tower." + t.name, rep, cfg["tower"])
            self.towers.append(tw)
            g = None
            pr = self.predecessor(ti)
            if cfg["transfer"] and 0 <= pr < ti:
                w = tw[2]
                g = self.linear("transfer." + t.name, 2 * w, w, "sigmoid")
            self.gates.append(g)

    def cell(self, prefix, fan_in, hidden):
        gates = {"gru": 3, "lstm": 4, "rnn": 1}.get(self.kind)
        if gates is None:
            raise ValueError(f"config: cell: want gru, lstm or rnn, got {self.kind!r}")
        g = hidden * gates
        lim = 1 / math.sqrt(hidden)
        self._param(prefix + ".Wx", fan_in, g, self._uniform(lim))
        self._param(prefix + ".Wh", hidden, g, self._uniform(lim))
        if gates == 3:
            self._param(prefix + ".bx", 1, g)
            self._param(prefix + ".bh", 1, g)
        else:

            def forget_one(w):
                if gates == 4:
                    w[0, hidden : 2 * hidden] = 1

            self._param(prefix + ".b", 1, g, forget_one)

    def state_width(self, h):
        return 2 * h if self.kind == "lstm" else h

    def output(self, state, h):
        return state[:, :h] if self.kind == "lstm" else state

    def step(self, prefix, x, state, H):
        if self.kind == "gru":
            gx = x @ self.p(prefix + ".Wx") + self.p(prefix + ".bx")
            gh = state @ self.p(prefix + ".Wh") + self.p(prefix + ".bh")
            rz = torch.sigmoid(gx[:, : 2 * H] + gh[:, : 2 * H])
            r, z = rz[:, :H], rz[:, H:]
            n = torch.tanh(gx[:, 2 * H :] + r * gh[:, 2 * H :])
            return (1 - z) * n + z * state
        if self.kind == "lstm":
            h, c = state[:, :H], state[:, H:]
            g = x @ self.p(prefix + ".Wx") + h @ self.p(prefix + ".Wh") + self.p(prefix + ".b")
            i = torch.sigmoid(g[:, :H])
            f = torch.sigmoid(g[:, H : 2 * H])
            gg = torch.tanh(g[:, 2 * H : 3 * H])
            o = torch.sigmoid(g[:, 3 * H :])
            c2 = f * c + i * gg
            return torch.cat([o * torch.tanh(c2), c2], dim=1)
        return torch.tanh(x @ self.p(prefix + ".Wx") + state @ self.p(prefix + ".Wh") + self.p(prefix + ".b"))

    def forward(self, batch):
        x0 = self.embed("emb", batch)
        B = x0.shape[0]
        deep = self.run_mlp(self._deep, x0)
        d = self.cfg["embedding_dim"]
        hs, hp = self.hs, self.hp
        u = self.run_linear("cross.in", x0) if self.mode == "depth" else None
        s = x0.new_zeros(B, self.state_width(hs)) if hs > 0 else None
        p = [x0.new_zeros(B, self.state_width(hp)) if hp > 0 else None for _ in self.spec.tasks]
        for step in range(self.steps):
            v = u if u is not None else self.run_linear(self.field_prj[step], x0[:, step * d : (step + 1) * d])
            sh = self.output(s, hs) if s is not None else None
            for i, t in enumerate(self.spec.tasks):
                if p[i] is None:
                    continue
                prev = self.output(p[i], hp)
                inp = torch.cat([sh, prev], dim=1) if sh is not None else prev
                c = v * self.run_linear(f"cross.task.{t.name}.A", inp)
                p[i] = self.step(f"cross.task.{t.name}.cell", c, p[i], hp)
            if s is not None:
                c = v * self.run_linear("cross.shared.A", sh)
                s = self.step("cross.shared.cell", c, s, hs)
        hidden, out = [], []
        for i, tw in enumerate(self.towers):
            parts = []
            if s is not None:
                parts.append(self.output(s, hs))
            if p[i] is not None:
                parts.append(self.output(p[i], hp))
            parts.append(deep)
            h, o = self.run_tower(tw, torch.cat(parts, dim=1))
            if self.gates[i] is not None:
                ha = hidden[self.predecessor(i)]
                h = h + self.run_linear(self.gates[i], torch.cat([ha, h], dim=1), "sigmoid") * ha
            hidden.append(h)
            out.append(self.run_linear(o, h)[:, 0])
        return out


_REGISTRY = {
    "single": Single,
    "shared_bottom": SharedBottom,
    "esmm": ESMM,
    "mmoe": MMoE,
    "ple": PLE,
    "aitm": AITM,
    "dcnv2": DCNv2,
    "dcrnn": DCRNN,
}


def build(name: str, cfg: dict, spec: Spec, seed: int = 1) -> Base:
    """Builds model name from a config (defaults filled in) and spec, with
    fresh weights drawn from seed (not the Go draws: a fresh PyTorch model
    starts elsewhere than `dcrnn train`, the same way)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r} (have {sorted(_REGISTRY)})")
    if not spec.tasks:
        raise ValueError(f"{name}: the schema declares no task")
    if not spec.fields:
        raise ValueError(f"{name}: the schema declares no feature field")
    c = config_defaults(cfg)
    c["_init_seed"] = seed
    m = _REGISTRY[name](spec, c)
    del c["_init_seed"]
    m.add_objective_params()
    m.name = name
    return m


# ------------------------------------------------------------------ objective


def _bce_logits(z, y):
    return (F.softplus(z) - y * z).mean()


def _funnel_bce(za, zb, y):
    log_p = F.logsigmoid(za) + F.logsigmoid(zb)
    q = torch.clamp(1 - torch.exp(log_p), min=1e-7)
    return (-y * log_p - (1 - y) * torch.log(q)).mean()


def loss(model: Base, logits: list[torch.Tensor], labels: torch.Tensor, per_task: list | None = None, scale: float = 1.0) -> torch.Tensor:
    """The training loss of a batch (labels [B, T] float), as model.Objective.Loss.
    scale multiplies the task losses (not the log-variance terms): a process
    of a data-parallel run holding n of a global batch's N rows uses
    W·n/N, so that the mean of the processes' gradients is the global one."""
    spec, cfg = model.spec, model.cfg
    weights = cfg.get("task_weights")
    log_var = model.p("loss.log_var") if cfg.get("loss_weighting") == "uncertainty" else None
    total = logits[0].new_zeros(())
    for ti, t in enumerate(spec.tasks):
        if t.after >= 0:
            lt = _funnel_bce(logits[t.after], logits[ti], labels[:, ti] * labels[:, t.after])
        else:
            lt = _bce_logits(logits[ti], labels[:, ti])
        if per_task is not None:
            per_task.append(float(lt))
        w = float(weights[ti]) if weights else 1.0
        if log_var is not None:
            s = log_var[0, ti]
            total = total + w * torch.exp(-s) * lt * scale + s
        else:
            total = total + w * lt * scale
    return total


# ------------------------------------------------------------------ prediction

_EPS = 1e-7


def _apply_map(m, p):
    if not m:
        return p
    if "platt" in m and m["platt"] is not None:
        q = p.clamp(_EPS, 1 - _EPS)
        z = m["platt"]["a"] * torch.log(q / (1 - q)) + m["platt"]["b"]
        return torch.sigmoid(z)
    if "isotonic" in m and m["isotonic"] is not None:
        x = torch.tensor(m["isotonic"]["x"], dtype=p.dtype)
        y = torch.tensor(m["isotonic"]["y"], dtype=p.dtype)
        if len(x) == 0:
            return p
        if len(x) == 1:
            return torch.full_like(p, float(y[0]))
        j = torch.searchsorted(x, p).clamp(1, len(x) - 1)
        v = y[j - 1] + (p - x[j - 1]) / (x[j] - x[j - 1]) * (y[j] - y[j - 1])
        v = torch.where(p > x[0], v, y[0])
        return torch.where(p >= x[-1], y[-1], v)
    return p


def predict(model: Base, batch, calibration: dict | None = None, negative_sampling: float = 1.0) -> dict[str, torch.Tensor]:
    """Probabilities as every dcrnn scorer gives them: σ(logit) per task,
    then the task's calibration map (Platt or isotonic, from the model
    file's "calibration" document), then the first task's negative
    down-sampling correction p / (p + (1-p)/w); "ctcvr" is the product of
    the funnel's steps. Computed in float64 after the sigmoid, as Go does."""
    with torch.no_grad():
        z = model(batch)
        probs = [torch.sigmoid(t).to(torch.float64) for t in z]
    tasks = calibration.get("tasks", {}) if calibration else {}
    out = {}
    for ti, t in enumerate(model.spec.tasks):
        p = probs[ti]
        m = tasks.get(t.name)
        w = negative_sampling if ti == 0 else 1.0
        if m or w != 1:
            p = _apply_map(m, p)
            if w != 1:
                p = p / (p + (1 - p) / w)
        out[t.name] = p.to(torch.float32)
    fn = model.spec.funnel()
    if fn is not None:
        a, b = fn
        out["ctcvr"] = out[model.spec.tasks[a].name] * out[model.spec.tasks[b].name]
    return out


@dataclass
class Batch:
    """Transformed rows: fields in field order (see the module doc), labels [B, T]."""

    fields: list
    labels: torch.Tensor | None = None
    n: int = 0

    def to(self, device):
        fs = []
        for x in self.fields:
            fs.append(tuple(t.to(device) for t in x) if isinstance(x, tuple) else x.to(device))
        return Batch(fs, None if self.labels is None else self.labels.to(device), self.n)
