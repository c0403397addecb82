"""Transformed rows: the Parquet shards of `dcrnn prepare` and the JSON lines
of `dcrnn predict --inputs-out`, as model Batches.

A prepared directory holds manifest.json, pipeline.json and, per part
(train, valid, test), Parquet shards whose rows in shard order are the
part's rows in file order (see `dcrnn prepare --help`). Part loads a part's
columns into memory (ids as int64, multi-valued fields as flat ids with
offsets, numbers as float32, labels as float32 [N, T]); batches are
contiguous row ranges of it, so a global batch is the same rows whichever
process reads it.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pyarrow.parquet as pq
import torch

from .models import Batch, Spec


class DataError(ValueError):
    """A prepared directory or inputs file that does not match what it claims."""


def read_manifest(d: str) -> dict:
    path = os.path.join(d, "manifest.json")
    try:
        with open(path) as f:
            m = json.load(f)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: {e}") from None
    if m.get("version") != 1:
        raise DataError(f"{path}: manifest version {m.get('version')!r}, this reader knows 1")
    return m


class Part:
    """One part (train, valid or test) of a prepared directory, in memory."""

    def __init__(self, d: str, manifest: dict, name: str):
        self.name = name
        self.manifest = manifest
        self.spec = Spec.from_manifest(manifest)
        split = next((s for s in manifest["splits"] if s["name"] == name), None)
        if split is None:
            raise DataError(f"{d}: the manifest has no part {name!r}")
        cols: dict[str, list] = {f["column"]: [] for f in manifest["fields"]}
        labels: list[list] = [[] for _ in manifest["tasks"]]
        n = 0
        for sh in split["shards"]:
            path = os.path.join(d, sh["file"])
            try:
                t = pq.read_table(path)
            except (OSError, ValueError) as e:
                raise DataError(f"{path}: {e}") from None
            if t.num_rows != sh["rows"]:
                raise DataError(f"{path}: {t.num_rows} rows, the manifest says {sh['rows']}")
            n += t.num_rows
            for c, chunks in cols.items():
                chunks.append(t.column(c).combine_chunks())
            for k, task in enumerate(manifest["tasks"]):
                labels[k].append(t.column(task["column"]).to_numpy())
        if n != split["rows"]:
            raise DataError(f"{d}: part {name}: {n} rows in the shards, the manifest says {split['rows']}")
        self.n = n
        self.fields = []
        for f in manifest["fields"]:
            chunks = cols[f["column"]]
            if f["kind"] == "multi_categorical":
                ids, offs, base = [], [np.zeros(1, dtype=np.int64)], 0
                for a in chunks:
                    o = a.offsets.to_numpy().astype(np.int64)
                    ids.append(a.values.to_numpy().astype(np.int64)[o[0] : o[-1]] if len(a.values) else np.zeros(0, np.int64))
                    offs.append(o[1:] - o[0] + base)
                    base += int(o[-1] - o[0])
                self.fields.append((np.concatenate(ids) if ids else np.zeros(0, np.int64), np.concatenate(offs)))
            elif f["kind"] == "categorical":
                a = np.concatenate([c.to_numpy() for c in chunks]) if chunks else np.zeros(0, np.int32)
                self.fields.append(a.astype(np.int64))
            else:
                a = np.concatenate([c.to_numpy() for c in chunks]) if chunks else np.zeros(0, np.float32)
                self.fields.append(a.astype(np.float32))
            v = f.get("vocab", 0)
            if f["kind"] != "numeric":
                ids = self.fields[-1][0] if f["kind"] == "multi_categorical" else self.fields[-1]
                if len(ids) and (ids.min() < 0 or ids.max() >= v):
                    raise DataError(f"{d}: part {name}: field {f['name']!r}: ids outside [0, {v})")
        self.labels = np.stack([np.concatenate(x).astype(np.float32) if x else np.zeros(0, np.float32) for x in labels], axis=1)

    def batch(self, lo: int, hi: int) -> Batch:
        """Rows [lo, hi) as a Batch."""
        fs = []
        for f, col in zip(self.spec.fields, self.fields):
            if f.kind == "multi_categorical":
                ids, off = col
                a, b = off[lo], off[hi]
                fs.append((torch.from_numpy(ids[a:b]), torch.from_numpy(off[lo : hi + 1] - a)))
            else:
                fs.append(torch.from_numpy(col[lo:hi]))
        return Batch(fs, torch.from_numpy(self.labels[lo:hi]), hi - lo)

    def take(self, idx: np.ndarray) -> Batch:
        """The rows idx (int64 array), in that order, as a Batch."""
        fs = []
        for f, col in zip(self.spec.fields, self.fields):
            if f.kind == "multi_categorical":
                ids, off = col
                starts, lens = off[idx], off[idx + 1] - off[idx]
                new = np.zeros(len(idx) + 1, dtype=np.int64)
                np.cumsum(lens, out=new[1:])
                pos = np.repeat(starts - new[:-1], lens) + np.arange(new[-1], dtype=np.int64)
                fs.append((torch.from_numpy(ids[pos]), torch.from_numpy(new)))
            else:
                fs.append(torch.from_numpy(col[idx]))
        return Batch(fs, torch.from_numpy(self.labels[idx]), len(idx))

    def batches(self, size: int):
        for lo in range(0, self.n, size):
            yield self.batch(lo, min(lo + size, self.n))

    def steps(self, size: int) -> int:
        return math.ceil(self.n / size)


def read_inputs_jsonl(path: str, spec: Spec) -> Batch:
    """Reads the file of `dcrnn predict --inputs-out` into one Batch."""
    rows = []
    with open(path) as f:
        for ln, line in enumerate(f, 1):
            r = json.loads(line)["f"]
            if len(r) != len(spec.fields):
                raise DataError(f"{path}:{ln}: {len(r)} fields, the model has {len(spec.fields)}")
            rows.append(r)
    fs = []
    for k, fd in enumerate(spec.fields):
        col = [r[k] for r in rows]
        if fd.kind == "multi_categorical":
            ids, off = [], [0]
            for v in col:
                ids.extend(v)
                off.append(len(ids))
            fs.append((torch.tensor(ids, dtype=torch.int64), torch.tensor(off, dtype=torch.int64)))
        elif fd.kind == "categorical":
            fs.append(torch.tensor(col, dtype=torch.int64))
        else:
            fs.append(torch.tensor([float(v) for v in col], dtype=torch.float32))
    return Batch(fs, None, len(rows))
