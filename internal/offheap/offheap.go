package offheap

import (
	"runtime"
	"sync/atomic"
	"unsafe"
)

// MinBytes is the smallest slice Make maps outside the heap; smaller ones
// come from make, where a mapping's page rounding would cost more than the
// collector's headroom saves.
const MinBytes = 256 << 10

// Element is what an off-heap slice may hold: the pointer-free numbers
// of the optimizers' state.
type Element interface {
	~float32 | ~int32
}

// Make returns a zeroed slice of n elements that stays valid while owner
// is reachable. It panics, as make does, if n is negative, and if owner is
// nil. If the system refuses a mapping, Make falls back to make.
func Make[T Element, O any](owner *O, n int) []T {
	if n < 0 {
		panic("offheap: negative length")
	}
	if owner == nil {
		panic("offheap: nil owner")
	}
	elem := int(unsafe.Sizeof(*new(T)))
	if n < MinBytes/elem || n > maxLen/elem {
		return make([]T, n)
	}
	size := n * elem
	b, ok := mapZero(size)
	if !ok {
		return make([]T, n)
	}
	// The cleanup's argument is the mapping itself, never the owner (a
	// cleanup must not keep its owner reachable); the collector does not
	// look inside the mapping.
	runtime.AddCleanup(owner, unmap, b)
	mapped.Add(int64(size))
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), n)
}

// maxLen bounds a mapping's bytes (1 TiB), so that n·size cannot overflow.
const maxLen = 1 << 40

// Mapped is the number of bytes Make holds in mappings now.
func Mapped() int64 { return mapped.Load() }

var mapped atomic.Int64

// unmap releases one mapping made by Make.
func unmap(b []byte) {
	unmapZero(b)
	mapped.Add(-int64(len(b)))
}
