//go:build amd64

// fp32 micro-kernels for kernel_amd64.go (contract: microKernel.run).
//
// Each step loads one row of the packed B micro-panel, broadcasts the
// matching packed A values one at a time and multiply-adds, so the whole C
// tile stays in registers for the k loop; the loop is unrolled four steps.
// Broadcasts rotate through several registers only to give the renamer an
// easy time. C is prefetched at entry so its lines arrive while the loop runs,
// and written once at the end as T + beta·C (C is not read when beta is ±0).
//
// Common registers: SI walks packed A, DI packed B, CX/BX count steps.

#include "textflag.h"

// C_PREFETCH_ROW1 and C_PREFETCH_ROW2 fetch the one or two 64-byte lines of
// the C row at R8 and move R8 to the next row (R9 = row stride in bytes).
#define C_PREFETCH_ROW1 \
	PREFETCHT0 (R8) \
	ADDQ R9, R8

#define C_PREFETCH_ROW2 \
	PREFETCHT0 (R8) \
	PREFETCHT0 64(R8) \
	ADDQ R9, R8

// PROLOGUE loads the arguments common to every kernel and points R8/R9 at C.
#define PROLOGUE \
	MOVQ steps+0(FP), CX \
	MOVQ a+8(FP), SI \
	MOVQ b+16(FP), DI \
	MOVQ c+24(FP), R8 \
	MOVQ ldc+32(FP), R9 \
	SHLQ $2, R9

// STORE_SETUP points DI at C, DX at its row stride, and jumps to `overwrite`
// when beta is ±0 (shifting out the sign leaves zero).
#define STORE_SETUP \
	MOVQ c+24(FP), DI \
	MOVQ ldc+32(FP), DX \
	SHLQ $2, DX \
	MOVL beta+40(FP), AX \
	SHLL $1, AX \
	JZ overwrite

// ---------------------------------------------------------------------------
// AVX-512, 12×32: Z0..Z23 accumulate (row i in Z2i, Z2i+1), Z24/Z25 hold a B
// row, Z26..Z29 the broadcast A values. A advances 48 bytes a step, B 128.

#define ROW_12x32(aoff, tmp, acc0, acc1) \
	VBROADCASTSS aoff(SI), tmp \
	VFMADD231PS Z24, tmp, acc0 \
	VFMADD231PS Z25, tmp, acc1

#define STEP_12x32(aoff, boff) \
	VMOVUPS boff(DI), Z24 \
	VMOVUPS boff+64(DI), Z25 \
	ROW_12x32(aoff+0, Z26, Z0, Z1) \
	ROW_12x32(aoff+4, Z27, Z2, Z3) \
	ROW_12x32(aoff+8, Z28, Z4, Z5) \
	ROW_12x32(aoff+12, Z29, Z6, Z7) \
	ROW_12x32(aoff+16, Z26, Z8, Z9) \
	ROW_12x32(aoff+20, Z27, Z10, Z11) \
	ROW_12x32(aoff+24, Z28, Z12, Z13) \
	ROW_12x32(aoff+28, Z29, Z14, Z15) \
	ROW_12x32(aoff+32, Z26, Z16, Z17) \
	ROW_12x32(aoff+36, Z27, Z18, Z19) \
	ROW_12x32(aoff+40, Z28, Z20, Z21) \
	ROW_12x32(aoff+44, Z29, Z22, Z23)

// Z26 holds beta.
#define STORE_BETA_ZMM2(acc0, acc1) \
	VFMADD231PS (DI), Z26, acc0 \
	VFMADD231PS 64(DI), Z26, acc1 \
	VMOVUPS acc0, (DI) \
	VMOVUPS acc1, 64(DI) \
	ADDQ DX, DI

#define STORE_ZMM2(acc0, acc1) \
	VMOVUPS acc0, (DI) \
	VMOVUPS acc1, 64(DI) \
	ADDQ DX, DI

// func sgemmKernel12x32AVX512(steps int, a, b, c *float32, ldc int, beta float32)
TEXT ·sgemmKernel12x32AVX512(SB), NOSPLIT, $0-44
	PROLOGUE
	C_PREFETCH_ROW2
	C_PREFETCH_ROW2
	C_PREFETCH_ROW2
	C_PREFETCH_ROW2
	C_PREFETCH_ROW2
	C_PREFETCH_ROW2
	C_PREFETCH_ROW2
	C_PREFETCH_ROW2
	C_PREFETCH_ROW2
	C_PREFETCH_ROW2
	C_PREFETCH_ROW2
	C_PREFETCH_ROW2
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23
	MOVQ CX, BX
	SHRQ $2, BX
	JZ tail

loop:
	STEP_12x32(0, 0)
	STEP_12x32(48, 128)
	STEP_12x32(96, 256)
	STEP_12x32(144, 384)
	ADDQ $192, SI
	ADDQ $512, DI
	DECQ BX
	JNZ loop

