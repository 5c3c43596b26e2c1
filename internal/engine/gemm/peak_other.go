//go:build !amd64

package gemm

// peakLoops has no register-only loops off amd64: peaks are not measured there.
func peakLoops() (fp32, bf16 func(int), fp32Flops, bf16Flops float64) { return }

func isaFeatures() []string { return nil }

// peakAMXLoop returns no loop: AMX exists only on amd64.
func peakAMXLoop() (func(int), float64) { return nil, 0 }
