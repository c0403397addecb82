package modelfile

import (
	"encoding/binary"
	"fmt"
	"io"
	"strconv"

	"github.com/dcrnn/dcrnn/internal/atomicfile"
)

// Encode writes f to w in the model file format and returns the file's
// checksum (64 hex digits). f is validated first: tensor names must be
// unique, non-empty valid UTF-8; each tensor's value slice must match its
// dtype and shape; Meta must not use the reserved keys. The same File always
// encodes to the same bytes. Tensor values are written straight from their
// slices: encoding allocates only the header.
func Encode(w io.Writer, f *File) (string, error) {
	sum, err := encode(w, f)
	if err != nil {
		return "", fmt.Errorf("modelfile: %w", err)
	}
	return sum, nil
}

func encode(w io.Writer, f *File) (string, error) {
	ents, _, err := layout(f)
	if err != nil {
		return "", err
	}
	meta := make(map[string]string, len(f.Meta)+3)
	docBytes := 0
	for k, v := range f.Meta {
		meta[k] = v
		docBytes += len(k) + len(v)
	}
	if docBytes > MaxHeaderSize { // fail before hashing a huge header
		return "", fmt.Errorf("documents of %d bytes exceed the safetensors header limit of %d bytes (store large tables as tensors, not metadata)", docBytes, MaxHeaderSize)
	}
	meta[keyFormat] = FormatName
	meta[keyVersion] = strconv.Itoa(FormatVersion)
	data := make([][]byte, len(ents))
	for i, e := range ents {
		data[i] = tensorBytes(e.t, e.dtype)
	}
	sum := checksum(meta, ents, data)
	meta[keyChecksum] = sum

	hdr := appendHeader(make([]byte, 8, 4096), meta, ents)
	n := len(hdr) - 8
	if n > MaxHeaderSize {
		return "", fmt.Errorf("header of %d bytes exceeds the safetensors limit of %d bytes (store large tables as tensors, not metadata)", n, MaxHeaderSize)
	}
	binary.LittleEndian.PutUint64(hdr, uint64(n))
	if _, err := w.Write(hdr); err != nil {
		return "", fmt.Errorf("write header: %w", err)
	}
	for i, b := range data {
		if _, err := w.Write(b); err != nil {
			return "", fmt.Errorf("write tensor %q: %w", ents[i].name, err)
		}
	}
	return sum, nil
}

// Write encodes f into the file at path atomically and returns its checksum:
// through package atomicfile, so path holds either its old content or the
// complete new file, never a partial one, and the temporary file of a
// writer killed mid-way is removed by the next Write to the same path. On
// error the temporary file is removed and an existing file at path is left
// untouched. The file gets mode 0644 (atomicfile.Mode).
func Write(path string, f *File) (string, error) {
	af, err := atomicfile.Create(path)
	if err != nil {
		return "", fmt.Errorf("modelfile: %w", err)
	}
	defer af.Abort()
	sum, err := encode(af, f)
	if err != nil {
		return "", fmt.Errorf("modelfile: write %s: %w", path, err)
	}
	if err := af.Commit(); err != nil {
		return "", fmt.Errorf("modelfile: %w", err)
	}
	return sum, nil
}