tail:
	ANDQ $3, CX
	JZ done

tailloop:
	STEP_12x32(0, 0)
	ADDQ $48, SI
	ADDQ $128, DI
	DECQ CX
	JNZ tailloop

done:
	STORE_SETUP
	VBROADCASTSS beta+40(FP), Z26
	STORE_BETA_ZMM2(Z0, Z1)
	STORE_BETA_ZMM2(Z2, Z3)
	STORE_BETA_ZMM2(Z4, Z5)
	STORE_BETA_ZMM2(Z6, Z7)
	STORE_BETA_ZMM2(Z8, Z9)
	STORE_BETA_ZMM2(Z10, Z11)
	STORE_BETA_ZMM2(Z12, Z13)
	STORE_BETA_ZMM2(Z14, Z15)
	STORE_BETA_ZMM2(Z16, Z17)
	STORE_BETA_ZMM2(Z18, Z19)
	STORE_BETA_ZMM2(Z20, Z21)
	STORE_BETA_ZMM2(Z22, Z23)
	VZEROUPPER
	RET

overwrite:
	STORE_ZMM2(Z0, Z1)
	STORE_ZMM2(Z2, Z3)
	STORE_ZMM2(Z4, Z5)
	STORE_ZMM2(Z6, Z7)
	STORE_ZMM2(Z8, Z9)
	STORE_ZMM2(Z10, Z11)
	STORE_ZMM2(Z12, Z13)
	STORE_ZMM2(Z14, Z15)
	STORE_ZMM2(Z16, Z17)
	STORE_ZMM2(Z18, Z19)
	STORE_ZMM2(Z20, Z21)
	STORE_ZMM2(Z22, Z23)
	VZEROUPPER
	RET

// ---------------------------------------------------------------------------
// AVX-512, 12×16, for a last panel of at most 16 columns: B keeps its stride
// of 32 floats but only the left half is loaded. Z0..Z11 accumulate (row i in
// Zi), Z12 holds the half B row, Z13..Z16 the broadcast A values.

#define ROW_12x16(aoff, tmp, acc) \
	VBROADCASTSS aoff(SI), tmp \
	VFMADD231PS Z12, tmp, acc

#define STEP_12x16(aoff, boff) \
	VMOVUPS boff(DI), Z12 \
	ROW_12x16(aoff+0, Z13, Z0) \
	ROW_12x16(aoff+4, Z14, Z1) \
	ROW_12x16(aoff+8, Z15, Z2) \
	ROW_12x16(aoff+12, Z16, Z3) \
	ROW_12x16(aoff+16, Z13, Z4) \
	ROW_12x16(aoff+20, Z14, Z5) \
	ROW_12x16(aoff+24, Z15, Z6) \
	ROW_12x16(aoff+28, Z16, Z7) \
	ROW_12x16(aoff+32, Z13, Z8) \
	ROW_12x16(aoff+36, Z14, Z9) \
	ROW_12x16(aoff+40, Z15, Z10) \
	ROW_12x16(aoff+44, Z16, Z11)

// Z13 holds beta.
#define STORE_BETA_ZMM1(acc) \
	VFMADD231PS (DI), Z13, acc \
	VMOVUPS acc, (DI) \
	ADDQ DX, DI

#define STORE_ZMM1(acc) \
	VMOVUPS acc, (DI) \
	ADDQ DX, DI

// func sgemmKernel12x16AVX512(steps int, a, b, c *float32, ldc int, beta float32)
TEXT ·sgemmKernel12x16AVX512(SB), NOSPLIT, $0-44
	PROLOGUE
	C_PREFETCH_ROW1
	C_PREFETCH_ROW1
	C_PREFETCH_ROW1
	C_PREFETCH_ROW1
	C_PREFETCH_ROW1
	C_PREFETCH_ROW1
	C_PREFETCH_ROW1
	C_PREFETCH_ROW1
	C_PREFETCH_ROW1
	C_PREFETCH_ROW1
	C_PREFETCH_ROW1
	C_PREFETCH_ROW1
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	MOVQ CX, BX
	SHRQ $2, BX
	JZ tail

loop:
	STEP_12x16(0, 0)
	STEP_12x16(48, 128)
	STEP_12x16(96, 256)
	STEP_12x16(144, 384)
	ADDQ $192, SI
	ADDQ $512, DI
	DECQ BX
	JNZ loop

tail:
	ANDQ $3, CX
	JZ done

tailloop:
	STEP_12x16(0, 0)
	ADDQ $48, SI
	ADDQ $128, DI
	DECQ CX
	JNZ tailloop

