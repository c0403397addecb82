#!/usr/bin/env python3
"""PyTorch peer of `dcrnn bench --workload mlp24` (the workload of package internal/bench).

Workload: 24 categorical fields, vocabulary 100,000 each, embedding size 16
(x0 = 384 floats), two towers 384-256-128-64-1 with ReLU, sigmoid BCE on two
labels (sum of the two losses), batch 1024, Adam (lr 1e-3) for the dense
weights and SparseAdam (lr 1e-3) for the nn.Embedding(sparse=True) tables, one
table per field (as in our engine). Ids are uniform, labels random, seed fixed.

It runs warm-up steps, then timed training steps (at least --seconds), then
timed inference (forward + sigmoid under torch.no_grad, same batch size), and
prints JSON:

    {"train_samples_per_second": ..., "infer_samples_per_second": ...,
     "peak_rss_bytes": ...}

Peak RSS is resource.getrusage(RUSAGE_SELF).ru_maxrss * 1024 (it includes the
Python interpreter and the torch libraries).

Run it with the BLAS single-threaded, as the reference does:

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/mlp24.py --threads 2 --json
"""

import argparse
import json
import os
import resource
import sys
import time

import torch
from torch import nn

FIELDS = 24
VOCAB = 100_000
DIM = 16
TOWER = (256, 128, 64)
TASKS = 2


def tower(d_in):
    layers = []
    for h in TOWER:
        layers += [nn.Linear(d_in, h), nn.ReLU()]
        d_in = h
    layers.append(nn.Linear(d_in, 1))
    return nn.Sequential(*layers)


class MLP24(nn.Module):
    """24 embedding tables (or one table with offsets) + two tower MLPs."""

    def __init__(self, tables, vocab):
        super().__init__()
        self.tables = tables
        if tables == "per-field":
            self.emb = nn.ModuleList(
                nn.Embedding(vocab, DIM, sparse=True) for _ in range(FIELDS))
        else:
            self.emb = nn.Embedding(vocab * FIELDS, DIM, sparse=True)
            self.register_buffer(
                "offsets", torch.arange(FIELDS, dtype=torch.long) * vocab)
        for p in self.emb.parameters():
            nn.init.normal_(p, std=0.01)
        self.towers = nn.ModuleList(tower(FIELDS * DIM) for _ in range(TASKS))

    def forward(self, ids):
        # ids: [B, FIELDS] int64
        if self.tables == "per-field":
            x0 = torch.cat([e(ids[:, f]) for f, e in enumerate(self.emb)], dim=1)
        else:
            x0 = self.emb(ids + self.offsets).reshape(ids.shape[0], FIELDS * DIM)
        return torch.cat([t(x0) for t in self.towers], dim=1)  # [B, TASKS] logits


