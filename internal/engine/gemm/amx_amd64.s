//go:build amd64

// AMX-BF16 micro-kernel (amx.go has the Go side, docs/kernels.md the
// design). Tiles: 0–3 accumulate the 32×32 fp32 block of C (0 rows 0–15
// cols 0–15, 1 rows 0–15 cols 16–31, 2 rows 16–31 cols 0–15, 3 rows 16–31
// cols 16–31), 4 and 5 hold A's rows 0–15 and 16–31 of one chunk (16 bf16
// pairs of k per row), 6 and 7 B's columns 0–15 and 16–31 of it (16 rows of
// k pairs). All eight are 16 rows × 64 bytes (amxTileConfig).
//
// The whole life of the tile state (LDTILECFG … TILERELEASE) is inside one
// assembly call: Go never preempts assembly asynchronously, so the call
// runs on one OS thread from start to end, and the kernel saves and
// restores the tile registers with the rest of the XSAVE state across
// signals and context switches (docs/kernels.md).

#include "textflag.h"
#include "amx_amd64.h"

// CHUNK multiplies one chunk: SI points at A's 2048-byte chunk (32 rows ×
// 64 bytes), R8 at B's (16 rows × 128 bytes); R10 = 64 and R11 = 128 are
// their row strides.
#define CHUNK \
	TILELOADD(4, amxSI, amxR10) \
	TILELOADD_D32(5, amxSI, amxR10, 1024) \
	TILELOADD(6, amxR8, amxR11) \
	TILELOADD_D8(7, amxR8, amxR11, 64) \
	TDPBF16PS(0, 4, 6) \
	TDPBF16PS(1, 4, 7) \
	TDPBF16PS(2, 5, 6) \
	TDPBF16PS(3, 5, 7)

// func amxKernel32x32(cfg *amxTileConfig, chunks int, a, b, aTail, bTail *uint32, c *float32, ldc int, accumulate bool)
TEXT ·amxKernel32x32(SB), NOSPLIT, $0-65
	MOVQ cfg+0(FP), AX
	LDTILECFG_AX
	MOVQ c+48(FP), DI
	MOVQ ldc+56(FP), DX
	SHLQ $2, DX
	MOVQ DX, R9
	SHLQ $4, R9
	ADDQ DI, R9 // row 16 of C
	MOVBLZX accumulate+64(FP), BX
	TESTQ BX, BX
	JZ zero
	TILELOADD(0, amxDI, amxDX)
	TILELOADD_D8(1, amxDI, amxDX, 64)
	TILELOADD(2, amxR9, amxDX)
	TILELOADD_D8(3, amxR9, amxDX, 64)
	JMP start

zero:
	TILEZERO(0)
	TILEZERO(1)
	TILEZERO(2)
	TILEZERO(3)

start:
	MOVQ a+16(FP), SI
	MOVQ b+24(FP), R8
	MOVQ $64, R10
	MOVQ $128, R11
	MOVQ chunks+8(FP), CX
	TESTQ CX, CX
	JZ tail

loop:
	CHUNK
	ADDQ $2048, SI
	ADDQ $2048, R8
	DECQ CX
	JNZ loop

tail:
	MOVQ aTail+32(FP), SI
	TESTQ SI, SI
	JZ store
	MOVQ bTail+40(FP), R8
	CHUNK

store:
	TILESTORED(0, amxDI, amxDX)
	TILESTORED_D8(1, amxDI, amxDX, 64)
	TILESTORED(2, amxR9, amxDX)
	TILESTORED_D8(3, amxR9, amxDX, 64)
	TILERELEASE
	RET

// func peakAMX(cfg *amxTileConfig, iters int)
// Register-only TDPBF16PS loop for MeasurePeaks: six accumulators (tiles
// 0–5) against zeroed tiles 6 and 7, six instructions an iteration.
TEXT ·peakAMX(SB), NOSPLIT, $0-16
	MOVQ cfg+0(FP), AX
	LDTILECFG_AX
	MOVQ iters+8(FP), CX
	TILEZERO(0)
	TILEZERO(1)
	TILEZERO(2)
	TILEZERO(3)
	TILEZERO(4)
	TILEZERO(5)
	TILEZERO(6)
	TILEZERO(7)

peakloop:
	TDPBF16PS(0, 6, 7)
	TDPBF16PS(1, 6, 7)
	TDPBF16PS(2, 6, 7)
	TDPBF16PS(3, 6, 7)
	TDPBF16PS(4, 6, 7)
	TDPBF16PS(5, 6, 7)
	DECQ CX
	JNZ peakloop
	TILERELEASE
	RET

// func amxEncodingTable()
// Never called: one of each AMX instruction form used above, in the order
// of testdata/amx_encodings.S, so that TestAMXEncodings can compare these
// bytes (read from the test binary) with GNU as's.
TEXT ·amxEncodingTable(SB), NOSPLIT, $0-0
	LDTILECFG_AX
	STTILECFG_AX
	TILERELEASE
	TILEZERO(0)
	TILEZERO(1)
	TILEZERO(2)
	TILEZERO(3)
	TILEZERO(4)
	TILEZERO(5)
	TILEZERO(6)
	TILEZERO(7)
	TILELOADD(0, amxDI, amxDX)
	TILELOADD_D8(1, amxDI, amxDX, 64)
	TILELOADD(2, amxR9, amxDX)
	TILELOADD_D8(3, amxR9, amxDX, 64)
	TILELOADD(4, amxSI, amxR10)
	TILELOADD_D32(5, amxSI, amxR10, 1024)
	TILELOADD(6, amxR8, amxR11)
	TILELOADD_D8(7, amxR8, amxR11, 64)
	TDPBF16PS(0, 4, 6)
	TDPBF16PS(1, 4, 7)
	TDPBF16PS(2, 5, 6)
	TDPBF16PS(3, 5, 7)
	TDPBF16PS(0, 6, 7)
	TDPBF16PS(1, 6, 7)
	TDPBF16PS(2, 6, 7)
	TDPBF16PS(3, 6, 7)
	TDPBF16PS(4, 6, 7)
	TDPBF16PS(5, 6, 7)
	TILESTORED(0, amxDI, amxDX)
	TILESTORED_D8(1, amxDI, amxDX, 64)
	TILESTORED(2, amxR9, amxDX)
	TILESTORED_D8(3, amxR9, amxDX, 64)
	RET

// func amxCPUID(leaf, sub uint32) (eax, ebx, ecx, edx uint32)
TEXT ·amxCPUID(SB), NOSPLIT, $0-24
	MOVL leaf+0(FP), AX
	MOVL sub+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// func amxXCR0() uint64
// XGETBV with ECX = 0; callers check OSXSAVE first.
TEXT ·amxXCR0(SB), NOSPLIT, $0-8
	MOVL $0, CX
	BYTE $0x0F; BYTE $0x01; BYTE $0xD0 // XGETBV
	SHLQ $32, DX
	ORQ DX, AX
	MOVQ AX, ret+0(FP)
	RET

// func amxCodeAddrs() (table, kernel, peak unsafe.Pointer)
// The entry addresses of the functions above, for the tests that read
// their machine code back.
TEXT ·amxCodeAddrs(SB), NOSPLIT, $0-24
	LEAQ ·amxEncodingTable(SB), AX
	MOVQ AX, table+0(FP)
	LEAQ ·amxKernel32x32(SB), AX
	MOVQ AX, kernel+8(FP)
	LEAQ ·peakAMX(SB), AX
	MOVQ AX, peak+16(FP)
	RET