done:
	STORE_SETUP
	VBROADCASTSS beta+40(FP), Z13
	STORE_BETA_ZMM1(Z0)
	STORE_BETA_ZMM1(Z1)
	STORE_BETA_ZMM1(Z2)
	STORE_BETA_ZMM1(Z3)
	STORE_BETA_ZMM1(Z4)
	STORE_BETA_ZMM1(Z5)
	STORE_BETA_ZMM1(Z6)
	STORE_BETA_ZMM1(Z7)
	STORE_BETA_ZMM1(Z8)
	STORE_BETA_ZMM1(Z9)
	STORE_BETA_ZMM1(Z10)
	STORE_BETA_ZMM1(Z11)
	VZEROUPPER
	RET

overwrite:
	STORE_ZMM1(Z0)
	STORE_ZMM1(Z1)
	STORE_ZMM1(Z2)
	STORE_ZMM1(Z3)
	STORE_ZMM1(Z4)
	STORE_ZMM1(Z5)
	STORE_ZMM1(Z6)
	STORE_ZMM1(Z7)
	STORE_ZMM1(Z8)
	STORE_ZMM1(Z9)
	STORE_ZMM1(Z10)
	STORE_ZMM1(Z11)
	VZEROUPPER
	RET

// ---------------------------------------------------------------------------
// AVX2 + FMA, 6×16: Y0..Y11 accumulate (row i in Y2i, Y2i+1), Y12/Y13 hold a
// B row, Y14/Y15 the broadcast A values. A advances 24 bytes a step, B 64.

#define ROW_6x16(aoff, tmp, acc0, acc1) \
	VBROADCASTSS aoff(SI), tmp \
	VFMADD231PS Y12, tmp, acc0 \
	VFMADD231PS Y13, tmp, acc1

#define STEP_6x16(aoff, boff) \
	VMOVUPS boff(DI), Y12 \
	VMOVUPS boff+32(DI), Y13 \
	ROW_6x16(aoff+0, Y14, Y0, Y1) \
	ROW_6x16(aoff+4, Y15, Y2, Y3) \
	ROW_6x16(aoff+8, Y14, Y4, Y5) \
	ROW_6x16(aoff+12, Y15, Y6, Y7) \
	ROW_6x16(aoff+16, Y14, Y8, Y9) \
	ROW_6x16(aoff+20, Y15, Y10, Y11)

// Y14 holds beta.
#define STORE_BETA_YMM2(acc0, acc1) \
	VFMADD231PS (DI), Y14, acc0 \
	VFMADD231PS 32(DI), Y14, acc1 \
	VMOVUPS acc0, (DI) \
	VMOVUPS acc1, 32(DI) \
	ADDQ DX, DI

#define STORE_YMM2(acc0, acc1) \
	VMOVUPS acc0, (DI) \
	VMOVUPS acc1, 32(DI) \
	ADDQ DX, DI

// func sgemmKernel6x16AVX2(steps int, a, b, c *float32, ldc int, beta float32)
TEXT ·sgemmKernel6x16AVX2(SB), NOSPLIT, $0-44
	PROLOGUE
	C_PREFETCH_ROW1
	C_PREFETCH_ROW1
	C_PREFETCH_ROW1
	C_PREFETCH_ROW1
	C_PREFETCH_ROW1
	C_PREFETCH_ROW1
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	VPXOR Y4, Y4, Y4
	VPXOR Y5, Y5, Y5
	VPXOR Y6, Y6, Y6
	VPXOR Y7, Y7, Y7
	VPXOR Y8, Y8, Y8
	VPXOR Y9, Y9, Y9
	VPXOR Y10, Y10, Y10
	VPXOR Y11, Y11, Y11
	MOVQ CX, BX
	SHRQ $2, BX
	JZ tail

loop:
	STEP_6x16(0, 0)
	STEP_6x16(24, 64)
	STEP_6x16(48, 128)
	STEP_6x16(72, 192)
	ADDQ $96, SI
	ADDQ $256, DI
	DECQ BX
	JNZ loop

tail:
	ANDQ $3, CX
	JZ done

tailloop:
	STEP_6x16(0, 0)
	ADDQ $24, SI
	ADDQ $64, DI
	DECQ CX
	JNZ tailloop

done:
	STORE_SETUP
	VBROADCASTSS beta+40(FP), Y14
	STORE_BETA_YMM2(Y0, Y1)
	STORE_BETA_YMM2(Y2, Y3)
	STORE_BETA_YMM2(Y4, Y5)
	STORE_BETA_YMM2(Y6, Y7)
	STORE_BETA_YMM2(Y8, Y9)
	STORE_BETA_YMM2(Y10, Y11)
	VZEROUPPER
	RET

overwrite:
	STORE_YMM2(Y0, Y1)
	STORE_YMM2(Y2, Y3)
	STORE_YMM2(Y4, Y5)
	STORE_YMM2(Y6, Y7)
	STORE_YMM2(Y8, Y9)
	STORE_YMM2(Y10, Y11)
	VZEROUPPER
	RET
