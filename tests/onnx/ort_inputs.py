"""Feed ONNX Runtime the inputs of a model exported by `dcrnn export`.

`feeds(sidecar, rows)` turns the transformed rows that `dcrnn predict
--inputs-out` writes (one JSON line per row, {"f": [...]}, one entry per
model field in pipeline order: an id, a list of ids, or a number) into the
graph's input tensors, following the inputs listed in M.pipeline.json:
one int64 [N] per categorical field, an int64 [N, M] id matrix (padded with
0) plus int64 [N] lengths per multi-valued field, one float32 [N] per
numeric field.
"""

import json

import numpy as np


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line)["f"] for line in f]


def _number(v):
    if isinstance(v, str):
        return {"NaN": float("nan"), "+Inf": float("inf"), "-Inf": float("-inf")}[v]
    return float(v)


def feeds(sidecar, rows):
    """Returns {input name: numpy array} for the rows (lists of field entries)."""
    fields = []
    for t in sidecar["inputs"]:
        if t["field"] not in fields:
            fields.append(t["field"])
    col = {name: i for i, name in enumerate(fields)}
    out = {}
    for t in sidecar["inputs"]:
        values = [r[col[t["field"]]] for r in rows]
        if t["name"] != t["field"]:  # lengths of a multi-valued field
            out[t["name"]] = np.array([len(v) for v in values], dtype=np.int64)
        elif len(t["shape"]) == 2:
            width = max([len(v) for v in values] + [0])
            ids = np.zeros((len(values), width), dtype=np.int64)
            for i, v in enumerate(values):
                ids[i, : len(v)] = v
            out[t["name"]] = ids
        elif t["type"] == "int64":
            out[t["name"]] = np.array(values, dtype=np.int64)
        else:
            out[t["name"]] = np.array([_number(v) for v in values], dtype=np.float32)
    return out
