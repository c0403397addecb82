"""dcrnn_torch.train on the golden rows: the metrics JSON has the keys of
`dcrnn train --metrics-out`, and `dcrnn eval` of the file it wrote gives its
test metrics."""

import json
import os
import subprocess
import sys

import pytest
from conftest import GOLDEN, ROOT, run

ENV = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"), OMP_NUM_THREADS="1")
SETS = ["embedding_dim=4", "deep=[8]", "tower=[6]", "proj=6", "state_size=8", "epochs=2", "batch_size=32", "lr=0.01"]


def keys(d, prefix=""):
    out = set()
    for k, v in d.items():
        out.add(prefix + k)
        if isinstance(v, dict):
            out |= keys(v, prefix + k + ".")
    return out


@pytest.mark.parametrize("model", ["dcrnn", "mmoe"])
def test_metrics_keys_and_eval(model, dcrnn_bin, tmp_path):
    data, schema = os.path.join(GOLDEN, "data.csv"), os.path.join(GOLDEN, "schema-funnel.yaml")
    parts = tmp_path / "parts"
    run(dcrnn_bin, "split", "--data", data, "--ratios", "0.6,0.2,0.2", "--seed", "2", "--out", parts)
    run(dcrnn_bin, "prepare", "--schema", schema, "--train", parts / "train.csv", "--valid", parts / "valid.csv",
        "--test", parts / "test.csv", "--out", tmp_path / "prep")  # fmt: skip
    sets = [a for s in SETS for a in ("--set", s)]
    go_json = tmp_path / "go.json"
    run(dcrnn_bin, "train", "--schema", schema, "--train", parts / "train.csv", "--valid", parts / "valid.csv", "--test",
        parts / "test.csv", "--model", model, *sets, "--threads", "1", "--out", tmp_path / "go.dcrnn", "--metrics-out", go_json)  # fmt: skip
    py_json, py_model = tmp_path / "py.json", tmp_path / "py.dcrnn"
    r = subprocess.run([sys.executable, "-m", "dcrnn_torch.train", "--data", str(tmp_path / "prep"), "--model", model, *sets,
                        "--threads", "1", "--out", str(py_model), "--metrics-out", str(py_json)],
                       env=ENV, capture_output=True, text=True, check=False)  # fmt: skip
    assert r.returncode == 0, r.stderr
    go, py = json.loads(go_json.read_text()), json.loads(py_json.read_text())
    assert keys(py) == keys(go)
    assert py["split"] == "test" and py["rows"] == go["rows"] and py["params"] == go["params"]
    ev = tmp_path / "eval.json"
    run(dcrnn_bin, "eval", "--model", py_model, "--data", parts / "test.csv", "--metrics-out", ev)
    e = json.loads(ev.read_text())
    for task, m in py["tasks"].items():
        for k in ("auc", "logloss", "calibration", "auc_clicked"):
            if k in m:
                assert abs(m[k] - e["tasks"][task][k]) <= 1e-5, (task, k, m[k], e["tasks"][task][k])
    assert abs(py["funnel"]["ctcvr"]["auc"] - e["funnel"]["ctcvr"]["auc"]) <= 1e-5
