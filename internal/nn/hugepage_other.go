//go:build !linux

package nn

// adviseHugePages is a no-op outside Linux.
func adviseHugePages(w []float32) {}
