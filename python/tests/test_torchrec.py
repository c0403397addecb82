"""TorchRec sharding (--sharding torchrec) against DDP on a small Census part.

Skipped unless torchrec imports (python/requirements-torchrec.txt pins a set
that loads together). torchrun --nproc_per_node 2 (gloo, CPU) with the tables
sharded table-wise by TorchRec ends, after a few hundred steps, at the
weights of the DDP run on the same global batches (max |Δw| ≤ 1e-4), and the
file it writes has the same tensors and is scored by `dcrnn predict` with
the probabilities PyTorch computes for the same rows.
"""

import csv

import numpy as np
import pytest
from conftest import run
from test_distributed import SETS, max_diff, prepared, train, weights  # noqa: F401 (prepared is a fixture)

import dcrnn_torch
from dcrnn_torch.data import Part, read_manifest
from dcrnn_torch.train import load_config

pytest.importorskip("torchrec", reason="torchrec does not import here (see python/requirements-torchrec.txt)")


def test_torchrec_equals_ddp(prepared, dcrnn_bin, tmp_path):  # noqa: F811
    prep = prepared / "prep"
    m = read_manifest(str(prep))
    rows = next(s["rows"] for s in m["splits"] if s["name"] == "train")
    steps = 2 * -(-rows // 32)
    assert steps >= 200, steps
    ddp = tmp_path / "ddp.dcrnn"
    train(prep, ddp, "--no-eval", nproc=2)
    trec = tmp_path / "torchrec.dcrnn"
    r = train(prep, trec, "--no-eval", "--sharding", "torchrec", nproc=2)
    assert "2 process(es)" in r.stdout, r.stdout
    w1, w2 = weights(ddp), weights(trec)
    assert {k: v.shape for k, v in w1.items()} == {k: v.shape for k, v in w2.items()}
    d = max_diff(w1, w2)
    assert d <= 1e-4, f"max |w(DDP) - w(TorchRec)| = {d:.3g} after {steps} steps"
    # Both runs moved the tables (the comparison is not one of initial states).
    init = dcrnn_torch.build("dcrnn", load_config(SETS)[0], Part(str(prep), m, "valid").spec, seed=1)
    moved = min(float(np.abs(init.p(k).detach().numpy() - w2[k]).max()) for k in init.sparse_names)
    assert moved > 1e-3, f"some embedding table moved by at most {moved:.3g}"

    # dcrnn predict scores the TorchRec-trained file as PyTorch does.
    model = dcrnn_torch.load(trec)
    test = Part(str(prep), m, "test")
    probs = {t.name: [] for t in model.spec.tasks}
    for b in test.batches(1000):
        for k, v in dcrnn_torch.predict(model, b).items():
            if k in probs:
                probs[k].append(v.numpy())
    out = tmp_path / "preds.csv"
    run(dcrnn_bin, "predict", "--model", trec, "--data", prepared / "parts/test.csv", "--out", out)
    with open(out, newline="") as f:
        go = list(csv.DictReader(f))
    assert len(go) == test.n
    for k, v in probs.items():
        diff = np.abs(np.concatenate(v) - np.array([float(r[k]) for r in go])).max()
        assert diff <= 1e-5, f"{k}: max |torch - dcrnn predict| = {diff:.3g}"


def test_torchrec_needs_torchrun(prepared, tmp_path):  # noqa: F811
    r = train(prepared / "prep", tmp_path / "x.dcrnn", "--no-eval", "--sharding", "torchrec", check=False)
    assert r.returncode == 2 and "torchrun" in r.stderr, r.stderr
