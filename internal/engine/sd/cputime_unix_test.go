//go:build unix

package sd

import (
	"syscall"
	"time"
)

// processCPUTime is the user+system CPU time consumed so far; benchmarks
// report it because wall time is unreliable on a shared machine.
func processCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
