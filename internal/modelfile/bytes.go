package modelfile

import (
	"encoding/binary"
	"math"
	"unsafe"
)

// littleEndian reports whether the machine stores integers little-endian, as
// the file does; then tensor bytes are written and read without conversion.
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

type element interface{ float32 | int32 | int64 }

// rawBytes returns the little-endian bytes of s: a view of s's memory on
// little-endian machines, a converted copy otherwise.
func rawBytes[T element](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	size := int(unsafe.Sizeof(s[0]))
	if littleEndian {
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*size)
	}
	b := make([]byte, len(s)*size)
	switch v := any(s).(type) {
	case []float32:
		for i, x := range v {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
	case []int32:
		for i, x := range v {
			binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
		}
	case []int64:
		for i, x := range v {
			binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
		}
	}
	return b
}

// fromBytes returns the elements held little-endian in b (len(b) a multiple
// of the element size). With alias set, on a little-endian machine and when
// b is suitably aligned, the result shares b's memory; otherwise it is a copy.
func fromBytes[T element](b []byte, alias bool) []T {
	var zero T
	size := int(unsafe.Sizeof(zero))
	n := len(b) / size
	if n == 0 {
		return []T{}
	}
	p := unsafe.Pointer(unsafe.SliceData(b))
	if littleEndian {
		if alias && uintptr(p)%unsafe.Alignof(zero) == 0 {
			return unsafe.Slice((*T)(p), n)
		}
		out := make([]T, n)
		copy(rawBytes(out), b)
		return out
	}
	out := make([]T, n)
	switch v := any(out).(type) {
	case []float32:
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case []int32:
		for i := range v {
			v[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case []int64:
		for i := range v {
			v[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		}
	}
	return out
}

// tensorBytes returns the little-endian bytes of t's values for dtype dt.
func tensorBytes(t *Tensor, dt DType) []byte {
	switch dt {
	case I64:
		return rawBytes(t.Int64)
	case I32:
		return rawBytes(t.Int32)
	case U8:
		return t.Uint8
	}
	return rawBytes(t.Data)
}
