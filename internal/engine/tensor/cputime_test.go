//go:build unix

package tensor

import "syscall"

// cpuTime is the process's user+system CPU seconds, for benchmarks on a shared machine.
func cpuTime() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
