//go:build amd64

#include "textflag.h"

// func gather12AVX(dst, src *float32, offs *int32, n int)
//
// For p < n (n ≥ 1): copies the 12 floats at src[offs[p]] to dst[12·p]:
// one step of a 12-row convolution A panel whose pixels are contiguous in
// an input row (the interior fast path of convOperand.pack).
TEXT ·gather12AVX(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ offs+16(FP), DX
	MOVQ n+24(FP), CX

loop:
	MOVLQSX (DX), AX
	VMOVUPS (SI)(AX*4), Y0
	VMOVUPS 32(SI)(AX*4), X1
	VMOVUPS Y0, (DI)
	VMOVUPS X1, 32(DI)
	ADDQ $4, DX
	ADDQ $48, DI
	DECQ CX
	JNZ  loop
	VZEROUPPER
	RET

// func gatherSegsAVX512(dst, src *float32, offs *int32, n int, segs *convCopy, nsegs int)
//
// For p < n and each of the nsegs ≥ 1 segments s: copies the popcount(s.mask)
// floats at src[s.src+offs[p]] to dst[12·p+s.dst] with a masked load and
// store, so a micro-panel whose pixels run over several input rows (or
// images) is gathered without a per-segment call. Callers check that every
// masked-in element is inside src.
TEXT ·gatherSegsAVX512(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ offs+16(FP), R8
	MOVQ n+24(FP), CX
	MOVQ segs+32(FP), R9
	MOVQ nsegs+40(FP), R10

tap:
	MOVLQSX (R8), AX
	LEAQ (SI)(AX*4), R11
	MOVQ R9, R12
	MOVQ R10, R13

seg:
	MOVQ 16(R12), BX
	KMOVW BX, K1
	MOVQ 8(R12), DX
	VMOVUPS.Z (R11)(DX*4), K1, Z0
	MOVQ 0(R12), DX
	VMOVUPS Z0, K1, (DI)(DX*4)
	ADDQ $24, R12
	DECQ R13
	JNZ  seg
	ADDQ $4, R8
	ADDQ $48, DI
	DECQ CX
	JNZ  tap
	VZEROUPPER
	RET
