import os

import numpy as np
import pytest
from conftest import ROOT

from dcrnn_torch import modelfile

EXAMPLE = os.path.join(ROOT, "internal", "modelfile", "testdata", "example.dcrnn")


def test_example_bytes():
    """The example of internal/modelfile/doc.go, read and written byte for byte."""
    with open(EXAMPLE, "rb") as f:
        want = f.read()
    docs, tensors, sum_ = modelfile.read(EXAMPLE)
    assert docs == {"config": "{}"}
    assert sum_.startswith("d151") and sum_.endswith("1cf5")
    np.testing.assert_array_equal(tensors["w"], np.array([1.0, -2.0], dtype=np.float32))
    got, _ = modelfile.encode({"config": "{}"}, {"w": np.array([1.0, -2.0], dtype=np.float32)})
    assert got == want
    assert len(got) == 224


def test_round_trip_escapes_and_order(tmp_path):
    docs = {"b": 'quote " back \\ nl \n tab \t bell \x07 é ü', "a": "{}"}
    tensors = {
        "zt": np.arange(6, dtype=np.float32).reshape(2, 3),
        "at": np.array([7], dtype=np.int32),
        "mt": np.array([1, 2], dtype=np.int64),
        "et": np.zeros((0, 4), dtype=np.float32),
        "bt": np.frombuffer(b"a\xffb\x00", dtype=np.uint8),
    }
    p = tmp_path / "x.dcrnn"
    modelfile.write(p, docs, tensors)
    raw = p.read_bytes()
    assert b"\\u0007" in raw and "é".encode() in raw
    # I64 first (largest element), then by name; U8 last.
    assert raw.index(b'"mt":') < raw.index(b'"at":') < raw.index(b'"et":') < raw.index(b'"zt":') < raw.index(b'"bt":')
    d2, t2, _ = modelfile.read(p)
    assert d2 == docs
    for k, v in tensors.items():
        assert t2[k].dtype == v.dtype and t2[k].shape == v.shape
        np.testing.assert_array_equal(t2[k], v)


@pytest.mark.parametrize("where", [0, 3, 9, 60, -1])
def test_damage_is_refused(tmp_path, where):
    with open(EXAMPLE, "rb") as f:
        buf = bytearray(f.read())
    buf[where] ^= 0x01
    p = tmp_path / "bad.dcrnn"
    p.write_bytes(bytes(buf))
    with pytest.raises(modelfile.ModelFileError):
        modelfile.read(p)


def test_truncated_and_reserved(tmp_path):
    with open(EXAMPLE, "rb") as f:
        buf = f.read()
    p = tmp_path / "short.dcrnn"
    p.write_bytes(buf[:-1])
    with pytest.raises(modelfile.ModelFileError):
        modelfile.read(p)
    with pytest.raises(modelfile.ModelFileError):
        modelfile.encode({"checksum": "x"}, {})
    with pytest.raises(modelfile.ModelFileError):
        modelfile.read(tmp_path)
