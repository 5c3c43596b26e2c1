//go:build !linux

package gemm

import "time"

// threadCPUTime is unavailable here: peaks are not measured.
func threadCPUTime() (time.Duration, bool) { return 0, false }
