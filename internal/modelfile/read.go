package modelfile

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"unsafe"
)

// Read reads and fully validates the model file at path (see Decode) and
// returns its content and checksum; it is ReadLimited without a size limit.
func Read(path string) (*File, string, error) { return ReadLimited(path, 0) }

// ReadLimited reads and fully validates the model file at path (see Decode)
// and returns its content and checksum. It reads in bounded steps, so a
// file that is not a model file costs at most its first bytes:
//
//  1. the path must name a regular file: a directory, named pipe (FIFO),
//     device or socket is refused with ErrNotRegular before it is opened,
//     and the file is opened non-blocking, so a FIFO swapped in after the
//     check cannot hang the reader;
//  2. a file larger than maxBytes (when maxBytes > 0) is refused with
//     ErrTooLarge before any byte is read;
//  3. the 8-byte header length must fit in the file and in MaxHeaderSize,
//     then the header is read and checked, and the data section it
//     declares (the tensors' offsets) must end exactly at the end of the
//     file; only then is the data section read, checksummed and decoded.
//
// The tensors share one buffer holding the data section, so reading costs
// one allocation of the file size plus the header. Errors name the path and
// wrap ErrNotModelFile, ErrCorrupt or ErrVersion when the content is at
// fault.
func ReadLimited(path string, maxBytes int64) (*File, string, error) {
	fh, size, err := openRegular(path)
	if err != nil {
		return nil, "", fmt.Errorf("modelfile: %s: %w", path, err)
	}
	defer fh.Close()
	if maxBytes > 0 && size > maxBytes {
		return nil, "", fmt.Errorf("modelfile: %s: %w: %d bytes, the limit is %d", path, ErrTooLarge, size, maxBytes)
	}
	f, sum, err := readFrom(fh, size)
	if err != nil {
		return nil, "", fmt.Errorf("modelfile: %s: %w", path, err)
	}
	return f, sum, nil
}

// openRegular opens path for reading if it is a regular file (a symbolic
// link to one is fine) and returns its size.
func openRegular(path string) (*os.File, int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		return nil, 0, notRegular(st.Mode())
	}
	fh, err := openNonBlocking(path)
	if err != nil {
		return nil, 0, err
	}
	st2, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, 0, err
	}
	if !st2.Mode().IsRegular() || !os.SameFile(st, st2) {
		fh.Close()
		if !st2.Mode().IsRegular() {
			return nil, 0, notRegular(st2.Mode())
		}
		return nil, 0, fmt.Errorf("%w: the file was replaced while being opened", ErrNotRegular)
	}
	size := st2.Size()
	if size < 0 || size > int64(maxInt-8) {
		return nil, 0, corrupt("file size %d out of range", size)
	}
	return fh, size, nil
}

func notRegular(m os.FileMode) error {
	kind := "not a regular file"
	switch {
	case m.IsDir():
		kind = "a directory"
	case m&os.ModeNamedPipe != 0:
		kind = "a named pipe (FIFO)"
	case m&os.ModeDevice != 0:
		kind = "a device"
	case m&os.ModeSocket != 0:
		kind = "a socket"
	}
	return fmt.Errorf("%w: it is %s", ErrNotRegular, kind)
}

// readFrom reads a model file of size bytes from r in the bounded steps
// ReadLimited describes.
func readFrom(r io.Reader, size int64) (*File, string, error) {
	shrank := func(err error) error {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return corrupt("file shrank while being read: %v", err)
		}
		return err
	}
	if size < 9 {
		return nil, "", notModel("%d bytes is too short for a model file", size)
	}
	var pre [9]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, "", shrank(err)
	}
	if pre[8] != '{' {
		return nil, "", notModel("no safetensors JSON header at byte 8")
	}
	n64 := binary.LittleEndian.Uint64(pre[:8])
	if n64 > uint64(size-8) {
		return nil, "", corrupt("header length %d runs past the end of the %d-byte file: file truncated?", n64, size)
	}
	if n64 > MaxHeaderSize {
		return nil, "", corrupt("header length %d exceeds the limit of %d bytes", n64, MaxHeaderSize)
	}
	n := int(n64)
	header := make([]byte, n)
	header[0] = '{'
	if _, err := io.ReadFull(r, header[1:]); err != nil {
		return nil, "", shrank(err)
	}
	dataLen := int(size) - 8 - n
	meta, ents, err := parseHeader(header, dataLen)
	if err != nil {
		return nil, "", err
	}
	// Back the data with uint64s so it is 8-byte aligned in memory (as in
	// the file) and tensors can alias it.
	words := make([]uint64, (dataLen+7)/8)
	var data []byte
	if dataLen > 0 {
		data = unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), dataLen)
	}
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, "", shrank(err)
	}
	return finish(meta, ents, data, true)
}

