"""A vocabulary too large for the pipeline document: the Go writer stores
it as tensors (pipeline.<field>.vocab.bytes / .offsets), and dcrnn_torch
reads, splits and writes such files as Go does."""

import base64
import json

import numpy as np
from conftest import run

import dcrnn_torch
from dcrnn_torch import modelfile

N = 6000  # user ids of 12 bytes: 6000 × 15 = 90 KB of JSON, over the 64 KiB limit


def train_big_vocab(bin_, tmp_path):
    data = tmp_path / "d.csv"
    rng = np.random.default_rng(3)
    with open(data, "w") as f:
        f.write("user,item,price,click\n")
        for i in range(N):
            item = int(rng.integers(0, 9))
            f.write(f"user-{i:07d},i{item},{rng.random() * 10:.3f},{int(rng.random() < 0.2 + 0.06 * item)}\n")
    schema = tmp_path / "s.yaml"
    schema.write_text(
        "format: {type: csv, header: true}\n"
        "fields:\n"
        "  - {name: user, type: categorical, min_count: 1}\n"
        "  - {name: item, type: categorical, min_count: 1}\n"
        "  - {name: price, type: numeric}\n"
        "tasks:\n"
        "  - {name: click, label: click}\n"
    )
    model = tmp_path / "m.dcrnn"
    run(bin_, "train", "--schema", schema, "--data", data, "--split", "0.8,0.1,0.1", "--seed", "1", "--threads", "1",
        "--model", "shared_bottom", "--set", "epochs=1", "--out", model)  # fmt: skip
    return data, model


def test_go_file_with_vocabulary_tensors(dcrnn_bin, tmp_path):
    data, model = train_big_vocab(dcrnn_bin, tmp_path)
    docs, tensors, _ = modelfile.read(model)
    doc = json.loads(docs["pipeline"])
    assert doc["version"] == 3
    user = next(f for f in doc["fields"] if f["name"] == "user")
    assert "vocab" not in user and 0.75 * N < user["vocab_size"] < 0.85 * N  # the training part's ids, all kept
    b, o = tensors["pipeline.user.vocab.bytes"], tensors["pipeline.user.vocab.offsets"]
    assert b.dtype == np.uint8 and o.dtype == np.int64 and len(o) == user["vocab_size"] + 1 and o[-1] == len(b)
    assert "pipeline.item.vocab.bytes" not in tensors

    # The full pipeline JSON (the ONNX sidecar has it) splits in Python into
    # exactly the document and tensors Go wrote.
    onnx = tmp_path / "m.onnx"
    run(dcrnn_bin, "export", "--model", model, "--format", "onnx", "--out", onnx)
    with open(tmp_path / "m.pipeline.json") as f:
        full = json.load(f)["pipeline"]
    assert len(next(f for f in full["fields"] if f["name"] == "user")["vocab"]) == user["vocab_size"]
    sdoc, st = dcrnn_torch.split_pipeline(full)
    assert json.loads(sdoc) == doc
    assert sorted(st) == ["pipeline.user.vocab.bytes", "pipeline.user.vocab.offsets"]
    for k, v in st.items():
        assert v.dtype == tensors[k].dtype
        np.testing.assert_array_equal(v, tensors[k])

    # Loaded, the tensors are the pipeline's, not weights; saved again (as the
    # loaded document, or as the full JSON), Go predicts the same.
    m = dcrnn_torch.load(model)
    assert sorted(m.pipeline_tensors) == sorted(st)
    run(dcrnn_bin, "predict", "--model", model, "--data", data, "--threads", "1", "--out", tmp_path / "want.csv")
    want = (tmp_path / "want.csv").read_text()
    assert want.count("\n") == N + 1
    for i, pipe in enumerate([m.pipeline, full]):
        out = tmp_path / f"again{i}.dcrnn"
        dcrnn_torch.save(m, out, pipe, m.config, calibration=m.calibration)
        _, t2, _ = modelfile.read(out)
        for k, v in st.items():
            np.testing.assert_array_equal(t2[k], v)
        run(dcrnn_bin, "predict", "--model", out, "--data", data, "--threads", "1", "--out", tmp_path / "got.csv")
        assert (tmp_path / "got.csv").read_text() == want


def test_split_small_pipeline_unchanged():
    doc = '{"version":1,"schema":{},"columns":[],"rows":3,"fields":[{"name":"a","vocab":["x","y"]}]}'
    assert dcrnn_torch.split_pipeline(doc) == (doc, {})


def test_split_filter():
    words = np.arange(1, 20001, dtype=np.int64)  # 160 KB of bits, 213 KB of base64
    bits = base64.b64encode(words.astype("<u8").tobytes()).decode()
    pipe = {"version": 2, "fields": [{"name": "h", "min_count": 2, "admitted": {"values": 9, "hashes": 7, "words": 20000, "bits": bits}}]}
    doc, t = dcrnn_torch.split_pipeline(pipe)
    d = json.loads(doc)
    assert d["version"] == 3 and "bits" not in d["fields"][0]["admitted"] and d["fields"][0]["admitted"]["words"] == 20000
    np.testing.assert_array_equal(t["pipeline.h.admitted"], words)
