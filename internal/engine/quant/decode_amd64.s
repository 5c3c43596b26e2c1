//go:build amd64

// AVX-512 block decoders (see decode.go for the layouts and decode_amd64.go
// for the contracts). Integers are widened with VPMOVZXBD/VPMOVSXBD, 16 at a
// time, converted with VCVTDQ2PS and scaled with separate multiplies and
// subtractions: every product is exact in float32, so the single rounding
// of the subtraction matches the portable decoders bit for bit.

#include "textflag.h"

// HALF_SCALE(off, z) broadcasts the float16 at off(SI) to all lanes of z as float32.
#define HALF_SCALE(off, z) \
	VPBROADCASTW off(SI), Y31 \
	VCVTPH2PS Y31, z

// func decodeQ8_0AVX512(dst *float32, src *byte, blocks int)
TEXT ·decodeQ8_0AVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ blocks+16(FP), CX
	TESTQ CX, CX
	JZ q8done

q8loop:
	HALF_SCALE(0, Z0)
	VPMOVSXBD 2(SI), Z1
	VPMOVSXBD 18(SI), Z2
	VCVTDQ2PS Z1, Z1
	VCVTDQ2PS Z2, Z2
	VMULPS Z0, Z1, Z1
	VMULPS Z0, Z2, Z2
	VMOVUPS Z1, (DI)
	VMOVUPS Z2, 64(DI)
	ADDQ $34, SI
	ADDQ $128, DI
	DECQ CX
	JNZ q8loop

q8done:
	VZEROUPPER
	RET

// func decodeQ4_0AVX512(dst *float32, src *byte, blocks int)
TEXT ·decodeQ4_0AVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ blocks+16(FP), CX
	MOVL $15, AX
	VPBROADCASTD AX, Z30
	MOVL $8, AX
	VPBROADCASTD AX, Z29
	TESTQ CX, CX
	JZ q40done

q40loop:
	HALF_SCALE(0, Z0)
	VPMOVZXBD 2(SI), Z1
	VPSRLD $4, Z1, Z2
	VPANDD Z30, Z1, Z1
	VPSUBD Z29, Z1, Z1
	VPSUBD Z29, Z2, Z2
	VCVTDQ2PS Z1, Z1
	VCVTDQ2PS Z2, Z2
	VMULPS Z0, Z1, Z1
	VMULPS Z0, Z2, Z2
	VMOVUPS Z1, (DI)
	VMOVUPS Z2, 64(DI)
	ADDQ $18, SI
	ADDQ $128, DI
	DECQ CX
	JNZ q40loop

q40done:
	VZEROUPPER
	RET

// func decodeF16AVX512(dst *float32, src *byte, n16 int)
// Converts 16·n16 halves.
TEXT ·decodeF16AVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n16+16(FP), CX
	TESTQ CX, CX
	JZ f16done

f16loop:
	VCVTPH2PS (SI), Z0
	VMOVUPS Z0, (DI)
	ADDQ $32, SI
	ADDQ $64, DI
	DECQ CX
	JNZ f16loop

f16done:
	VZEROUPPER
	RET

// func decodeBF16AVX512(dst *float32, src *byte, n16 int)
// Widens 16·n16 bfloat16 values.
TEXT ·decodeBF16AVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n16+16(FP), CX
	TESTQ CX, CX
	JZ bf16done

bf16loop:
	VPMOVZXWD (SI), Z0
	VPSLLD $16, Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ $32, SI
	ADDQ $64, DI
	DECQ CX
	JNZ bf16loop

bf16done:
	VZEROUPPER
	RET

// K-quants: the Go wrapper unpacks each block's scales into sc (float32):
// Q4_K/Q5_K sc[0:8] = d·scale, sc[8:16] = dmin·min per 32-element group;
// Q6_K sc[0:16] = d·scale per 16-element group.

// Q4K_GROUP(c, qoff, hoff, h) decodes groups 2c (low nibbles) and 2c+1 (high
// nibbles) from the 32 bytes at qoff(SI); with h = 1, bit 2c / 2c+1 of the
// qh bytes held in Z20 (bytes 0–15) and Z21 (16–31) adds 16.
#define NIBBLES(qoff) \
	VPMOVZXBD qoff(SI), Z1 \
	VPMOVZXBD qoff+16(SI), Z2 \
	VPSRLD $4, Z1, Z3 \
	VPSRLD $4, Z2, Z4 \
	VPANDD Z30, Z1, Z1 \
	VPANDD Z30, Z2, Z2

// FIFTH(bit, z, hsrc) ors ((hsrc >> bit) & 1) << 4 into z.
#define FIFTH(bit, z, hsrc) \
	VPSRLD $(bit), hsrc, Z5 \
	VPANDD Z28, Z5, Z5 \
	VPSLLD $4, Z5, Z5 \
	VPORD Z5, z, z

// SCALE_STORE(z, g, dstoff) writes sc[g]·z − sc[8+g] (z: integers) to dstoff(DI).
#define SCALE_STORE(z, g, dstoff) \
	VCVTDQ2PS z, z \
	VBROADCASTSS (4*(g))(DX), Z6 \
	VBROADCASTSS (4*(8+(g)))(DX), Z7 \
	VMULPS Z6, z, z \
	VSUBPS Z7, z, z \
	VMOVUPS z, dstoff(DI)

