#include "textflag.h"

// Each constant of the float32 exp approximation, replicated across a
// 256-bit vector so it can be used as a memory operand.
DATA expTab<>+0(SB)/4, $0xc2aeac50 // expLo
DATA expTab<>+4(SB)/4, $0xc2aeac50
DATA expTab<>+8(SB)/4, $0xc2aeac50
DATA expTab<>+12(SB)/4, $0xc2aeac50
DATA expTab<>+16(SB)/4, $0xc2aeac50
DATA expTab<>+20(SB)/4, $0xc2aeac50
DATA expTab<>+24(SB)/4, $0xc2aeac50
DATA expTab<>+28(SB)/4, $0xc2aeac50
DATA expTab<>+32(SB)/4, $0x42b00000 // expHi
DATA expTab<>+36(SB)/4, $0x42b00000
DATA expTab<>+40(SB)/4, $0x42b00000
DATA expTab<>+44(SB)/4, $0x42b00000
DATA expTab<>+48(SB)/4, $0x42b00000
DATA expTab<>+52(SB)/4, $0x42b00000
DATA expTab<>+56(SB)/4, $0x42b00000
DATA expTab<>+60(SB)/4, $0x42b00000
DATA expTab<>+64(SB)/4, $0x3fb8aa3b // log2e
DATA expTab<>+68(SB)/4, $0x3fb8aa3b
DATA expTab<>+72(SB)/4, $0x3fb8aa3b
DATA expTab<>+76(SB)/4, $0x3fb8aa3b
DATA expTab<>+80(SB)/4, $0x3fb8aa3b
DATA expTab<>+84(SB)/4, $0x3fb8aa3b
DATA expTab<>+88(SB)/4, $0x3fb8aa3b
DATA expTab<>+92(SB)/4, $0x3fb8aa3b
DATA expTab<>+96(SB)/4, $0x3f318000 // C1
DATA expTab<>+100(SB)/4, $0x3f318000
DATA expTab<>+104(SB)/4, $0x3f318000
DATA expTab<>+108(SB)/4, $0x3f318000
DATA expTab<>+112(SB)/4, $0x3f318000
DATA expTab<>+116(SB)/4, $0x3f318000
DATA expTab<>+120(SB)/4, $0x3f318000
DATA expTab<>+124(SB)/4, $0x3f318000
DATA expTab<>+128(SB)/4, $0xb95e8083 // C2
DATA expTab<>+132(SB)/4, $0xb95e8083
DATA expTab<>+136(SB)/4, $0xb95e8083
DATA expTab<>+140(SB)/4, $0xb95e8083
DATA expTab<>+144(SB)/4, $0xb95e8083
DATA expTab<>+148(SB)/4, $0xb95e8083
DATA expTab<>+152(SB)/4, $0xb95e8083
DATA expTab<>+156(SB)/4, $0xb95e8083
DATA expTab<>+160(SB)/4, $0x39506967 // p0
DATA expTab<>+164(SB)/4, $0x39506967
DATA expTab<>+168(SB)/4, $0x39506967
DATA expTab<>+172(SB)/4, $0x39506967
DATA expTab<>+176(SB)/4, $0x39506967
DATA expTab<>+180(SB)/4, $0x39506967
DATA expTab<>+184(SB)/4, $0x39506967
DATA expTab<>+188(SB)/4, $0x39506967
DATA expTab<>+192(SB)/4, $0x3ab743ce // p1
DATA expTab<>+196(SB)/4, $0x3ab743ce
DATA expTab<>+200(SB)/4, $0x3ab743ce
DATA expTab<>+204(SB)/4, $0x3ab743ce
DATA expTab<>+208(SB)/4, $0x3ab743ce
DATA expTab<>+212(SB)/4, $0x3ab743ce
DATA expTab<>+216(SB)/4, $0x3ab743ce
DATA expTab<>+220(SB)/4, $0x3ab743ce
DATA expTab<>+224(SB)/4, $0x3c088908 // p2
DATA expTab<>+228(SB)/4, $0x3c088908
DATA expTab<>+232(SB)/4, $0x3c088908
DATA expTab<>+236(SB)/4, $0x3c088908
DATA expTab<>+240(SB)/4, $0x3c088908
DATA expTab<>+244(SB)/4, $0x3c088908
DATA expTab<>+248(SB)/4, $0x3c088908
DATA expTab<>+252(SB)/4, $0x3c088908
DATA expTab<>+256(SB)/4, $0x3d2aa9c1 // p3
DATA expTab<>+260(SB)/4, $0x3d2aa9c1
DATA expTab<>+264(SB)/4, $0x3d2aa9c1
DATA expTab<>+268(SB)/4, $0x3d2aa9c1
DATA expTab<>+272(SB)/4, $0x3d2aa9c1
DATA expTab<>+276(SB)/4, $0x3d2aa9c1
DATA expTab<>+280(SB)/4, $0x3d2aa9c1
DATA expTab<>+284(SB)/4, $0x3d2aa9c1
DATA expTab<>+288(SB)/4, $0x3e2aaaaa // p4
DATA expTab<>+292(SB)/4, $0x3e2aaaaa
DATA expTab<>+296(SB)/4, $0x3e2aaaaa
DATA expTab<>+300(SB)/4, $0x3e2aaaaa
DATA expTab<>+304(SB)/4, $0x3e2aaaaa
DATA expTab<>+308(SB)/4, $0x3e2aaaaa
DATA expTab<>+312(SB)/4, $0x3e2aaaaa
DATA expTab<>+316(SB)/4, $0x3e2aaaaa
DATA expTab<>+320(SB)/4, $0x3f000000 // p5
DATA expTab<>+324(SB)/4, $0x3f000000
DATA expTab<>+328(SB)/4, $0x3f000000
DATA expTab<>+332(SB)/4, $0x3f000000
DATA expTab<>+336(SB)/4, $0x3f000000
DATA expTab<>+340(SB)/4, $0x3f000000
DATA expTab<>+344(SB)/4, $0x3f000000
DATA expTab<>+348(SB)/4, $0x3f000000
DATA expTab<>+352(SB)/4, $0x3f800000 // one
DATA expTab<>+356(SB)/4, $0x3f800000
DATA expTab<>+360(SB)/4, $0x3f800000
DATA expTab<>+364(SB)/4, $0x3f800000
DATA expTab<>+368(SB)/4, $0x3f800000
DATA expTab<>+372(SB)/4, $0x3f800000
DATA expTab<>+376(SB)/4, $0x3f800000
DATA expTab<>+380(SB)/4, $0x3f800000
GLOBL expTab<>(SB), RODATA|NOPTR, $384

