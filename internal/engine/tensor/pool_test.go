package tensor

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
)

func TestTrimPooledDropsRecycledBuffers(t *testing.T) {
	for range 20 {
		a := Empty(1 << 16)
		p := &a.Data[:1][0]
		a.Release()
		TrimPooled()
		b := Empty(1 << 16)
		if &b.Data[:1][0] == p {
			t.Fatal("a buffer released before TrimPooled came back from the pool after it")
		}
		b.Release()
	}
}

func TestLimitHeapLowersAndRestores(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(prev)
	debug.SetMemoryLimit(math.MaxInt64)

	restore := LimitHeap(256 << 20)
	got := debug.SetMemoryLimit(-1)
	if got == math.MaxInt64 || got < 256<<20 {
		t.Fatalf("limit while a 256 MiB phase runs = %d, want the live heap + 256 MiB + margin", got)
	}
	// A nested phase needing more does not raise it.
	inner := LimitHeap(1 << 40)
	if l := debug.SetMemoryLimit(-1); l != got {
		t.Fatalf("nested larger phase changed the limit %d -> %d", got, l)
	}
	inner()
	restore()
	if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
		t.Fatalf("limit after restore = %d, want the previous (no limit)", l)
	}
	// Nothing to hold: no limit.
	LimitHeap(0)()
	if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
		t.Fatalf("LimitHeap(0) set a limit %d", l)
	}
}

// TrimPooled must leave the dropped buffers unreachable by the time it
// returns: the runtime keeps a swapped-out sync.Pool's contents as its
// victim cache through the next collection, so one collection left them
// live, and the phase after (a queue's VAE load, with no heap limit) grew
// the heap to twice that live size.
func TestTrimPooledFreesRecycledBuffers(t *testing.T) {
	const n = 1 << 24 // 64 MiB
	TrimPooled()
	runtime.GC()
	runtime.GC()
	before := liveHeap()
	a := Empty(n)
	a.Release()
	TrimPooled()
	if after := liveHeap(); after > before+(16<<20) {
		t.Fatalf("live heap %d MiB after TrimPooled, %d MiB before a 64 MiB buffer was pooled: the pool still holds it", after>>20, before>>20)
	}
}

func liveHeap() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}
