//go:build amd64

// Packing helpers for kernel_amd64.go: AVX2 transposes that turn strided
// rows into micro-panels (A without transA, B with transB), and the in-place
// conversion of a staged fp32 A panel into bf16 pairs.

#include "textflag.h"

// func packTranspose4AVX2(dst, src *float32, ld, stride, chunks int, alpha float32)
//
// Writes dst[p*stride+r] = alpha·src[r*ld+p] for r < 4 and p < 8·chunks
// (chunks ≥ 1): four strided source rows become four lanes of a packed
// micro-panel. Each 4×8 block is transposed in registers (unpack lo/hi of
// singles, then of pairs) into eight 4-float columns, stored 16 bytes each.
TEXT ·packTranspose4AVX2(SB), NOSPLIT, $0-44
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), R8
	SHLQ $2, R8                 // R8 = source row stride in bytes
	MOVQ stride+24(FP), DX
	SHLQ $2, DX                 // DX = packed stride of one p in bytes
	MOVQ chunks+32(FP), CX
	VBROADCASTSS alpha+40(FP), Y15
	LEAQ (R8)(R8*2), R11        // R11 = three source rows

chunk4:
	VMULPS (SI), Y15, Y0
	VMULPS (SI)(R8*1), Y15, Y1
	VMULPS (SI)(R8*2), Y15, Y2
	VMULPS (SI)(R11*1), Y15, Y3
	VUNPCKLPS Y1, Y0, Y4        // r0[0] r1[0] r0[1] r1[1] | r0[4] r1[4] r0[5] r1[5]
	VUNPCKHPS Y1, Y0, Y5        // r0[2] r1[2] r0[3] r1[3] | r0[6] r1[6] r0[7] r1[7]
	VUNPCKLPS Y3, Y2, Y6
	VUNPCKHPS Y3, Y2, Y7
	VUNPCKLPD Y6, Y4, Y0        // p=0 | p=4
	VUNPCKHPD Y6, Y4, Y1        // p=1 | p=5
	VUNPCKLPD Y7, Y5, Y2        // p=2 | p=6
	VUNPCKHPD Y7, Y5, Y3        // p=3 | p=7
	VMOVUPS X0, (DI)
	ADDQ DX, DI
	VMOVUPS X1, (DI)
	ADDQ DX, DI
	VMOVUPS X2, (DI)
	ADDQ DX, DI
	VMOVUPS X3, (DI)
	ADDQ DX, DI
	VEXTRACTF128 $1, Y0, (DI)
	ADDQ DX, DI
	VEXTRACTF128 $1, Y1, (DI)
	ADDQ DX, DI
	VEXTRACTF128 $1, Y2, (DI)
	ADDQ DX, DI
	VEXTRACTF128 $1, Y3, (DI)
	ADDQ DX, DI
	ADDQ $32, SI
	DECQ CX
	JNZ chunk4
	VZEROUPPER
	RET

// func packTranspose8AVX2(dst, src *float32, ld, stride, groups, chunks int, alpha float32)
//
// Like packTranspose4AVX2 for 8·groups rows: each 8×8 block is transposed as
// two 4×8 halves whose 128-bit lanes are then recombined, giving one 32-byte
// store per p. Columns are the outer loop so that every packed row is
// completed while its cache line is hot and each source line is read twice
// in a row (two 8-column chunks per 64-byte line).
TEXT ·packTranspose8AVX2(SB), NOSPLIT, $0-52
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), R8
	SHLQ $2, R8                 // R8 = source row stride in bytes
	MOVQ stride+24(FP), DX
	SHLQ $2, DX                 // DX = packed stride of one p in bytes
	MOVQ chunks+40(FP), CX
	VBROADCASTSS alpha+48(FP), Y15
	LEAQ (R8)(R8*2), R11        // R11 = three source rows

chunk8:
	MOVQ SI, R10                // R10 = first source row of the group
	MOVQ DI, R12                // R12 = packed position of the group at p
	MOVQ groups+32(FP), BX

