//go:build amd64

package gemm

import "golang.org/x/sys/cpu"

// Register-only multiply-add loops (peak_amd64.s); iters ≥ 1.

//go:noescape
func peakFMA512(iters int)

//go:noescape
func peakFMA256(iters int)

//go:noescape
func peakBF16(iters int)

// peakLoops returns the loops this CPU can run with the floating-point
// operations one iteration performs (an FMA lane counts 2, a VDPBF16PS lane 4).
func peakLoops() (fp32, bf16 func(int), fp32Flops, bf16Flops float64) {
	switch {
	case cpu.X86.HasAVX512F:
		fp32, fp32Flops = peakFMA512, 16*16*2
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		fp32, fp32Flops = peakFMA256, 14*8*2
	}
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512BF16 {
		bf16, bf16Flops = peakBF16, 16*16*4
	}
	return
}

// isaFeatures lists the instruction-set extensions the kernels care about.
func isaFeatures() []string {
	var f []string
	add := func(ok bool, name string) {
		if ok {
			f = append(f, name)
		}
	}
	add(cpu.X86.HasAVX2 && cpu.X86.HasFMA, "AVX2")
	add(cpu.X86.HasAVX512F, "AVX-512")
	add(cpu.X86.HasAVX512BF16, "AVX-512-BF16")
	add(cpu.X86.HasAMXBF16 && cpu.X86.HasAMXTile, "AMX-BF16")
	return f
}
