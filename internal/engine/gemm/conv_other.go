//go:build !amd64

package gemm

// gather12 has no portable fast path; convOperand.pack falls back to Go.
func gather12(dst, src []float32, offs []int32) bool { return false }

// gatherSegs has no portable fast path either.
func gatherSegs(dst, src []float32, offs []int32, segs []convCopy) bool { return false }
