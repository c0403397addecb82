"""Train a dcrnn model with PyTorch on rows prepared by `dcrnn prepare`.

    python -m dcrnn_torch.train --data DIR --model dcrnn [--set key=value ...] \\
        --out M.dcrnn [--metrics-out J] [--device cpu|cuda]
    torchrun --nproc_per_node 2 -m dcrnn_torch.train --data DIR ...

The loop is that of `dcrnn train`: steps of batch_size rows of DIR/train
(shuffled per epoch when shuffle > 1: a permutation drawn from seed and the
epoch, the same on every process), the loss of model.Objective, Adam for the
dense weights and lazy sparse Adam for the embedding rows (dcrnn_torch.optim)
with the learning-rate schedule, the count-aware embedding penalty
(embedding_l2_count, from DIR/row_counts.json) and gradient clipping;
valid_per_epoch evaluations per epoch on DIR/valid with the model's own
probabilities, the selection score (the metric averaged over the last
smooth evaluations), early stopping after patience evaluations without a
better one, the best weights restored, Platt calibration fitted on
DIR/valid (a funnel's conversion map through the product p_click·p_cvr over
all rows, as Go's), then test metrics on DIR/test. The model file it writes is a
dcrnn model file (the pipeline of DIR/pipeline.json inside) that `dcrnn
eval`, `predict` and `serve` use; --metrics-out writes the report with the
keys of `dcrnn train --metrics-out`.

Under torchrun (WORLD_SIZE > 1) every process builds the same model from
the same seed, takes its contiguous slice of each global batch (rows
[r·B/W, (r+1)·B/W) of it), and DistributedDataParallel averages the
dense gradients (gloo on CPU, NCCL on GPU; for the embedding tables see
below; on NCCL their gradients are dense, with the touched rows of the
global batch gathered),
the local loss being scaled by W·n_local/n_global so that the average is
the gradient of the global batch's mean loss; the embedding tables are
left out of DDP and their gradients all-reduced after the backward pass
(sparse on gloo, dense on NCCL, which has no sparse all-reduce). Evaluations run on every
process (the same weights give the same decisions); rank 0 writes the
checkpoints, the model file and the metrics.

What differs from `dcrnn train`: the initial weights, the shuffle and the
dropout draws come from PyTorch's generators (a run is deterministic, but
not the same numbers as Go's); isotonic calibration and gAUC are not
implemented here (calibration: isotonic is refused).

--sharding torchrec (under torchrun, where TorchRec and FBGEMM load) puts
the embedding tables in a TorchRec EmbeddingBagCollection sharded
table-wise across the processes (dcrnn_torch.torchrec_tables); the rest of
the model stays under DDP. The owner of a table updates it with the same
lazy sparse Adam on the rows the global batch touched, so the run follows
the DDP one on the same global batches; the model file written is the same
kind. Checkpoints are not written with it yet.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import pickle
import signal
import sys
import time

import numpy as np
import torch
import torch.distributed as dist

from . import MODEL_CONFIG_KEYS, build, loss, save
from . import metrics as M
from .data import DataError, Part, read_manifest
from .models import _apply_map, config_defaults
from .models import predict as predict_probs
from .optim import LazyAdam, schedule_lr

TRAIN_KEYS = {
    "epochs": 10, "batch_size": 1024, "shuffle": 100000, "lr": 1e-3, "warmup_steps": 0, "decay": "constant",
    "gamma": 0.0, "weight_decay": 0.0, "embedding_l2": 0.0, "embedding_l2_count": 3.0, "clip_norm": 0.0,
    "valid_per_epoch": 4, "patience": 0, "metric": "mean_auc", "smooth": 3, "calibration": "platt", "seed": 1,
}  # fmt: skip


class UsageError(ValueError):
    pass


def parse_value(v: str):
    """A --set value: JSON (numbers, true/false, [lists]) or else a plain string."""
    v = v.strip()
    try:
        return json.loads(v)
    except ValueError:
        if v.startswith("[") and v.endswith("]"):  # YAML flow lists of bare words
            return [parse_value(x) for x in v[1:-1].split(",") if x.strip()]
        return v


def load_config(sets: list[str]) -> tuple[dict, dict]:
    """Splits --set assignments into the model config and the training keys."""
    model_cfg, train_cfg = {}, {}
    for s in sets:
        k, sep, v = s.partition("=")
        k = k.strip()
        if not sep or not k:
            raise UsageError(f"--set {s!r}: want key=value")
        if k in MODEL_CONFIG_KEYS:
            model_cfg[k] = parse_value(v)
        elif k in TRAIN_KEYS:
            train_cfg[k] = parse_value(v)
        else:
            raise UsageError(f"--set {k}: unknown key (model keys: {', '.join(MODEL_CONFIG_KEYS)}; training keys: {', '.join(TRAIN_KEYS)})")
    t = dict(TRAIN_KEYS)
    t.update({k: v for k, v in train_cfg.items() if v is not None})
    for k in ("epochs", "batch_size", "valid_per_epoch", "smooth", "seed"):
        if not isinstance(t[k], int) or t[k] < 1:
            raise UsageError(f"config: {k}: must be an integer ≥ 1, got {t[k]!r}")
    if not t["patience"]:
        t["patience"] = 2 * t["valid_per_epoch"]
    if not (isinstance(t["lr"], (int, float)) and t["lr"] > 0):
        raise UsageError(f"config: lr: must be > 0, got {t['lr']!r}")
    if t["calibration"] not in ("none", "platt"):
        raise UsageError(f"config: calibration: the PyTorch trainer fits none or platt, got {t['calibration']!r}")
    if t["decay"] not in ("constant", "cosine", "exponential"):
        raise UsageError(f"config: decay: want constant, cosine or exponential, got {t['decay']!r}")
    if t["metric"] not in ("mean_auc", "logloss") and not str(t["metric"]).startswith("auc:"):
        raise UsageError(f"config: metric: want mean_auc, logloss or auc:TASK, got {t['metric']!r}")
    return model_cfg, t


def mid_epoch_eval(s: int, steps: int, per_epoch: int) -> bool:
    if s >= steps:
        return False
    return any((k * steps + per_epoch - 1) // per_epoch == s for k in range(1, per_epoch))


class Selector:
    def __init__(self, smooth, patience):
        self.smooth, self.patience = smooth, patience
        self.scores, self.last, self.best, self.best_score, self.bad = [], 0.0, -1, -math.inf, 0

    def add(self, score):
        self.scores.append(score)
        w = self.scores[-self.smooth :]
        self.last = sum(w) / len(w)
        if self.last > self.best_score:
            self.best, self.best_score, self.bad = len(self.scores) - 1, self.last, 0
            return True, False
        self.bad += 1
        return False, self.bad >= self.patience

    def state(self):
        return dict(vars(self))

    def load(self, st):
        vars(self).update(st)


class Progress:
    """A one-line progress bar on a terminal (rank 0), else nothing."""

    def __init__(self, enabled):
        self.on = enabled and sys.stderr.isatty()
        self.t = 0.0

    def update(self, epoch, epochs, rows, total, loss_, rps):
        if not self.on or time.time() - self.t < 0.1:
            return
        self.t = time.time()
        frac = rows / total if total else 0
        bar = "#" * int(30 * frac)
        sys.stderr.write(f"\repoch {epoch}/{epochs} [{bar:<30}] {rows}/{total} rows loss {loss_:.4f} {rps:.0f} rows/s")
        sys.stderr.flush()

    def done(self):
        if self.on:
            sys.stderr.write("\n")


def log(rank, *a):
    if rank == 0:
        print(*a, file=sys.stderr, flush=True)


def count_scales(d: str, manifest: dict, model, table_names: list[str]):
    """Per embedding table, 1/max(n_j, 1) of its rows' training counts."""
    if not manifest.get("row_counts"):
        raise DataError(f"{d}: embedding_l2_count needs row_counts.json (prepare fits the pipeline; a given --pipeline has no counts)")
    with open(os.path.join(d, manifest["row_counts"])) as f:
        counts = json.load(f)
    out = []
    for name in table_names:
        best = None
        for fname, c in counts.items():
            if name.endswith("." + fname) and len(c) == model.p(name).shape[0] and (best is None or len(fname) > len(best)):
                best = fname
        if best is None:
            raise DataError(f"{d}: row_counts.json has no field matching embedding table {name}")
        out.append(1.0 / np.maximum(np.array(counts[best], dtype=np.float64), 1.0))
    return [torch.tensor(s, dtype=torch.float32) for s in out]


