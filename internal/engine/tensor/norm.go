package tensor

import (
	"fmt"
	"math"
)

// GroupNorm normalises x [N, C, ...] over groups of C/groups channels and
// the spatial dimensions, then applies a per-channel affine transform. When
// silu is true the SiLU activation that follows almost every GroupNorm in the
// models is fused in.
func GroupNorm(x *Tensor, groups int, weight, bias []float32, eps float32, silu bool) *Tensor {
	out := Empty(x.Shape...)
	GroupNormInto(out.Data, x, groups, weight, bias, eps, silu)
	return out
}

// GroupNormInto is GroupNorm writing into dst (which may alias x.Data).
func GroupNormInto(dst []float32, x *Tensor, groups int, weight, bias []float32, eps float32, silu bool) {
	n, c := x.Shape[0], x.Shape[1]
	if c%groups != 0 || len(weight) != c || len(bias) != c {
		panic(fmt.Sprintf("groupnorm: %d channels, %d groups, %d weights", c, groups, len(weight)))
	}
	spatial := len(x.Data) / (n * c)
	cpg := c / groups
	groupSize := cpg * spatial
	parallelFor(n*groups, groupSize*3, func(lo, hi int) {
		for ng := lo; ng < hi; ng++ {
			src := x.Data[ng*groupSize : (ng+1)*groupSize]
			mean, variance := meanVar(src)
			inv := 1 / math.Sqrt(variance+float64(eps))
			g := ng % groups
			for ci := 0; ci < cpg; ci++ {
				ch := g*cpg + ci
				scale := float32(inv) * weight[ch]
				shift := bias[ch] - float32(mean)*scale
				s := src[ci*spatial : (ci+1)*spatial]
				d := dst[ng*groupSize+ci*spatial:][:spatial]
				if silu {
					affineSiLU(d, s, scale, shift)
				} else {
					for i, v := range s {
						d[i] = v*scale + shift
					}
				}
			}
		}
	})
}

// meanVarScalar returns the mean and biased variance, accumulated in
// float64 so large groups do not lose precision (meanVar's portable form).
func meanVarScalar(s []float32) (float64, float64) {
	var sum float64
	for _, v := range s {
		sum += float64(v)
	}
	mean := sum / float64(len(s))
	var sq float64
	for _, v := range s {
		d := float64(v) - mean
		sq += d * d
	}
	return mean, sq / float64(len(s))
}

// LayerNorm normalises each row of the last dimension and applies weight and
// bias (either may be nil).
func LayerNorm(x *Tensor, weight, bias []float32, eps float32) *Tensor {
	out := Empty(x.Shape...)
	LayerNormInto(out.Data, x.Data, x.Dim(-1), weight, bias, eps)
	return out
}

// LayerNormInto normalises rows of width d from src into dst.
func LayerNormInto(dst, src []float32, d int, weight, bias []float32, eps float32) {
	rows := len(src) / d
	parallelFor(rows, d*3, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			s := src[r*d : (r+1)*d]
			o := dst[r*d : (r+1)*d]
			mean, variance := meanVar(s)
			inv := float32(1 / math.Sqrt(variance+float64(eps)))
			m := float32(mean)
			for i, v := range s {
				y := (v - m) * inv
				if weight != nil {
					y *= weight[i]
				}
				if bias != nil {
					y += bias[i]
				}
				o[i] = y
			}
		}
	})
}

// Softmax applies a numerically stable softmax to each row of width d in place.
func Softmax(x []float32, d int) {
	rows := len(x) / d
	parallelFor(rows, d*4, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			softmaxRow(x[r*d : (r+1)*d])
		}
	})
}

func softmaxRow(row []float32) {
	m := maxFloat32(row, float32(math.Inf(-1)))
	sum := expShiftSum(row, m)
	inv := 1 / sum
	for i := range row {
		row[i] *= inv
	}
}
