"""Read and write dcrnn model files, byte for byte as the Go binary does.

A model file is a safetensors file in one canonical encoding:

    offset 0   8 bytes   N, the header length, u64 little-endian
    offset 8   N bytes   the header: JSON without whitespace, padded with
                         spaces to a multiple of 8
    offset 8+N D bytes   the tensors' little-endian bytes, back to back

The header is {"__metadata__": {...}, "<tensor>": {...}, ...}: the metadata
first (keys sorted by bytes: the caller's documents, "checksum", "format" =
"dcrnn", "format_version" = "1"), then the tensors in storage order (by
element size, largest first, then by name as bytes), each
{"dtype": "F32"|"I32"|"I64"|"U8", "shape": [...], "data_offsets": [begin, end]}.
Strings escape only '"', '\\' and control characters (as \\n, \\r, \\t or
\\u00XX). The checksum is the SHA-256 of: u64 count of the other metadata
entries; each as (str key, str value), keys sorted; u64 tensor count; per
tensor in storage order (str name, str dtype, u64 rank, u64 dims, u64 begin,
u64 end); then the data section (str = u64 byte length and the UTF-8 bytes).

read() refuses a file that breaks any of this (ModelFileError); write()
produces exactly the bytes the Go writer would for the same documents and
tensors, atomically (a temporary file in the same directory, fsync, rename).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile

import numpy as np

FORMAT = "dcrnn"
FORMAT_VERSION = "1"
MAX_HEADER_SIZE = 100_000_000

_DTYPES = {"F32": np.dtype("<f4"), "I32": np.dtype("<i4"), "I64": np.dtype("<i8"), "U8": np.dtype("u1")}
_RESERVED = ("checksum", "format", "format_version")


class ModelFileError(ValueError):
    """A file that is not a valid dcrnn model file (says which check failed)."""


def _escape(s: str) -> str:
    out = ['"']
    for ch in s:
        c = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif c < 0x20:
            out.append(f"\\u{c:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _dtype_name(a: np.ndarray) -> str:
    for name, dt in _DTYPES.items():
        if a.dtype == dt or a.dtype == dt.newbyteorder("="):
            return name
    raise ModelFileError(f"dtype {a.dtype} is not one of float32, int32, int64, uint8")


def _storage_order(tensors: dict[str, tuple[str, tuple[int, ...]]]) -> list[str]:
    return sorted(tensors, key=lambda k: (-_DTYPES[tensors[k][0]].itemsize, k.encode()))


def checksum(meta: dict[str, str], entries: list[tuple[str, str, tuple[int, ...], int, int]], data: bytes) -> str:
    """The checksum of a file's metadata (checksum key excluded), entries
    (name, dtype, shape, begin, end) in storage order, and data section."""

    def u64(v: int) -> bytes:
        return struct.pack("<Q", v)

    def s(x: str) -> bytes:
        b = x.encode()
        return u64(len(b)) + b

    keys = sorted((k for k in meta if k != "checksum"), key=str.encode)
    h = hashlib.sha256()
    h.update(u64(len(keys)) + b"".join(s(k) + s(meta[k]) for k in keys))
    buf = [u64(len(entries))]
    for name, dtype, shape, begin, end in entries:
        buf.append(s(name) + s(dtype) + u64(len(shape)) + b"".join(u64(d) for d in shape) + u64(begin) + u64(end))
    h.update(b"".join(buf))
    h.update(data)
    return h.hexdigest()


def encode(docs: dict[str, str], tensors: dict[str, np.ndarray]) -> tuple[bytes, str]:
    """Returns the file's bytes and checksum for the documents and tensors."""
    for k, v in docs.items():
        if k in _RESERVED:
            raise ModelFileError(f"document name {k!r} is reserved")
        if not isinstance(v, str):
            raise ModelFileError(f"document {k!r} is {type(v).__name__}, want str")
    arrays = {}
    for name, a in tensors.items():
        a = np.asarray(a)
        dt = _dtype_name(a)
        arrays[name] = (dt, np.ascontiguousarray(a, dtype=_DTYPES[dt]))
    order = _storage_order({k: (v[0], v[1].shape) for k, v in arrays.items()})
    entries, chunks, off = [], [], 0
    for name in order:
        dt, a = arrays[name]
        b = a.tobytes()
        entries.append((name, dt, tuple(int(d) for d in a.shape), off, off + len(b)))
        chunks.append(b)
        off += len(b)
    data = b"".join(chunks)
    meta = dict(docs)
    meta["format"] = FORMAT
    meta["format_version"] = FORMAT_VERSION
    sum_ = checksum(meta, entries, data)
    meta["checksum"] = sum_
    parts = ['{"__metadata__":{']
    parts.append(",".join(_escape(k) + ":" + _escape(meta[k]) for k in sorted(meta, key=str.encode)))
    parts.append("}")
    for name, dt, shape, begin, end in entries:
        parts.append(
            "," + _escape(name) + ':{"dtype":' + _escape(dt) + ',"shape":[' + ",".join(str(d) for d in shape) + '],"data_offsets":['
            f"{begin},{end}]}}"
        )
    parts.append("}")
    header = "".join(parts).encode()
    header += b" " * (-len(header) % 8)
    if len(header) > MAX_HEADER_SIZE:
        raise ModelFileError(f"header of {len(header)} bytes exceeds {MAX_HEADER_SIZE}")
    return struct.pack("<Q", len(header)) + header + data, sum_


