//go:build !unix

package quant

import "time"

// processCPUTime is unavailable here; benchmarks then report wall-clock figures only.
func processCPUTime() (time.Duration, bool) { return 0, false }