// Decode parses a model file held in b and returns its content and checksum.
// Nothing is returned unless everything checks: the header length, the JSON
// header, the format name and version, every tensor's dtype, shape and
// offsets, that the tensors cover the data section exactly, that the header is
// byte-for-byte in the canonical form Encode writes, and the checksum. The
// returned tensors do not share memory with b.
func Decode(b []byte) (*File, string, error) {
	f, sum, err := decode(b)
	if err != nil {
		return nil, "", fmt.Errorf("modelfile: %w", err)
	}
	return f, sum, nil
}

// rawInfo is a tensor entry of the JSON header.
type rawInfo struct {
	DType       string    `json:"dtype"`
	Shape       *[]int64  `json:"shape"`
	DataOffsets *[]uint64 `json:"data_offsets"`
}

func decode(b []byte) (*File, string, error) {
	if len(b) < 9 {
		return nil, "", notModel("%d bytes is too short for a model file", len(b))
	}
	if b[8] != '{' {
		return nil, "", notModel("no safetensors JSON header at byte 8")
	}
	n64 := binary.LittleEndian.Uint64(b)
	if n64 > uint64(len(b)-8) {
		return nil, "", corrupt("header length %d runs past the end of the %d-byte file: file truncated?", n64, len(b))
	}
	if n64 > MaxHeaderSize {
		return nil, "", corrupt("header length %d exceeds the limit of %d bytes", n64, MaxHeaderSize)
	}
	n := int(n64)
	header, data := b[8:8+n], b[8+n:]
	meta, ents, err := parseHeader(header, len(data))
	if err != nil {
		return nil, "", err
	}
	return finish(meta, ents, data, false)
}

// parseHeader checks a JSON header against a data section of dataLen bytes:
// format, version, checksum syntax, every tensor entry, that the tensors
// cover the data section exactly, and the canonical form. It returns the
// metadata and the entries in storage order.
func parseHeader(header []byte, dataLen int) (map[string]string, []entry, error) {

	var top map[string]json.RawMessage
	if err := json.Unmarshal(header, &top); err != nil {
		return nil, nil, corrupt("header JSON: %v: file truncated or edited?", err)
	}
	rawMeta, ok := top[keyMetadata]
	if !ok {
		return nil, nil, notModel("safetensors file without __metadata__, not written by dcrnn")
	}
	var meta map[string]string
	if err := json.Unmarshal(rawMeta, &meta); err != nil {
		return nil, nil, corrupt("header __metadata__: %v", err)
	}
	if meta[keyFormat] != FormatName {
		return nil, nil, notModel("safetensors file with __metadata__.format %q, want %q", meta[keyFormat], FormatName)
	}
	if err := checkVersion(meta); err != nil {
		return nil, nil, err
	}
	want := meta[keyChecksum]
	if !isHexSHA256(want) {
		return nil, nil, corrupt("__metadata__.checksum %q is not 64 lowercase hex digits", want)
	}

	ents := make([]entry, 0, len(top)-1)
	for name, raw := range top {
		if name == keyMetadata {
			continue
		}
		e, err := parseEntry(name, raw, dataLen)
		if err != nil {
			return nil, nil, err
		}
		ents = append(ents, e)
	}
	slices.SortFunc(ents, storageOrder)
	off := 0
	for _, e := range ents {
		if e.begin != off {
			return nil, nil, corrupt("tensor %q: data_offsets [%d %d] should begin at %d, where the previous tensor ends (tensors are stored contiguously, largest dtype first, then by name)", e.name, e.begin, e.end, off)
		}
		off = e.end
	}
	if off != dataLen {
		return nil, nil, corrupt("data section has %d bytes, tensors cover %d", dataLen, off)
	}
	if canon := appendHeader(nil, meta, ents); !bytes.Equal(canon, header) {
		return nil, nil, corrupt("header is not in canonical form at byte %d: edited or corrupted", 8+mismatchAt(canon, header))
	}
	return meta, ents, nil
}