// func decodeQ4KBlockAVX512(dst *float32, qs *byte, sc *float32)
// qs: the block's 128 quant bytes.
TEXT ·decodeQ4KBlockAVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ qs+8(FP), SI
	MOVQ sc+16(FP), DX
	MOVL $15, AX
	VPBROADCASTD AX, Z30
	NIBBLES(0)
	SCALE_STORE(Z1, 0, 0)
	SCALE_STORE(Z2, 0, 64)
	SCALE_STORE(Z3, 1, 128)
	SCALE_STORE(Z4, 1, 192)
	NIBBLES(32)
	SCALE_STORE(Z1, 2, 256)
	SCALE_STORE(Z2, 2, 320)
	SCALE_STORE(Z3, 3, 384)
	SCALE_STORE(Z4, 3, 448)
	NIBBLES(64)
	SCALE_STORE(Z1, 4, 512)
	SCALE_STORE(Z2, 4, 576)
	SCALE_STORE(Z3, 5, 640)
	SCALE_STORE(Z4, 5, 704)
	NIBBLES(96)
	SCALE_STORE(Z1, 6, 768)
	SCALE_STORE(Z2, 6, 832)
	SCALE_STORE(Z3, 7, 896)
	SCALE_STORE(Z4, 7, 960)
	VZEROUPPER
	RET

// Q5K_CHUNK(c) decodes groups 2c and 2c+1 with their fifth bits.
#define Q5K_CHUNK(c) \
	NIBBLES(32*(c)) \
	FIFTH(2*(c), Z1, Z20) \
	FIFTH(2*(c), Z2, Z21) \
	FIFTH(2*(c)+1, Z3, Z20) \
	FIFTH(2*(c)+1, Z4, Z21) \
	SCALE_STORE(Z1, 2*(c), 256*(c)) \
	SCALE_STORE(Z2, 2*(c), 256*(c)+64) \
	SCALE_STORE(Z3, 2*(c)+1, 256*(c)+128) \
	SCALE_STORE(Z4, 2*(c)+1, 256*(c)+192)

// func decodeQ5KBlockAVX512(dst *float32, qh *byte, sc *float32)
// qh: the block's 32 high-bit bytes, followed by its 128 quant bytes.
TEXT ·decodeQ5KBlockAVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ qh+8(FP), SI
	MOVQ sc+16(FP), DX
	MOVL $15, AX
	VPBROADCASTD AX, Z30
	MOVL $1, AX
	VPBROADCASTD AX, Z28
	VPMOVZXBD (SI), Z20
	VPMOVZXBD 16(SI), Z21
	ADDQ $32, SI
	Q5K_CHUNK(0)
	Q5K_CHUNK(1)
	Q5K_CHUNK(2)
	Q5K_CHUNK(3)
	VZEROUPPER
	RET

// Q6K_PART(h, t, lh) decodes the 16 elements 128h+32t+16lh … +15: the low
// nibble from ql[64h+32(t%2)+16lh …] (high nibble when t ≥ 2), bits 4–5
// from bits 2t of qh[32h+16lh …], minus 32, times sc[8h+2t+lh].
#define Q6K_PART(h, t, lh) \
	VPMOVZXBD (64*(h)+32*((t)%2)+16*(lh))(SI), Z1 \
	VPSRLD $(4*((t)/2)), Z1, Z1 \
	VPANDD Z30, Z1, Z1 \
	VPMOVZXBD (128+32*(h)+16*(lh))(SI), Z2 \
	VPSRLD $(2*(t)), Z2, Z2 \
	VPANDD Z27, Z2, Z2 \
	VPSLLD $4, Z2, Z2 \
	VPORD Z2, Z1, Z1 \
	VPSUBD Z26, Z1, Z1 \
	VCVTDQ2PS Z1, Z1 \
	VBROADCASTSS (4*(8*(h)+2*(t)+(lh)))(DX), Z6 \
	VMULPS Z6, Z1, Z1 \
	VMOVUPS Z1, (4*(128*(h)+32*(t)+16*(lh)))(DI)

#define Q6K_T(h, t) \
	Q6K_PART(h, t, 0) \
	Q6K_PART(h, t, 1)

// func decodeQ6KBlockAVX512(dst *float32, ql *byte, sc *float32)
// ql: the block's 128 low-nibble bytes followed by its 64 high-bit bytes.
TEXT ·decodeQ6KBlockAVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ ql+8(FP), SI
	MOVQ sc+16(FP), DX
	MOVL $15, AX
	VPBROADCASTD AX, Z30
	MOVL $3, AX
	VPBROADCASTD AX, Z27
	MOVL $32, AX
	VPBROADCASTD AX, Z26
	Q6K_T(0, 0)
	Q6K_T(0, 1)
	Q6K_T(0, 2)
	Q6K_T(0, 3)
	Q6K_T(1, 0)
	Q6K_T(1, 1)
	Q6K_T(1, 2)
	Q6K_T(1, 3)
	VZEROUPPER
	RET