// func expShiftAVX2(x []float32, shift float32, sum *[8]float32)
//
// Replaces x[i] by exp(x[i]-shift) for the first len(x)&^7 elements and
// adds the results into the eight lanes of *sum. This is the softmax inner
// loop, so x[i]-shift <= 0 is expected; t = x[i]-shift is clamped to
// [expLo, 88] and lanes with t < expLo (including -Inf) yield exactly 0.
// Cephes expf: n = round(t*log2e), r = t - n*ln2 (ln2 split in two parts),
// e^r by a degree-7 polynomial, times 2^n assembled in the exponent bits.
TEXT ·expShiftAVX2(SB), NOSPLIT, $0-40
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	MOVQ sum+32(FP), DI
	SHRQ $3, CX
	JZ   done
	VBROADCASTSS shift+24(FP), Y15
	VMOVUPS (DI), Y3

loop:
	VMOVUPS (SI), Y0
	VSUBPS  Y15, Y0, Y0
	VCMPPS  $0x1d, expTab<>+0(SB), Y0, Y2
	VMAXPS  expTab<>+0(SB), Y0, Y0
	VMINPS  expTab<>+32(SB), Y0, Y0
	VMULPS  expTab<>+64(SB), Y0, Y1
	VROUNDPS $0, Y1, Y1
	VFNMADD231PS expTab<>+96(SB), Y1, Y0
	VFNMADD231PS expTab<>+128(SB), Y1, Y0
	VMULPS  Y0, Y0, Y5
	VMOVUPS expTab<>+160(SB), Y6
	VFMADD213PS expTab<>+192(SB), Y0, Y6
	VFMADD213PS expTab<>+224(SB), Y0, Y6
	VFMADD213PS expTab<>+256(SB), Y0, Y6
	VFMADD213PS expTab<>+288(SB), Y0, Y6
	VFMADD213PS expTab<>+320(SB), Y0, Y6
	VFMADD213PS Y0, Y5, Y6
	VADDPS  expTab<>+352(SB), Y6, Y6
	VCVTPS2DQ Y1, Y1
	VPSLLD  $23, Y1, Y1
	VPADDD  expTab<>+352(SB), Y1, Y1
	VMULPS  Y1, Y6, Y6
	VANDPS  Y2, Y6, Y6
	VMOVUPS Y6, (SI)
	VADDPS  Y6, Y3, Y3
	ADDQ    $32, SI
	DECQ    CX
	JNZ     loop

	VMOVUPS Y3, (DI)
	VZEROUPPER

