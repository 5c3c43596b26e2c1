//go:build amd64

package gemm

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// amxKernel32x32 is the AMX micro-kernel (amx_amd64.s), the body of
// amxKernel: C (32×32 at c, ldc) is loaded (accumulate) or zeroed, chunks
// full chunks of a and b (2048 bytes each) and, if aTail is not nil, one
// padded chunk from aTail and bTail are multiplied into it, and it is
// stored back.
//
//go:noescape
func amxKernel32x32(cfg *amxTileConfig, chunks int, a, b, aTail, bTail *uint32, c *float32, ldc int, accumulate bool)

// peakAMX runs iters × 6 TDPBF16PS on registers only (MeasurePeaks).
//
//go:noescape
func peakAMX(cfg *amxTileConfig, iters int)

// amxEncodingTable holds one of each AMX instruction form; it is never
// called, TestAMXEncodings reads its bytes (via amxCodeAddrs).
//
//lint:ignore U1000 read as machine code, not called
func amxEncodingTable()

// amxCodeAddrs returns where the machine code of amxEncodingTable,
// amxKernel32x32 and peakAMX starts (for tests that read it back).
func amxCodeAddrs() (table, kernel, peak unsafe.Pointer)

func amxCPUID(leaf, sub uint32) (eax, ebx, ecx, edx uint32)

func amxXCR0() uint64

// amxAsmBody adapts amxKernel32x32 to amxBody.
func amxAsmBody(cfg *amxTileConfig, steps int, a, b []uint32, c []float32, ldc int, accumulate bool) {
	_ = c[(amxMR-1)*ldc+amxNR-1]
	chunks := steps / amxChunkSteps
	if chunks*amxChunkSteps != steps {
		amxAsmBodyTail(cfg, steps, a, b, c, ldc, accumulate)
		return
	}
	_, _ = a[chunks*amxChunkWords-1], b[chunks*amxChunkWords-1]
	amxKernel32x32(cfg, chunks, &a[0], &b[0], nil, nil, &c[0], ldc, accumulate)
}

// amxAsmBodyTail is amxAsmBody where steps leaves a short last chunk: it
// pads it on its own stack (amxTail), so calls without one zero nothing.
func amxAsmBodyTail(cfg *amxTileConfig, steps int, a, b []uint32, c []float32, ldc int, accumulate bool) {
	var ta, tb [amxChunkWords]uint32
	chunks := amxTail(&ta, &tb, a, b, steps)
	var pa, pb *uint32
	if chunks > 0 {
		_, _ = a[chunks*amxChunkWords-1], b[chunks*amxChunkWords-1]
		pa, pb = &a[0], &b[0]
	}
	amxKernel32x32(cfg, chunks, pa, pb, &ta[0], &tb[0], &c[0], ldc, accumulate)
}

// amxKernel is the AMX-BF16 kernel; it runs only where usableAMX allows.
var amxKernel = newAMXKernel(amxKernelName, amxAsmBody, transposeAVX2, convertAVX, amxRowPairs)

//go:noescape
func amxReorderChunksAVX512(dst, src *uint32, chunks int)

// amxReorderChunks reorders full chunks of a staged A panel into the AMX
// layout (amxReorderChunksGo), sixteen words a move where the CPU has
// AVX-512.
func amxReorderChunks(dst, pairs []uint32, chunks int) {
	if chunks < 1 {
		return
	}
	if !cpu.X86.HasAVX512F {
		amxReorderChunksGo(dst, pairs, chunks)
		return
	}
	_, _ = dst[chunks*amxChunkWords-1], pairs[chunks*amxChunkWords-1]
	amxReorderChunksAVX512(&dst[0], &pairs[0], chunks)
}

// amxRowPairs implements rowPairsFunc with convertRowsAVX512 (AVX-512F,
// which every AMX CPU has; checked so that the emulated tests run anywhere).
func amxRowPairs(dst []uint32, src []float32, ld, rows, pairs int) bool {
	if !cpu.X86.HasAVX512F || rows < 1 || pairs < 8 || pairs%8 != 0 {
		return false
	}
	_, _ = dst[rows*pairs-1], src[(rows-1)*ld+2*pairs-1]
	convertRowsAVX512(&dst[0], &src[0], ld, rows, pairs)
	return true
}

// EnvAMX names the environment variable that, set to "off", keeps bf16
// products off the AMX tiles (the AVX-512-BF16 kernel runs them instead),
// for comparisons and as a way out should the AMX kernel misbehave on a CPU
// it was not tried on.
const EnvAMX = "INVOKEGO_AMX"

// usableAMX is amxKernel where this process may run it, chosen once: the
// CPU and OS support AMX-BF16, Linux grants the tile state and the kernel
// passes its self-check; nil otherwise (the AVX-512-BF16 kernel is used).
var usableAMX = sync.OnceValue(func() *microKernel[uint32] {
	if v := os.Getenv(EnvAMX); v == "off" {
		slog.Info("gemm: AMX switched off", "env", EnvAMX+"="+v)
		return nil
	}
	k, err := chooseAMX(hostAMX{}, amxKernel, selfCheckBF16, slog.Default())
	if err != nil {
		slog.Debug("gemm: AMX not used", "reason", err)
		return nil
	}
	slog.Info("gemm: using AMX-BF16 tiles for bf16 products")
	return k
})

// hostAMX is this machine as an amxPlatform.
type hostAMX struct{}

// Support checks CPUID.(EAX=7,ECX=0):EDX bits 22 (AMX-BF16) and 24
// (AMX-TILE), that the OS enabled the tile state in XCR0 (bits 17
// XTILECFG and 18 XTILEDATA, read with XGETBV, which OSXSAVE allows), and
// that palette 1 (CPUID leaf 0x1D) offers 8 tiles of 16 rows × 64 bytes.
func (hostAMX) Support() error {
	if !cpu.X86.HasAMXBF16 || !cpu.X86.HasAMXTile {
		return errors.New("the CPU has no AMX-BF16")
	}
	if !cpu.X86.HasOSXSAVE {
		return errors.New("the OS has not enabled XSAVE")
	}
	if xcr0 := amxXCR0(); xcr0&(3<<17) != 3<<17 {
		return fmt.Errorf("the OS has not enabled the tile state (XCR0 %#x)", xcr0)
	}
	if maxLeaf, _, _, _ := amxCPUID(0, 0); maxLeaf < 0x1d {
		return fmt.Errorf("CPUID leaf 0x1d (tile palettes) missing, max leaf %#x", maxLeaf)
	}
	eax, ebx, ecx, _ := amxCPUID(0x1d, 1)
	names, rowBytes, rows := ebx>>16, ebx&0xffff, ecx&0xffff
	if names < 8 || rowBytes < amxTileRowSize || rows < amxTileRows {
		return fmt.Errorf("tile palette 1 too small: %d tiles of %d rows × %d bytes (eax %#x)", names, rows, rowBytes, eax)
	}
	return nil
}

// RequestPermission asks the OS for the tile data state (amx_linux_amd64.go).
func (hostAMX) RequestPermission() error { return requestAMXPermission() }

// peakAMXLoop returns the register-only TDPBF16PS loop and its flops per
// iteration (6 × 16 rows × 16 columns × 32 products × 2), or nil where AMX
// is not usable.
func peakAMXLoop() (func(int), float64) {
	if usableAMX() == nil {
		return nil, 0
	}
	cfg := newAMXTileConfig()
	return func(iters int) { peakAMX(cfg, iters) }, 6 * 16 * 16 * 32 * 2
}
