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
