package gemm

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestPackedOffHeapLifetime multiplies with packed matrices that nothing
// else references while collections run concurrently: their off-heap
// panels must stay mapped for the whole call (and be released after,
// which the collector's cleanups do without the test seeing it). Results
// are checked against Sgemm.
func TestPackedOffHeapLifetime(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	const m, n, k = 64, 96, 200
	a := randomMatrix(rng, m, k)
	w := randomMatrix(rng, n, k)
	want := make([]float32, m*n)
	Sgemm(false, true, m, n, k, 1, a, k, w, k, 0, want, n)
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		for !stop.Load() {
			runtime.GC()
		}
	})
	got := make([]float32, m*n)
	for range 40 {
		SgemmPacked(m, a, k, PackB(true, k, n, w, k), got, n, false)
		for i := range want {
			if got[i] != want[i] {
				stop.Store(true)
				wg.Wait()
				t.Fatalf("packed product differs at %d: %v vs %v", i, got[i], want[i])
			}
		}
		SgemmPackedBF16(m, a, k, PackBBF16(true, k, n, w, k), got, n, false)
	}
	stop.Store(true)
	wg.Wait()
}
