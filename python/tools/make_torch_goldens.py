"""Writes testdata/torch_golden/: Go-trained tiny model files, their
transformed inputs, and the probabilities the PyTorch twins compute.

    DCRNN_BIN=./dcrnn python python/tools/make_torch_goldens.py

For every case of CASES (all eight models, and the DCRNN matrix: cells gru /
lstm / rnn, rho 0 / 0.5 / 1, transfer on / off, cross mode depth / fields,
funnel on / off, without calibration, and with Platt or isotonic maps, uncertainty
weighting and negative down-sampling) it trains the model with `dcrnn train`
for two epochs on the synthetic rows data.csv (written here from a fixed
seed), scores score.csv with `dcrnn predict --inputs-out`, and writes

    CASE/model.dcrnn       the model file
    CASE/probs.csv         dcrnn_torch.predict on the inputs (float32, 9 digits)
    inputs-SCHEMA.jsonl    the transformed rows of score.csv (one per schema)
    cases.json             case -> model, schema, --set keys

The Go test internal/model/torch_golden_test.go checks Go's forward pass
against probs.csv (1e-5); python/tests/test_parity.py checks the PyTorch
forward against a fresh `dcrnn predict` on the same files.
"""

from __future__ import annotations

import csv
import filecmp
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "testdata", "torch_golden")

import dcrnn_torch
from dcrnn_torch.data import read_inputs_jsonl

SCHEMA_HEAD = """format: {type: csv, header: true}
fields:
  - {name: color, type: categorical, min_count: 2}
  - {name: shop, type: categorical, hash_buckets: 7, min_count: 1}
  - {name: tags, type: multi_categorical, min_count: 2}
  - {name: price, type: numeric, transform: log1p, normalize: standard}
  - {name: age, type: numeric, buckets: [20, 40, 60]}
  - {name: score, type: numeric, normalize: minmax}
"""

SCHEMAS = {
    "funnel": SCHEMA_HEAD + "tasks:\n  - {name: click, label: click}\n  - {name: buy, label: buy, after: click}\nallow_leakage: true\n",
    "plain": SCHEMA_HEAD + "tasks:\n  - {name: click, label: click}\n  - {name: buy, label: buy}\nallow_leakage: true\n",
    "sampled": SCHEMA_HEAD
    + "tasks:\n  - {name: click, label: click, negative_sampling: 0.5}\n  - {name: buy, label: buy, after: click}\nallow_leakage: true\n",
}

SMALL = {"embedding_dim": 4, "deep": "[8]", "tower": "[6]", "proj": 6, "state_size": 8, "expert_hidden": "[8]", "experts": 3}


def cases():
    out = {}
    for m in ("single", "shared_bottom", "esmm", "mmoe", "ple", "aitm", "dcnv2", "dcrnn"):
        out[m] = (m, "funnel", {})
        out[m + "-plain"] = (m, "plain", {})
    out["ple-levels2"] = ("ple", "funnel", {"levels": 2, "task_experts": 2})
    out["dcnv2-nodeep"] = ("dcnv2", "funnel", {"deep": "[]"})
    for cell in ("gru", "lstm", "rnn"):
        for rho in ("0", "0.5", "1"):
            out[f"dcrnn-{cell}-rho{rho}"] = ("dcrnn", "funnel", {"cell": cell, "rho": rho})
        out[f"dcrnn-{cell}-fields"] = ("dcrnn", "funnel", {"cell": cell, "cross_mode": "fields"})
        out[f"dcrnn-{cell}-notransfer"] = ("dcrnn", "funnel", {"cell": cell, "transfer": "false"})
        out[f"dcrnn-{cell}-plain"] = ("dcrnn", "plain", {"cell": cell})
    out["dcrnn-fields-rho0-plain"] = ("dcrnn", "plain", {"cross_mode": "fields", "rho": "0"})
    out["dcrnn-nocross"] = ("dcrnn", "funnel", {"cross": "false"})
    out["dcrnn-notower"] = ("dcrnn", "funnel", {"tower": "[]"})
    out["dcrnn-uncertainty"] = ("dcrnn", "funnel", {"loss_weighting": "uncertainty"})
    out["dcrnn-platt"] = ("dcrnn", "funnel", {"calibration": "platt", "epochs": 8})
    out["dcrnn-isotonic"] = ("dcrnn", "funnel", {"calibration": "isotonic", "epochs": 8})
    out["dcrnn-sampled-platt"] = ("dcrnn", "sampled", {"calibration": "platt", "epochs": 8})
    out["dcrnn-sampled"] = ("dcrnn", "sampled", {})
    return out


