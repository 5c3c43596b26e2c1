package noise

import "math"

// fma32 returns a*b+c rounded once to float32, like the vfmadd*ps
// instructions a compiler emits when it contracts a multiply and an add.
//
// The product of two float32 values is exact in float64, but the sum may
// not be, and rounding twice (to float64, then to float32) can differ from a
// single rounding when the float64 sum lands exactly halfway between two
// float32 values. TwoSum recovers the float64 rounding error so such ties can
// be broken in the direction of the true result.
func fma32(a, b, c float32) float32 {
	p := float64(a) * float64(b)
	cd := float64(c)
	s := p + cd
	bv := s - p
	e := (p - (s - bv)) + (cd - bv)
	if e != 0 {
		const tail = 1<<29 - 1 // float64 mantissa bits below float32 precision
		if bits := math.Float64bits(s); bits&tail == 1<<28 {
			// A tie in float64 but not in exact arithmetic: nudge s toward
			// the true value s+e so the float32 rounding goes the right way.
			s = math.Nextafter(s, math.Copysign(math.Inf(1), e))
		}
	}
	return float32(s)
}