def evaluate(model, part: Part, batch_size: int, device, calibration=None, negative_sampling=1.0):
    """Probabilities of a whole part: {task: [N], "ctcvr": [N]}."""
    was = model.training
    model.eval()
    cols: dict[str, list] = {}
    for b in part.batches(batch_size):
        p = predict_probs(model, b.to(device), calibration, negative_sampling)
        for k, v in p.items():
            cols.setdefault(k, []).append(v.cpu().numpy())
    model.train(was)
    return {k: np.concatenate(v) for k, v in cols.items()}


def fit_calibration(model, part, batch_size, device, rank):
    probs = evaluate(model, part, batch_size, device)
    spec = model.spec
    fn = spec.funnel()
    out = {"version": 1, "method": "platt", "tasks": {}}
    # Tasks in order: a funnel's earlier step comes first (the schema's after
    # names an earlier task), and the later step's map is fitted through the
    # product over all rows (Go's calibrate.FitPlattJoint) with the earlier
    # step's calibrated probabilities, mapped as predict maps them.
    for t, task in enumerate(spec.tasks):
        p, y = probs[task.name], part.labels[:, t]
        if fn is not None and t == fn[1]:
            c = torch.from_numpy(probs[spec.tasks[fn[0]].name].astype(np.float64))
            c = _apply_map(out["tasks"].get(spec.tasks[fn[0]].name), c).to(torch.float32).numpy()
            ab = M.fit_platt_joint(p, c, y)
        else:
            ab = M.fit_platt(p, y)
        if ab is None:
            log(rank, f"calibration: task {task.name}: cannot fit a Platt map on the validation part; left uncalibrated")
            continue
        out["tasks"][task.name] = {"platt": {"a": ab[0], "b": ab[1]}}
    return out