// finish verifies the checksum of data and builds the File; alias lets the
// tensors share data's memory.
func finish(meta map[string]string, ents []entry, data []byte, alias bool) (*File, string, error) {
	want := meta[keyChecksum]
	if got := checksum(meta, ents, [][]byte{data}); got != want {
		return nil, "", corrupt("checksum mismatch: header says %s, content hashes to %s: file corrupted", want, got)
	}

	f := &File{Meta: make(map[string]string, len(meta)), Tensors: make([]Tensor, len(ents))}
	for k, v := range meta {
		switch k {
		case keyFormat, keyVersion, keyChecksum:
		default:
			f.Meta[k] = v
		}
	}
	for i, e := range ents {
		t := Tensor{Name: e.name, DType: e.dtype, Shape: e.shape}
		raw := data[e.begin:e.end]
		switch e.dtype {
		case F32:
			t.Data = fromBytes[float32](raw, alias)
		case I64:
			t.Int64 = fromBytes[int64](raw, alias)
		case I32:
			t.Int32 = fromBytes[int32](raw, alias)
		case U8:
			t.Uint8 = raw
			if !alias {
				t.Uint8 = bytes.Clone(raw)
			}
		}
		f.Tensors[i] = t
	}
	return f, want, nil
}

// checkVersion accepts exactly the version this build writes.
func checkVersion(meta map[string]string) error {
	v, ok := meta[keyVersion]
	if !ok {
		return corrupt("__metadata__ has no format_version")
	}
	if v == strconv.Itoa(FormatVersion) {
		return nil
	}
	if n, err := strconv.Atoi(v); err == nil && n > FormatVersion {
		return &fileError{ErrVersion, fmt.Sprintf("format_version %d is newer than this build of dcrnn reads (%d): upgrade dcrnn", n, FormatVersion)}
	}
	return &fileError{ErrVersion, fmt.Sprintf("unknown format_version %q (this build reads %d)", v, FormatVersion)}
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// parseEntry parses and checks one tensor entry against a data section of
// dataLen bytes.
func parseEntry(name string, raw json.RawMessage, dataLen int) (entry, error) {
	var info rawInfo
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&info); err != nil {
		return entry{}, corrupt("tensor %q: %v", name, err)
	}
	if info.Shape == nil || info.DataOffsets == nil || info.DType == "" {
		return entry{}, corrupt("tensor %q: want dtype, shape and data_offsets", name)
	}
	dt := DType(info.DType)
	size := dt.size()
	if size == 0 {
		return entry{}, corrupt("tensor %q: unsupported dtype %q (want F32, I64, I32 or U8)", name, info.DType)
	}
	shape := make([]int, len(*info.Shape))
	for i, d := range *info.Shape {
		if d < 0 || d > int64(maxInt) {
			return entry{}, corrupt("tensor %q: bad dimension %d in shape %v", name, d, *info.Shape)
		}
		shape[i] = int(d)
	}
	num, err := numElements(shape, maxInt/size)
	if err != nil {
		return entry{}, corrupt("tensor %q: %v", name, err)
	}
	offs := *info.DataOffsets
	if len(offs) != 2 {
		return entry{}, corrupt("tensor %q: data_offsets %v, want [begin, end]", name, offs)
	}
	if offs[0] > offs[1] {
		return entry{}, corrupt("tensor %q: data_offsets %v end before they begin", name, offs)
	}
	if offs[1] > uint64(dataLen) {
		return entry{}, corrupt("tensor %q: data_offsets %v beyond data section of %d bytes: file truncated?", name, offs, dataLen)
	}
	begin, end := int(offs[0]), int(offs[1])
	if end-begin != num*size {
		return entry{}, corrupt("tensor %q: data_offsets %v hold %d bytes, dtype %s shape %v needs %d", name, offs, end-begin, dt, shape, num*size)
	}
	return entry{name: name, dtype: dt, shape: shape, begin: begin, end: end}, nil
}

// mismatchAt returns the first index where a and b differ.
func mismatchAt(a, b []byte) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}
