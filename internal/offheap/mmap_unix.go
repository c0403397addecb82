//go:build unix

package offheap

import "syscall"

// mapsHere reports that mapZero can map memory here.
const mapsHere = true

// mapZero maps size bytes of private anonymous memory: zero pages that
// become resident when first written.
func mapZero(size int) ([]byte, bool) {
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil || len(b) != size {
		return nil, false
	}
	return b, true
}

// unmapZero returns a mapping made by mapZero. An error would mean it is
// already gone; there is nothing left to do then.
func unmapZero(b []byte) { _ = syscall.Munmap(b) }
