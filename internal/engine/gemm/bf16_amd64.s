//go:build amd64

// bfloat16 micro-kernels for the AVX512_BF16 extension, structured like the
// AVX-512 kernels in gemm_amd64.s: a and b hold bf16 pairs (two consecutive k
// in one 32-bit lane, lower k in the low half) and a step covers two rows of
// k. VPBROADCASTD copies one A pair to all lanes and VDPBF16PS adds both
// products of each lane's pair to the float32 accumulator.

#include "textflag.h"

// The Go assembler does not know VDPBF16PS, so DPBF16(acc, bsrc) spells out
// its EVEX encoding for "VDPBF16PS Zacc, Zbsrc, Z26" (Intel order: Zacc +=
// pairwise products of Zbsrc and Z26) with acc in 0..23 and bsrc 24 or 25:
//   62, P0 = ¬R·¬X·¬B·¬R'·00·10 (map 0F38; Z26 sets X and B), P1 = W0·¬vvvv·1·10
//   (prefix F3), P2 = 010·0·¬V'·000 (512-bit, V' of Z24/Z25 is 1), opcode 52,
//   ModRM = 11·acc[2:0]·010.
#define DPBF16(acc, bsrc) \
	BYTE $0x62; BYTE $(0x02 | ((1-(((acc)>>3)&1))<<7) | ((1-(((acc)>>4)&1))<<4)); BYTE $(0x06 | ((15-((bsrc)&15))<<3)); BYTE $0x40; BYTE $0x52; BYTE $(0xC2 | (((acc)&7)<<3))

// PROLOGUE and the C helpers match gemm_amd64.s.
#define PROLOGUE \
	MOVQ steps+0(FP), CX \
	MOVQ a+8(FP), SI \
	MOVQ b+16(FP), DI \
	MOVQ c+24(FP), R8 \
	MOVQ ldc+32(FP), R9 \
	SHLQ $2, R9

#define C_PREFETCH_ROW1 \
	PREFETCHT0 (R8) \
	ADDQ R9, R8

#define C_PREFETCH_ROW2 \
	PREFETCHT0 (R8) \
	PREFETCHT0 64(R8) \
	ADDQ R9, R8

#define STORE_SETUP \
	MOVQ c+24(FP), DI \
	MOVQ ldc+32(FP), DX \
	SHLQ $2, DX \
	MOVL beta+40(FP), AX \
	SHLL $1, AX \
	JZ overwrite

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

#define STORE_BETA_ZMM1(acc) \
	VFMADD231PS (DI), Z26, acc \
	VMOVUPS acc, (DI) \
	ADDQ DX, DI

#define STORE_ZMM1(acc) \
	VMOVUPS acc, (DI) \
	ADDQ DX, DI

// ---------------------------------------------------------------------------
// 12×32: Z0..Z23 accumulate (row i in Z2i, Z2i+1), Z24/Z25 hold a B step,
// Z26 the broadcast A pair. A advances 48 bytes a step, B 128.

#define ROW_BF16_12x32(aoff, i) \
	VPBROADCASTD aoff(SI), Z26 \
	DPBF16(2*(i), 24) \
	DPBF16(2*(i)+1, 25)

#define STEP_BF16_12x32(aoff, boff) \
	VMOVUPS boff(DI), Z24 \
	VMOVUPS boff+64(DI), Z25 \
	ROW_BF16_12x32(aoff+0, 0) \
	ROW_BF16_12x32(aoff+4, 1) \
	ROW_BF16_12x32(aoff+8, 2) \
	ROW_BF16_12x32(aoff+12, 3) \
	ROW_BF16_12x32(aoff+16, 4) \
	ROW_BF16_12x32(aoff+20, 5) \
	ROW_BF16_12x32(aoff+24, 6) \
	ROW_BF16_12x32(aoff+28, 7) \
	ROW_BF16_12x32(aoff+32, 8) \
	ROW_BF16_12x32(aoff+36, 9) \
	ROW_BF16_12x32(aoff+40, 10) \
	ROW_BF16_12x32(aoff+44, 11)

// func sgemmKernel12x32BF16(steps int, a, b *uint32, c *float32, ldc int, beta float32)
TEXT ·sgemmKernel12x32BF16(SB), NOSPLIT, $0-44
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
	STEP_BF16_12x32(0, 0)
	STEP_BF16_12x32(48, 128)
	STEP_BF16_12x32(96, 256)
	STEP_BF16_12x32(144, 384)
	ADDQ $192, SI
	ADDQ $512, DI
	DECQ BX
	JNZ loop

tail:
	ANDQ $3, CX
	JZ done

tailloop:
	STEP_BF16_12x32(0, 0)
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
// 12×16, for a last panel of at most 16 columns: B keeps its stride of 32
// pairs but only the left half is loaded. Z0..Z11 accumulate (row i in Zi),
// Z24 holds the half B step, Z26 the broadcast A pair.

#define ROW_BF16_12x16(aoff, i) \
	VPBROADCASTD aoff(SI), Z26 \
	DPBF16(i, 24)

#define STEP_BF16_12x16(aoff, boff) \
	VMOVUPS boff(DI), Z24 \
	ROW_BF16_12x16(aoff+0, 0) \
	ROW_BF16_12x16(aoff+4, 1) \
	ROW_BF16_12x16(aoff+8, 2) \
	ROW_BF16_12x16(aoff+12, 3) \
	ROW_BF16_12x16(aoff+16, 4) \
	ROW_BF16_12x16(aoff+20, 5) \
	ROW_BF16_12x16(aoff+24, 6) \
	ROW_BF16_12x16(aoff+28, 7) \
	ROW_BF16_12x16(aoff+32, 8) \
	ROW_BF16_12x16(aoff+36, 9) \
	ROW_BF16_12x16(aoff+40, 10) \
	ROW_BF16_12x16(aoff+44, 11)