class DCRNN24(nn.Module):
    """The default DCRNN of internal/model (dcrnn.go) on the same input:
    K = 64 projection, L = 3 depth-mode cross steps, GRU cells with a shared
    state of 32 and a private state of 32 per task (rho 0.5), deep MLP
    384-256-128 beside the cross block, towers [s_L; p_L; deep] 192-64-1, and
    the gated transfer of task 0's tower layer into task 1's. torch.nn.GRUCell
    applies the reset gate to (W_hn h + b_hn); the FLOPs are the same."""

    K, L, HS, HP = 64, 3, 32, 32

    def __init__(self, tables, vocab):
        super().__init__()
        self.emb = MLP24(tables, vocab).emb
        self.tables = tables
        if tables != "per-field":
            self.register_buffer("offsets", torch.arange(FIELDS, dtype=torch.long) * vocab)
        d0 = FIELDS * DIM
        K, HS, HP = self.K, self.HS, self.HP
        self.deep = nn.Sequential(nn.Linear(d0, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU())
        self.inp = nn.Linear(d0, K)
        self.sharedA = nn.Linear(HS, K)
        self.sharedCell = nn.GRUCell(K, HS)
        self.taskA = nn.ModuleList(nn.Linear(HS + HP, K) for _ in range(TASKS))
        self.taskCell = nn.ModuleList(nn.GRUCell(K, HP) for _ in range(TASKS))
        self.towers = nn.ModuleList(
            nn.Sequential(nn.Linear(HS + HP + 128, 64), nn.ReLU()) for _ in range(TASKS))
        self.outs = nn.ModuleList(nn.Linear(64, 1) for _ in range(TASKS))
        self.gate = nn.Linear(128, 64)

    def dense(self):
        return [p for n, p in self.named_parameters() if not n.startswith("emb.")]

    def forward(self, ids):
        B = ids.shape[0]
        if self.tables == "per-field":
            x0 = torch.cat([e(ids[:, f]) for f, e in enumerate(self.emb)], dim=1)
        else:
            x0 = self.emb(ids + self.offsets).reshape(B, FIELDS * DIM)
        deep = self.deep(x0)
        u = self.inp(x0)
        s = x0.new_zeros(B, self.HS)
        p = [x0.new_zeros(B, self.HP) for _ in range(TASKS)]
        for _ in range(self.L):
            for i in range(TASKS):
                c = u * self.taskA[i](torch.cat([s, p[i]], dim=1))
                p[i] = self.taskCell[i](c, p[i])
            s = self.sharedCell(u * self.sharedA(s), s)
        logits, prev = [], None
        for i in range(TASKS):
            h = self.towers[i](torch.cat([s, p[i], deep], dim=1))
            if prev is not None:
                h = h + torch.sigmoid(self.gate(torch.cat([prev, h], dim=1))) * prev
            prev = h
            logits.append(self.outs[i](h))
        return torch.cat(logits, dim=1)


def cpu_seconds():
    """User + system CPU time of the process so far (all threads)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def build(args):
    torch.manual_seed(args.seed)
    if args.workload == "dcrnn24":
        model = DCRNN24(args.tables, args.vocab)
        dense_params = model.dense()
    else:
        model = MLP24(args.tables, args.vocab)
        dense_params = list(model.towers.parameters())
    emb_params = list(model.emb.parameters())
    opt_dense = torch.optim.Adam(dense_params, lr=args.lr)
    opt_sparse = torch.optim.SparseAdam(emb_params, lr=args.lr)
    g = torch.Generator().manual_seed(args.seed)
    batches = []
    for _ in range(args.batches):
        ids = torch.randint(0, args.vocab, (args.batch, FIELDS), generator=g)
        labels = (torch.rand(args.batch, TASKS, generator=g) < 0.5).float()
        batches.append((ids, labels))
    return model, opt_dense, opt_sparse, batches


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workload", default="mlp24", choices=["mlp24", "dcrnn24"],
                    help="mlp24 (default) or dcrnn24 (the default DCRNN on the same input)")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    ap.add_argument("--steps", type=int, default=0,
                    help="timed training steps; 0 (default) runs for --seconds")
    ap.add_argument("--seconds", type=float, default=3.0,
                    help="minimum timed seconds per phase when --steps is 0 (default 3)")
    ap.add_argument("--warmup", type=int, default=20, help="warm-up steps per phase (default 20)")
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--vocab", type=int, default=VOCAB)
    ap.add_argument("--batches", type=int, default=8, help="distinct pre-generated batches, rotated")
    ap.add_argument("--tables", default="per-field", choices=["per-field", "single"],
                    help="one embedding table per field (default, like dcrnn) or one big table with offsets")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print only the JSON line")
    args = ap.parse_args(argv)
    if args.batch <= 0 or args.vocab <= 0 or args.batches <= 0 or args.threads <= 0:
        ap.error("--batch, --vocab, --batches and --threads must be positive")

    torch.set_num_threads(args.threads)
    model, opt_dense, opt_sparse, batches = build(args)
    loss_fn = nn.BCEWithLogitsLoss()

    def train_step(i):
        ids, labels = batches[i % len(batches)]
        opt_dense.zero_grad(set_to_none=True)
        opt_sparse.zero_grad(set_to_none=True)
        logits = model(ids)
        loss = loss_fn(logits[:, 0], labels[:, 0]) + loss_fn(logits[:, 1], labels[:, 1])
        loss.backward()
        opt_dense.step()
        opt_sparse.step()
        return loss

    def timed(step):
        for i in range(args.warmup):
            step(i)
        n = 0
        c0 = cpu_seconds()
        t0 = time.perf_counter()
        while True:
            out = step(n)
            n += 1
            el = time.perf_counter() - t0
            if (args.steps > 0 and n >= args.steps) or (args.steps <= 0 and el >= args.seconds):
                return n, el, cpu_seconds() - c0, out

    model.train()
    n, el, cpu, loss = timed(train_step)
    train_sps = n * args.batch / el
    last_loss = float(loss)

    model.eval()

    def infer_step(i):
        ids, _ = batches[i % len(batches)]
        with torch.no_grad():
            return torch.sigmoid(model(ids))

    n_inf, el_inf, cpu_inf, _ = timed(infer_step)
    infer_sps = n_inf * args.batch / el_inf

    res = {
        "workload": args.workload,
        "backend": "pytorch " + torch.__version__,
        "threads": args.threads,
        "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS", ""),
        "tables": args.tables,
        "batch": args.batch,
        "train_steps": n,
        "train_seconds": el,
        "infer_steps": n_inf,
        "infer_seconds": el_inf,
        "train_cpu_seconds": cpu,
        "infer_cpu_seconds": cpu_inf,
        "last_loss": last_loss,
        "train_samples_per_second": train_sps,
        "infer_samples_per_second": infer_sps,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    if args.json:
        print(json.dumps(res))
    else:
        for k, v in res.items():
            print(f"{k:28s} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
