package torchmath

import "math"

// RoundFloat16 rounds a float32 to the nearest IEEE binary16 value (ties to
// even) and returns it widened back to float32, like c10::Half(float).
func RoundFloat16(f float32) float32 {
	return Float16ToFloat32(Float32ToFloat16(f))
}

// RoundBFloat16 rounds a float32 to bfloat16 (ties to even), like
// c10::BFloat16(float), and widens it back.
func RoundBFloat16(f float32) float32 {
	b := math.Float32bits(f)
	if f != f {
		return f
	}
	b += 0x7fff + (b>>16)&1
	return math.Float32frombits(b &^ 0xffff)
}

// Float32ToFloat16 converts to IEEE binary16 bits, rounding to nearest even.
func Float32ToFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	absBits := b &^ 0x80000000
	switch {
	case absBits >= 0x7f800000: // Inf or NaN
		if absBits > 0x7f800000 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	case absBits >= 0x477ff000: // rounds to >= 65520: overflow to Inf
		return sign | 0x7c00
	case absBits < 0x38800000: // below the smallest normal half (2^-14)
		// Subnormal half: value = m * 2^-24. Scale, then round to an
		// integer with ties to even.
		a := float64(math.Float32frombits(absBits)) * (1 << 24)
		m := math.RoundToEven(a)
		return sign | uint16(m)
	default:
		exp := int32(absBits>>23) - 127 + 15
		mant := absBits & 0x7fffff
		h := uint32(exp)<<10 | mant>>13
		rem := mant & 0x1fff
		if rem > 0x1000 || (rem == 0x1000 && h&1 != 0) {
			h++ // may carry into the exponent, which is still correct
		}
		return sign | uint16(h)
	}
}

// Float16ToFloat32 widens IEEE binary16 bits to float32 (exactly).
func Float16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	default:
		v := float32(mant) * (1.0 / (1 << 24))
		if sign != 0 {
			v = -v
		}
		return v
	}
}
