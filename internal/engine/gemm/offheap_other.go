//go:build !linux

package gemm

// residentFloats allocates packed weights on the heap where no anonymous
// mapping is used (see offheap_linux.go).
func residentFloats(n int) (floats []float32, mem []byte) { return alignedFloats(n), nil }

// releaseWith has nothing to release off Linux.
func releaseWith[T any](owner *T, mem []byte) {}
