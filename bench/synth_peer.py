#!/usr/bin/python3
"""PyTorch peer on the synthetic funnel: how far does a plain network get from the oracle?

A Shared-Bottom model as dcrnn's `shared_bottom` defaults (embedding 16 per field, numeric field
= value*v + b, bottom 256-128 ReLU, one 64-unit tower per task, funnel loss
BCE(p_click, click) + BCE(p_click*p_cvr, conversion) on all rows, Adam lr 1e-3, batch 1024),
trained on the train part written by `dcrnn split` and scored each epoch on the valid and
test parts. The vocabularies keep values seen at least --min-count times in the train part (use
the value `dcrnn data inspect` reports as the default), numeric fields are standardised as the
generated schema says. It prints per epoch the valid and test AUCs of click and ctcvr, and the
test AUCs of the epoch with the best valid mean, to compare with the oracle on the same rows.

    D=/tmp/synth; ./dcrnn gen --rows 200000 --seed 1 --truth --noise-ids=false --out $D
    ./dcrnn split --data $D/data.csv --ratios 0.8,0.1,0.1 --seed 1 --out $D/parts
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/synth_peer.py --parts $D/parts --min-count 100

Not part of the Go tests; needs Debian's python3-torch (torch 1.13).
"""
import argparse
import csv
import math

import torch
from torch import nn

CATS = ["user_id", "item_id", "item_category", "city", "age_group", "gender", "device", "hour",
        "position", "channel", "noise_cat"]
NUMS = [("price", True), ("user_activity", True), ("item_quality", False), ("noise_num", False)]


def load(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def auc(score, y):
    """Exact AUC with ties counted as half (average ranks)."""
    pairs = sorted(zip(score.tolist(), y.tolist()))
    n1 = sum(y.tolist())
    n0 = len(pairs) - n1
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        avg = (i + 1 + j) / 2
        rank_sum += avg * sum(1 for k in range(i, j) if pairs[k][1] == 1)
        i = j
    return (rank_sum - n1 * (n1 + 1) / 2) / (n1 * n0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", required=True, help="directory with train.csv, valid.csv, test.csv")
    ap.add_argument("--min-count", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    tr, va, te = (load(f"{a.parts}/{p}.csv") for p in ("train", "valid", "test"))

    vocab = {}
    for c in CATS:
        counts = {}
        for r in tr:
            counts[r[c]] = counts.get(r[c], 0) + 1
        kept = sorted(k for k, n in counts.items() if n >= a.min_count)
        vocab[c] = {k: i + 1 for i, k in enumerate(kept)}  # 0 = OOV
    stats = {}
    for name, log in NUMS:
        xs = [math.log1p(float(r[name])) if log else float(r[name]) for r in tr]
        m = sum(xs) / len(xs)
        stats[name] = (m, math.sqrt(sum((x - m) ** 2 for x in xs) / len(xs)))

    def encode(rows):
        ids = torch.tensor([[vocab[c].get(r[c], 0) for c in CATS] for r in rows])
        num = torch.tensor([[((math.log1p(float(r[n])) if log else float(r[n])) - stats[n][0]) / stats[n][1]
                             for n, log in NUMS] for r in rows], dtype=torch.float32)
        y = torch.tensor([[float(r["click"]), float(r["conversion"])] for r in rows])
        return ids, num, y

    TR, VA, TE = encode(tr), encode(va), encode(te)
    d = 16

    class SharedBottom(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.ModuleList([nn.Embedding(len(vocab[c]) + 1, d) for c in CATS])
            self.nv = nn.Parameter(torch.randn(len(NUMS), d) * 0.01)
            self.nb = nn.Parameter(torch.zeros(len(NUMS), d))
            width = d * (len(CATS) + len(NUMS))
            self.bottom = nn.Sequential(nn.Linear(width, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU())
            self.towers = nn.ModuleList([nn.Sequential(nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 1))
                                         for _ in range(2)])

        def forward(self, ids, num):
            x = torch.cat([e(ids[:, i]) for i, e in enumerate(self.emb)] +
                          [(num.unsqueeze(2) * self.nv + self.nb).flatten(1)], 1)
            h = self.bottom(x)
            return [torch.sigmoid(t(h)).squeeze(1) for t in self.towers]

    model = SharedBottom()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    bce = nn.BCELoss()
    best = None
    for ep in range(1, a.epochs + 1):
        model.train()
        perm = torch.randperm(len(TR[0]))
        for i in range(0, len(perm), 1024):
            b = perm[i:i + 1024]
            pc, pv = model(TR[0][b], TR[1][b])
            y = TR[2][b]
            loss = bce(pc, y[:, 0]) + bce((pc * pv).clamp(1e-7, 1 - 1e-7), y[:, 0] * y[:, 1])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            out = []
            for ids, num, y in (VA, TE):
                pc, pv = model(ids, num)
                out += [auc(pc, y[:, 0]), auc(pc * pv, y[:, 0] * y[:, 1])]
        print(f"epoch {ep}: valid click {out[0]:.4f} ctcvr {out[1]:.4f} | test click {out[2]:.4f} ctcvr {out[3]:.4f}",
              flush=True)
        if best is None or out[0] + out[1] > best[1][0] + best[1][1]:
            best = (ep, out)
    ep, out = best
    print(f"best valid mean AUC at epoch {ep}: test click AUC {out[2]:.4f}, test ctcvr AUC {out[3]:.4f}")


if __name__ == "__main__":
    main()
