"""PyTorch twins of dcrnn's models, reading and writing dcrnn model files.

    import dcrnn_torch
    m = dcrnn_torch.load("census.dcrnn")          # a torch.nn.Module with the file's weights
    probs = dcrnn_torch.predict(m, batch)          # as `dcrnn predict` scores the rows
    dcrnn_torch.save(m, "out.dcrnn", m.pipeline, m.config)   # a file the Go binary loads

The feature pipeline is not re-implemented here: rows come transformed, by
`dcrnn prepare` (dcrnn_torch.data reads its Parquet shards) or by `dcrnn
predict --inputs-out` (dcrnn_torch.data.read_inputs_jsonl).
"""

from __future__ import annotations

import base64
import json
import os

import numpy as np
import torch

from . import modelfile
from .models import MODELS, Batch, Spec, build, config_defaults, loss
from .models import predict as _predict

__all__ = [
    "MODELS", "MODEL_CONFIG_KEYS", "Batch", "Spec", "build", "config_defaults", "load", "loss", "predict", "save",
    "split_pipeline",
]  # fmt: skip

# The keys of model.Config (the "config" of the "model" document).
MODEL_CONFIG_KEYS = (
    "embedding_dim", "dropout", "tower", "deep", "transfer", "loss_weighting", "task_weights", "cross", "proj",
    "cross_mode", "cross_steps", "cell", "shared_hidden", "private_hidden", "rho", "state_size", "experts",
    "expert_hidden", "shared_experts", "task_experts", "levels", "cross_layers",
)  # fmt: skip


# PIPELINE_TENSOR_PREFIX starts the names of the tensors that hold a
# pipeline's large vocabularies and Bloom filters (pipeline version 3).
PIPELINE_TENSOR_PREFIX = "pipeline."

# BLOB_MIN_BYTES: a vocabulary or filter whose JSON form is larger than this
# leaves the pipeline document for tensors (Go: feature.BlobMinBytes).
BLOB_MIN_BYTES = 64 << 10


def split_pipeline(pipeline: str | dict) -> tuple[str, dict[str, np.ndarray]]:
    """The pipeline document and tensors that the Go writer stores for this
    pipeline JSON: every vocabulary whose values take more than
    BLOB_MIN_BYTES (their UTF-8 bytes plus 3 each) becomes the tensors
    pipeline.<field>.vocab.bytes (uint8, the values back to back) and
    pipeline.<field>.vocab.offsets (int64, len+1 offsets), every Bloom filter
    with more than BLOB_MIN_BYTES of base64 bits becomes
    pipeline.<field>.admitted (int64 words), and the document is version 3.
    A pipeline with nothing that large comes back unchanged."""
    doc = pipeline if isinstance(pipeline, str) else json.dumps(pipeline, separators=(",", ":"))
    return _split(doc, json.loads(doc))


def _split(doc: str, pipe: dict) -> tuple[str, dict[str, np.ndarray]]:
    """split_pipeline of doc, parsed as pipe (which it changes)."""
    tensors: dict[str, np.ndarray] = {}
    for f in pipe["fields"]:
        name, vocab, adm = f["name"], f.get("vocab"), f.get("admitted")
        if vocab and sum(len(v.encode()) + 3 for v in vocab) > BLOB_MIN_BYTES:
            raw = [v.encode() for v in vocab]
            tensors[PIPELINE_TENSOR_PREFIX + name + ".vocab.bytes"] = np.frombuffer(b"".join(raw), dtype=np.uint8)
            offsets = np.concatenate(([0], np.cumsum([len(r) for r in raw])))
            tensors[PIPELINE_TENSOR_PREFIX + name + ".vocab.offsets"] = offsets.astype(np.int64)
            del f["vocab"]
            f["vocab_size"] = len(vocab)
        if adm and len(adm.get("bits", "")) > BLOB_MIN_BYTES:
            words = np.frombuffer(base64.b64decode(adm["bits"]), dtype="<u8").view(np.int64)
            tensors[PIPELINE_TENSOR_PREFIX + name + ".admitted"] = words.copy()
            del adm["bits"]
    if not tensors:
        return doc, {}
    pipe["version"] = max(pipe["version"], 3)
    return json.dumps(pipe, separators=(",", ":"), ensure_ascii=False), tensors


def _needs_blobs(pipe: dict) -> bool:
    return any(f.get("vocab_size") or (f.get("admitted") and "bits" not in f["admitted"]) for f in pipe["fields"])


