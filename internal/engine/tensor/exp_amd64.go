package tensor

import (
	"math"

	"golang.org/x/sys/cpu"
)

//go:noescape
func expShiftAVX2(x []float32, shift float32, sum *[8]float32)

//go:noescape
func expShiftAVX512(x []float32, shift float32, sum *[8]float32)

//go:noescape
func maxAVX512(x []float32, lanes *[8]float32)

//go:noescape
func maxAVX2(x []float32, lanes *[8]float32)

//go:noescape
func affineSiLUAVX2(dst, src []float32, scale, shift float32)

//go:noescape
func gegluAVX2(dst, val, gate []float32)

// haveExpAVX2 is fixed at start-up from the CPU's features.
var haveExpAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// haveExpAVX512 selects the 16-lane softmax exp (bit-identical results).
var haveExpAVX512 = haveExpAVX2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ

// expShiftSum replaces x[i] by exp(x[i]-shift) and returns the sum. It
// expects x[i] <= shift, as in a softmax after subtracting the row maximum.
func expShiftSum(x []float32, shift float32) float32 {
	var sum float32
	head := 0
	if haveExpAVX2 && len(x) >= 8 {
		var lanes [8]float32
		if haveExpAVX512 && len(x) >= 16 {
			// Sixteen lanes, then the AVX2 loop on a last 8 if any: the
			// lane sums see the elements in the same order either way.
			expShiftAVX512(x, shift, &lanes)
			head = len(x) &^ 15
		}
		expShiftAVX2(x[head:], shift, &lanes)
		head += (len(x) - head) &^ 7
		for _, v := range lanes {
			sum += v
		}
	}
	for i := head; i < len(x); i++ {
		e := expf(x[i] - shift)
		x[i] = e
		sum += e
	}
	return sum
}

// maxFloat32 returns the largest element of x, or m if that is larger.
// NaNs are not expected (scores of finite inputs).
func maxFloat32(x []float32, m float32) float32 {
	head := 0
	if haveExpAVX2 && len(x) >= 8 {
		lanes := [8]float32{m, m, m, m, m, m, m, m}
		if haveExpAVX512 && len(x) >= 16 {
			maxAVX512(x, &lanes)
			head = len(x) &^ 15
		}
		maxAVX2(x[head:], &lanes)
		head += (len(x) - head) &^ 7
		for _, v := range lanes {
			if v > m {
				m = v
			}
		}
	}
	for _, v := range x[head:] {
		if v > m {
			m = v
		}
	}
	return m
}

// affineSiLU writes dst[i] = silu(src[i]·scale + shift).
func affineSiLU(dst, src []float32, scale, shift float32) {
	head := 0
	if haveExpAVX2 {
		affineSiLUAVX2(dst, src, scale, shift)
		head = len(src) &^ 7
	}
	for i := head; i < len(src); i++ {
		dst[i] = siluf(src[i]*scale + shift)
	}
}

// geglu writes dst[i] = val[i]·gelu(gate[i]).
func geglu(dst, val, gate []float32) {
	head := 0
	if haveExpAVX2 {
		gegluAVX2(dst, val, gate)
		head = len(dst) &^ 7
	}
	for i := head; i < len(dst); i++ {
		dst[i] = val[i] * geluf(gate[i])
	}
}

//go:noescape
func exp2AffineAVX512(x []float32, a, b float32, sum *[16]float32)

// expScaledSum replaces x[i] by exp(scale·(x[i]−shift)) and returns the
// sum, for the bf16 attention's softmax, whose probabilities are rounded to
// bfloat16 next: with AVX-512 it takes exp2AffineAVX512's faster route
// (relative error ≤ 3e-6, far inside bf16's 2⁻⁹), elsewhere expShiftSum's.
// It expects x[i] ≤ shift and scale > 0.
func expScaledSum(x []float32, scale, shift float32) float32 {
	if !haveExpAVX512 {
		for i, v := range x {
			x[i] = v * scale
		}
		return expShiftSum(x, shift*scale)
	}
	var lanes [16]float32
	a := float64(scale) * math.Log2E
	exp2AffineAVX512(x, float32(a), float32(float64(shift)*a), &lanes)
	var sum float32
	for _, v := range lanes {
		sum += v
	}
	return sum
}

//go:noescape
func sumF64AVX512(x []float32) float64

//go:noescape
func sqDevF64AVX512(x []float32, mean float64) float64

// meanVar returns the mean and biased variance, accumulated in float64 so
// large groups do not lose precision: with AVX-512 in 32-element strides of
// vector sums (norms sat at 3 cycles an element on the scalar add chain),
// then the last few in order.
func meanVar(s []float32) (float64, float64) {
	if !haveExpAVX512 || len(s) < 32 {
		return meanVarScalar(s)
	}
	head := len(s) &^ 31
	sum := sumF64AVX512(s)
	for _, v := range s[head:] {
		sum += float64(v)
	}
	mean := sum / float64(len(s))
	sq := sqDevF64AVX512(s, mean)
	for _, v := range s[head:] {
		d := float64(v) - mean
		sq += d * d
	}
	return mean, sq / float64(len(s))
}
