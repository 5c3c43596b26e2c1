package gemm

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// Packed weights live outside the Go heap: they are most of a model's
// memory and live as long as the model, and on the heap they would count
// towards the collector's target, which lets the heap grow to twice the
// live data (GOGC=100) before collecting the activations a step leaves
// behind. Off the heap, a bf16 SD-1.5 pipeline's peak RSS is its weights
// plus about twice its activations instead of twice both. The mapping is
// returned to the kernel when the packed matrix that owns it is collected
// (runtime.AddCleanup); entry points that read the panels keep their
// owner alive until they return (runtime.KeepAlive).

// residentFloats returns n zeroed floats for packed weights, page-aligned,
// in an anonymous mapping (returned as mem for releaseWith), or on the
// heap (mem nil) if the mapping fails.
func residentFloats(n int) (floats []float32, mem []byte) {
	if n == 0 {
		return nil, nil
	}
	b, err := unix.Mmap(-1, 0, 4*n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return alignedFloats(n), nil
	}
	return asFloatsOf(b)[:n:n], b
}

// releaseWith unmaps mem once owner is unreachable.
func releaseWith[T any](owner *T, mem []byte) {
	if mem != nil {
		runtime.AddCleanup(owner, func(m []byte) { _ = unix.Munmap(m) }, mem)
	}
}
