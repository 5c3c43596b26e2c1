package tensor

import (
	"math"
	"runtime/debug"
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
