#!/usr/bin/python3
"""Independent PyTorch check of the DCRNN forward pass of dcrnn.

Reads a dcrnn model file (a safetensors file: 8-byte little-endian header
length N, N bytes of JSON header whose "__metadata__" holds the documents
"model" = {"name", "config"} and "pipeline", then the raw little-endian F32
weights), rebuilds the DCRNN forward pass in float64 torch from the equations
in the README section "DCRNN as we built it" (not from the Go code paths), runs it on the transformed
inputs written by `dcrnn predict --inputs-out`, and compares with the
probabilities `dcrnn predict --out` wrote. The probabilities go through
what the model file says comes after the sigmoid, re-implemented here from
internal/modelfile/doc.go and internal/calibrate: the optional "calibration"
document (Platt σ(a·logit(p)+b), or isotonic knots interpolated linearly and
held constant outside them), then, when the schema in the "pipeline"
document sets negative_sampling w on the first task, p / (p + (1-p)/w) for
that task; ctcvr is the product of the final funnel steps. It prints the
largest absolute difference per output column and exits 1 when one exceeds
--tol (default 1e-4), 2 on bad input.

The feature pipeline is deliberately not re-implemented: the inputs file
holds, per row, what the model saw ({"f": [id | [ids] | value, ...]}, one
entry per model field in pipeline order).

Usage (Debian: apt install python3-torch; numpy is not needed):

    /usr/bin/python3 bench/dcrnn_check.py --model M.dcrnn \
        --inputs inputs.jsonl --preds preds.csv [--tol 1e-4]
"""

import argparse
import array
import csv
import hashlib
import json
import math
import struct
import sys

import torch


class CheckError(Exception):
    """A problem with the inputs of the check (not a numeric mismatch)."""


# PERTURB deliberately breaks one equation (--perturb), to show that the
# check fails when the two implementations differ: "swap-gates" exchanges the
# first two gates of every gated cell (GRU r and z, LSTM i and f),
# "mean-as-sum" sums a multi-valued field's rows instead of averaging them,
# "skip-transfer" leaves out the transfer gate, "skip-calibration" ignores the
# calibration document and the negative down-sampling correction. None
# (default): no change.
PERTURB = None


# ---------------------------------------------------------------- file reading


