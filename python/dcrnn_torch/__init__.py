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

import json
import os

import numpy as np
import torch

from . import modelfile
from .models import MODELS, Batch, Spec, build, config_defaults, loss
from .models import predict as _predict

__all__ = ["MODELS", "MODEL_CONFIG_KEYS", "Batch", "Spec", "build", "config_defaults", "load", "loss", "predict", "save"]

# The keys of model.Config (the "config" of the "model" document).
MODEL_CONFIG_KEYS = (
    "embedding_dim", "dropout", "tower", "deep", "transfer", "loss_weighting", "task_weights", "cross", "proj",
    "cross_mode", "cross_steps", "cell", "shared_hidden", "private_hidden", "rho", "state_size", "experts",
    "expert_hidden", "shared_experts", "task_experts", "levels", "cross_layers",
)  # fmt: skip


def load(path: str | os.PathLike) -> torch.nn.Module:
    """Reads a dcrnn model file into its PyTorch model. The module also
    carries .name, .config (the model config), .pipeline (the pipeline
    document, a JSON string), .calibration (dict or None), .info_doc (JSON
    string or None), .negative_sampling and .checksum."""
    docs, tensors, sum_ = modelfile.read(path)
    for k in ("model", "pipeline"):
        if k not in docs:
            raise modelfile.ModelFileError(f"{path}: no {k!r} document")
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
    m.calibration = json.loads(docs["calibration"]) if "calibration" in docs else None
    m.info_doc = docs.get("info")
    ts = pipe["schema"]["tasks"]
    m.negative_sampling = float(ts[0].get("negative_sampling") or 1.0)
    m.checksum = sum_
    m.eval()
    return m


def save(module: torch.nn.Module, path: str | os.PathLike, pipeline: str | dict, config: dict | None = None,
         calibration: dict | None = None, info: dict | str | None = None) -> str:  # fmt: skip
    """Writes module as a dcrnn model file (format, version, checksum, the
    "model", "pipeline" and optional "calibration" and "info" documents, one
    F32 tensor per weight); returns the checksum. pipeline is the pipeline
    JSON (string or parsed), config the model config (module.cfg when
    None; only model.Config's keys are written)."""
    cfg = module.cfg if config is None else config_defaults(config)
    hdr = {"name": module.name, "config": {k: cfg.get(k) for k in MODEL_CONFIG_KEYS}}
    docs = {"model": json.dumps(hdr, separators=(",", ":")),
            "pipeline": pipeline if isinstance(pipeline, str) else json.dumps(pipeline, separators=(",", ":"))}  # fmt: skip
    if calibration:
        c = dict(calibration)
        c["version"] = 1
        docs["calibration"] = json.dumps(c, separators=(",", ":"))
    if info is not None:
        docs["info"] = info if isinstance(info, str) else json.dumps(info, separators=(",", ":"))
    tensors = {}
    for name in module.dense_names + module.sparse_names:
        tensors[name] = module.p(name).detach().to("cpu", torch.float32).contiguous().numpy()
    return modelfile.write(path, docs, tensors)


def predict(module, batch, calibration=None, negative_sampling=None):
    """Probabilities per task (and ctcvr) as `dcrnn predict` gives them;
    calibration and negative_sampling default to the loaded file's."""
    if calibration is None:
        calibration = getattr(module, "calibration", None)
    if negative_sampling is None:
        negative_sampling = getattr(module, "negative_sampling", 1.0)
    return _predict(module, batch, calibration, negative_sampling)
