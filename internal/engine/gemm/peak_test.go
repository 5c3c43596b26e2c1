package gemm

import (
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/cpu"
)

// TestMeasurePeaks checks that the loops run and report a rate for what the
// CPU has; no rate bound is asserted (the machine may be busy).
func TestMeasurePeaks(t *testing.T) {
	p := MeasurePeaks(20 * time.Millisecond)
	t.Logf("ISA %v: fp32 %.0f, bf16 %.0f, AMX %.0f GFLOP per CPU-second", p.ISA, p.FP32, p.BF16, p.AMX)
	fp32, bf16, _, _ := peakLoops()
	if (fp32 != nil) != (p.FP32 > 0) {
		t.Errorf("fp32 loop present %v, rate %v", fp32 != nil, p.FP32)
	}
	if (bf16 != nil) != (p.BF16 > 0) {
		t.Errorf("bf16 loop present %v, rate %v", bf16 != nil, p.BF16)
	}
	if amx, _ := peakAMXLoop(); (amx != nil) != (p.AMX > 0) {
		t.Errorf("AMX loop present %v, rate %v", amx != nil, p.AMX)
	}
	if cpu.X86.HasAVX512BF16 != slices.Contains(p.ISA, "AVX-512-BF16") {
		t.Errorf("ISA %v disagrees with cpu.X86.HasAVX512BF16 %v", p.ISA, cpu.X86.HasAVX512BF16)
	}
}
