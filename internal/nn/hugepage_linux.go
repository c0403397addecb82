package nn

import (
	"syscall"
	"unsafe"
)

// adviseHugePages asks the kernel to back w with transparent huge pages
// (when the system allows it on request). Embedding tables are read and
// written at random rows, so with 4 KiB pages almost every row access misses
// the TLB; with 2 MiB pages it mostly does not. Call it before the memory is
// first written. Failure is harmless and ignored.
func adviseHugePages(w []float32) {
	const huge = 2 << 20
	if len(w)*4 < 2*huge {
		return
	}
	p := uintptr(unsafe.Pointer(&w[0]))
	end := p + uintptr(len(w))*4
	lo := (p + huge - 1) &^ (huge - 1)
	hi := end &^ (huge - 1)
	if hi <= lo {
		return
	}
	b := unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(&w[0]), lo-p)), hi-lo)
	_ = syscall.Madvise(b, 14 /* MADV_HUGEPAGE */)
}
