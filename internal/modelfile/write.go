package modelfile

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
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

// Write encodes f into the file at path atomically and returns its checksum.
// It writes a temporary file in the same directory, syncs and closes it,
// renames it over path and syncs the directory, so path holds either its old
// content or the complete new file, never a partial one. On error the
// temporary file is removed and an existing file at path is left untouched.
// The file is created with mode 0644.
func Write(path string, f *File) (string, error) {
	var sum string
	err := writeAtomic(path, func(w io.Writer) error {
		var err error
		sum, err = encode(w, f)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("modelfile: write %s: %w", path, err)
	}
	return sum, nil
}

// writeAtomic runs fill on a buffered temporary file next to path and, if
// everything succeeds, renames it to path.
func writeAtomic(path string, fill func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err = fill(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// The new file is in place; make the rename itself durable.
	d, derr := os.Open(dir)
	if derr != nil {
		return fmt.Errorf("sync directory: %w", derr)
	}
	if derr = d.Sync(); derr != nil {
		d.Close()
		return fmt.Errorf("sync directory: %w", derr)
	}
	if derr = d.Close(); derr != nil {
		return fmt.Errorf("sync directory: %w", derr)
	}
	return nil
}
