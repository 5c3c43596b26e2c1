package gemm

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"
)

// benchPeaks are this CPU's fp32 FMA and bf16 peaks per CPU-second of one
// thread, measured once per benchmark binary (MeasurePeaks; no constant
// tables), for the percentages printed next to each result.
var benchPeaks = sync.OnceValue(func() Peaks { return MeasurePeaks(500 * time.Millisecond) })

// benchSgemm runs one shape on every available backend and reports GFLOP/s.
func benchSgemm(b *testing.B, transA, transB bool, m, n, k int) {
	rng := rand.New(rand.NewPCG(5, 5))
	aRows, aCols := m, k
	if transA {
		aRows, aCols = k, m
	}
	bRows, bCols := k, n
	if transB {
		bRows, bCols = n, k
	}
	a := randomMatrix(rng, aRows, aCols)
	bm := randomMatrix(rng, bRows, bCols)
	c := make([]float32, m*n)
	for _, kern := range kernels() {
		b.Run(kern.name, func(b *testing.B) {
			measure(b, m, n, k, func() {
				sgemmWith(kern, transA, transB, m, n, k, 1, a, aCols, bm, bCols, 0, c, n)
			})
		})
	}
}

// measure runs op b.N times and reports wall-clock GFLOP/s and its share of
// the two-core peak, plus GFLOP per CPU-second and its share of one core's
// peak: the per-core efficiency, which stays meaningful when other processes
// share the machine.
func measure(b *testing.B, m, n, k int, op func()) {
	measureFlops(b, 2*float64(m)*float64(n)*float64(k), op)
}

func measureFlops(b *testing.B, flopsPerOp float64, op func()) {
	measureFlopsPeak(b, flopsPerOp, benchPeaks().FP32, op)
}

// measureFlopsPeak is measureFlops against a given per-thread peak: %peak
// is the share of it times GOMAXPROCS, %core-peak the share of GFLOP per
// CPU-second in it. Without a measured peak only the rates are reported.
func measureFlopsPeak(b *testing.B, flopsPerOp, corePeak float64, op func()) {
	cpu0, haveCPU := processCPUTime()
	for b.Loop() {
		op()
	}
	flops := flopsPerOp * float64(b.N)
	gflops := flops / b.Elapsed().Seconds() / 1e9
	b.ReportMetric(gflops, "GFLOP/s")
	if corePeak > 0 {
		b.ReportMetric(100*gflops/(corePeak*float64(runtime.GOMAXPROCS(0))), "%peak")
	}
	if cpu1, ok := processCPUTime(); ok && haveCPU && cpu1 > cpu0 {
		perCPU := flops / (cpu1 - cpu0).Seconds() / 1e9
		b.ReportMetric(perCPU, "GFLOP/cpu-s")
		if corePeak > 0 {
			b.ReportMetric(100*perCPU/corePeak, "%core-peak")
		}
	}
}

// Linear / im2col convolution shapes: y = x·Wᵀ with W stored [out, in].
func BenchmarkSgemm_4096x320x2880(b *testing.B) { benchSgemm(b, false, true, 4096, 320, 2880) }
func BenchmarkSgemm_4096x1280x320(b *testing.B) { benchSgemm(b, false, true, 4096, 1280, 320) }
func BenchmarkSgemm_1024x640x5760(b *testing.B) { benchSgemm(b, false, true, 1024, 640, 5760) }
func BenchmarkSgemm_4096x320x320(b *testing.B)  { benchSgemm(b, false, true, 4096, 320, 320) }
func BenchmarkSgemm_77x768x768(b *testing.B)    { benchSgemm(b, false, true, 77, 768, 768) }

// Attention: probabilities·V (8192×4096 · 4096×40) and Q·Kᵀ.
func BenchmarkSgemm_8192x40x4096(b *testing.B) { benchSgemm(b, false, false, 8192, 40, 4096) }
func BenchmarkSgemm_4096x4096x40(b *testing.B) { benchSgemm(b, false, true, 4096, 4096, 40) }