done:
	RET

// func maxAVX2(x []float32, lanes *[8]float32)
// Folds the first len(x)&^7 elements into the running lane maxima *lanes.
TEXT ·maxAVX2(SB), NOSPLIT, $0-32
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	MOVQ lanes+24(FP), DI
	SHRQ $3, CX
	JZ   maxdone
	VMOVUPS (DI), Y0
	VMOVUPS Y0, Y1

maxloop:
	VMAXPS (SI), Y0, Y0
	ADDQ   $32, SI
	DECQ   CX
	JZ     maxfold
	VMAXPS (SI), Y1, Y1
	ADDQ   $32, SI
	DECQ   CX
	JNZ    maxloop

maxfold:
	VMAXPS  Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	VZEROUPPER

maxdone:
	RET

// Constants for the activation kernels, each replicated across 256 bits.
DATA actTab<>+0(SB)/4, $0xbf800000 // negOne
DATA actTab<>+4(SB)/4, $0xbf800000
DATA actTab<>+8(SB)/4, $0xbf800000
DATA actTab<>+12(SB)/4, $0xbf800000
DATA actTab<>+16(SB)/4, $0xbf800000
DATA actTab<>+20(SB)/4, $0xbf800000
DATA actTab<>+24(SB)/4, $0xbf800000
DATA actTab<>+28(SB)/4, $0xbf800000
DATA actTab<>+32(SB)/4, $0x3f000000 // half
DATA actTab<>+36(SB)/4, $0x3f000000
DATA actTab<>+40(SB)/4, $0x3f000000
DATA actTab<>+44(SB)/4, $0x3f000000
DATA actTab<>+48(SB)/4, $0x3f000000
DATA actTab<>+52(SB)/4, $0x3f000000
DATA actTab<>+56(SB)/4, $0x3f000000
DATA actTab<>+60(SB)/4, $0x3f000000
DATA actTab<>+64(SB)/4, $0x3f3504f3 // rsqrt2
DATA actTab<>+68(SB)/4, $0x3f3504f3
DATA actTab<>+72(SB)/4, $0x3f3504f3
DATA actTab<>+76(SB)/4, $0x3f3504f3
DATA actTab<>+80(SB)/4, $0x3f3504f3
DATA actTab<>+84(SB)/4, $0x3f3504f3
DATA actTab<>+88(SB)/4, $0x3f3504f3
DATA actTab<>+92(SB)/4, $0x3f3504f3
DATA actTab<>+96(SB)/4, $0x40800000 // four
DATA actTab<>+100(SB)/4, $0x40800000
DATA actTab<>+104(SB)/4, $0x40800000
DATA actTab<>+108(SB)/4, $0x40800000
DATA actTab<>+112(SB)/4, $0x40800000
DATA actTab<>+116(SB)/4, $0x40800000
DATA actTab<>+120(SB)/4, $0x40800000
DATA actTab<>+124(SB)/4, $0x40800000
DATA actTab<>+128(SB)/4, $0xc0800000 // negFour
DATA actTab<>+132(SB)/4, $0xc0800000
DATA actTab<>+136(SB)/4, $0xc0800000
DATA actTab<>+140(SB)/4, $0xc0800000
DATA actTab<>+144(SB)/4, $0xc0800000
DATA actTab<>+148(SB)/4, $0xc0800000
DATA actTab<>+152(SB)/4, $0xc0800000
DATA actTab<>+156(SB)/4, $0xc0800000
DATA actTab<>+160(SB)/4, $0xaf95df0b // a0
DATA actTab<>+164(SB)/4, $0xaf95df0b
DATA actTab<>+168(SB)/4, $0xaf95df0b
DATA actTab<>+172(SB)/4, $0xaf95df0b
DATA actTab<>+176(SB)/4, $0xaf95df0b
DATA actTab<>+180(SB)/4, $0xaf95df0b
DATA actTab<>+184(SB)/4, $0xaf95df0b
DATA actTab<>+188(SB)/4, $0xaf95df0b
DATA actTab<>+192(SB)/4, $0x32edffee // a1
DATA actTab<>+196(SB)/4, $0x32edffee
DATA actTab<>+200(SB)/4, $0x32edffee
DATA actTab<>+204(SB)/4, $0x32edffee
DATA actTab<>+208(SB)/4, $0x32edffee
DATA actTab<>+212(SB)/4, $0x32edffee
DATA actTab<>+216(SB)/4, $0x32edffee
DATA actTab<>+220(SB)/4, $0x32edffee
DATA actTab<>+224(SB)/4, $0xb60cff51 // a2
DATA actTab<>+228(SB)/4, $0xb60cff51
DATA actTab<>+232(SB)/4, $0xb60cff51
DATA actTab<>+236(SB)/4, $0xb60cff51
DATA actTab<>+240(SB)/4, $0xb60cff51
DATA actTab<>+244(SB)/4, $0xb60cff51
DATA actTab<>+248(SB)/4, $0xb60cff51
DATA actTab<>+252(SB)/4, $0xb60cff51
DATA actTab<>+256(SB)/4, $0xb86ec2d2 // a3
DATA actTab<>+260(SB)/4, $0xb86ec2d2
DATA actTab<>+264(SB)/4, $0xb86ec2d2
DATA actTab<>+268(SB)/4, $0xb86ec2d2
DATA actTab<>+272(SB)/4, $0xb86ec2d2
DATA actTab<>+276(SB)/4, $0xb86ec2d2
DATA actTab<>+280(SB)/4, $0xb86ec2d2
DATA actTab<>+284(SB)/4, $0xb86ec2d2
DATA actTab<>+288(SB)/4, $0xba40ac63 // a4
DATA actTab<>+292(SB)/4, $0xba40ac63
DATA actTab<>+296(SB)/4, $0xba40ac63
DATA actTab<>+300(SB)/4, $0xba40ac63
DATA actTab<>+304(SB)/4, $0xba40ac63
DATA actTab<>+308(SB)/4, $0xba40ac63
DATA actTab<>+312(SB)/4, $0xba40ac63
DATA actTab<>+316(SB)/4, $0xba40ac63
DATA actTab<>+320(SB)/4, $0xbb41a1f6 // a5
DATA actTab<>+324(SB)/4, $0xbb41a1f6
DATA actTab<>+328(SB)/4, $0xbb41a1f6
DATA actTab<>+332(SB)/4, $0xbb41a1f6
DATA actTab<>+336(SB)/4, $0xbb41a1f6
DATA actTab<>+340(SB)/4, $0xbb41a1f6
DATA actTab<>+344(SB)/4, $0xbb41a1f6
DATA actTab<>+348(SB)/4, $0xbb41a1f6
DATA actTab<>+352(SB)/4, $0xbc83dbd4 // a6
DATA actTab<>+356(SB)/4, $0xbc83dbd4
DATA actTab<>+360(SB)/4, $0xbc83dbd4
DATA actTab<>+364(SB)/4, $0xbc83dbd4
DATA actTab<>+368(SB)/4, $0xbc83dbd4
DATA actTab<>+372(SB)/4, $0xbc83dbd4
DATA actTab<>+376(SB)/4, $0xbc83dbd4
DATA actTab<>+380(SB)/4, $0xbc83dbd4
DATA actTab<>+384(SB)/4, $0xb77460cd // b0
DATA actTab<>+388(SB)/4, $0xb77460cd
DATA actTab<>+392(SB)/4, $0xb77460cd
DATA actTab<>+396(SB)/4, $0xb77460cd
DATA actTab<>+400(SB)/4, $0xb77460cd
DATA actTab<>+404(SB)/4, $0xb77460cd
DATA actTab<>+408(SB)/4, $0xb77460cd
DATA actTab<>+412(SB)/4, $0xb77460cd
DATA actTab<>+416(SB)/4, $0xb95fbd29 // b1
DATA actTab<>+420(SB)/4, $0xb95fbd29
DATA actTab<>+424(SB)/4, $0xb95fbd29
DATA actTab<>+428(SB)/4, $0xb95fbd29
DATA actTab<>+432(SB)/4, $0xb95fbd29
DATA actTab<>+436(SB)/4, $0xb95fbd29
DATA actTab<>+440(SB)/4, $0xb95fbd29
DATA actTab<>+444(SB)/4, $0xb95fbd29
DATA actTab<>+448(SB)/4, $0xbadc924e // b2
DATA actTab<>+452(SB)/4, $0xbadc924e
DATA actTab<>+456(SB)/4, $0xbadc924e
DATA actTab<>+460(SB)/4, $0xbadc924e
DATA actTab<>+464(SB)/4, $0xbadc924e
DATA actTab<>+468(SB)/4, $0xbadc924e
DATA actTab<>+472(SB)/4, $0xbadc924e
DATA actTab<>+476(SB)/4, $0xbadc924e
DATA actTab<>+480(SB)/4, $0xbbf19bf8 // b3
DATA actTab<>+484(SB)/4, $0xbbf19bf8
DATA actTab<>+488(SB)/4, $0xbbf19bf8
DATA actTab<>+492(SB)/4, $0xbbf19bf8
DATA actTab<>+496(SB)/4, $0xbbf19bf8
DATA actTab<>+500(SB)/4, $0xbbf19bf8
DATA actTab<>+504(SB)/4, $0xbbf19bf8
DATA actTab<>+508(SB)/4, $0xbbf19bf8
DATA actTab<>+512(SB)/4, $0xbc69b6a7 // b4
DATA actTab<>+516(SB)/4, $0xbc69b6a7
DATA actTab<>+520(SB)/4, $0xbc69b6a7
DATA actTab<>+524(SB)/4, $0xbc69b6a7
DATA actTab<>+528(SB)/4, $0xbc69b6a7
DATA actTab<>+532(SB)/4, $0xbc69b6a7
DATA actTab<>+536(SB)/4, $0xbc69b6a7
DATA actTab<>+540(SB)/4, $0xbc69b6a7
GLOBL actTab<>(SB), RODATA|NOPTR, $544

