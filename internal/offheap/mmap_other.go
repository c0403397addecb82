//go:build !unix

package offheap

// mapsHere reports that mapZero can map memory here.
const mapsHere = false

// mapZero is not available here: Make falls back to make.
func mapZero(int) ([]byte, bool) { return nil, false }

func unmapZero([]byte) {}
