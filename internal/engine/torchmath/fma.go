// Package torchmath reproduces, bit for bit, the float32 arithmetic that the reference libraries run on the
// CPU where it is not correctly rounded or where the order of rounding matters: fused multiply-adds, the
// SLEEF routines behind torch's vectorised log/exp/expm1, glibc's logf/sinf/cosf and avx_mathfun's log/sincos
// behind torch's randn, numpy's float32 log, torch.linspace and torch.lerp, and the float16/bfloat16
// roundings. Seeds, schedules and inpainting blends then match the reference exactly.
package torchmath

import "math"

// FMA32 returns a*b+c rounded once to float32, like the vfmadd*ps
// instructions a compiler emits when it contracts a multiply and an add.
//
// The product of two float32 values is exact in float64, but the sum may
// not be, and rounding twice (to float64, then to float32) can differ from a
// single rounding when the float64 sum lands exactly halfway between two
// float32 values. TwoSum recovers the float64 rounding error so such ties can
// be broken in the direction of the true result.
func FMA32(a, b, c float32) float32 {
	p := float64(a) * float64(b)
	cd := float64(c)
	s := p + cd
	bv := s - p
	e := (p - (s - bv)) + (cd - bv)
	const tail = 1<<29 - 1 // float64 mantissa bits below float32 precision
	if e != 0 && math.Float64bits(s)&tail == 1<<28 {
		// A tie in float64 but not in exact arithmetic: nudge s toward
		// the true value s+e so the float32 rounding goes the right way.
		s = math.Nextafter(s, math.Copysign(math.Inf(1), e))
	}
	return float32(s)
}

// Lerp is torch.lerp(start, end, weight), whose formula switches at
// weight 0.5 for accuracy.
func Lerp(start, end, weight float32) float32 {
	diff := end - start
	if weight < 0.5 {
		return start + float32(weight*diff)
	}
	return end - float32(diff*(1-weight))
}
