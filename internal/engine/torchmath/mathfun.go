package torchmath

import "math"

// This file evaluates, one lane at a time, the float32 Cephes polynomials that
// PyTorch's AVX2 randn kernel runs through avx_mathfun's log256_ps and
// sincos256_ps. Every operation is a float32 operation in the same order as
// the vector code, so the results are bit-identical to it.
//
// PyTorch compiles that code with -mavx2 -mfma, and GCC contracts a
// multiply whose only use is an add into one fused multiply-add (FMA32
// here). Without the contractions about 1 value in 100 differs in the last
// bit, so they are part of the kernel's definition.

// Cephes single-precision constants, as avx_mathfun declares them (each is
// rounded to float32 once, at compile time).
const (
	cephesSqrtHalf = float32(0.707106781186547524)
	logP0          = float32(7.0376836292e-2)
	logP1          = float32(-1.1514610310e-1)
	logP2          = float32(1.1676998740e-1)
	logP3          = float32(-1.2420140846e-1)
	logP4          = float32(+1.4249322787e-1)
	logP5          = float32(-1.6668057665e-1)
	logP6          = float32(+2.0000714765e-1)
	logP7          = float32(-2.4999993993e-1)
	logP8          = float32(+3.3333331174e-1)
	logQ1          = float32(-2.12194440e-4)
	logQ2          = float32(0.693359375)

	minusDP1   = float32(-0.78515625)
	minusDP2   = float32(-2.4187564849853515625e-4)
	minusDP3   = float32(-3.77489497744594108e-8)
	sinCoefP0  = float32(-1.9515295891e-4)
	sinCoefP1  = float32(8.3321608736e-3)
	sinCoefP2  = float32(-1.6666654611e-1)
	cosCoefP0  = float32(2.443315711809948e-005)
	cosCoefP1  = float32(-1.388731625493765e-003)
	cosCoefP2  = float32(4.166664568298827e-002)
	fourOverPi = float32(1.27323954473516)
)

// CephesLog is one lane of avx_mathfun's log256_ps. Inputs are in (0, 1] here,
// so the NaN masking of non-positive inputs is not needed.
func CephesLog(x float32) float32 {
	const minNormPos = 0x00800000
	bits := math.Float32bits(x)
	if bits < minNormPos && x >= 0 { // _mm256_max_ps with the smallest normal
		bits = minNormPos
	}
	exponent := int32(bits >> 23)
	// Keep the mantissa, force the exponent of 0.5: x in [0.5, 1).
	x = math.Float32frombits(bits&^0x7f800000 | 0x3f000000)
	e := float32(exponent-0x7f) + 1

	// if x < sqrt(1/2) { e -= 1; x = x + x - 1 } else { x = x - 1 }
	var tmp, eAdj float32
	if x < cephesSqrtHalf {
		tmp, eAdj = x, 1
	}
	x = x - 1
	e = e - eAdj
	x = x + tmp

	z := x * x
	y := FMA32(logP0, x, logP1)
	y = FMA32(y, x, logP2)
	y = FMA32(y, x, logP3)
	y = FMA32(y, x, logP4)
	y = FMA32(y, x, logP5)
	y = FMA32(y, x, logP6)
	y = FMA32(y, x, logP7)
	y = FMA32(y, x, logP8)
	y = y * x
	// y*z + e*q1: GCC fuses the first multiply it meets (y*z); e*q1 is
	// rounded on its own.
	y = FMA32(y, z, e*logQ1)
	y = y - z*0.5 // z*0.5 is exact, fused or not
	x = x + y
	x = x + e*logQ2 // e*q2 is exact: e is a small integer, q2 has 9 bits
	return x
}

// CephesSinCos is one lane of avx_mathfun's sincos256_ps.
func CephesSinCos(x float32) (sin, cos float32) {
	signSin := math.Float32bits(x) & 0x80000000
	x = math.Float32frombits(math.Float32bits(x) &^ 0x80000000)

	// j = (int(x*4/pi) + 1) &^ 1, the octant rounded up to even.
	j := int32(x*fourOverPi) + 1
	j &^= 1
	y := float32(j)

	swapSignSin := uint32(j&4) << 29
	sinFromSinPoly := j&2 == 0 // otherwise the polynomials swap roles

	// Extended-precision range reduction x = ((x - y*DP1) - y*DP2) - y*DP3.
	x = FMA32(y, minusDP1, x)
	x = FMA32(y, minusDP2, x)
	x = FMA32(y, minusDP3, x)

	signCos := uint32(^(j-2)&4) << 29
	signSin ^= swapSignSin

	z := x * x
	yc := FMA32(cosCoefP0, z, cosCoefP1)
	yc = FMA32(yc, z, cosCoefP2)
	yc = yc * z
	yc = FMA32(yc, z, -(z * 0.5)) // yc*z - z*0.5, z*0.5 exact
	yc = yc + 1

	ys := FMA32(sinCoefP0, z, sinCoefP1)
	ys = FMA32(ys, z, sinCoefP2)
	ys = ys * z
	ys = FMA32(ys, x, x)

	// The vector code blends the two polynomials with masks; the adds of
	// +0 it performs on the way leave the selected value unchanged.
	s, c := ys, yc
	if !sinFromSinPoly {
		s, c = yc, ys
	}
	sin = math.Float32frombits(math.Float32bits(s) ^ signSin)
	cos = math.Float32frombits(math.Float32bits(c) ^ signCos)
	return sin, cos
}
