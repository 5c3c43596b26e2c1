package torchmath

import "math"

// LinspaceF32 is torch.linspace(start, end, steps, dtype=float32) as
// torch's AVX2 CPU kernel computes it: start/end rounded to float32, a
// float32 step, the first half counted up from start and the second half
// down from end, within each 8-wide vector base + k*step. The kernel is
// compiled with FMA contraction, so each multiply-add rounds once; that
// matters for the vector bases (bit-exact against torch's betas only so).
func LinspaceF32(start64, end64 float64, steps int) []float32 {
	start, end := float32(start64), float32(end64)
	out := make([]float32, steps)
	if steps == 1 {
		out[0] = start
		return out
	}
	step := (end - start) / float32(steps-1)
	halfway := steps / 2
	at := func(i int) float32 {
		if i < halfway {
			return FMA32(step, float32(i), start)
		}
		return FMA32(-step, float32(steps-i-1), end)
	}
	const vec = 8
	i := 0
	// cpu_serial_kernel_vec runs two vectors per iteration while 16 or
	// more elements remain, then finishes element by element.
	for ; i+2*vec <= steps; i += 2 * vec {
		for _, v := range [2]int{i, i + vec} {
			base := at(v)
			for k := 0; k < vec; k++ {
				out[v+k] = FMA32(float32(k), step, base)
			}
		}
	}
	for ; i < steps; i++ {
		out[i] = at(i)
	}
	return out
}

// numpy's float32 log coefficients (a rational minimax approximation of
// log(1+x), from npy_math's NPY_COEFF_*_LOGf).
const (
	npLogP0 = float32(0.000000000000000000000e+00)
	npLogP1 = float32(9.999999999999998702752e-01)
	npLogP2 = float32(2.112677543073053063722e+00)
	npLogP3 = float32(1.480000633576506585156e+00)
	npLogP4 = float32(3.808837741388407920751e-01)
	npLogP5 = float32(2.589979117907922693523e-02)
	npLogQ0 = float32(1.000000000000000000000e+00)
	npLogQ1 = float32(2.612677543073109236779e+00)
	npLogQ2 = float32(2.453006071784736363091e+00)
	npLogQ3 = float32(9.864942958519418960339e-01)
	npLogQ4 = float32(1.546476374983906719538e-01)
	npLogQ5 = float32(5.875095403124574342950e-03)
)

// NumpyLogf is np.log on a float32 array as numpy's AVX2/AVX512F kernel
// computes it (up to 3.8 ULP off, so it matters for bit-exact schedules):
// split x into mantissa in [0.5, 1) and exponent, fold the mantissa above
// sqrt(1/2), then a P/Q rational approximation of log(1+x) with fused
// multiply-adds. Inputs are positive normal numbers here.
func NumpyLogf(x float32) float32 {
	bits := math.Float32bits(x)
	exponent := float32(int32(bits>>23) - 0x7e)
	m := math.Float32frombits(bits&0x7fffff | 126<<23)
	if m <= float32(math.Sqrt2/2) {
		m += m
		exponent--
	}
	m--
	num := FMA32(npLogP5, m, npLogP4)
	num = FMA32(num, m, npLogP3)
	num = FMA32(num, m, npLogP2)
	num = FMA32(num, m, npLogP1)
	num = FMA32(num, m, npLogP0)
	den := FMA32(npLogQ5, m, npLogQ4)
	den = FMA32(den, m, npLogQ3)
	den = FMA32(den, m, npLogQ2)
	den = FMA32(den, m, npLogQ1)
	den = FMA32(den, m, npLogQ0)
	return FMA32(exponent, float32(math.Ln2), num/den)
}
