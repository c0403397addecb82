"""PyTorch forward vs `dcrnn predict`, both ways, on the golden cases.

- Go-trained files (testdata/torch_golden): dcrnn_torch.load + predict
  equals a fresh `dcrnn predict` of score.csv to 1e-5 per task and ctcvr.
- PyTorch-written files: every model built here with fresh PyTorch weights
  and saved with dcrnn_torch.save loads in `dcrnn predict`, which gives the
  probabilities PyTorch computes (1e-5).
"""

import csv
import json
import os

import numpy as np
import pytest
from conftest import GOLDEN, run

import dcrnn_torch
from dcrnn_torch.data import read_inputs_jsonl

with open(os.path.join(GOLDEN, "cases.json")) as f:
    CASES = json.load(f)


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return {h: np.array([float(r[j]) for r in rows[1:]]) for j, h in enumerate(rows[0])}


def go_predict(bin_, model, tmp_path):
    out = tmp_path / "preds.csv"
    run(bin_, "predict", "--model", model, "--data", os.path.join(GOLDEN, "score.csv"), "--threads", "1", "--out", out)
    return read_csv(out)


def assert_close(torch_probs, go, what):
    assert sorted(torch_probs) == sorted(go), what
    for k, v in go.items():
        d = np.abs(torch_probs[k].numpy().astype(np.float64) - v).max()
        assert d <= 1e-5, f"{what}: {k}: max |torch - go| = {d:.3g}"
        assert v.max() - v.min() > 1e-3, f"{what}: {k}: constant predictions pin nothing"


@pytest.mark.parametrize("case", sorted(CASES))
def test_go_trained_file(case, dcrnn_bin, tmp_path):
    path = os.path.join(GOLDEN, case, "model.dcrnn")
    m = dcrnn_torch.load(path)
    assert m.name == CASES[case]["model"]
    batch = read_inputs_jsonl(os.path.join(GOLDEN, f"inputs-{CASES[case]['schema']}.jsonl"), m.spec)
    assert_close(dcrnn_torch.predict(m, batch), go_predict(dcrnn_bin, path, tmp_path), case)
    # The committed PyTorch probabilities are what this code computes now, to
    # the parity tolerance: torch's float32 kernels round differently by CPU
    # (the same code and torch gave 3.3e-6 apart on an AVX-512 and an AVX2
    # machine), while a stale golden differs by far more.
    want = read_csv(os.path.join(GOLDEN, case, "probs.csv"))
    got = dcrnn_torch.predict(m, batch)
    for k, v in want.items():
        assert np.abs(got[k].numpy() - v).max() <= 1e-5, f"{case}: {k}: probs.csv is stale (run python/tools/make_torch_goldens.py)"


@pytest.mark.parametrize("name", dcrnn_torch.MODELS)
def test_torch_written_file(name, dcrnn_bin, tmp_path):
    base = dcrnn_torch.load(os.path.join(GOLDEN, name, "model.dcrnn"))
    cfg = dict(base.config)
    cfg["dropout"] = 0.25  # unused by inference, written for the Go side to read back
    m = dcrnn_torch.build(name, cfg, base.spec, seed=11)
    m.eval()
    # Non-zero biases, so that a bias read back in the wrong place shows.
    import torch

    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for n in m.dense_names:
            if n.endswith((".b", ".bx", ".bh")):
                m.p(n).uniform_(-0.3, 0.3, generator=g)
    out = tmp_path / "torch.dcrnn"
    dcrnn_torch.save(m, out, base.pipeline, cfg, info={"written_by": "test"})
    again = dcrnn_torch.load(out)
    for n in m.dense_names + m.sparse_names:
        assert torch.equal(again.p(n), m.p(n)), n
    batch = read_inputs_jsonl(os.path.join(GOLDEN, f"inputs-{CASES[name]['schema']}.jsonl"), m.spec)
    assert_close(dcrnn_torch.predict(m, batch, calibration=None, negative_sampling=1.0), go_predict(dcrnn_bin, out, tmp_path), name)