// EXPY0 computes Y6 = exp(Y0) lane-wise (Cephes expf, inputs clamped to
// [expLo, 88]; results for inputs below expLo are flushed to 0).
// Clobbers Y0, Y1, Y2, Y5.
#define EXPY0 \
	VCMPPS  $0x1d, expTab<>+0(SB), Y0, Y2 \
	VMAXPS  expTab<>+0(SB), Y0, Y0 \
	VMINPS  expTab<>+32(SB), Y0, Y0 \
	VMULPS  expTab<>+64(SB), Y0, Y1 \
	VROUNDPS $0, Y1, Y1 \
	VFNMADD231PS expTab<>+96(SB), Y1, Y0 \
	VFNMADD231PS expTab<>+128(SB), Y1, Y0 \
	VMULPS  Y0, Y0, Y5 \
	VMOVUPS expTab<>+160(SB), Y6 \
	VFMADD213PS expTab<>+192(SB), Y0, Y6 \
	VFMADD213PS expTab<>+224(SB), Y0, Y6 \
	VFMADD213PS expTab<>+256(SB), Y0, Y6 \
	VFMADD213PS expTab<>+288(SB), Y0, Y6 \
	VFMADD213PS expTab<>+320(SB), Y0, Y6 \
	VFMADD213PS Y0, Y5, Y6 \
	VADDPS  expTab<>+352(SB), Y6, Y6 \
	VCVTPS2DQ Y1, Y1 \
	VPSLLD  $23, Y1, Y1 \
	VPADDD  expTab<>+352(SB), Y1, Y1 \
	VMULPS  Y1, Y6, Y6 \
	VANDPS  Y2, Y6, Y6

