// Package modelfile reads and writes dcrnn model files.
//
// A model file holds everything needed to serve a trained model: the
// caller's named documents (model config, fitted feature pipeline, ...; text,
// usually JSON) and the weights. It is a valid safetensors file
// (https://github.com/huggingface/safetensors), so any safetensors reader
// (safetensors.numpy.load_file, safetensors.torch.load_file, or the dozen
// lines of Python below) can load the weights.
//
// Files are written atomically (Write) and read all-or-nothing (Read,
// Decode): a file that is truncated, edited or has any byte flipped is
// refused, and nothing of it is returned. The error wraps ErrCorrupt (or
// ErrNotModelFile / ErrVersion when the damage hits the format name or
// version, which are checked first so that a newer file is reported as such).
// Reading is bounded (ReadLimited): only regular files are opened, an
// optional size limit is checked first, and the header and the data size it
// declares are checked against the file size before the data is read, so a
// file that is not a model costs its first bytes, not its size.
//
// # Layout, byte by byte
//
//	offset  size  content
//	0       8     N, the header length, unsigned 64-bit little-endian
//	8       N     the header: UTF-8 JSON, padded at the end with spaces
//	              (0x20) so that N is a multiple of 8
//	8+N     D     the data section: the tensors' raw little-endian
//	              bytes, back to back, no gaps, no trailing bytes
//
// The header is one JSON object written without whitespace (except the
// trailing padding): first the key "__metadata__", then one key per tensor
// in storage order.
//
// "__metadata__" maps strings to strings, keys sorted (by bytes):
//
//	checksum        64 lowercase hex digits, see Checksum below
//	format          "dcrnn"
//	format_version  "1" (a reader refuses other versions with ErrVersion)
//	<name>          the caller's documents, File.Meta (e.g. "config")
//
// Each tensor entry is
//
//	"<name>":{"dtype":"F32","shape":[d0,d1,...],"data_offsets":[begin,end]}
//
// with dtype one of F32 (float32), I64 (int64), I32 (int32), U8 (bytes); shape
// row-major, [] for a scalar, a 0 dimension allowed; begin and end byte
// offsets relative to the start of the data section (byte 8+N), end-begin =
// product(shape) × element size. Storage order is by element size,
// largest first (I64, then F32 and I32, then U8), then by name (byte order); the
// first tensor begins at 0 and each next one where the previous ends, so
// with the 8-byte aligned data section every tensor is aligned to its
// element size. Strings are escaped only where JSON requires it (quote,
// backslash, control characters as \n, \r, \t or \u00XX); other characters
// are written as UTF-8. So a given File has exactly one encoding, and a
// reader checks that the header is byte-for-byte in this canonical form.
//
// # The documents of a dcrnn model
//
// Package model (Save, Load) writes these documents, all JSON:
//
//	model        {"name": registry name, "config": model.Config}
//	pipeline     the fitted feature pipeline (feature.Pipeline's JSON, which
//	             holds the schema, negative_sampling included)
//	info         optional, free-form training information (metrics, epochs)
//	calibration  optional: {"version": 1, "method": "platt"|"isotonic",
//	             "tasks": {task: {"platt": {"a", "b"}} or
//	             {"isotonic": {"x": [...], "y": [...]}}}}, the post-hoc
//	             calibration maps applied after the sigmoid (model.Calibration);
//	             absent in files written before it existed and with
//	             calibration: none, which predict the model's probabilities
//
// and one F32 tensor per weight, named as the model names its parameters.
// A vocabulary or Bloom filter too large to sit well in the pipeline's JSON
// (over 64 KiB of it, feature.BlobMinBytes) is stored as tensors instead,
// and the pipeline document is then version 3, naming its size:
//
//	pipeline.<field>.vocab.bytes    U8 [B]: the kept values back to back
//	pipeline.<field>.vocab.offsets  I64 [V+1]: value i (id i+1) is
//	                                bytes[offsets[i]:offsets[i+1]]
//	pipeline.<field>.admitted       I64 [W]: the filter's 64-bit words
//
// This keeps a vocabulary of 10⁷ values out of the header, which safetensors
// readers limit to 100 MB, and its bytes exact (JSON would replace invalid
// UTF-8).
// Training checkpoints (package train) are model files too, with a
// "checkpoint" document and "w.", "best.", "opt." tensors.
//
// # Checksum
//
// checksum is the hex SHA-256 of this byte string (u64 = 8-byte
// little-endian unsigned integer, str = u64 byte length then the UTF-8 bytes):
//
//	u64 number of __metadata__ entries other than checksum
//	for each such entry, keys sorted: str key, str value
//	u64 number of tensors
//	for each tensor in storage order:
//	    str name, str dtype, u64 len(shape), u64 each dimension,
//	    u64 begin, u64 end
//	the data section, all D bytes
//
// It covers everything in the file except the padding (which the canonical
// check pins down) and itself.
//
// # Example
//
// A file with the document config = "{}" and one F32 tensor "w" of shape [2]
// holding 1, -2 is 224 bytes:
//
//	0    d0 00 00 00 00 00 00 00          N = 208
//	8    {"__metadata__":{"checksum":"d151…1cf5","config":"{}",
//	     "format":"dcrnn","format_version":"1"},
//	     "w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}
//	     + 7 spaces of padding (201 + 7 = 208 bytes)
//	216  00 00 80 3f                       w[0] = 1.0
//	220  00 00 00 c0                       w[1] = -2.0
//
// (The header is one line in the file, broken here for width; testdata/
// example.dcrnn is this file, checked byte for byte by the tests.)
//
// # Reading from Python
//
// With the standard library only (numpy: np.frombuffer(buf, "<f4",
// count=(end-begin)//4, offset=8+n+begin).reshape(shape)):
//
//	import array, hashlib, json, struct, sys
//
//	def load(path):
//	    buf = open(path, "rb").read()
//	    (n,) = struct.unpack_from("<Q", buf, 0)
//	    header = json.loads(buf[8:8 + n])
//	    meta = header.pop("__metadata__")
//	    data = buf[8 + n:]
//	    tensors = {}
//	    for name, t in header.items():
//	        begin, end = t["data_offsets"]
//	        values = array.array({"F32": "f", "I32": "i", "I64": "q", "U8": "B"}[t["dtype"]], data[begin:end])
//	        if sys.byteorder == "big":
//	            values.byteswap()
//	        tensors[name] = (t["shape"], values)  # row-major values
//	    return meta, tensors, header, data
//
//	def checksum(meta, header, data):
//	    u64 = lambda v: struct.pack("<Q", v)
//	    s = lambda x: u64(len(x.encode())) + x.encode()
//	    keys = sorted(k for k in meta if k != "checksum")
//	    b = u64(len(keys)) + b"".join(s(k) + s(meta[k]) for k in keys)
//	    size = {"F32": 4, "I32": 4, "I64": 8, "U8": 1}
//	    order = sorted(header, key=lambda k: (-size[header[k]["dtype"]], k.encode()))
//	    b += u64(len(order))
//	    for k in order:
//	        t = header[k]
//	        b += s(k) + s(t["dtype"]) + u64(len(t["shape"])) + b"".join(u64(d) for d in t["shape"])
//	        b += u64(t["data_offsets"][0]) + u64(t["data_offsets"][1])
//	    return hashlib.sha256(b + data).hexdigest()
//
//	meta, tensors, header, data = load("model.dcrnn")
//	assert checksum(meta, header, data) == meta["checksum"]
//	config = json.loads(meta["config"])
//
// # Limits
//
// The header, documents included, may not exceed MaxHeaderSize (100 MB, the
// reference safetensors limit): large tables such as vocabularies belong in
// tensors, not in documents.
package modelfile
