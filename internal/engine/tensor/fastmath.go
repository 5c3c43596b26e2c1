package tensor

import "math"

// Float32 elementary functions. The activations and the attention softmax
// evaluate billions of these per SD-1.5 step; float64 math.Exp/math.Erf are
// several times slower and more precise than float32 results need.

const (
	expHi = 88.3762626647949
	expLo = -87.3365447504019 // below this exp underflows float32's normal range
)

// expf returns e^x with about 1 ulp of error (Cephes expf): x = n·ln2 + r,
// |r| ≤ ln2/2, e^r by a degree-7 polynomial, 2^n via the exponent bits.
// Inputs below expLo, including -Inf, return 0.
func expf(x float32) float32 {
	if !(x > expLo) { // also catches NaN... which then returns 0
		if x != x {
			return x
		}
		return 0
	}
	if x > expHi {
		return float32(math.Inf(1))
	}
	// Adding 1.5·2²³ rounds to an integer in float32 arithmetic; the explicit
	// conversions keep the compiler from fusing or widening the steps.
	const roundMagic = 12582912
	n := float32(float32(x*1.44269504088896341)+roundMagic) - roundMagic
	r := x - n*0.693359375
	r -= n * -2.12194440e-4
	r2 := r * r
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	p = p*r2 + r + 1
	// Scale by 2^n in two steps so n near the limits cannot overflow the
	// biased exponent.
	ni := int32(n)
	h := ni / 2
	return p * math.Float32frombits(uint32(h+127)<<23) * math.Float32frombits(uint32(ni-h+127)<<23)
}

// erff approximates erf(x) as x·P(x²)/Q(x²) on [-4, 4] (where erf is ±1 to
// float32 precision beyond), accurate to a few float32 ulp.
func erff(x float32) float32 {
	x = min(max(x, -4), 4)
	x2 := x * x
	p := float32(-2.72614225801306e-10)
	p = p*x2 + 2.77068142495902e-08
	p = p*x2 + -2.10102402082508e-06
	p = p*x2 + -5.69250639462346e-05
	p = p*x2 + -7.34990630326855e-04
	p = p*x2 + -2.95459980854025e-03
	p = p*x2 + -1.60960333262415e-02
	q := float32(-1.45660718464996e-05)
	q = q*x2 + -2.13374055278905e-04
	q = q*x2 + -1.68282697438203e-03
	q = q*x2 + -7.37332916720468e-03
	q = q*x2 + -1.42647390514189e-02
	return x * p / q
}