// BenchmarkSgemmPacked_4096x320x2880 measures the pre-packed weight path.
func BenchmarkSgemmPacked_4096x320x2880(b *testing.B) {
	const m, n, k = 4096, 320, 2880
	rng := rand.New(rand.NewPCG(6, 6))
	a := randomMatrix(rng, m, k)
	w := randomMatrix(rng, n, k)
	c := make([]float32, m*n)
	for _, kern := range kernels() {
		b.Run(kern.name, func(b *testing.B) {
			pb := &PackedB{panels: packWhole(kern, true, k, n, w, k)}
			measure(b, m, n, k, func() { SgemmPacked(m, a, k, pb, c, n, false) })
		})
	}
}

// BenchmarkMicroKernel measures one core's in-cache kernel throughput
// (compare %core-peak, the share of the measured single-thread fp32 peak).
func BenchmarkMicroKernel(b *testing.B) {
	for _, kern := range kernels() {
		b.Run(kern.name, func(b *testing.B) {
			kc := kern.kc
			a := alignedFloats(kc * kern.mr)
			bp := alignedFloats(kc * kern.nr)
			c := alignedFloats(kern.mr * kern.nr)
			measureFlops(b, 2*float64(kern.mr*kern.nr*kc), func() { kern.run(kc, a, bp, c, kern.nr, 1) })
		})
	}
}

// benchPackedBF16 measures SgemmPackedBF16 with W stored [n, k] on every
// bfloat16 kernel (GFLOP/s counts 2·m·n·k; %peak is against the measured bf16
// peak for the native kernel, the fp32 one for widening strategies).
func benchPackedBF16(b *testing.B, m, n, k int) {
	rng := rand.New(rand.NewPCG(6, 6))
	a := randomMatrix(rng, m, k)
	w := randomMatrix(rng, n, k)
	c := make([]float32, m*n)
	for _, kern := range bf16Kernels() {
		b.Run(kern.name, func(b *testing.B) {
			if kern.widenTo == genericKernel && m*n*k > 1<<30 {
				b.Skip("portable kernel too slow for this shape")
			}
			pb := &PackedBBF16{panels: packWhole(kern, true, k, n, w, k)}
			measureFlopsPeak(b, 2*float64(m)*float64(n)*float64(k), bf16PeakFor(kern), func() { SgemmPackedBF16(m, a, k, pb, c, n, false) })
		})
	}
}

func BenchmarkSgemmPackedBF16_4096x320x2880(b *testing.B) { benchPackedBF16(b, 4096, 320, 2880) }
func BenchmarkSgemmPackedBF16_4096x1280x320(b *testing.B) { benchPackedBF16(b, 4096, 1280, 320) }
func BenchmarkSgemmPackedBF16_1024x640x5760(b *testing.B) { benchPackedBF16(b, 1024, 640, 5760) }

// BenchmarkMicroKernelBF16 measures one core's in-cache bfloat16 kernel
// throughput (%core-peak is against the measured bf16 peak).
func BenchmarkMicroKernelBF16(b *testing.B) {
	for _, kern := range bf16Kernels() {
		if kern.run == nil {
			continue // widening strategies run the fp32 kernels
		}
		b.Run(kern.name, func(b *testing.B) {
			steps := kern.kc / 2
			a := asElements[uint32](alignedFloats(steps * kern.mr))
			bp := asElements[uint32](alignedFloats(steps * kern.nr))
			c := alignedFloats(kern.mr * kern.nr)
			measureFlopsPeak(b, 4*float64(kern.mr*kern.nr*steps), bf16PeakFor(kern), func() { kern.run(steps, a, bp, c, kern.nr, 1) })
		})
	}
}

// BenchmarkSgemmSmall measures per-call overhead on small products.
func BenchmarkSgemmSmall(b *testing.B) {
	for _, size := range []int{4, 16, 64} {
		rng := rand.New(rand.NewPCG(7, 7))
		a := randomMatrix(rng, size, size)
		w := randomMatrix(rng, size, size)
		c := make([]float32, size*size)
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			b.ReportAllocs()
			measure(b, size, size, size, func() {
				Sgemm(false, true, size, size, size, 1, a, size, w, size, 0, c, size)
			})
		})
	}
}

// bf16PeakFor is the peak a bf16 strategy is measured against: the bf16 dot
// product's for a native kernel, the fp32 FMA's for widening ones.
func bf16PeakFor(kern *microKernel[uint32]) float64 {
	if kern.widenTo == nil {
		return benchPeaks().BF16
	}
	return benchPeaks().FP32
}