group8:
	LEAQ (R10)(R8*4), R9        // R9 = source row 4 of the group
	VMULPS (R10), Y15, Y0
	VMULPS (R10)(R8*1), Y15, Y1
	VMULPS (R10)(R8*2), Y15, Y2
	VMULPS (R10)(R11*1), Y15, Y3
	VMULPS (R9), Y15, Y4
	VMULPS (R9)(R8*1), Y15, Y5
	VMULPS (R9)(R8*2), Y15, Y6
	VMULPS (R9)(R11*1), Y15, Y7
	VUNPCKLPS Y1, Y0, Y8        // rows 0-3 as in packTranspose4AVX2
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPD Y10, Y8, Y0       // rows 0-3: p=0 | p=4
	VUNPCKHPD Y10, Y8, Y1       // p=1 | p=5
	VUNPCKLPD Y11, Y9, Y2       // p=2 | p=6
	VUNPCKHPD Y11, Y9, Y3       // p=3 | p=7
	VUNPCKLPS Y5, Y4, Y8        // rows 4-7
	VUNPCKHPS Y5, Y4, Y9
	VUNPCKLPS Y7, Y6, Y10
	VUNPCKHPS Y7, Y6, Y11
	VUNPCKLPD Y10, Y8, Y4       // rows 4-7: p=0 | p=4
	VUNPCKHPD Y10, Y8, Y5
	VUNPCKLPD Y11, Y9, Y6
	VUNPCKHPD Y11, Y9, Y7
	MOVQ R12, AX                // AX = p, R13 = p+4
	LEAQ (R12)(DX*4), R13
	VINSERTF128 $1, X4, Y0, Y8  // p=0: rows 0-3 | rows 4-7
	VPERM2F128 $0x31, Y4, Y0, Y9 // p=4
	VMOVUPS Y8, (AX)
	VMOVUPS Y9, (R13)
	ADDQ DX, AX
	ADDQ DX, R13
	VINSERTF128 $1, X5, Y1, Y8
	VPERM2F128 $0x31, Y5, Y1, Y9
	VMOVUPS Y8, (AX)
	VMOVUPS Y9, (R13)
	ADDQ DX, AX
	ADDQ DX, R13
	VINSERTF128 $1, X6, Y2, Y8
	VPERM2F128 $0x31, Y6, Y2, Y9
	VMOVUPS Y8, (AX)
	VMOVUPS Y9, (R13)
	ADDQ DX, AX
	ADDQ DX, R13
	VINSERTF128 $1, X7, Y3, Y8
	VPERM2F128 $0x31, Y7, Y3, Y9
	VMOVUPS Y8, (AX)
	VMOVUPS Y9, (R13)
	ADDQ $32, R12               // next eight packed lanes
	LEAQ (R10)(R8*8), R10       // next eight source rows
	DECQ BX
	JNZ group8

	ADDQ $32, SI                // next eight columns
	LEAQ (DI)(DX*8), DI
	DECQ CX
	JNZ chunk8
	VZEROUPPER
	RET

// packTranspose4Words and packTranspose8Words are packTranspose4AVX2 and
// packTranspose8AVX2 without the scaling, for 32-bit words that are not
// floats (bf16 pairs, which a multiplication by 1 could alter: it quietens
// what looks like a signalling NaN).

// func packTranspose4Words(dst, src *float32, ld, stride, chunks int)
//
// Writes dst[p*stride+r] = src[r*ld+p] for r < 4 and p < 8·chunks
// (chunks ≥ 1): four strided source rows become four lanes of a packed
// micro-panel. Each 4×8 block is transposed in registers (unpack lo/hi of
// singles, then of pairs) into eight 4-float columns, stored 16 bytes each.
TEXT ·packTranspose4Words(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), R8
	SHLQ $2, R8                 // R8 = source row stride in bytes
	MOVQ stride+24(FP), DX
	SHLQ $2, DX                 // DX = packed stride of one p in bytes
	MOVQ chunks+32(FP), CX
	LEAQ (R8)(R8*2), R11        // R11 = three source rows