def write(path: str | os.PathLike, docs: dict[str, str], tensors: dict[str, np.ndarray]) -> str:
    """Writes a model file atomically; returns its checksum."""
    buf, sum_ = encode(docs, tensors)
    path = os.fspath(path)
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buf)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return sum_


def decode(buf: bytes, name: str = "model file") -> tuple[dict[str, str], dict[str, np.ndarray], str]:
    """Parses and checks a model file's bytes; returns (documents, tensors, checksum)."""

    def bad(msg: str) -> ModelFileError:
        return ModelFileError(f"{name}: {msg}")

    if len(buf) < 8:
        raise bad(f"{len(buf)} bytes, too short for a model file")
    (n,) = struct.unpack_from("<Q", buf, 0)
    if n > MAX_HEADER_SIZE or 8 + n > len(buf):
        raise bad(f"header length {n} beyond the file ({len(buf)} bytes) or the limit")
    raw = buf[8 : 8 + n]
    try:
        header = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise bad(f"header is not JSON: {e}") from None
    if not isinstance(header, dict) or not isinstance(header.get("__metadata__"), dict):
        raise bad("header has no __metadata__ object")
    meta = header.pop("__metadata__")
    if meta.get("format") != FORMAT:
        raise bad(f"format {meta.get('format')!r}, not a dcrnn model file")
    if meta.get("format_version") != FORMAT_VERSION:
        raise bad(f"format version {meta.get('format_version')!r}, this reader knows {FORMAT_VERSION}")
    if not all(isinstance(v, str) for v in meta.values()):
        raise bad("metadata values must be strings")
    data = buf[8 + n :]
    entries = []
    tensors = {}
    shapes = {}
    for tname, t in header.items():
        if not isinstance(t, dict) or t.get("dtype") not in _DTYPES:
            raise bad(f"tensor {tname!r}: bad entry {t!r}")
        shapes[tname] = (t["dtype"], tuple(t["shape"]))
    off = 0
    for tname in _storage_order(shapes):
        t = header[tname]
        dt = _DTYPES[t["dtype"]]
        shape = tuple(int(d) for d in t["shape"])
        begin, end = t["data_offsets"]
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if begin != off or end - begin != count * dt.itemsize or end > len(data):
            raise bad(f"tensor {tname!r}: data offsets {t['data_offsets']} do not follow the previous tensor or its shape")
        off = end
        entries.append((tname, t["dtype"], shape, begin, end))
        tensors[tname] = np.frombuffer(data, dtype=dt, count=count, offset=begin).reshape(shape).copy()
    if off != len(data):
        raise bad(f"{len(data) - off} bytes after the last tensor")
    sum_ = checksum(meta, entries, data)
    if meta.get("checksum") != sum_:
        raise bad("checksum mismatch (the file is damaged)")
    docs = {k: v for k, v in meta.items() if k not in _RESERVED}
    canon, _ = encode(docs, tensors)
    if canon[: 8 + n] != buf[: 8 + n]:
        raise bad("header is not in the canonical form")
    return docs, tensors, sum_


def read(path: str | os.PathLike) -> tuple[dict[str, str], dict[str, np.ndarray], str]:
    """Reads a model file; returns (documents, tensors by name, checksum)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelFileError(f"{path}: not a regular file")
    with open(path, "rb") as f:
        buf = f.read()
    return decode(buf, path)
