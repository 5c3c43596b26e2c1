package tensor

import "math"

func sigmoidf(x float32) float32 { return 1 / (1 + expf(-x)) }

func siluf(x float32) float32 { return x * sigmoidf(x) }

// geluf is the exact (erf) GELU used by torch's default nn.GELU.
func geluf(x float32) float32 {
	return 0.5 * x * (1 + erff(x*(1/math.Sqrt2)))
}

func mapInPlace(x []float32, f func(float32) float32) {
	parallelFor(len(x), 20, func(lo, hi int) {
		s := x[lo:hi]
		for i, v := range s {
			s[i] = f(v)
		}
	})
}

// SiLU applies x·sigmoid(x) in place.
func SiLU(x []float32) {
	parallelFor(len(x), 20, func(lo, hi int) { affineSiLU(x[lo:hi], x[lo:hi], 1, 0) })
}

// GELU applies the exact erf-based GELU in place.
func GELU(x []float32) { mapInPlace(x, geluf) }

// GELUTanh applies GELU with the tanh approximation in place (diffusers'
// approximate="tanh", FLUX's MLP activation):
// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) = x·sigmoid(2·√(2/π)·(x + 0.044715·x³)).
func GELUTanh(x []float32) {
	const k = 2 * 0.7978845608028654
	parallelFor(len(x), 20, func(lo, hi int) {
		s := x[lo:hi]
		for i, v := range s {
			u := k * (v + 0.044715*v*v*v)
			s[i] = v / (1 + expf(-u))
		}
	})
}

// QuickGELU applies x·sigmoid(1.702x) in place, computed as SiLU(1.702x)/1.702
// so that the vectorised SiLU kernel does the exponentials.
func QuickGELU(x []float32) {
	const k = 1.702
	parallelFor(len(x), 20, func(lo, hi int) {
		s := x[lo:hi]
		affineSiLU(s, s, k, 0)
		for i := range s {
			s[i] *= 1 / k
		}
	})
}

// GEGLU splits the last dimension (2d wide) into a value half and a gate
// half and returns value·GELU(gate) with last dimension d: the diffusers
// GEGLU feed-forward activation.
func GEGLU(t *Tensor) *Tensor {
	d := t.Dim(-1) / 2
	shape := append([]int(nil), t.Shape...)
	shape[len(shape)-1] = d
	x := t.Data
	rows := len(x) / (2 * d)
	res := Empty(shape...)
	out := res.Data
	parallelFor(rows, d*20, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			val := x[r*2*d : r*2*d+d]
			gate := x[r*2*d+d : (r+1)*2*d]
			geglu(out[r*d:(r+1)*d], val, gate)
		}
	})
	return res
}
