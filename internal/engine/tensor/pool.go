package tensor

import (
	"math/bits"
	"sync"
)

// Activation buffers are recycled through size-classed pools: a UNet step
// allocates gigabytes of short-lived activations, and fresh memory costs a
// page fault and zeroing per page, which measured as much as the operation
// that fills it. Buffers below minPooled floats are left to the allocator.
const minPooled = 4096

// bufferPools[c] holds *[]float32 with capacity exactly 1<<c. Like gemm's
// scratch pool this is a process-wide cache, safe for concurrent use, that
// the garbage collector may empty at any time.
var bufferPools [40]sync.Pool

// getBuffer returns a slice of length n with unspecified contents.
func getBuffer(n int) []float32 {
	if n < minPooled {
		return make([]float32, n)
	}
	c := bits.Len(uint(n - 1))
	if c >= len(bufferPools) {
		return make([]float32, n)
	}
	if v := bufferPools[c].Get(); v != nil {
		return (*v.(*[]float32))[:n]
	}
	return make([]float32, n, 1<<c)
}

// putBuffer recycles a slice obtained from getBuffer; others are ignored.
func putBuffer(b []float32) {
	c := cap(b)
	if c < minPooled || c&(c-1) != 0 {
		return
	}
	class := bits.Len(uint(c - 1))
	if class >= len(bufferPools) {
		return
	}
	b = b[:0]
	bufferPools[class].Put(&b)
}

// Empty returns a tensor whose contents are unspecified (possibly recycled);
// use it for outputs that are fully overwritten.
func Empty(shape ...int) *Tensor {
	return &Tensor{Shape: append([]int(nil), shape...), Data: getBuffer(NumElements(shape))}
}

// Release hands t's storage back for reuse; t must not be used afterwards,
// and no other tensor may share its data. Releasing is optional: unreleased
// tensors are simply garbage collected.
func (t *Tensor) Release() {
	if t == nil {
		return
	}
	putBuffer(t.Data)
	t.Data = nil
}
