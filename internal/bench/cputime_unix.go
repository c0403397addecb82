//go:build unix

package bench

import (
	"syscall"
	"time"
)

// CPUTime returns the user+system CPU time the process has used so far (all
// its threads), or 0 where it is not measured.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
