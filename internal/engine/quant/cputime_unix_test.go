//go:build unix

package quant

import (
	"syscall"
	"time"
)

// processCPUTime returns the user+system CPU time this process has used, so
// benchmarks can report throughput per CPU-second next to wall-clock
// throughput: on a shared machine the former shows kernel efficiency even
// when other processes take turns on the cores.
func processCPUTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