def checkpoint_files(d):
    def step_of(p):
        try:
            return int(os.path.basename(p)[len("checkpoint-") : -len(".pt")])
        except ValueError:
            return -1

    return sorted((p for p in glob.glob(os.path.join(d, "checkpoint-*.pt")) if step_of(p) >= 0), key=step_of)


def save_checkpoint(d, st, keep):
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, f"checkpoint-{st['state']['step']:09d}.pt")
    tmp = path + ".tmp"
    torch.save(st, tmp)
    os.replace(tmp, path)
    for old in checkpoint_files(d)[:-keep]:
        os.remove(old)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m dcrnn_torch.train", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="directory written by dcrnn prepare")
    ap.add_argument("--model", default="dcrnn", help="dcrnn, single, shared_bottom, esmm, mmoe, ple, aitm or dcnv2")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a config key (repeatable), as dcrnn train --set")
    ap.add_argument("--out", required=True, help="model file to write")
    ap.add_argument("--metrics-out", help="write the test (or validation) metrics as JSON here")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (under torchrun: cuda:LOCAL_RANK)")
    ap.add_argument("--checkpoint-dir", help="write checkpoints here (every epoch end, and every --checkpoint-every steps)")
    ap.add_argument("--checkpoint-every", type=int, default=0)
    ap.add_argument("--keep-checkpoints", type=int, default=3)
    ap.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --checkpoint-dir")
    ap.add_argument(
        "--sharding",
        default="ddp",
        choices=["ddp", "torchrec"],
        help="embedding tables: ddp (replicated, sparse gradients averaged) or torchrec (sharded by TorchRec across the processes)",
    )
    ap.add_argument("--threads", type=int, default=0, help="torch threads per process (default: torch's)")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps in all (tests, benchmarks)")
    ap.add_argument("--no-eval", action="store_true", help="no validation during training (benchmarks): keep the last weights")
    ap.add_argument("--kill-at-step", type=int, default=0, help=argparse.SUPPRESS)  # tests: SIGKILL itself after that step
    args = ap.parse_args(argv)
    try:
        return run(args)
    except (UsageError, DataError, ValueError, OSError) as e:
        print(f"dcrnn_torch.train: {e}", file=sys.stderr)
        return 2