def load_model_file(path):
    """Returns (meta, tensors) with tensors[name] a float64 torch tensor of its shape."""
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8:
        raise CheckError(f"{path}: {len(buf)} bytes, too short for a safetensors file")
    (n,) = struct.unpack_from("<Q", buf, 0)
    if 8 + n > len(buf):
        raise CheckError(f"{path}: header length {n} beyond the end of the file")
    header = json.loads(buf[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    data = buf[8 + n :]
    if "checksum" in meta and checksum(meta, header, data) != meta["checksum"]:
        raise CheckError(f"{path}: checksum mismatch (file damaged, or this reader is wrong)")
    tensors = {}
    for name, t in header.items():
        if t["dtype"] != "F32":
            raise CheckError(f"{path}: tensor {name}: dtype {t['dtype']}, want F32")
        begin, end = t["data_offsets"]
        values = array.array("f", data[begin:end])
        if sys.byteorder == "big":
            values.byteswap()
        shape = t["shape"]
        if len(values) != math.prod(shape):
            raise CheckError(f"{path}: tensor {name}: {len(values)} values for shape {shape}")
        tensors[name] = torch.tensor(values, dtype=torch.float64).reshape(shape)
    return meta, tensors


def checksum(meta, header, data):
    """The checksum of internal/modelfile/doc.go."""
    u64 = lambda v: struct.pack("<Q", v)
    s = lambda x: u64(len(x.encode())) + x.encode()
    keys = sorted(k for k in meta if k != "checksum")
    b = u64(len(keys)) + b"".join(s(k) + s(meta[k]) for k in keys)
    size = {"F32": 4, "I32": 4, "I64": 8}
    order = sorted(header, key=lambda k: (-size[header[k]["dtype"]], k.encode()))
    b += u64(len(order))
    for k in order:
        t = header[k]
        b += s(k) + s(t["dtype"]) + u64(len(t["shape"])) + b"".join(u64(d) for d in t["shape"])
        b += u64(t["data_offsets"][0]) + u64(t["data_offsets"][1])
    return hashlib.sha256(b + data).hexdigest()


# ---------------------------------------------------------------- the model


class Weights:
    """Looks weights up by name and remembers which were used."""

    def __init__(self, tensors):
        self.t = tensors
        self.used = set()

    def has(self, name):
        return name in self.t

    def __getitem__(self, name):
        if name not in self.t:
            raise CheckError(f"model file: weight {name!r} missing")
        self.used.add(name)
        return self.t[name]

    def linear(self, prefix, x, act=None):
        """y = act(x·W + b), W stored [In×Out], b [1×Out]."""
        w, b = self[prefix + ".W"], self[prefix + ".b"]
        if x.shape[1] != w.shape[0]:
            raise CheckError(f"{prefix}: input width {x.shape[1]}, W is {list(w.shape)}")
        y = x @ w + b
        return act(y) if act is not None else y

    def unused(self):
        return sorted(set(self.t) - self.used - {"loss.log_var"})


def cell_step(w, kind, prefix, x, state, hidden):
    """One step of a recurrent cell (PyTorch's equations); returns the new state.

    gru:  gates r, z, n along the columns;  r = σ(x Wx_r + bx_r + h Wh_r + bh_r),
          z likewise, n = tanh(x Wx_n + bx_n + r ⊙ (h Wh_n + bh_n)),
          h' = (1 - z) ⊙ n + z ⊙ h.                         state = h
    lstm: gates i, f, g, o, one bias; c' = f ⊙ c + i ⊙ g, h' = o ⊙ tanh(c').
                                                         state = [h c]
    rnn:  h' = tanh(x Wx + h Wh + b).                       state = h
    """
    H = hidden
    if PERTURB == "swap-gates" and kind in ("gru", "lstm"):
        swap = lambda m: torch.cat([m[:, H : 2 * H], m[:, :H], m[:, 2 * H :]], dim=1)
        w = {k: swap(w[prefix + k]) for k in ((".Wx", ".Wh", ".bx", ".bh") if kind == "gru" else (".Wx", ".Wh", ".b"))}
        prefix = ""
    if kind == "gru":
        gx = x @ w[prefix + ".Wx"] + w[prefix + ".bx"]
        gh = state @ w[prefix + ".Wh"] + w[prefix + ".bh"]
        r = torch.sigmoid(gx[:, :H] + gh[:, :H])
        z = torch.sigmoid(gx[:, H : 2 * H] + gh[:, H : 2 * H])
        n = torch.tanh(gx[:, 2 * H :] + r * gh[:, 2 * H :])
        return (1 - z) * n + z * state
    if kind == "lstm":
        h, c = state[:, :H], state[:, H:]
        g = x @ w[prefix + ".Wx"] + h @ w[prefix + ".Wh"] + w[prefix + ".b"]
        i = torch.sigmoid(g[:, :H])
        f = torch.sigmoid(g[:, H : 2 * H])
        gg = torch.tanh(g[:, 2 * H : 3 * H])
        o = torch.sigmoid(g[:, 3 * H :])
        c2 = f * c + i * gg
        return torch.cat([o * torch.tanh(c2), c2], dim=1)
    if kind == "rnn":
        return torch.tanh(x @ w[prefix + ".Wx"] + state @ w[prefix + ".Wh"] + w[prefix + ".b"])
    raise CheckError(f"unknown cell {kind!r}")


def cell_output(kind, state, hidden):
    """h of a state: the state itself, or its first H columns for an LSTM."""
    return state[:, :hidden] if kind == "lstm" else state


def mlp(w, prefix, x, nlayers):
    """ReLU after every layer prefix.0 .. prefix.(nlayers-1)."""
    for k in range(nlayers):
        x = w.linear(f"{prefix}.{k}", x, torch.relu)
    return x


def embed(w, fields, rows):
    """x0 [B × F·d]: per field its table row, the mean of its rows (empty list:
    zeros), or value·v_f + b_f."""
    cols = []
    for f, name in enumerate(fields):
        col = [r[f] for r in rows]
        if w.has("emb." + name):
            table = w["emb." + name]
            ids, offsets = [], []
            for v in col:
                offsets.append(len(ids))
                if isinstance(v, list):
                    ids.extend(v)
                elif isinstance(v, int):
                    ids.append(v)
                else:
                    raise CheckError(f"inputs: field {name!r}: {v!r}, want an id or a list of ids")
            if any(i < 0 or i >= table.shape[0] for i in ids):
                raise CheckError(f"inputs: field {name!r}: id outside [0, {table.shape[0]})")
            out = torch.nn.functional.embedding_bag(
                torch.tensor(ids, dtype=torch.long),
                table,
                torch.tensor(offsets, dtype=torch.long),
                mode="sum" if PERTURB == "mean-as-sum" else "mean",
            )
            cols.append(out)
        else:
            vals = torch.tensor([float(v) for v in col], dtype=torch.float64).unsqueeze(1)
            cols.append(vals * w[f"emb.{name}.v"] + w[f"emb.{name}.b"])
    return torch.cat(cols, dim=1)


EPS = 1e-7  # probabilities are clamped to [EPS, 1-EPS] before a logit


def apply_map(m, p):
    """Applies one task's calibration map (a dict from the document) to p [B]."""
    if m is None:
        return p
    if ("platt" in m) == ("isotonic" in m):
        raise CheckError(f"calibration map {m}: want exactly one of platt, isotonic")
    if "platt" in m:
        q = p.clamp(EPS, 1 - EPS)
        return torch.sigmoid(m["platt"]["a"] * torch.log(q / (1 - q)) + m["platt"]["b"])
    x = torch.tensor(m["isotonic"]["x"], dtype=torch.float64)
    y = torch.tensor(m["isotonic"]["y"], dtype=torch.float64)
    if len(x) == 1:
        return torch.full_like(p, y[0].item())
    j = torch.searchsorted(x, p).clamp(1, len(x) - 1)  # x[j-1] < p <= x[j] inside the knots
    t = (p - x[j - 1]) / (x[j] - x[j - 1])
    v = y[j - 1] + t * (y[j] - y[j - 1])
    v = torch.where(p <= x[0], y[0], v)
    return torch.where(p >= x[-1], y[-1], v)


class DCRNN:
    """The DCRNN of the README ("DCRNN as we built it") built from a model file's config and weights."""

    def __init__(self, meta, tensors):
        doc = json.loads(meta["model"])
        if doc["name"] != "dcrnn":
            raise CheckError(f"model file holds model {doc['name']!r}, this check knows only dcrnn")
        self.cfg = cfg = doc["config"]
        pipe = json.loads(meta["pipeline"])
        self.fields = [f["name"] for f in pipe["fields"]]
        tasks = pipe["schema"]["tasks"]
        self.tasks = [t["name"] for t in tasks]
        # after[t]: index of the earlier funnel step of task t, or -1.
        self.after = [self.tasks.index(t["after"]) if t.get("after") else -1 for t in tasks]
        # After the sigmoid: calibration maps per task, the down-sampling rate of task 0.
        cal = json.loads(meta["calibration"]) if "calibration" in meta else {"tasks": {}}
        if cal.get("version", 1) != 1:
            raise CheckError(f"calibration document version {cal.get('version')}, this check knows 1")
        self.calibration = cal["tasks"]
        self.sampling = tasks[0].get("negative_sampling") or 1.0
        self.w = Weights(tensors)
        self.kind = cfg["cell"] or "gru"
        self.mode = cfg["cross_mode"] or "depth"
        self.d = cfg["embedding_dim"]
        # cross: false (absent in files written before the key) removes the cross block.
        self.cross = cfg.get("cross") is not False
        # State sizes from the weights, checked against the config.
        self.hs = tensors["cross.shared.A.W"].shape[0] if "cross.shared.A.W" in tensors else 0
        a0 = f"cross.task.{self.tasks[0]}.A.W"
        self.hp = tensors[a0].shape[0] - self.hs if a0 in tensors else 0
        want = (cfg["shared_hidden"], cfg["private_hidden"]) if self.cross else (0, 0)
        if (self.hs, self.hp) != want:
            raise CheckError(
                f"state sizes from the weights ({self.hs}, {self.hp}) differ from the config "
                f"({want[0]}, {want[1]})"
            )
        self.deep_layers = len(cfg["deep"] or [])
        self.tower_layers = len(cfg["tower"] or [])

    def predecessor(self, t):
        return self.after[t] if self.after[t] >= 0 else t - 1

    def forward(self, rows):
        """Returns the per-task logits, each [B]."""
        w, kind, hs, hp = self.w, self.kind, self.hs, self.hp
        x0 = embed(w, self.fields, rows)
        B = x0.shape[0]
        deep = mlp(w, "deep", x0, self.deep_layers)
        if not self.cross:
            steps = 0  # the towers read the deep branch alone
        elif self.mode == "depth":
            u = w.linear("cross.in", x0)
            steps = self.cfg["cross_steps"]
        else:
            steps = len(self.fields)
        width = lambda h: 2 * h if kind == "lstm" else h
        s = torch.zeros(B, width(hs), dtype=torch.float64) if hs > 0 else None
        p = [torch.zeros(B, width(hp), dtype=torch.float64) if hp > 0 else None for _ in self.tasks]
        for l in range(steps):
            if self.mode == "depth":
                v = u
            else:
                v = w.linear(f"cross.field.{l}.{self.fields[l]}", x0[:, l * self.d : (l + 1) * self.d])
            sh = cell_output(kind, s, hs) if s is not None else None  # s_{l-1}
            for t, name in enumerate(self.tasks):
                if p[t] is None:
                    continue
                prev = cell_output(kind, p[t], hp)
                inp = torch.cat([sh, prev], dim=1) if sh is not None else prev
                c = v * w.linear(f"cross.task.{name}.A", inp)  # c^t_l = v_l ⊙ (A_t [s; p^t] + a_t)
                p[t] = cell_step(w, kind, f"cross.task.{name}.cell", c, p[t], hp)
            if s is not None:
                c = v * w.linear("cross.shared.A", sh)  # c^s_l = v_l ⊙ (A_s s + a_s)
                s = cell_step(w, kind, "cross.shared.cell", c, s, hs)
        hidden, logits = [], []
        for t, name in enumerate(self.tasks):
            parts = []
            if s is not None:
                parts.append(cell_output(kind, s, hs))
            if p[t] is not None:
                parts.append(cell_output(kind, p[t], hp))
            parts.append(deep)
            h = mlp(w, f"tower.{name}", torch.cat(parts, dim=1), self.tower_layers)
            pr = self.predecessor(t)
            gate = f"transfer.{name}"
            want_gate = bool(self.cfg["transfer"]) and 0 <= pr < t
            if want_gate != w.has(gate + ".W"):
                raise CheckError(f"transfer gate {gate}: expected {want_gate}, file says {w.has(gate + '.W')}")
            if want_gate and PERTURB == "skip-transfer":
                w[gate + ".W"], w[gate + ".b"]  # mark as used
            elif want_gate:
                ha = hidden[pr]
                g = w.linear(gate, torch.cat([ha, h], dim=1), torch.sigmoid)  # g = σ(G [h_a; h_t] + b)
                h = h + g * ha
            hidden.append(h)
            logits.append(w.linear(f"tower.{name}.out", h)[:, 0])
        if w.unused():
            raise CheckError(f"weights not used by this forward pass: {w.unused()}")
        return logits

    def predict(self, rows):
        """Returns {column: probabilities [B]}: σ(z_t) per task, and ctcvr for a funnel."""
        z = self.forward(rows)
        skip = PERTURB == "skip-calibration"
        out = {name: apply_map(None if skip else self.calibration.get(name), torch.sigmoid(z[t])) for t, name in enumerate(self.tasks)}
        if self.sampling != 1 and not skip:
            p, w = out[self.tasks[0]], self.sampling
            out[self.tasks[0]] = p / (p + (1 - p) / w)
        for t, a in enumerate(self.after):
            if a >= 0:
                out["ctcvr"] = out[self.tasks[a]] * out[self.tasks[t]]
                break
        return out


# ---------------------------------------------------------------- main


def read_inputs(path, nfields):
    rows = []
    with open(path) as f:
        for ln, line in enumerate(f, 1):
            r = json.loads(line)["f"]
            if len(r) != nfields:
                raise CheckError(f"{path}:{ln}: {len(r)} fields, the model has {nfields}")
            rows.append(r)
    return rows


def read_preds(path):
    with open(path, newline="") as f:
        rd = csv.reader(f)
        head = next(rd)
        cols = {h: [] for h in head}
        for rec in rd:
            for h, v in zip(head, rec):
                cols[h].append(float(v))
    return head, {h: torch.tensor(v, dtype=torch.float64) for h, v in cols.items()}


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="model file written by dcrnn train")
    ap.add_argument("--inputs", required=True, help="file written by dcrnn predict --inputs-out")
    ap.add_argument("--preds", required=True, help="CSV written by dcrnn predict --out")
    ap.add_argument("--tol", type=float, default=1e-4, help="largest allowed |difference| (default 1e-4)")
    ap.add_argument(
        "--perturb",
        choices=["swap-gates", "mean-as-sum", "skip-transfer", "skip-calibration"],
        help="break one equation on purpose: the check must then fail (exit 1)",
    )
    args = ap.parse_args(argv)
    global PERTURB
    PERTURB = args.perturb
    torch.set_num_threads(1)
    try:
        meta, tensors = load_model_file(args.model)
        m = DCRNN(meta, tensors)
        rows = read_inputs(args.inputs, len(m.fields))
        head, go = read_preds(args.preds)
        if len(rows) != len(next(iter(go.values()))):
            raise CheckError(f"{len(rows)} input rows but {len(next(iter(go.values())))} prediction rows")
        with torch.no_grad():
            py = m.predict(rows)
        if sorted(py) != sorted(head):
            raise CheckError(f"prediction columns {head}, this check computes {sorted(py)}")
    except (CheckError, OSError, KeyError, ValueError) as e:
        print(f"dcrnn_check: {e}", file=sys.stderr)
        return 2
    c = m.cfg
    print(
        f"{args.model}: dcrnn cell={m.kind} cross_mode={m.mode} H_s={m.hs} H_p={m.hp} "
        f"deep={c['deep']} tower={c['tower']} transfer={c['transfer']} tasks={m.tasks} "
        f"calibration={sorted(m.calibration) or 'none'} negative_sampling={m.sampling:g}; {len(rows)} rows"
    )
    worst = 0.0
    for h in head:
        d = (py[h] - go[h]).abs()
        worst = max(worst, d.max().item())
        print(
            f"  {h:<14} max |torch - go| = {d.max().item():.3e} (row {d.argmax().item()})  "
            f"predictions range [{go[h].min().item():.4g}, {go[h].max().item():.4g}], std {go[h].std().item():.3g}"
        )
    ok = worst <= args.tol
    print(f"  {'OK' if ok else 'MISMATCH'}: max |diff| {worst:.3e} {'<=' if ok else '>'} {args.tol:g}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