// func sgemmKernel12x16BF16(steps int, a, b *uint32, c *float32, ldc int, beta float32)
TEXT ·sgemmKernel12x16BF16(SB), NOSPLIT, $0-44
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
	STEP_BF16_12x16(0, 0)
	STEP_BF16_12x16(48, 128)
	STEP_BF16_12x16(96, 256)
	STEP_BF16_12x16(144, 384)
	ADDQ $192, SI
	ADDQ $512, DI
	DECQ BX
	JNZ loop

tail:
	ANDQ $3, CX
	JZ done

tailloop:
	STEP_BF16_12x16(0, 0)
	ADDQ $48, SI
	ADDQ $128, DI
	DECQ CX
	JNZ tailloop

done:
	STORE_SETUP
	VBROADCASTSS beta+40(FP), Z26
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

// func convertPairsAVX512(dst *uint32, pairs, mr int)
//
// convertPairsAVX (pack_amd64.s) sixteen lanes at a time, the row's tail
// under a mask, for any mr ≥ 1: in place, dst[q*mr+i] = bf16(f0) |
// bf16(f1)<<16 with f0 = dst[2q*mr+i], f1 = dst[(2q+1)*mr+i], rounding to
// nearest even and quietening NaNs exactly as roundBF16 does. Both rows of
// a chunk are read before it is written, and a write never reaches a
// position still to be read.
TEXT ·convertPairsAVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ pairs+8(FP), CX
	MOVQ mr+16(FP), DX
	MOVQ DI, SI                 // SI reads the staged rows, DI writes pairs
	MOVL $0x7fff, AX
	VPBROADCASTD AX, Z10
	MOVL $1, AX
	VPBROADCASTD AX, Z11
	MOVL $0xffff0000, AX
	VPBROADCASTD AX, Z12
	MOVL $0x00400000, AX
	VPBROADCASTD AX, Z13

pair512:
	XORQ BX, BX                 // BX = element index within the row
	LEAQ (SI)(DX*4), R8         // R8 = row 2q+1

lanes512:
	MOVQ DX, R9
	SUBQ BX, R9                 // R9 = elements left in the row
	MOVQ $0xffff, AX
	CMPQ R9, $16
	JGE  fullmask
	MOVQ $1, AX
	MOVQ R9, R10
	SHLXQ R10, AX, AX
	DECQ AX

fullmask:
	KMOVW AX, K1
	VMOVDQU32.Z (SI)(BX*4), K1, Z0 // row 2q
	VMOVDQU32.Z (R8)(BX*4), K1, Z1 // row 2q+1
	// Round both: x + 0x7fff + ((x >> 16) & 1); NaNs only quietened.
	VPSRLD $16, Z0, Z5
	VPANDD Z11, Z5, Z5
	VPADDD Z10, Z5, Z5
	VPADDD Z0, Z5, Z5
	VCMPPS $3, Z0, Z0, K2
	VPORD Z13, Z0, K2, Z5
	VPSRLD $16, Z1, Z6
	VPANDD Z11, Z6, Z6
	VPADDD Z10, Z6, Z6
	VPADDD Z1, Z6, Z6
	VCMPPS $3, Z1, Z1, K3
	VPORD Z13, Z1, K3, Z6
	VPSRLD $16, Z5, Z5
	VPANDD Z12, Z6, Z6
	VPORD Z6, Z5, Z5
	VMOVDQU32 Z5, K1, (DI)(BX*4)
	ADDQ $16, BX
	CMPQ BX, DX
	JLT  lanes512

	LEAQ (SI)(DX*8), SI         // next pair of staged rows
	LEAQ (DI)(DX*4), DI         // next row of pairs
	DECQ CX
	JNZ  pair512
	VZEROUPPER
	RET

// func convertRowsAVX512(dst *uint32, src *float32, ld, rows, pairs int)
//
// For r < rows and q < pairs (a positive multiple of 8): dst[r*pairs+q] =
// bf16(src[r*ld+2q]) | bf16(src[r*ld+2q+1])<<16, rounded as roundBF16
// (nearest even, NaNs quietened): the rows of an A panel squeezed into bf16
// pairs while still row-major, so that the transpose into the panel moves
// half as many words. Sixteen floats (eight pairs) per step: each is
// rounded in its lane, its bf16 shifted to the low half, and VPMOVDW packs
// the sixteen halves in order, which puts each pair's even k low.
TEXT ·convertRowsAVX512(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), R8
	SHLQ $2, R8                 // R8 = source row stride in bytes
	MOVQ rows+24(FP), CX
	MOVQ pairs+32(FP), DX
	SHRQ $3, DX                 // DX = steps of eight pairs per row
	MOVL $0x7fff, AX
	VPBROADCASTD AX, Z10
	MOVL $1, AX
	VPBROADCASTD AX, Z11
	MOVL $0x00400000, AX
	VPBROADCASTD AX, Z13

rowloop:
	MOVQ SI, R9
	MOVQ DX, BX

steploop:
	VMOVUPS (R9), Z0
	VPSRLD $16, Z0, Z5
	VPANDD Z11, Z5, Z5
	VPADDD Z10, Z5, Z5
	VPADDD Z0, Z5, Z5
	VCMPPS $3, Z0, Z0, K2
	VPORD Z13, Z0, K2, Z5
	VPSRLD $16, Z5, Z5
	VPMOVDW Z5, (DI)
	ADDQ $64, R9
	ADDQ $32, DI
	DECQ BX
	JNZ  steploop

	ADDQ R8, SI
	DECQ CX
	JNZ  rowloop
	VZEROUPPER
	RET