// func affineSiLUAVX2(dst, src []float32, scale, shift float32)
// dst[i] = y·sigmoid(y) with y = src[i]·scale + shift, for the first
// len(src)&^7 elements (dst must be at least as long).
TEXT ·affineSiLUAVX2(SB), NOSPLIT, $0-56
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	SHRQ $3, CX
	JZ   silu_done
	VBROADCASTSS scale+48(FP), Y14
	VBROADCASTSS shift+52(FP), Y15

silu_loop:
	VMOVUPS (SI), Y7
	VFMADD213PS Y15, Y14, Y7     // y = src·scale + shift
	VMULPS  actTab<>+0(SB), Y7, Y0 // t = -y
	EXPY0
	VADDPS  expTab<>+352(SB), Y6, Y6    // 1 + e^-y
	VDIVPS  Y6, Y7, Y7
	VMOVUPS Y7, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     silu_loop
	VZEROUPPER

silu_done:
	RET

// func gegluAVX2(dst, val, gate []float32)
// dst[i] = val[i]·gelu(gate[i]) (exact-erf GELU via a rational erf
// approximation) for the first len(dst)&^7 elements.
TEXT ·gegluAVX2(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ val_base+24(FP), SI
	MOVQ gate_base+48(FP), DX
	SHRQ $3, CX
	JZ   geglu_done

geglu_loop:
	VMOVUPS (DX), Y7              // g
	VMULPS  actTab<>+64(SB), Y7, Y0  // x = g/√2, clamped to [-4, 4]
	VMINPS  actTab<>+96(SB), Y0, Y0
	VMAXPS  actTab<>+128(SB), Y0, Y0
	VMULPS  Y0, Y0, Y1            // x²
	VMOVUPS actTab<>+160(SB), Y2
	VFMADD213PS actTab<>+192(SB), Y1, Y2
	VFMADD213PS actTab<>+224(SB), Y1, Y2
	VFMADD213PS actTab<>+256(SB), Y1, Y2
	VFMADD213PS actTab<>+288(SB), Y1, Y2
	VFMADD213PS actTab<>+320(SB), Y1, Y2
	VFMADD213PS actTab<>+352(SB), Y1, Y2
	VMOVUPS actTab<>+384(SB), Y3
	VFMADD213PS actTab<>+416(SB), Y1, Y3
	VFMADD213PS actTab<>+448(SB), Y1, Y3
	VFMADD213PS actTab<>+480(SB), Y1, Y3
	VFMADD213PS actTab<>+512(SB), Y1, Y3
	VMULPS  Y0, Y2, Y2            // x·P
	VDIVPS  Y3, Y2, Y2            // erf
	VADDPS  expTab<>+352(SB), Y2, Y2     // 1 + erf
	VMULPS  actTab<>+32(SB), Y7, Y7    // g/2
	VMULPS  Y2, Y7, Y7            // gelu(g)
	VMULPS  (SI), Y7, Y7          // · val
	VMOVUPS Y7, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     geglu_loop
	VZEROUPPER

geglu_done:
	RET

// func expShiftAVX512(x []float32, shift float32, sum *[8]float32)
//
// expShiftAVX2 sixteen lanes at a time for the first len(x)&^15 elements:
// the same operations lane by lane (VRNDSCALEPS $0 rounds as VROUNDPS $0),
// so every exp is bit-identical, and each 16-lane result is added into the
// eight sums as its low then its high half, the order expShiftAVX2 adds
// them in, so the sums are bit-identical too.
TEXT ·expShiftAVX512(SB), NOSPLIT, $0-40
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	MOVQ sum+32(FP), DI
	SHRQ $4, CX
	JZ   done512
	VBROADCASTSS shift+24(FP), Z15
	VMOVUPS (DI), Y3

loop512:
	VMOVUPS (SI), Z0
	VSUBPS  Z15, Z0, Z0
	VCMPPS.BCST  $0x1d, expTab<>+0(SB), Z0, K1
	VMAXPS.BCST  expTab<>+0(SB), Z0, Z0
	VMINPS.BCST  expTab<>+32(SB), Z0, Z0
	VMULPS.BCST  expTab<>+64(SB), Z0, Z1
	VRNDSCALEPS $0, Z1, Z1
	VFNMADD231PS.BCST expTab<>+96(SB), Z1, Z0
	VFNMADD231PS.BCST expTab<>+128(SB), Z1, Z0
	VMULPS  Z0, Z0, Z5
	VBROADCASTSS expTab<>+160(SB), Z6
	VFMADD213PS.BCST expTab<>+192(SB), Z0, Z6
	VFMADD213PS.BCST expTab<>+224(SB), Z0, Z6
	VFMADD213PS.BCST expTab<>+256(SB), Z0, Z6
	VFMADD213PS.BCST expTab<>+288(SB), Z0, Z6
	VFMADD213PS.BCST expTab<>+320(SB), Z0, Z6
	VFMADD213PS Z0, Z5, Z6
	VADDPS.BCST  expTab<>+352(SB), Z6, Z6
	VCVTPS2DQ Z1, Z1
	VPSLLD  $23, Z1, Z1
	VPADDD.BCST  expTab<>+352(SB), Z1, Z1
	VMULPS  Z1, Z6, Z6
	VMOVAPS.Z Z6, K1, Z6
	VMOVUPS Z6, (SI)
	VADDPS  Y6, Y3, Y3
	VEXTRACTF32X8 $1, Z6, Y7
	VADDPS  Y7, Y3, Y3
	ADDQ    $64, SI
	DECQ    CX
	JNZ     loop512

	VMOVUPS Y3, (DI)
	VZEROUPPER

done512:
	RET

// func maxAVX512(x []float32, lanes *[8]float32)
// maxAVX2 sixteen lanes at a time for the first len(x)&^15 elements (a
// maximum does not depend on the order it is taken in).
TEXT ·maxAVX512(SB), NOSPLIT, $0-32
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	MOVQ lanes+24(FP), DI
	SHRQ $4, CX
	JZ   max512done
	VBROADCASTF32X8 (DI), Z0
	VMOVUPS Z0, Z1

max512loop:
	VMAXPS (SI), Z0, Z0
	ADDQ   $64, SI
	DECQ   CX
	JZ     max512fold
	VMAXPS (SI), Z1, Z1
	ADDQ   $64, SI
	DECQ   CX
	JNZ    max512loop

max512fold:
	VMAXPS  Z1, Z0, Z0
	VEXTRACTF32X8 $1, Z0, Y1
	VMAXPS  Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	VZEROUPPER

max512done:
	RET

// func exp2AffineAVX512(x []float32, a, b float32, sum *[16]float32)
//
// For every element (the last partial vector under a mask): x[i] =
// 2^(a·x[i] − b), the results added into the sixteen lanes of *sum. This is
// the bf16 attention's softmax (a = scale·log2e, b = shift·a, both from the
// caller), whose probabilities are rounded to bfloat16 (8 significant bits)
// before they are used, so it trades exactness for speed: t = a·x − b is
// clamped below at −150 (so −Inf and anything smaller yield 0), split into
// n = round(t) and f = t − n in [−½, ½], 2^f comes from its degree-5 Taylor
// polynomial (relative error ≤ 2.5e-6) and VSCALEFPS multiplies in 2^n.
// Two vectors per iteration with two sums keep the adds off the critical path.
TEXT ·exp2AffineAVX512(SB), NOSPLIT, $0-40
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	MOVQ sum+32(FP), DI
	VBROADCASTSS a+24(FP), Z15
	VBROADCASTSS b+28(FP), Z14
	MOVL $0xc3160000, AX        // -150
	VPBROADCASTD AX, Z13
	MOVL $0x3aaec3ff, AX        // ln2^5/120
	VPBROADCASTD AX, Z12
	MOVL $0x3c1d955b, AX        // ln2^4/24
	VPBROADCASTD AX, Z11
	MOVL $0x3d635847, AX        // ln2^3/6
	VPBROADCASTD AX, Z10
	MOVL $0x3e75fdf0, AX        // ln2^2/2
	VPBROADCASTD AX, Z9
	MOVL $0x3f317218, AX        // ln2
	VPBROADCASTD AX, Z8
	MOVL $0x3f800000, AX        // 1
	VPBROADCASTD AX, Z7
	VMOVUPS (DI), Z3
	VPXORD Z4, Z4, Z4
	MOVQ CX, BX
	SHRQ $5, BX                 // BX = pairs of whole vectors
	JZ   single

pairloop:
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z16
	VFMSUB213PS Z14, Z15, Z0    // t = a·x − b
	VFMSUB213PS Z14, Z15, Z16
	VMAXPS Z13, Z0, Z0
	VMAXPS Z13, Z16, Z16
	VRNDSCALEPS $0, Z0, Z1      // n = round(t)
	VRNDSCALEPS $0, Z16, Z17
	VSUBPS Z1, Z0, Z0           // f = t − n
	VSUBPS Z17, Z16, Z16
	VMOVAPS Z12, Z2
	VMOVAPS Z12, Z18
	VFMADD213PS Z11, Z0, Z2
	VFMADD213PS Z11, Z16, Z18
	VFMADD213PS Z10, Z0, Z2
	VFMADD213PS Z10, Z16, Z18
	VFMADD213PS Z9, Z0, Z2
	VFMADD213PS Z9, Z16, Z18
	VFMADD213PS Z8, Z0, Z2
	VFMADD213PS Z8, Z16, Z18
	VFMADD213PS Z7, Z0, Z2
	VFMADD213PS Z7, Z16, Z18
	VSCALEFPS Z1, Z2, Z2        // 2^f · 2^n
	VSCALEFPS Z17, Z18, Z18
	VMOVUPS Z2, (SI)
	VMOVUPS Z18, 64(SI)
	VADDPS Z2, Z3, Z3
	VADDPS Z18, Z4, Z4
	ADDQ $128, SI
	DECQ BX
	JNZ  pairloop

single:
	ANDQ $31, CX                // elements left: up to two vectors, the last partial
	JZ   finish

tailloop:
	MOVQ $0xffff, AX
	CMPQ CX, $16
	JGE  tailmask
	MOVQ $1, AX
	SHLXQ CX, AX, AX
	DECQ AX

tailmask:
	KMOVW AX, K1
	VMOVUPS.Z (SI), K1, Z0
	VFMSUB213PS Z14, Z15, Z0
	VMAXPS Z13, Z0, Z0
	VRNDSCALEPS $0, Z0, Z1
	VSUBPS Z1, Z0, Z0
	VMOVAPS Z12, Z2
	VFMADD213PS Z11, Z0, Z2
	VFMADD213PS Z10, Z0, Z2
	VFMADD213PS Z9, Z0, Z2
	VFMADD213PS Z8, Z0, Z2
	VFMADD213PS Z7, Z0, Z2
	VSCALEFPS Z1, Z2, Z2
	VMOVUPS Z2, K1, (SI)
	VADDPS Z2, Z3, K1, Z3
	ADDQ $64, SI
	SUBQ $16, CX
	JG   tailloop

finish:
	VADDPS Z4, Z3, Z3
	VMOVUPS Z3, (DI)
	VZEROUPPER
	RET

// func sumF64AVX512(x []float32) float64
//
// The sum of the first len(x)&^31 elements, each widened to float64 and
// added into four 8-lane float64 sums (the order differs from a scalar loop;
// with float64 sums of float32 values the difference is ~1e-16 relative).
TEXT ·sumF64AVX512(SB), NOSPLIT, $0-32
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	SHRQ $5, CX
	VXORPD Z0, Z0, Z0
	VXORPD Z1, Z1, Z1
	VXORPD Z2, Z2, Z2
	VXORPD Z3, Z3, Z3
	TESTQ CX, CX
	JZ   sumfold

sumloop:
	VCVTPS2PD (SI), Z4
	VCVTPS2PD 32(SI), Z5
	VCVTPS2PD 64(SI), Z6
	VCVTPS2PD 96(SI), Z7
	VADDPD Z4, Z0, Z0
	VADDPD Z5, Z1, Z1
	VADDPD Z6, Z2, Z2
	VADDPD Z7, Z3, Z3
	ADDQ $128, SI
	DECQ CX
	JNZ  sumloop

sumfold:
	VADDPD Z1, Z0, Z0
	VADDPD Z3, Z2, Z2
	VADDPD Z2, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPD Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPD X1, X0, X0
	VPERMILPD $1, X0, X1
	VADDSD X1, X0, X0
	MOVSD X0, ret+24(FP)
	VZEROUPPER
	RET

// func sqDevF64AVX512(x []float32, mean float64) float64
//
// Σ (float64(x[i]) − mean)² over the first len(x)&^31 elements, in four
// 8-lane float64 sums.
TEXT ·sqDevF64AVX512(SB), NOSPLIT, $0-40
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	SHRQ $5, CX
	VBROADCASTSD mean+24(FP), Z8
	VXORPD Z0, Z0, Z0
	VXORPD Z1, Z1, Z1
	VXORPD Z2, Z2, Z2
	VXORPD Z3, Z3, Z3
	TESTQ CX, CX
	JZ   sqfold

sqloop:
	VCVTPS2PD (SI), Z4
	VCVTPS2PD 32(SI), Z5
	VCVTPS2PD 64(SI), Z6
	VCVTPS2PD 96(SI), Z7
	VSUBPD Z8, Z4, Z4
	VSUBPD Z8, Z5, Z5
	VSUBPD Z8, Z6, Z6
	VSUBPD Z8, Z7, Z7
	VFMADD231PD Z4, Z4, Z0
	VFMADD231PD Z5, Z5, Z1
	VFMADD231PD Z6, Z6, Z2
	VFMADD231PD Z7, Z7, Z3
	ADDQ $128, SI
	DECQ CX
	JNZ  sqloop

sqfold:
	VADDPD Z1, Z0, Z0
	VADDPD Z3, Z2, Z2
	VADDPD Z2, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPD Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPD X1, X0, X0
	VPERMILPD $1, X0, X1
	VADDSD X1, X0, X0
	MOVSD X0, ret+32(FP)
	VZEROUPPER
	RET
