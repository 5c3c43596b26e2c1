package gemm

import (
	"runtime"
	"time"
)

// Peaks is the arithmetic peak of one thread of this CPU, measured at run
// time with register-only multiply-add loops (no constant tables: the same
// binary meets many CPUs). Figures are GFLOP per CPU-second of the measuring
// thread, so a loaded machine lowers them less than it lowers wall-clock
// rates; a product's efficiency is its GFLOP per CPU-second over these.
type Peaks struct {
	ISA  []string // instruction-set extensions detected: AVX2, AVX-512, AVX-512-BF16, AMX-BF16
	FP32 float64  // fp32 FMA peak; 0 where no loop exists for the CPU
	BF16 float64  // VDPBF16PS peak; 0 without AVX-512-BF16
	AMX  float64  // TDPBF16PS peak; 0 where the AMX kernel is not used
}

// MeasurePeaks runs each loop on a locked OS thread for about d of CPU time
// (a few tries, best kept) and returns the rates.
func MeasurePeaks(d time.Duration) Peaks {
	fp32, bf16, fp32Flops, bf16Flops := peakLoops()
	p := Peaks{ISA: isaFeatures()}
	if fp32 != nil {
		p.FP32 = measureLoop(fp32, fp32Flops, d)
	}
	if bf16 != nil {
		p.BF16 = measureLoop(bf16, bf16Flops, d)
	}
	if amx, amxFlops := peakAMXLoop(); amx != nil {
		p.AMX = measureLoop(amx, amxFlops, d)
	}
	return p
}

// measureLoop returns the best GFLOP per CPU-second of loop over five tries
// of about d/5 each; the iteration count is calibrated on a first short run.
func measureLoop(loop func(int), flopsPerIter float64, d time.Duration) float64 {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	iters := 1 << 14
	for {
		t0, ok := threadCPUTime()
		if !ok {
			return 0
		}
		loop(iters)
		t1, _ := threadCPUTime()
		if t1-t0 >= time.Millisecond || iters >= 1<<30 {
			el := max(t1-t0, time.Microsecond)
			iters = max(1, int(float64(iters)*float64(d/5)/float64(el)))
			break
		}
		iters *= 4
	}
	best := 0.0
	for range 5 {
		t0, _ := threadCPUTime()
		loop(iters)
		t1, _ := threadCPUTime()
		if el := (t1 - t0).Seconds(); el > 0 {
			best = max(best, float64(iters)*flopsPerIter/el/1e9)
		}
	}
	return best
}
