"""dcrnn_torch.metrics.fit_platt_joint, the Python twin of Go's
calibrate.FitPlattJoint (a funnel's conversion map fitted through the product
p_click·g(p_cvr) over all rows)."""

import numpy as np

from dcrnn_torch import metrics as M


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def logit(p):
    return np.log(p / (1 - p))


def rows():
    """The rows of the Go reference below: p on a grid, c spread over
    [0.1, 0.9], and 0/1 labels from a fixed low-discrepancy pattern."""
    i = np.arange(1000)
    p = ((i + 0.5) / 1000).astype(np.float32)
    c = (0.1 + 0.8 * ((i * 37) % 1000) / 1000).astype(np.float32)
    q = c.astype(np.float64) * sigmoid(1.5 * logit(p.astype(np.float64)) - 0.5)
    y = (((i * 7919) % 1000) / 1000 < q).astype(np.float32)
    return p, c, y


def test_matches_go():
    # calibrate.FitPlattJoint on the same rows (Go, 2026-12-02).
    a, b = M.fit_platt_joint(*rows())
    assert abs(a - 1.2809128249412975) < 1e-9 and abs(b - -0.42664401829850146) < 1e-9, (a, b)


def test_soft_labels():
    i = np.arange(1, 400)
    p = (i / 400).astype(np.float32)
    c = 0.05 + 0.9 * ((i * 37) % 400) / 400
    y = c * sigmoid(2 * logit(p.astype(np.float64)) + 0.5)
    a, b = M.fit_platt_joint(p, c.astype(np.float32), y)
    assert abs(a - 2) < 1e-4 and abs(b - 0.5) < 1e-4, (a, b)


def test_unit_earlier_step_is_fit_platt():
    p, _, y = rows()
    a, b = M.fit_platt_joint(p, np.ones_like(p), y)
    a0, b0 = M.fit_platt(p, y)
    assert abs(a - a0) < 1e-8 and abs(b - b0) < 1e-8


def test_cannot_fit():
    p = np.array([0.1, 0.2], np.float32)
    assert M.fit_platt_joint(p, np.array([0.5, 0.5], np.float32), np.zeros(2, np.float32)) is None
    assert M.fit_platt_joint(p, np.array([0.5, 0.5], np.float32), np.ones(2, np.float32)) is None
    assert M.fit_platt_joint(p, np.array([0.0, 0.5], np.float32), np.array([1, 0], np.float32)) is None