def run(args):
    if (args.resume or args.checkpoint_every) and not args.checkpoint_dir:
        raise UsageError("--resume and --checkpoint-every need --checkpoint-dir")
    if args.sharding == "torchrec" and args.checkpoint_dir:
        raise UsageError("--sharding torchrec: checkpoints (--checkpoint-dir) are not written with TorchRec sharding yet")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    model_cfg, tc = load_config(args.set)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError("--device cuda: no CUDA device here")
        if world > 1:
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if args.sharding == "torchrec" and "MASTER_ADDR" not in os.environ:
        raise UsageError("--sharding torchrec: run it under torchrun (torchrun --nproc_per_node N -m dcrnn_torch.train ...)")
    if world > 1 or args.sharding == "torchrec":
        dist.init_process_group(backend)
    try:
        return train(args, model_cfg, tc, world, rank, device, backend)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def train(args, model_cfg, tc, world, rank, device, backend):
    manifest = read_manifest(args.data)
    with open(os.path.join(args.data, manifest["pipeline"])) as f:
        pipeline = f.read().strip()
    train_part = Part(args.data, manifest, "train")
    valid_part = Part(args.data, manifest, "valid")
    names = [s["name"] for s in manifest["splits"]]
    test_part = Part(args.data, manifest, "test") if "test" in names else None
    if train_part.n == 0:
        raise DataError(f"{args.data}: no training rows")
    spec = train_part.spec
    torch.manual_seed(tc["seed"])
    model = build(args.model, model_cfg, spec, seed=tc["seed"])
    if tc["metric"].startswith("auc:") and tc["metric"][4:] not in [t.name for t in spec.tasks]:
        raise UsageError(f"config: metric {tc['metric']!r}: the schema has no task {tc['metric'][4:]!r}")
    sparse_grad = backend != "nccl"
    model.sparse_grad = sparse_grad
    model.to(device)
    model.train()
    dense = [model.p(n) for n in model.dense_names]
    trt = None
    if args.sharding == "torchrec":
        try:
            from .torchrec_tables import TorchRecTables
        except ImportError as e:
            raise UsageError(f"--sharding torchrec: TorchRec does not load here ({e}); see python/requirements-torchrec.txt") from e
        trt = TorchRecTables(model, device)
        # This rank's tables are TorchRec's (the others are never stepped here).
        tables = [t if t is not None else model.p(n) for t, n in zip(trt.local, model.sparse_names)]
    else:
        tables = [model.p(n) for n in model.sparse_names]
    nodecay = [p for n, p in zip(model.dense_names, dense) if n.endswith((".b", ".bx", ".bh")) or n == "loss.log_var"]
    decay = [p for n, p in zip(model.dense_names, dense) if not (n.endswith((".b", ".bx", ".bh")) or n == "loss.log_var")]
    groups = [{"params": decay, "weight_decay": tc["weight_decay"]}, {"params": nodecay, "weight_decay": 0.0}]
    adam = (
        torch.optim.AdamW(groups, lr=tc["lr"], betas=(0.9, 0.999), eps=1e-8)
        if tc["weight_decay"]
        else torch.optim.Adam(groups, lr=tc["lr"])
    )
    lazy = LazyAdam(tables, lr=tc["lr"], l2=tc["embedding_l2"])
    lam = float(tc["embedding_l2_count"] or 0)
    scales = [s.to(device) for s in count_scales(args.data, manifest, model, model.sparse_names)] if lam > 0 else None
    ddp = model
    if world > 1 or trt is not None:
        # The tables are averaged here, not by DDP (its reducer expects
        # dense gradients of plain parameters).
        torch.nn.parallel.DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(model, model.sparse_names)
        ddp = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    B = tc["batch_size"]
    epoch_steps = math.ceil(train_part.n / B)
    total = max(epoch_steps * tc["epochs"], tc["warmup_steps"] + 1)
    nparams = sum(p.numel() for p in model.parameters())
    sel = Selector(tc["smooth"], tc["patience"])
    st = {"epoch": 1, "step_in_epoch": 0, "step": 0, "loss_sum": 0.0, "rows": 0, "train_rows": 0, "train_secs": 0.0,
          "evaluations": [], "valid": None, "stopped": False}  # fmt: skip
    best = None  # snapshot of the best weights
    if args.resume:
        files = checkpoint_files(args.checkpoint_dir)
        ck = None
        for path in reversed(files):
            try:
                ck = torch.load(path, map_location="cpu", weights_only=True)
                break
            except (RuntimeError, OSError, EOFError, pickle.UnpicklingError) as e:  # a damaged newer checkpoint: fall back
                log(rank, f"resume: {path}: {e}; trying an older one")
        if ck is None:
            raise UsageError(f"--resume: no usable checkpoint in {args.checkpoint_dir}")
        if ck["model"] != args.model or ck["config"] != [model_cfg, tc] or ck["world_rows"] != train_part.n:
            raise UsageError(f"--resume: {path} was written by another run (model, config or data differ)")
        with torch.no_grad():
            for n, t in ck["weights"].items():
                model.p(n).copy_(t)
        adam.load_state_dict(ck["adam"])
        lazy.load_state_dict({k: [t.to(device) for t in v] for k, v in ck["lazy"].items()})
        st = ck["state"]
        sel.load(ck["selector"])
        best = {n: t.to(device) for n, t in ck["best"].items()} if ck["best"] is not None else None
        torch.set_rng_state(ck["rng"])
        log(rank, f"resumed from {path}: epoch {st['epoch']}, step {st['step']}")

    def snapshot():
        return {n: model.p(n).detach().clone() for n in model.dense_names + model.sparse_names}

    def do_eval(epoch, end):
        if trt is not None:
            trt.sync()
        valid = M.report(args.model, "valid", spec, evaluate(model, valid_part, B, device), valid_part.labels, nparams)
        sc = M.score(valid, spec, tc["metric"])
        improved, stop = sel.add(sc)
        mean_loss = st["loss_sum"] / max(st["rows"], 1)
        st["evaluations"].append({"epoch": epoch, "train_loss": mean_loss, "valid_score": M._num(sc), "step": st["step"],
                                  "select_score": M._num(sel.last), "epoch_end": end, "valid": valid})  # fmt: skip
        log(
            rank,
            f"validation epoch={epoch} step={st['step']} train_loss={mean_loss:.5f} valid_{tc['metric']}={sc:.5f} select={sel.last:.5f}",
        )
        nonlocal best
        if improved:
            best = snapshot()
            st["valid"] = valid
        if stop:
            b = st["evaluations"][sel.best]
            log(rank, f"early stop at epoch {epoch} step {st['step']} (best: epoch {b['epoch']} step {b['step']})")
            st["stopped"] = True

    def checkpoint():
        if rank != 0 or not args.checkpoint_dir:
            return
        save_checkpoint(args.checkpoint_dir, {
            "model": args.model, "config": [model_cfg, tc], "world_rows": train_part.n,
            "weights": {n: t.cpu() for n, t in snapshot().items()}, "adam": adam.state_dict(),
            "lazy": {k: [t.cpu() for t in v] for k, v in lazy.state_dict().items()}, "state": dict(st),
            "selector": sel.state(), "best": None if best is None else {n: t.cpu() for n, t in best.items()},
            "rng": torch.get_rng_state(),
        }, args.keep_checkpoints)  # fmt: skip

    prog = Progress(rank == 0)
    max_steps = args.max_steps or None
    while st["epoch"] <= tc["epochs"] and not st["stopped"]:
        epoch = st["epoch"]
        if tc["shuffle"] and tc["shuffle"] > 1:
            g = torch.Generator().manual_seed(tc["seed"] * 1000003 + epoch)
            order = torch.randperm(train_part.n, generator=g).numpy()
        else:
            order = np.arange(train_part.n)
        t0 = time.perf_counter()
        while st["step_in_epoch"] < epoch_steps and not st["stopped"]:
            if max_steps is not None and st["step"] >= max_steps:
                st["stopped"] = True
                break
            s = st["step_in_epoch"]
            gidx = order[s * B : min((s + 1) * B, train_part.n)]
            n_global = len(gidx)
            lo, hi = rank * n_global // world, (rank + 1) * n_global // world
            batch = train_part.take(gidx[lo:hi]).to(device)
            if trt is not None:
                model.pooled = trt.lookup(batch)
            logits = ddp(batch)
            model.pooled = None
            scale = world * (hi - lo) / n_global
            lt = loss(model, logits, batch.labels, scale=scale)
            lt.backward()
            lr = schedule_lr(st["step"], tc["lr"], tc["warmup_steps"], tc["decay"], tc["gamma"], total)
            grads = trt.grads(trt.touched(batch)) if trt is not None else []
            for k, p in enumerate(tables if trt is None else []):
                touched = None
                if world > 1 and p.grad is not None:
                    g = p.grad.coalesce() if p.grad.is_sparse else p.grad
                    dist.all_reduce(g)  # gloo sums sparse tensors; NCCL gets dense ones
                    p.grad = g / world
                if not sparse_grad:
                    mask = torch.zeros(p.shape[0], dtype=torch.int32, device=device)
                    for f, x in zip(spec.fields, batch.fields):
                        if model.sparse_names[k].endswith("." + f.name) and f.kind != "numeric":
                            mask[(x[0] if isinstance(x, tuple) else x)] = 1
                    if world > 1:
                        dist.all_reduce(mask, op=dist.ReduceOp.MAX)
                    touched = torch.nonzero(mask, as_tuple=True)[0]
                rows, g = LazyAdam.rows_and_grad(p, touched)
                if rows is not None and lam > 0:
                    g = g + lam * scales[k][rows].unsqueeze(1) * p.detach()[rows]
                grads.append((rows, g))
            if trt is not None and lam > 0:
                grads = [
                    (r, g if r is None else g + lam * scales[k][r].unsqueeze(1) * tables[k].detach()[r]) for k, (r, g) in enumerate(grads)
                ]
            if tc["clip_norm"] > 0:
                sq = sum(float((p.grad.double() ** 2).sum()) for p in dense if p.grad is not None)
                sqt = torch.tensor(
                    [sum(float((g.double() ** 2).sum()) for _, g in grads if g is not None)], dtype=torch.float64, device=device
                )
                if trt is not None:  # each table's gradient is on its owner only
                    dist.all_reduce(sqt)
                sq += float(sqt)
                norm = math.sqrt(sq)
                if norm > tc["clip_norm"] and math.isfinite(norm):
                    c = tc["clip_norm"] / (norm + 1e-6)
                    for p in dense:
                        if p.grad is not None:
                            p.grad.mul_(c)
                    grads = [(r, None if g is None else g * c) for r, g in grads]
            for gr in adam.param_groups:
                gr["lr"] = lr
            lazy.lr = lr
            adam.step()
            lazy.step(grads)
            adam.zero_grad(set_to_none=True)
            lazy.zero_grad()
            if trt is not None:
                trt.zero_grad()
            # The global batch's loss (for the logs), from the scaled local losses.
            lv = torch.tensor([float(lt.detach()) / world], dtype=torch.float64, device=device)
            if world > 1:
                dist.all_reduce(lv)
            lval = float(lv)
            if not math.isfinite(lval):
                raise ValueError(f"epoch {epoch} step {st['step'] + 1}: loss is {lval}; try a lower lr (now {tc['lr']}) or clip_norm")
            st["step"] += 1
            st["step_in_epoch"] += 1
            st["loss_sum"] += lval * n_global
            st["rows"] += n_global
            st["train_rows"] += n_global
            if not args.no_eval and mid_epoch_eval(st["step_in_epoch"], epoch_steps, tc["valid_per_epoch"]):
                st["train_secs"] += time.perf_counter() - t0
                do_eval(epoch, False)
                t0 = time.perf_counter()
            if args.checkpoint_every and st["step"] % args.checkpoint_every == 0:
                st["train_secs"] += time.perf_counter() - t0
                checkpoint()
                t0 = time.perf_counter()
            if args.kill_at_step and st["step"] == args.kill_at_step:
                os.kill(os.getpid(), signal.SIGKILL)
            secs = st["train_secs"] + time.perf_counter() - t0
            prog.update(epoch, tc["epochs"], st["rows"], train_part.n, st["loss_sum"] / st["rows"], st["train_rows"] / max(secs, 1e-9))
        st["train_secs"] += time.perf_counter() - t0
        prog.done()
        if not st["stopped"] and not args.no_eval:
            do_eval(epoch, True)
        st["step_in_epoch"], st["loss_sum"], st["rows"] = 0, 0.0, 0
        st["epoch"] += 1
        checkpoint()
    if args.no_eval or best is None:
        if not args.no_eval:
            raise ValueError("no evaluation was scored (does the validation part hold both classes of every task?)")
        if trt is not None:
            trt.sync()
        best = snapshot()
        st["valid"] = None
    with torch.no_grad():
        for n, t in best.items():
            model.p(n).copy_(t)
    calibration = fit_calibration(model, valid_part, B, device, rank) if tc["calibration"] == "platt" else None
    ns = float(manifest["tasks"][0].get("negative_sampling") or 1.0)
    valid = M.report(args.model, "valid", spec, evaluate(model, valid_part, B, device, calibration, ns), valid_part.labels, nparams)
    rep = valid
    if test_part is not None:
        rep = M.report(args.model, "test", spec, evaluate(model, test_part, B, device, calibration, ns), test_part.labels, nparams)
    evs = st["evaluations"]
    bestev = evs[sel.best] if sel.best >= 0 and evs else {"epoch": st["epoch"] - 1, "step": st["step"]}
    secs = st["train_secs"]
    rep["train"] = {"seconds": secs, "samples_per_second": st["train_rows"] / secs if secs > 0 else 0.0,
                    "epochs": evs[-1]["epoch"] if evs else st["epoch"] - 1, "best_epoch": bestev["epoch"], "best_step": bestev["step"],
                    "evaluations": len(evs), "calibration": tc["calibration"]}  # fmt: skip
    if rank == 0:
        cfg = config_defaults(model_cfg)
        info = {
            "metrics": rep,
            "epochs": [e for e in evs if e["epoch_end"]],
            "evaluations": evs,
            "trainer": "dcrnn_torch",
            "processes": world,
        }
        sum_ = save(model, args.out, pipeline, cfg, calibration=calibration if calibration and calibration["tasks"] else None, info=info)
        if args.metrics_out:
            tmp = args.metrics_out + ".tmp"
            with open(tmp, "w") as f:
                json.dump(rep, f, indent=2)
                f.write("\n")
            os.replace(tmp, args.metrics_out)
        for t in spec.tasks:
            m = rep["tasks"][t.name]
            print(f"  {t.name:<14} auc {m['auc']} logloss {m['logloss']} calib {m['calibration']}")
        print(f"trained {rep['train']['epochs']} epochs on {world} process(es), {st['step']} steps in {secs:.1f}s, "
              f"{rep['train']['samples_per_second']:.0f} samples/s; model written to {args.out} (checksum {sum_[:12]})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
