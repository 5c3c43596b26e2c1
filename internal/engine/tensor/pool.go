package tensor

import (
	"math/bits"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// Activation buffers are recycled through size-classed pools: a UNet step
// allocates gigabytes of short-lived activations, and fresh memory costs a
// page fault and zeroing per page, which measured as much as the operation
// that fills it. Buffers below minPooled floats are left to the allocator.
const minPooled = 4096

// bufferPools[c] holds *[]float32 with capacity exactly 1<<c. Like gemm's
// scratch pool this is a process-wide cache, safe for concurrent use, that
// the garbage collector may empty at any time. It sits behind a pointer so
// TrimPooled can swap in empty pools while other goroutines use the old.
var bufferPools atomic.Pointer[[poolClasses]sync.Pool]

const poolClasses = 40

func init() { bufferPools.Store(new([poolClasses]sync.Pool)) }

// TrimPooled drops every recycled buffer and collects. Call it
// between phases whose activations differ in size (the denoising loop, then
// the VAE decode): a sync.Pool keeps its buffers across one collection, and
// because pooled buffers are reachable the collector's heap goal (twice the
// live heap) counts them twice, so a decode following a CFG step ran on top
// of ~750 MB of the step's buffers (peak RSS 3.97 GB against 2.45 GB after a
// guidance-0 step; docs/performance.md). It costs two collections of a heap
// whose large weights live off it, and the next phase's first page faults.
//
// Two collections: the runtime keeps a pool's contents as its victim cache
// through the collection after they were pooled, even once the pool itself
// is swapped out here, so after one the buffers were still live and the
// next phase's heap goal doubled them (a queue's VAE load after Denoise grew
// the heap to 1.0 GB: 3.16 GB peak RSS). The first collection is of a heap of
// pointer-free buffers, a few milliseconds.
func TrimPooled() {
	bufferPools.Store(new([poolClasses]sync.Pool))
	runtime.GC()
	debug.FreeOSMemory()
}

// getBuffer returns a slice of length n with unspecified contents.
func getBuffer(n int) []float32 {
	if n < minPooled {
		return make([]float32, n)
	}
	c := bits.Len(uint(n - 1))
	if c >= poolClasses {
		return make([]float32, n)
	}
	if v := bufferPools.Load()[c].Get(); v != nil {
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
	pools := bufferPools.Load()
	if class >= len(pools) {
		return
	}
	b = b[:0]
	pools[class].Put(&b)
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

// LimitHeap drops the pooled buffers, collects, and sets the Go runtime's
// soft memory limit to the live heap plus extra bytes (plus a margin for the runtime's own structures) for a
// phase that will hold about extra bytes of activations, unless a lower
// limit is already set; the returned function restores the previous one.
//
// Why: the activations are large pointer-free buffers and the big weights
// live off the heap, so with GOGC=100 the collector lets the heap reach
// twice the last live size, and for a VAE decode at 512² that slack was
// ~1 GB of a 3.9 GB peak. A limit near what the phase needs makes the
// collector run early instead; collecting a heap of pointer-free buffers
// is cheap. Measured on SD-1.5 bf16 512² (docs/performance.md): a limit
// above the live set costs nothing, one below it (256 MiB) made the run
// 50 % slower, so callers give a generous extra. Phases run one at a time
// (one queue item runs at a time); a nested call only lowers the limit
// further while it runs.
func LimitHeap(extra int64) (restore func()) {
	if extra <= 0 {
		return func() {}
	}
	// The live size the runtime reports is that of its last collection,
	// which may have run mid-way through the previous phase (in the server
	// the heap a decode started from read 700 MB for 330 MB live): trimming
	// first measures the phase's real starting point.
	TrimPooled()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	var live int64
	if s[0].Value.Kind() == metrics.KindUint64 {
		live = int64(s[0].Value.Uint64())
	}
	const margin = 64 << 20
	prev := debug.SetMemoryLimit(-1)
	if want := live + extra + margin; extra > 0 && want < prev {
		debug.SetMemoryLimit(want)
		return func() { debug.SetMemoryLimit(prev) }
	}
	return func() {}
}
