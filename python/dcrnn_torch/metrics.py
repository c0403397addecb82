"""The metrics of `dcrnn train --metrics-out` (package metric of the Go code):
AUC with tied scores counted half, logloss with probabilities clamped to
[1e-7, 1-1e-7], calibration = Σp / Σy; and the Platt fits of package
calibrate (Newton's method from the identity, halving steps): fit_platt on
one task, fit_platt_joint through a funnel's product (calibrate.FitPlattJoint)."""

from __future__ import annotations

import math

import numpy as np

EPS = 1e-7


def auc(p: np.ndarray, y: np.ndarray) -> float:
    pos = y > 0.5
    npos = int(pos.sum())
    nneg = len(y) - npos
    if npos == 0 or nneg == 0:
        return math.nan
    _, inv, counts = np.unique(p.astype(np.float32), return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = (ends - (counts - 1) / 2.0)[inv]  # average 1-based rank of each tie block
    return float((ranks[pos].sum() - npos * (npos + 1) / 2.0) / (npos * nneg))


def logloss(p: np.ndarray, y: np.ndarray) -> float:
    if len(p) == 0:
        return math.nan
    q = np.clip(p.astype(np.float64), EPS, 1 - EPS)
    y = y.astype(np.float64)
    return float(-(y * np.log(q) + (1 - y) * np.log(1 - q)).mean())


def calibration(p: np.ndarray, y: np.ndarray) -> float:
    s = float(y.astype(np.float64).sum())
    return float(p.astype(np.float64).sum()) / s if len(p) and s != 0 else math.nan


def _num(v: float):
    return None if (v is None or math.isnan(v) or math.isinf(v)) else v


def report(name: str, split: str, spec, probs: dict[str, np.ndarray], labels: np.ndarray, params: int) -> dict:
    """The Report JSON of the Go trainer for one part (probs as predict gives them)."""
    r = {"model": name, "split": split, "rows": int(labels.shape[0]), "tasks": {}, "params": params}
    fn = spec.funnel()
    for t, task in enumerate(spec.tasks):
        y = labels[:, t]
        p = probs["ctcvr"] if fn is not None and t == fn[1] else probs[task.name]
        tm = {"auc": _num(auc(p, y)), "logloss": _num(logloss(p, y)), "calibration": _num(calibration(p, y))}
        if fn is not None and t == fn[1]:
            clicked = labels[:, fn[0]] > 0
            tm["auc_clicked"] = _num(auc(probs[task.name][clicked], y[clicked]))
            r["funnel"] = {"ctcvr": {"auc": tm["auc"], "logloss": tm["logloss"]}}
        r["tasks"][task.name] = tm
    return r


def score(r: dict, spec, metric: str) -> float:
    """The selection score of a validation report (higher is better)."""

    def mean_loss():
        return -sum(r["tasks"][t.name]["logloss"] or math.nan for t in spec.tasks) / len(spec.tasks)

    if metric == "logloss":
        return mean_loss()
    if metric == "mean_auc":
        a = [r["tasks"][t.name]["auc"] for t in spec.tasks if r["tasks"][t.name]["auc"] is not None]
        return sum(a) / len(a) if a else mean_loss()
    name = metric[len("auc:") :]
    if name not in r["tasks"]:
        raise ValueError(f"config: metric {metric!r}: no task {name!r}")
    v = r["tasks"][name]["auc"]
    return math.nan if v is None else v


def _logit(p):
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p / (1 - p))


def _sigmoid(z):
    return np.where(z >= 0, 1 / (1 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z))))


def fit_platt(p: np.ndarray, y: np.ndarray):
    """(a, b) of the Platt map σ(a·logit(p) + b), or None when it cannot be fitted."""
    y = y.astype(np.float64)
    if len(p) == 0 or y.sum() <= 0 or y.sum() >= len(y):
        return None
    u = _logit(p.astype(np.float64))

    def loss(a, b):
        z = a * u + b
        return float((np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z))) - y * z).mean())

    def curve(a, b):
        s = _sigmoid(a * u + b)
        r = s - y
        w = s * (1 - s)
        return (r * u).mean(), r.mean(), (w * u * u).mean(), (w * u).mean(), w.mean()

    return _fit_platt(loss, curve)


def fit_platt_joint(p: np.ndarray, c: np.ndarray, y: np.ndarray):
    """(a, b) of the Platt map g = σ(a·logit(p) + b) that minimises the logloss
    of c·g(p) against the joint label y over all rows (c: the earlier funnel
    step's calibrated probability), by Fisher scoring from the identity with
    halving steps as Go's calibrate.FitPlattJoint; None when it cannot be
    fitted."""
    y = y.astype(np.float64)
    c = c.astype(np.float64)
    if len(p) == 0 or y.sum() <= 0 or y.sum() >= len(y) or y[c > 0].sum() <= 0:
        return None
    u = _logit(p.astype(np.float64))
    live = c > 0

    def loss(a, b):
        q = np.clip(c * _sigmoid(a * u + b), EPS, 1 - EPS)
        return float(-(y * np.log(q) + (1 - y) * np.log1p(-q)).mean())

    def curve(a, b):
        s = _sigmoid(a * u + b)
        q = np.clip(c * s, EPS, 1 - EPS)
        g = np.where(live, (q - y) * (1 - s) / (1 - q), 0.0)
        w = np.where(live, q * (1 - s) ** 2 / (1 - q), 0.0)
        return (g * u).mean(), g.mean(), (w * u * u).mean(), (w * u).mean(), w.mean()

    return _fit_platt(loss, curve)


def _fit_platt(loss, curve):
    """Newton's method from the identity on a mean loss of (a, b), as Go's
    calibrate.fitPlatt: curve gives the gradient and (expected) Hessian; a step
    is halved until the loss does not increase, at most 100 steps."""
    a, b = 1.0, 0.0
    cur = loss(a, b)
    for _ in range(100):
        ga, gb, haa, hab, hbb = curve(a, b)
        det = haa * hbb - hab * hab
        if det > 1e-300:
            da, db = -(hbb * ga - hab * gb) / det, -(haa * gb - hab * ga) / det
        else:
            da, db = -ga, -gb
        step = 1.0
        na, nb = a + da, b + db
        nl = loss(na, nb)
        k = 0
        while k < 60 and not (nl <= cur):
            step /= 2
            na, nb = a + step * da, b + step * db
            nl = loss(na, nb)
            k += 1
        if not (nl <= cur):
            break
        moved = abs(na - a) + abs(nb - b)
        a, b, cur = na, nb, nl
        if moved < 1e-12:
            break
    if not (math.isfinite(a) and math.isfinite(b)) or a <= 0:
        return None
    return float(a), float(b)