def write_data(path, n, seed):
    rng = random.Random(seed)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["color", "shop", "tags", "price", "age", "score", "click", "buy"])
        for _ in range(n):
            color = rng.choice("rrrggbbyk") if rng.random() > 0.05 else f"rare{rng.randrange(1000)}"
            shop = f"s{rng.randrange(12)}"
            tags = "|".join(rng.sample(["a", "b", "c", "d", "e", f"zz{rng.randrange(50)}"], rng.randrange(0, 4)))
            price = round(rng.lognormvariate(2, 1), 3) if rng.random() > 0.1 else ""
            age = rng.randrange(15, 80)
            score = round(rng.uniform(-1, 3), 4)
            z = 0.8 * (color == "r") - 0.6 * ("b" in tags) + 0.02 * (age - 40) + 0.3 * score - 0.5
            click = int(rng.random() < 1 / (1 + pow(2.718281828, -z)))
            buy = int(click and rng.random() < (0.3 + 0.3 * (shop in ("s1", "s2"))))
            w.writerow([color, shop, tags, price, age, score, click, buy])


def run(bin_, *args):
    r = subprocess.run([bin_, *args], check=False, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{bin_} {' '.join(args)}: exit {r.returncode}\n{r.stderr}")
    return r.stdout


def main():
    bin_ = os.environ.get("DCRNN_BIN") or shutil.which("dcrnn")
    if not bin_:
        sys.exit("set DCRNN_BIN to the dcrnn binary")
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    write_data(os.path.join(OUT, "data.csv"), 400, 7)
    with open(os.path.join(OUT, "data.csv")) as f:
        lines = f.readlines()
    with open(os.path.join(OUT, "score.csv"), "w") as f:
        f.writelines(lines[:1] + lines[1:49])
    for name, text in SCHEMAS.items():
        with open(os.path.join(OUT, f"schema-{name}.yaml"), "w") as f:
            f.write(text)
    index = {}
    with tempfile.TemporaryDirectory() as tmp:
        for case, (model, schema, sets) in sorted(cases().items()):
            d = os.path.join(OUT, case)
            os.makedirs(d)
            keys = dict(SMALL)
            # No calibration but in the calibration cases: a Platt map fitted
            # after two epochs is nearly flat, and would hide the forward pass.
            keys.update({"epochs": 2, "batch_size": 64, "lr": 0.01, "calibration": "none"})
            keys.update(sets)
            setargs = []
            for k, v in keys.items():
                setargs += ["--set", f"{k}={v}"]
            mf = os.path.join(d, "model.dcrnn")
            run(bin_, "train", "--schema", os.path.join(OUT, f"schema-{schema}.yaml"), "--data", os.path.join(OUT, "data.csv"),
                "--split", "0.6,0.2,0.2", "--seed", "3", "--model", model, "--threads", "1", *setargs, "--out", mf)  # fmt: skip
            inputs = os.path.join(tmp, case + ".jsonl")
            run(bin_, "predict", "--model", mf, "--data", os.path.join(OUT, "score.csv"), "--threads", "1",
                "--out", os.path.join(tmp, case + ".csv"), "--inputs-out", inputs)  # fmt: skip
            shared = os.path.join(OUT, f"inputs-{schema}.jsonl")
            if not os.path.exists(shared):
                shutil.copy(inputs, shared)
            elif not filecmp.cmp(shared, inputs, shallow=False):
                sys.exit(f"{case}: inputs differ from the other cases of schema {schema}")
            m = dcrnn_torch.load(mf)
            probs = dcrnn_torch.predict(m, read_inputs_jsonl(shared, m.spec))
            cols = [t.name for t in m.spec.tasks] + (["ctcvr"] if m.spec.funnel() else [])
            with open(os.path.join(d, "probs.csv"), "w", newline="") as f:
                w = csv.writer(f, lineterminator="\n")
                w.writerow(cols)
                for i in range(len(probs[cols[0]])):
                    w.writerow([f"{float(probs[c][i]):.9g}" for c in cols])
            index[case] = {"model": model, "schema": schema, "set": {k: str(v) for k, v in keys.items()}}
            print(case, "ok", flush=True)
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(index, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
