"""The optimizers of `dcrnn train`, in PyTorch.

Dense weights: Adam (β 0.9 / 0.999, ε 1e-8 added to √v̂), with decoupled
weight decay w ← w·(1 − lr·wd) on every weight but biases and the loss
weights: torch.optim.Adam / AdamW compute the same update.

Embedding tables: lazy sparse Adam (LazyAdam), as optim.SparseAdam of the Go
code and not as torch.optim.SparseAdam: only the rows a step touches move,
and each row keeps its own step count t, so its bias correction is that of
its own updates: w ← w − lr·√(1−β2ᵗ)/(1−β1ᵗ)·m/(√v + ε), with an optional L2
term g + l2·w on the touched rows.
"""

from __future__ import annotations

import math

import torch


class LazyAdam:
    """Lazy Adam over embedding tables whose gradients are sparse (or dense,
    with the touched rows given by touched())."""

    def __init__(self, tables: list[torch.Tensor], lr: float, l2: float = 0.0, betas=(0.9, 0.999), eps: float = 1e-8):
        self.tables = tables
        self.lr = lr
        self.l2 = l2
        self.b1, self.b2 = betas
        self.eps = eps
        self.m = [torch.zeros_like(t) for t in tables]
        self.v = [torch.zeros_like(t) for t in tables]
        self.t = [torch.zeros(t.shape[0], dtype=torch.int64, device=t.device) for t in tables]

    @staticmethod
    def rows_and_grad(p: torch.Tensor, touched: torch.Tensor | None = None):
        """The touched rows of p and their gradient rows."""
        g = p.grad
        if g is None:
            return None, None
        if g.is_sparse:
            g = g.coalesce()
            return g.indices()[0], g.values()
        rows = touched if touched is not None else torch.nonzero(g.abs().sum(1), as_tuple=True)[0]
        return rows, g[rows]

    @torch.no_grad()
    def step(self, grads: list[tuple[torch.Tensor | None, torch.Tensor | None]]):
        for k, (p, (rows, g)) in enumerate(zip(self.tables, grads)):
            if rows is None or rows.numel() == 0:
                continue
            w = p[rows]
            if self.l2:
                g = g + self.l2 * w
            t = self.t[k][rows] + 1
            self.t[k][rows] = t
            m = self.m[k][rows]
            v = self.v[k][rows]
            m = m + (1 - self.b1) * (g - m)
            v = v + (1 - self.b2) * (g * g - v)
            self.m[k][rows] = m
            self.v[k][rows] = v
            tf = t.to(torch.float64)
            factor = (torch.sqrt(1 - torch.pow(self.b2, tf)) / (1 - torch.pow(self.b1, tf))).to(p.dtype)
            p[rows] = w - (self.lr * factor).unsqueeze(1) * m / (torch.sqrt(v) + self.eps)

    def zero_grad(self):
        for p in self.tables:
            p.grad = None

    def state_dict(self):
        return {"m": self.m, "v": self.v, "t": self.t}

    def load_state_dict(self, st):
        for dst, src in ((self.m, st["m"]), (self.v, st["v"]), (self.t, st["t"])):
            for a, b in zip(dst, src):
                a.copy_(b)


def schedule_lr(step: int, base: float, warmup: int, kind: str, gamma: float, total: int) -> float:
    """The learning rate of a (0-based) step, as optim.Schedule.LR."""
    if step < warmup:
        return base * (step + 1) / warmup
    d = step - warmup
    if kind == "cosine":
        n = total - warmup
        if d >= n:
            return 0.0
        return base * 0.5 * (1 + math.cos(math.pi * d / n))
    if kind == "exponential":
        return base * gamma**d
    return base
