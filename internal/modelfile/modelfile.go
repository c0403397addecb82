package modelfile

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Format identification written into every file's __metadata__.
const (
	// FormatName is the value of __metadata__.format in every dcrnn model file.
	FormatName = "dcrnn"
	// FormatVersion is the newest format version this package writes and reads.
	FormatVersion = 1
	// MaxHeaderSize is the largest JSON header accepted, in bytes; it is the
	// limit of the reference safetensors reader, so a file we write is never
	// refused there for its header size.
	MaxHeaderSize = 100_000_000
)

// Reserved __metadata__ keys; callers may not use them in File.Meta.
const (
	keyFormat   = "format"
	keyVersion  = "format_version"
	keyChecksum = "checksum"
	keyMetadata = "__metadata__"
)

// Sentinel errors returned (wrapped) by Read and Decode.
var (
	// ErrNotModelFile: the bytes are not a dcrnn model file at all (too short
	// to hold a header, not safetensors, or safetensors written by another tool).
	ErrNotModelFile = errors.New("modelfile: not a dcrnn model file")
	// ErrCorrupt: the bytes look like a dcrnn model file but are truncated,
	// inconsistent or fail the checksum.
	ErrCorrupt = errors.New("modelfile: corrupt model file")
	// ErrVersion: the file has a format_version this build does not read.
	ErrVersion = errors.New("modelfile: unsupported format version")
	// ErrNotRegular: the path names a directory, named pipe, device or
	// socket, not a regular file; it was not read.
	ErrNotRegular = errors.New("not a regular file")
	// ErrTooLarge: the file is larger than the caller's limit; it was not read.
	ErrTooLarge = errors.New("model file too large")
)

// DType is a safetensors element type. The zero value means F32.
type DType string

// Supported element types, stored little-endian.
const (
	F32 DType = "F32" // float32, Tensor.Data
	I64 DType = "I64" // int64, Tensor.Int64
	I32 DType = "I32" // int32, Tensor.Int32
	U8  DType = "U8"  // uint8, Tensor.Uint8 (bytes, e.g. strings back to back)
)

// size returns the element size in bytes, or 0 for an unknown dtype.
func (d DType) size() int {
	switch d {
	case F32, I32:
		return 4
	case I64:
		return 8
	case U8:
		return 1
	}
	return 0
}

// Tensor is one named, row-major array. Exactly the slice matching DType
// holds the values (len = product of Shape; an empty Shape is a scalar of one
// element); the other two slices are empty.
type Tensor struct {
	Name  string
	DType DType // F32 when empty
	Shape []int
	Data  []float32 // values when DType is F32
	Int64 []int64   // values when DType is I64
	Int32 []int32   // values when DType is I32
	Uint8 []byte    // values when DType is U8
}

// File is the content of a model file: the caller's named documents (usually
// JSON text, e.g. "config", "pipeline", "model") and the tensors.
type File struct {
	// Meta maps document names to their text. The keys "format",
	// "format_version" and "checksum" are reserved for the format itself.
	Meta map[string]string
	// Tensors in any order; files store them sorted (see the package doc),
	// and Read returns them in that stored order.
	Tensors []Tensor
}

// Tensor returns the tensor with the given name, or nil.
func (f *File) Tensor(name string) *Tensor {
	for i := range f.Tensors {
		if f.Tensors[i].Name == name {
			return &f.Tensors[i]
		}
	}
	return nil
}

// fileError is an error with a readable message that unwraps to a sentinel.
type fileError struct {
	kind error
	msg  string
}

func (e *fileError) Error() string { return e.msg }
func (e *fileError) Unwrap() error { return e.kind }

func corrupt(format string, args ...any) error {
	return &fileError{ErrCorrupt, fmt.Sprintf(format, args...)}
}

func notModel(format string, args ...any) error {
	return &fileError{ErrNotModelFile, fmt.Sprintf(format, args...)}
}

// entry is one tensor's place in the file.
type entry struct {
	name       string
	dtype      DType
	shape      []int
	begin, end int // byte offsets relative to the data section
	t          *Tensor
}

// storageOrder sorts entries as they are stored: larger elements first (so
// every tensor is aligned to its element size when the data section is
// 8-byte aligned), then by name.
func storageOrder(a, b entry) int {
	if sa, sb := a.dtype.size(), b.dtype.size(); sa != sb {
		return sb - sa
	}
	return strings.Compare(a.name, b.name)
}

// numElements returns the product of shape, or an error if a dimension is
// negative or the product overflows limit.
func numElements(shape []int, limit int) (int, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension %d in shape %v", d, shape)
		}
		if d != 0 && n > limit/d {
			return 0, fmt.Errorf("shape %v is too large", shape)
		}
		n *= d
	}
	return n, nil
}

// layout validates f and returns its entries in storage order with offsets
// assigned, and the data section length.
func layout(f *File) ([]entry, int, error) {
	for k, v := range f.Meta {
		switch k {
		case keyFormat, keyVersion, keyChecksum:
			return nil, 0, fmt.Errorf("meta key %q is reserved", k)
		}
		if !utf8.ValidString(k) {
			return nil, 0, fmt.Errorf("meta key %q is not valid UTF-8", k)
		}
		if !utf8.ValidString(v) {
			return nil, 0, fmt.Errorf("meta %q: value is not valid UTF-8", k)
		}
	}
	ents := make([]entry, len(f.Tensors))
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if t.Name == "" || t.Name == keyMetadata || !utf8.ValidString(t.Name) {
			return nil, 0, fmt.Errorf("tensor %d: invalid name %q", i, t.Name)
		}
		dt := t.DType
		if dt == "" {
			dt = F32
		}
		size := dt.size()
		if size == 0 {
			return nil, 0, fmt.Errorf("tensor %q: unsupported dtype %q (want F32, I64, I32 or U8)", t.Name, t.DType)
		}
		n, err := numElements(t.Shape, maxInt/size)
		if err != nil {
			return nil, 0, fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		lens := map[DType]int{F32: len(t.Data), I64: len(t.Int64), I32: len(t.Int32), U8: len(t.Uint8)}
		for d, l := range lens {
			if d == dt && l != n {
				return nil, 0, fmt.Errorf("tensor %q: shape %v holds %d elements, %s slice has %d", t.Name, t.Shape, n, d, l)
			}
			if d != dt && l != 0 {
				return nil, 0, fmt.Errorf("tensor %q: dtype %s, but the %s slice is not empty", t.Name, dt, d)
			}
		}
		ents[i] = entry{name: t.Name, dtype: dt, shape: t.Shape, end: n * size, t: t}
	}
	slices.SortFunc(ents, storageOrder)
	off := 0
	for i := range ents {
		if i > 0 && ents[i].name == ents[i-1].name {
			return nil, 0, fmt.Errorf("tensor %q appears twice", ents[i].name)
		}
		n := ents[i].end
		if off > maxInt-n {
			return nil, 0, errors.New("tensors too large")
		}
		ents[i].begin, ents[i].end = off, off+n
		off += n
	}
	return ents, off, nil
}

const maxInt = int(^uint(0) >> 1)
