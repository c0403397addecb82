"""ONNX Runtime runs every model `dcrnn export` writes, with the probabilities
`dcrnn predict` gives for the same rows (max |Δp| ≤ 1e-5).

For each registered model on Census-Income (two independent tasks) and on a
generated funnel (click, then conversion; with a multi-valued field and
negative down-sampling declared), and for the DCRNN config matrix on the
funnel, the test trains a tiny model with the dcrnn binary (built once into a
temporary folder, or taken from $DCRNN_BIN), scores 1,000 held-out rows with
`dcrnn predict --inputs-out`, exports the model, runs the graph in ONNX
Runtime on those transformed inputs and compares every output column.
"""

import csv
import gzip
import json
import os
import pathlib
import subprocess

import numpy as np
import onnxruntime as ort
import pytest
from ort_inputs import feeds, read_jsonl

REPO = pathlib.Path(__file__).resolve().parents[2]
CENSUS = REPO.parent / "shared" / "data" / "census-income-kdd" / "census-income.test.gz"
TOL = 1e-5
REL_TOL = 1e-4
TEST_ROWS = 1000

# Small sizes so that a model trains in about a second, with enough steps
# (batch 128, lr 0.01) that its weights move well away from their init.
SMALL = [
    "epochs=2",
    "batch_size=128",
    "lr=0.01",
    "embedding_dim=4",
    "deep=[16]",
    "tower=[8]",
    "proj=8",
    "state_size=8",
    "experts=2",
    "expert_hidden=[8]",
    "shared_experts=1",
    "task_experts=1",
    "cross_layers=2",
]


def run(*args):
    p = subprocess.run(
        [str(a) for a in args], check=False, capture_output=True, text=True
    )
    if p.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, args))} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
        )
    return p.stdout


@pytest.fixture(scope="session")
def dcrnn(tmp_path_factory):
    if os.environ.get("DCRNN_BIN"):
        return os.environ["DCRNN_BIN"]
    out = tmp_path_factory.mktemp("bin") / "dcrnn"
    subprocess.run(["go", "build", "-o", str(out), "./cmd/dcrnn"], cwd=REPO, check=True)
    return str(out)


@pytest.fixture(scope="session")
def census(tmp_path_factory):
    """6,000 training rows (split 0.7/0.3 into train and valid) and 1,000 test rows."""
    assert CENSUS.exists(), (
        f"{CENSUS} is missing (the shared data folder beside the repo)"
    )
    d = tmp_path_factory.mktemp("census")
    with gzip.open(CENSUS, "rt") as f:
        lines = [next(f) for _ in range(6000 + TEST_ROWS)]
    (d / "train.csv").write_text("".join(lines[:6000]))
    (d / "test.csv").write_text("".join(lines[6000:]))
    (d / "schema.yaml").write_text((REPO / "examples" / "census.yaml").read_text())
    return d


