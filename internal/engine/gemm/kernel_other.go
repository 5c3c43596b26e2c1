//go:build !amd64

package gemm

// archKernels returns no assembly kernels: other architectures use the portable one.
func archKernels() []*microKernel[float32] { return nil }

// archBF16Kernels returns no assembly bfloat16 kernels.
func archBF16Kernels() []*microKernel[uint32] { return nil }

func transposeArch(dst []float32, stride int, src []float32, ld, rows, cols int) int { return 0 }
