"""dcrnn serve speaks the Open Inference Protocol v2 to a client written by others.

NVIDIA's tritonclient (HTTP and gRPC) scores the same Census rows as
/v1/predict, against the real `dcrnn serve` binary on loopback, and every
probability must be the same float32. The Census file is read at
../shared/data/census-income-kdd/census-income.test.gz (relative to the
repository root; DCRNN_CENSUS overrides it); the test is skipped without it.
DCRNN_BIN names a built dcrnn binary; by default it is built with go build.
"""

import gzip
import json
import os
import re
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "examples" / "census.yaml"
CENSUS = Path(
    os.environ.get(
        "DCRNN_CENSUS",
        ROOT.parent / "shared" / "data" / "census-income-kdd" / "census-income.test.gz",
    )
)
TRAIN_ROWS = 3000
ROWS = 100


def schema_fields():
    """(name, type) of the schema's fields, read from examples/census.yaml."""
    fields = re.findall(r"-\s*\{name:\s*(\w+),\s*type:\s*(\w+)", SCHEMA.read_text())
    assert len(fields) > 30, fields
    return fields


def columns():
    text = SCHEMA.read_text()
    block = text[text.index("columns: [") + len("columns: [") :]
    return [c.strip() for c in block[: block.index("]")].split(",")]


@pytest.fixture(scope="module")
def server():
    if not CENSUS.exists():
        pytest.skip(f"Census data not found at {CENSUS}")
    tmp = Path(tempfile.mkdtemp(prefix="dcrnn-oip-"))
    binary = os.environ.get("DCRNN_BIN")
    if not binary:
        binary = str(tmp / "dcrnn")
        subprocess.run(
            ["go", "build", "-o", binary, "./cmd/dcrnn"], cwd=ROOT, check=True
        )
    with gzip.open(CENSUS, "rt") as f:
        lines = [next(f) for _ in range(TRAIN_ROWS + ROWS)]
    train = tmp / "train.csv"
    train.write_text("".join(lines[:TRAIN_ROWS]))
    model = tmp / "census.dcrnn"
    subprocess.run(
        [
            binary,
            "train",
            "--schema",
            str(SCHEMA),
            "--data",
            str(train),
            "--split",
            "0.8,0.2",
            "--set",
            "epochs=1",
            "--threads",
            "1",
            "--out",
            str(model),
        ],
        check=True,
        capture_output=True,
    )
    proc = subprocess.Popen(
        [
            binary,
            "serve",
            "--model",
            str(model),
            "--addr",
            "127.0.0.1:0",
            "--grpc-addr",
            "127.0.0.1:0",
            "--log-sample",
            "-1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    http_addr = grpc_addr = None
    deadline = time.time() + 30
    while (http_addr is None or grpc_addr is None) and time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if m := re.search(r"listening on http://(\S+)", line):
            http_addr = m.group(1)
        if m := re.search(r"gRPC on (\S+)", line):
            grpc_addr = m.group(1)
    if http_addr is None or grpc_addr is None:
        proc.kill()
        pytest.fail(f"dcrnn serve did not start: {proc.stderr.read()}")
    cols = columns()
    rows = []
    for line in lines[TRAIN_ROWS:]:
        cells = [c.strip() for c in line.rstrip("\n").split(", ")]
        assert len(cells) == len(cols), line
        rows.append(dict(zip(cols, cells)))
    yield {"http": http_addr, "grpc": grpc_addr, "rows": rows, "model": "census"}
    proc.terminate()
    proc.wait(timeout=30)


def predict_v1(server):
    body = json.dumps({"rows": server["rows"]}).encode()
    req = urllib.request.Request(
        f"http://{server['http']}/v1/predict",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req) as resp:
        preds = json.load(resp)["predictions"]
    return {
        task: np.array([p[task] for p in preds], dtype=np.float32)
        for task in ("income", "marital")
    }


def tensors(module, rows, binary=None):
    """One input per feature field: BYTES for categorical, FP64 for numeric."""
    inputs = []
    for name, typ in schema_fields():
        if typ == "ignore":
            continue
        if typ == "numeric":
            data = np.array([float(r[name]) for r in rows], dtype=np.float64)
            t = module.InferInput(name, [len(rows)], "FP64")
        else:
            data = np.array([r[name].encode() for r in rows], dtype=np.object_)
            t = module.InferInput(name, [len(rows)], "BYTES")
        if binary is None:
            t.set_data_from_numpy(data)
        else:
            t.set_data_from_numpy(data, binary_data=binary)
        inputs.append(t)
    return inputs


def check_same(want, result):
    for task, probs in want.items():
        got = result.as_numpy(task)
        assert got is not None, task
        assert got.dtype == np.float32 and got.shape == (ROWS,), (got.dtype, got.shape)
        np.testing.assert_array_equal(got, probs, err_msg=task)
    assert len(set(want["income"].tolist())) > 10, (
        "the rows score alike; the comparison would say little"
    )


def test_metadata_and_health(server):
    c = httpclient.InferenceServerClient(server["http"])
    assert (
        c.is_server_live() and c.is_server_ready() and c.is_model_ready(server["model"])
    )
    md = c.get_model_metadata(server["model"])
    want = [n for n, t in schema_fields() if t != "ignore"]
    assert [i["name"] for i in md["inputs"]] == want
    assert [o["name"] for o in md["outputs"]] == ["income", "marital"]
    g = grpcclient.InferenceServerClient(server["grpc"])
    assert (
        g.is_server_live() and g.is_server_ready() and g.is_model_ready(server["model"])
    )
    gmd = g.get_model_metadata(server["model"])
    assert [i.name for i in gmd.inputs] == want
    assert list(gmd.versions) == md["versions"] and len(md["versions"][0]) == 12


@pytest.mark.parametrize("binary", [True, False])
def test_http_same_as_v1(server, binary):
    want = predict_v1(server)
    c = httpclient.InferenceServerClient(server["http"])
    outputs = [
        httpclient.InferRequestedOutput(t, binary_data=binary)
        for t in ("income", "marital")
    ]
    res = c.infer(
        server["model"], tensors(httpclient, server["rows"], binary), outputs=outputs
    )
    check_same(want, res)
    # No outputs named: the client asks for all of them as binary data.
    res = c.infer(server["model"], tensors(httpclient, server["rows"]))
    check_same(want, res)


def test_grpc_same_as_v1(server):
    want = predict_v1(server)
    c = grpcclient.InferenceServerClient(server["grpc"])
    res = c.infer(server["model"], tensors(grpcclient, server["rows"]))
    check_same(want, res)
    res = c.infer(
        server["model"],
        tensors(grpcclient, server["rows"]),
        outputs=[grpcclient.InferRequestedOutput("marital")],
    )
    assert res.as_numpy("income") is None
    np.testing.assert_array_equal(res.as_numpy("marital"), want["marital"])


def test_errors(server):
    rows = server["rows"]
    h = httpclient.InferenceServerClient(server["http"])
    g = grpcclient.InferenceServerClient(server["grpc"])
    for client, module in ((h, httpclient), (g, grpcclient)):
        with pytest.raises(InferenceServerException, match="unknown model"):
            client.infer("nope", tensors(module, rows))
        with pytest.raises(InferenceServerException, match="no version"):
            client.infer(server["model"], tensors(module, rows), model_version="1")
        with pytest.raises(InferenceServerException, match='missing input "age"'):
            client.infer(
                server["model"], [t for t in tensors(module, rows) if t.name() != "age"]
            )