def load(path: str | os.PathLike) -> torch.nn.Module:
    """Reads a dcrnn model file into its PyTorch model. The module also
    carries .name, .config (the model config), .pipeline (the pipeline
    document, a JSON string), .pipeline_tensors (the tensors holding its
    large vocabularies and filters, often none), .calibration (dict or
    None), .info_doc (JSON string or None), .negative_sampling and
    .checksum."""
    docs, tensors, sum_ = modelfile.read(path)
    for k in ("model", "pipeline"):
        if k not in docs:
            raise modelfile.ModelFileError(f"{path}: no {k!r} document")
    pipeline_tensors = {k: tensors.pop(k) for k in [k for k in tensors if k.startswith(PIPELINE_TENSOR_PREFIX)]}
    hdr = json.loads(docs["model"])
    pipe = json.loads(docs["pipeline"])
    spec = Spec.from_pipeline(pipe, tensors, hdr["name"])
    m = build(hdr["name"], hdr["config"], spec)
    names = set(m.dense_names) | set(m.sparse_names)
    missing = sorted(names - set(tensors))
    extra = sorted(set(tensors) - names)
    if missing or extra:
        raise modelfile.ModelFileError(f"{path}: weights missing {missing}, unexpected {extra}")
    with torch.no_grad():
        for name in names:
            p = m.p(name)
            t = tensors[name]
            if tuple(t.shape) != tuple(p.shape):
                raise modelfile.ModelFileError(f"{path}: weight {name!r} has shape {list(t.shape)}, the model needs {list(p.shape)}")
            p.copy_(torch.from_numpy(np.ascontiguousarray(t)))
    m.config = hdr["config"]
    m.pipeline = docs["pipeline"]
    m.pipeline_tensors = pipeline_tensors
    m.calibration = json.loads(docs["calibration"]) if "calibration" in docs else None
    m.info_doc = docs.get("info")
    ts = pipe["schema"]["tasks"]
    m.negative_sampling = float(ts[0].get("negative_sampling") or 1.0)
    m.checksum = sum_
    m.eval()
    return m


def save(module: torch.nn.Module, path: str | os.PathLike, pipeline: str | dict, config: dict | None = None,
         calibration: dict | None = None, info: dict | str | None = None,
         pipeline_tensors: dict[str, np.ndarray] | None = None) -> str:  # fmt: skip
    """Writes module as a dcrnn model file (format, version, checksum, the
    "model", "pipeline" and optional "calibration" and "info" documents, one
    F32 tensor per weight); returns the checksum. pipeline is the pipeline
    JSON (string or parsed): a full one (as `dcrnn prepare` writes) is split
    as the Go writer splits it (split_pipeline); one already split (the
    .pipeline of a loaded file) is written with pipeline_tensors, by default
    the module's .pipeline_tensors. config is the model config (module.cfg
    when None; only model.Config's keys are written)."""
    cfg = module.cfg if config is None else config_defaults(config)
    hdr = {"name": module.name, "config": {k: cfg.get(k) for k in MODEL_CONFIG_KEYS}}
    doc = pipeline if isinstance(pipeline, str) else json.dumps(pipeline, separators=(",", ":"))
    pipe = json.loads(doc)
    if _needs_blobs(pipe):
        if pipeline_tensors is None:
            pipeline_tensors = getattr(module, "pipeline_tensors", None)
        if not pipeline_tensors:
            raise modelfile.ModelFileError("the pipeline stores vocabularies in tensors (vocab_size): pass pipeline_tensors")
    else:
        doc, pipeline_tensors = _split(doc, pipe)
    docs = {"model": json.dumps(hdr, separators=(",", ":")), "pipeline": doc}
    if calibration:
        c = dict(calibration)
        c["version"] = 1
        docs["calibration"] = json.dumps(c, separators=(",", ":"))
    if info is not None:
        docs["info"] = info if isinstance(info, str) else json.dumps(info, separators=(",", ":"))
    tensors = {}
    for name in module.dense_names + module.sparse_names:
        tensors[name] = module.p(name).detach().to("cpu", torch.float32).contiguous().numpy()
    tensors.update(pipeline_tensors)
    return modelfile.write(path, docs, tensors)


def predict(module, batch, calibration=None, negative_sampling=None):
    """Probabilities per task (and ctcvr) as `dcrnn predict` gives them;
    calibration and negative_sampling default to the loaded file's."""
    if calibration is None:
        calibration = getattr(module, "calibration", None)
    if negative_sampling is None:
        negative_sampling = getattr(module, "negative_sampling", 1.0)
    return _predict(module, batch, calibration, negative_sampling)
