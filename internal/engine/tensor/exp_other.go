//go:build !amd64

package tensor

// expShiftSum replaces x[i] by exp(x[i]-shift) and returns the sum.
func expShiftSum(x []float32, shift float32) float32 {
	var sum float32
	for i, v := range x {
		e := expf(v - shift)
		x[i] = e
		sum += e
	}
	return sum
}

// maxFloat32 returns the largest element of x, or m if that is larger.
func maxFloat32(x []float32, m float32) float32 {
	for _, v := range x {
		if v > m {
			m = v
		}
	}
	return m
}

// affineSiLU writes dst[i] = silu(src[i]·scale + shift).
func affineSiLU(dst, src []float32, scale, shift float32) {
	for i, v := range src {
		dst[i] = siluf(v*scale + shift)
	}
}

// geglu writes dst[i] = val[i]·gelu(gate[i]).
func geglu(dst, val, gate []float32) {
	for i := range dst {
		dst[i] = val[i] * geluf(gate[i])
	}
}

// expScaledSum replaces x[i] by exp(scale·(x[i]−shift)) and returns the sum.
func expScaledSum(x []float32, scale, shift float32) float32 {
	for i, v := range x {
		x[i] = v * scale
	}
	return expShiftSum(x, shift*scale)
}

// meanVar returns the mean and biased variance (see meanVarScalar).
func meanVar(s []float32) (float64, float64) { return meanVarScalar(s) }