chunk4:
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(R8*1), Y1
	VMOVUPS (SI)(R8*2), Y2
	VMOVUPS (SI)(R11*1), Y3
	VUNPCKLPS Y1, Y0, Y4        // r0[0] r1[0] r0[1] r1[1] | r0[4] r1[4] r0[5] r1[5]
	VUNPCKHPS Y1, Y0, Y5        // r0[2] r1[2] r0[3] r1[3] | r0[6] r1[6] r0[7] r1[7]
	VUNPCKLPS Y3, Y2, Y6
	VUNPCKHPS Y3, Y2, Y7
	VUNPCKLPD Y6, Y4, Y0        // p=0 | p=4
	VUNPCKHPD Y6, Y4, Y1        // p=1 | p=5
	VUNPCKLPD Y7, Y5, Y2        // p=2 | p=6
	VUNPCKHPD Y7, Y5, Y3        // p=3 | p=7
	VMOVUPS X0, (DI)
	ADDQ DX, DI
	VMOVUPS X1, (DI)
	ADDQ DX, DI
	VMOVUPS X2, (DI)
	ADDQ DX, DI
	VMOVUPS X3, (DI)
	ADDQ DX, DI
	VEXTRACTF128 $1, Y0, (DI)
	ADDQ DX, DI
	VEXTRACTF128 $1, Y1, (DI)
	ADDQ DX, DI
	VEXTRACTF128 $1, Y2, (DI)
	ADDQ DX, DI
	VEXTRACTF128 $1, Y3, (DI)
	ADDQ DX, DI
	ADDQ $32, SI
	DECQ CX
	JNZ chunk4
	VZEROUPPER
	RET

// func packTranspose8Words(dst, src *float32, ld, stride, groups, chunks int)
//
// Like packTranspose4Words for 8·groups rows: each 8×8 block is transposed as
// two 4×8 halves whose 128-bit lanes are then recombined, giving one 32-byte
// store per p. Columns are the outer loop so that every packed row is
// completed while its cache line is hot and each source line is read twice
// in a row (two 8-column chunks per 64-byte line).
TEXT ·packTranspose8Words(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), R8
	SHLQ $2, R8                 // R8 = source row stride in bytes
	MOVQ stride+24(FP), DX
	SHLQ $2, DX                 // DX = packed stride of one p in bytes
	MOVQ chunks+40(FP), CX
	LEAQ (R8)(R8*2), R11        // R11 = three source rows

chunk8:
	MOVQ SI, R10                // R10 = first source row of the group
	MOVQ DI, R12                // R12 = packed position of the group at p
	MOVQ groups+32(FP), BX