@pytest.fixture(scope="session")
def funnel(tmp_path_factory, dcrnn):
    """A generated funnel with a multi-valued field `tags` (0 to 3 tokens per
    row, some empty) and negative_sampling declared on the click task."""
    d = tmp_path_factory.mktemp("funnel")
    run(
        dcrnn,
        "gen",
        "--rows",
        8000 + TEST_ROWS,
        "--seed",
        7,
        "--out",
        d / "gen",
        "--threads",
        1,
    )
    with open(d / "gen" / "data.csv") as f:
        rows = list(csv.reader(f))
    head, body = rows[0], rows[1:]
    cat, city, dev = (
        head.index("item_category"),
        head.index("city"),
        head.index("device"),
    )
    for i, r in enumerate(body):
        tags = [f"c{r[cat]}", f"t{r[city]}", f"d{r[dev]}"][: i % 4]
        r.append("|".join(tags))
    head.append("tags")
    for name, part in (("train.csv", body[:8000]), ("test.csv", body[8000:])):
        with open(d / name, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(head)
            w.writerows(part)
    schema = (d / "gen" / "schema.yaml").read_text()
    schema = schema.replace(
        "tasks:\n", "  - {name: tags, type: multi_categorical}\ntasks:\n"
    )
    schema = schema.replace(
        'positive: ["1"]}\n', 'positive: ["1"], negative_sampling: 0.5}\n', 1
    )
    assert "multi_categorical" in schema and "negative_sampling" in schema, schema
    (d / "schema.yaml").write_text(schema)
    return d


def check(dcrnn, data, tmp_path, model, sets):
    """Trains, predicts, exports and compares; returns the largest |Δp| and |Δp|/p."""
    m = tmp_path / "m.dcrnn"
    args = [
        dcrnn,
        "train",
        "--schema",
        data / "schema.yaml",
        "--data",
        data / "train.csv",
        "--split",
        "0.7,0.3",
        "--model",
        model,
        "--out",
        m,
        "--threads",
        1,
        "--seed",
        3,
    ]
    for s in SMALL + sets:
        args += ["--set", s]
    run(*args)
    preds, inputs = tmp_path / "preds.csv", tmp_path / "inputs.jsonl"
    run(
        dcrnn,
        "predict",
        "--model",
        m,
        "--data",
        data / "test.csv",
        "--out",
        preds,
        "--inputs-out",
        inputs,
        "--threads",
        1,
    )
    onnx_path = tmp_path / "m.onnx"
    run(dcrnn, "export", "--model", m, "--format", "onnx", "--out", onnx_path)
    sidecar = json.loads((tmp_path / "m.pipeline.json").read_text())

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(
        str(onnx_path), opts, providers=["CPUExecutionProvider"]
    )
    assert [i.name for i in sess.get_inputs()] == [t["name"] for t in sidecar["inputs"]]
    names = [o.name for o in sess.get_outputs()]
    assert names == [t["name"] for t in sidecar["outputs"]]
    rows = read_jsonl(inputs)
    assert len(rows) == TEST_ROWS
    got = dict(zip(names, sess.run(None, feeds(sidecar, rows))))

    with open(preds) as f:
        table = list(csv.reader(f))
    assert table[0] == names, (table[0], names)
    want = np.array(table[1:], dtype=np.float64)
    worst = (0.0, 0.0)
    for j, name in enumerate(names):
        g = got[name]
        assert g.shape == (TEST_ROWS,) and g.dtype == np.float32, (
            name,
            g.shape,
            g.dtype,
        )
        assert np.all(np.isfinite(g)), name
        # The rows must not all score alike, or the comparison would say little.
        assert want[:, j].max() - want[:, j].min() > 1e-4, (
            f"{name}: dcrnn predict gives near-constant scores"
        )
        diff = np.abs(g.astype(np.float64) - want[:, j])
        d = float(np.max(diff))
        assert d <= TOL, f"{model} {sets} output {name}: max |Δp| = {d:.3g} > {TOL}"
        # Small probabilities too (the tails of a sigmoid, lifted by a
        # calibration map): relative to p, within REL_TOL.
        rel = float(np.max(diff / np.maximum(want[:, j], 1e-30)))
        assert rel <= REL_TOL, (
            f"{model} {sets} output {name}: max |Δp|/p = {rel:.3g} > {REL_TOL}"
        )
        worst = (max(worst[0], d), max(worst[1], rel))
    return worst


MODELS = ["aitm", "dcnv2", "dcrnn", "esmm", "mmoe", "ple", "shared_bottom", "single"]


def test_models_cover_registry(dcrnn):
    """The model list here is the registry's (train --help lists it)."""
    p = subprocess.run(
        [dcrnn, "train", "--help"], check=False, capture_output=True, text=True
    )
    line = next(x for x in (p.stdout + p.stderr).splitlines() if "model: " in x)
    assert line.split("model: ")[1].split()[0] == "|".join(MODELS)


@pytest.mark.parametrize("model", MODELS)
def test_census(dcrnn, census, tmp_path, model):
    # ple with two levels, to cover the shared gate.
    sets = ["levels=2"] if model == "ple" else []
    print("max |dp|, |dp|/p", check(dcrnn, census, tmp_path, model, sets))


@pytest.mark.parametrize("model", MODELS)
def test_funnel(dcrnn, funnel, tmp_path, model):
    print("max |dp|, |dp|/p", check(dcrnn, funnel, tmp_path, model, []))


DCRNN_MATRIX = [
    [f"cell={c}", f"rho={r}"] for c in ("gru", "lstm", "rnn") for r in ("0", "0.5", "1")
] + [
    ["transfer=false"],
    ["cross_mode=fields", "cell=lstm"],
    ["cross_mode=fields", "cell=gru", "rho=0"],
    ["cross=false"],
    ["cross_steps=1"],
    ["deep=[]", "embedding_dim=8"],
    ["calibration=isotonic"],
    ["calibration=none"],
    ["loss_weighting=uncertainty"],
]


@pytest.mark.parametrize("sets", DCRNN_MATRIX, ids=lambda s: ",".join(s))
def test_dcrnn_matrix(dcrnn, funnel, tmp_path, sets):
    print("max |dp|, |dp|/p", check(dcrnn, funnel, tmp_path, "dcrnn", sets))


def test_census_calibration_off(dcrnn, census, tmp_path):
    """Census without calibration: the graph ends at the sigmoid."""
    check(dcrnn, census, tmp_path, "dcrnn", ["calibration=none"])
