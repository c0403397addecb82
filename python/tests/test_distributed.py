"""DDP correctness on a small Census part.

torchrun --nproc_per_node 2 (gloo, CPU) for a few hundred steps gives the
weights of one process trained on the same global batches (max |Δw| ≤ 1e-4);
a run killed mid-way (SIGKILL) resumes from its checkpoint to the weights of
the uninterrupted run; the file written under torchrun is scored by
`dcrnn predict` with the probabilities PyTorch computes for the same rows.
"""

import csv
import gzip
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, run

import dcrnn_torch
from dcrnn_torch import modelfile
from dcrnn_torch.data import Part, read_manifest
from dcrnn_torch.train import load_config

CENSUS = os.path.join(ROOT, "..", "shared", "data", "census-income-kdd", "census-income.test.gz")
SCHEMA = os.path.join(ROOT, "examples", "census.yaml")
ROWS = 6000
SETS = ["embedding_dim=8", "deep=[32]", "tower=[16]", "state_size=16", "proj=16", "epochs=2", "batch_size=32",
        "calibration=none", "lr=0.003"]  # fmt: skip
ENV = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"), OMP_NUM_THREADS="1")


@pytest.fixture(scope="module")
def prepared(dcrnn_bin, tmp_path_factory):
    if not os.path.exists(CENSUS):
        pytest.skip(f"{CENSUS} is not here")
    d = tmp_path_factory.mktemp("census")
    src = d / "census.csv"
    with gzip.open(CENSUS, "rt") as f, open(src, "w") as out:
        for i, line in enumerate(f):
            if i == ROWS:
                break
            out.write(line)
    run(dcrnn_bin, "split", "--data", src, "--ratios", "0.6,0.2,0.2", "--seed", "1", "--out", d / "parts", "--header", "false")
    run(dcrnn_bin, "prepare", "--schema", SCHEMA, "--train", d / "parts/train.csv", "--valid", d / "parts/valid.csv",
        "--test", d / "parts/test.csv", "--out", d / "prep", "--shards", "3")  # fmt: skip
    return d


def train(prep, out, *extra, nproc=1, check=True):
    sets = [a for s in SETS for a in ("--set", s)]
    args = ["-m", "dcrnn_torch.train", "--data", str(prep), "--model", "dcrnn", *sets, "--threads", "1", "--out", str(out), *extra]
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc), *args]
    else:
        cmd = [sys.executable, *args]
    r = subprocess.run(cmd, env=ENV, capture_output=True, text=True, check=False)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)}: exit {r.returncode}\n{r.stderr[-4000:]}")
    return r


def weights(path):
    return modelfile.read(path)[1]


def max_diff(a, b):
    assert sorted(a) == sorted(b)
    return max(float(np.abs(a[k].astype(np.float64) - b[k]).max()) for k in a)


def test_ddp_equals_one_process_and_resume(prepared, dcrnn_bin, tmp_path):
    prep = prepared / "prep"
    m = read_manifest(str(prep))
    rows = next(s["rows"] for s in m["splits"] if s["name"] == "train")
    steps = 2 * -(-rows // 32)
    assert steps >= 200, steps
    one = tmp_path / "one.dcrnn"
    train(prep, one, "--no-eval")
    two = tmp_path / "two.dcrnn"
    train(prep, two, "--no-eval", nproc=2)
    w1, w2 = weights(one), weights(two)
    d = max_diff(w1, w2)
    assert d <= 1e-4, f"max |w(1 process) - w(2 processes)| = {d:.3g} after {steps} steps"
    # The weights moved: the comparison is not one of two initial states.
    init = dcrnn_torch.build("dcrnn", load_config(SETS)[0], Part(str(prep), m, "valid").spec, seed=1)
    moved = max(float(np.abs(init.p(k).detach().numpy() - w1[k]).max()) for k in w1)
    assert moved > 1e-2, f"the weights moved by at most {moved:.3g}"

    # Killed at step 150 (SIGKILL), resumed from the checkpoint of step 120.
    ck = tmp_path / "ck"
    killed = tmp_path / "killed.dcrnn"
    r = train(prep, killed, "--no-eval", "--checkpoint-dir", ck, "--checkpoint-every", "40", "--kill-at-step", "150", check=False)
    assert r.returncode != 0 and not killed.exists()
    assert max(os.listdir(ck)) == "checkpoint-000000120.pt"
    train(prep, killed, "--no-eval", "--checkpoint-dir", ck, "--checkpoint-every", "40", "--resume")
    d = max_diff(weights(killed), w1)
    assert d <= 1e-6, f"resumed run differs from the uninterrupted one by {d:.3g}"

    # dcrnn predict scores the 2-process file as PyTorch does.
    model = dcrnn_torch.load(two)
    test = Part(str(prep), m, "test")
    probs = {k: [] for k in [t.name for t in model.spec.tasks]}
    for b in test.batches(1000):
        for k, v in dcrnn_torch.predict(model, b).items():
            probs[k].append(v.numpy())
    out = tmp_path / "preds.csv"
    run(dcrnn_bin, "predict", "--model", two, "--data", prepared / "parts/test.csv", "--out", out)
    with open(out, newline="") as f:
        go = list(csv.DictReader(f))
    assert len(go) == test.n
    for k, v in probs.items():
        diff = np.abs(np.concatenate(v) - np.array([float(r[k]) for r in go])).max()
        assert diff <= 1e-5, f"{k}: max |torch - dcrnn predict| = {diff:.3g}"