group8:
	LEAQ (R10)(R8*4), R9        // R9 = source row 4 of the group
	VMOVUPS (R10), Y0
	VMOVUPS (R10)(R8*1), Y1
	VMOVUPS (R10)(R8*2), Y2
	VMOVUPS (R10)(R11*1), Y3
	VMOVUPS (R9), Y4
	VMOVUPS (R9)(R8*1), Y5
	VMOVUPS (R9)(R8*2), Y6
	VMOVUPS (R9)(R11*1), Y7
	VUNPCKLPS Y1, Y0, Y8        // rows 0-3 as in packTranspose4Words
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPD Y10, Y8, Y0       // rows 0-3: p=0 | p=4
	VUNPCKHPD Y10, Y8, Y1       // p=1 | p=5
	VUNPCKLPD Y11, Y9, Y2       // p=2 | p=6
	VUNPCKHPD Y11, Y9, Y3       // p=3 | p=7
	VUNPCKLPS Y5, Y4, Y8        // rows 4-7
	VUNPCKHPS Y5, Y4, Y9
	VUNPCKLPS Y7, Y6, Y10
	VUNPCKHPS Y7, Y6, Y11
	VUNPCKLPD Y10, Y8, Y4       // rows 4-7: p=0 | p=4
	VUNPCKHPD Y10, Y8, Y5
	VUNPCKLPD Y11, Y9, Y6
	VUNPCKHPD Y11, Y9, Y7
	MOVQ R12, AX                // AX = p, R13 = p+4
	LEAQ (R12)(DX*4), R13
	VINSERTF128 $1, X4, Y0, Y8  // p=0: rows 0-3 | rows 4-7
	VPERM2F128 $0x31, Y4, Y0, Y9 // p=4
	VMOVUPS Y8, (AX)
	VMOVUPS Y9, (R13)
	ADDQ DX, AX
	ADDQ DX, R13
	VINSERTF128 $1, X5, Y1, Y8
	VPERM2F128 $0x31, Y5, Y1, Y9
	VMOVUPS Y8, (AX)
	VMOVUPS Y9, (R13)
	ADDQ DX, AX
	ADDQ DX, R13
	VINSERTF128 $1, X6, Y2, Y8
	VPERM2F128 $0x31, Y6, Y2, Y9
	VMOVUPS Y8, (AX)
	VMOVUPS Y9, (R13)
	ADDQ DX, AX
	ADDQ DX, R13
	VINSERTF128 $1, X7, Y3, Y8
	VPERM2F128 $0x31, Y7, Y3, Y9
	VMOVUPS Y8, (AX)
	VMOVUPS Y9, (R13)
	ADDQ $32, R12               // next eight packed lanes
	LEAQ (R10)(R8*8), R10       // next eight source rows
	DECQ BX
	JNZ group8

	ADDQ $32, SI                // next eight columns
	LEAQ (DI)(DX*8), DI
	DECQ CX
	JNZ chunk8
	VZEROUPPER
	RET

// ROUND_BF16(x, out) rounds the four floats in x to bfloat16, nearest-even,
// leaving each result in the high half of its lane of out (low half junk):
// out = x + 0x7fff + ((x >> 16) & 1), except NaNs, which are only quietened
// so the carry cannot turn them into infinities. Uses X3, X4; expects
// X10 = 0x7fff, X11 = 1, X13 = 0x00400000 in every lane.
#define ROUND_BF16(x, out) \
	VPSRLD $16, x, out \
	VPAND X11, out, out \
	VPADDD X10, out, out \
	VPADDD x, out, out \
	VCMPPS $3, x, x, X3 \
	VPOR X13, x, X4 \
	VBLENDVPS X3, X4, out, out

// func convertPairsAVX(dst *uint32, pairs, mr int)
//
// In place, for q < pairs and i < mr (a positive multiple of 4): reads the
// floats f0 = dst[2q*mr+i] and f1 = dst[(2q+1)*mr+i] and writes
// dst[q*mr+i] = bf16(f0) | bf16(f1)<<16. Each write lands at or before every
// position still to be read.
TEXT ·convertPairsAVX(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ pairs+8(FP), CX
	MOVQ mr+16(FP), DX
	SHLQ $2, DX                 // DX = bytes per staged row
	MOVQ DI, SI                 // SI reads the staged rows, DI writes pairs
	MOVL $0x7fff, AX
	MOVQ AX, X10
	VPBROADCASTD X10, X10
	MOVL $1, AX
	MOVQ AX, X11
	VPBROADCASTD X11, X11
	MOVL $0xffff0000, AX
	MOVQ AX, X12
	VPBROADCASTD X12, X12
	MOVL $0x00400000, AX
	MOVQ AX, X13
	VPBROADCASTD X13, X13

pair:
	XORQ BX, BX                 // BX = byte offset within the row

lanes:
	VMOVUPS (SI)(BX*1), X0      // row 2q
	LEAQ (SI)(DX*1), R8
	VMOVUPS (R8)(BX*1), X1      // row 2q+1
	ROUND_BF16(X0, X5)
	ROUND_BF16(X1, X6)
	VPSRLD $16, X5, X5
	VPAND X12, X6, X6
	VPOR X6, X5, X5
	VMOVUPS X5, (DI)(BX*1)
	ADDQ $16, BX
	CMPQ BX, DX
	JLT lanes

	LEAQ (SI)(DX*2), SI
	ADDQ DX, DI
	DECQ CX
	JNZ pair
	RET
