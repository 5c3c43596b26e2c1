package tensor

import (
	"fmt"

	"github.com/invokego/invokego/internal/engine/gemm"
)

// Conv2D is a 2-D convolution over NCHW input with weight [OutC, InC, KH, KW].
// Padding may be asymmetric because the VAE encoder pads only the bottom and
// right edges before its stride-2 convolutions.
type Conv2D struct {
	InC, OutC, KH, KW int
	Stride            int
	PadTop, PadBottom int
	PadLeft, PadRight int
	Weight            []float32
	Bias              []float32 // [OutC] or nil
}

// NewConv2D builds a convolution with symmetric padding.
func NewConv2D(inC, outC, kh, kw, stride, pad int, weight, bias []float32) (*Conv2D, error) {
	if len(weight) != outC*inC*kh*kw {
		return nil, fmt.Errorf("conv %dx%d %d->%d: weight has %d elements", kh, kw, inC, outC, len(weight))
	}
	if bias != nil && len(bias) != outC {
		return nil, fmt.Errorf("conv %d->%d: bias has %d elements", inC, outC, len(bias))
	}
	if stride < 1 {
		return nil, fmt.Errorf("conv: stride %d", stride)
	}
	return &Conv2D{InC: inC, OutC: outC, KH: kh, KW: kw, Stride: stride,
		PadTop: pad, PadBottom: pad, PadLeft: pad, PadRight: pad, Weight: weight, Bias: bias}, nil
}

// OutputSize returns the spatial output size for an h×w input.
func (c *Conv2D) OutputSize(h, w int) (int, int) {
	return (h+c.PadTop+c.PadBottom-c.KH)/c.Stride + 1, (w+c.PadLeft+c.PadRight-c.KW)/c.Stride + 1
}

// Forward convolves x [N, InC, H, W].
func (c *Conv2D) Forward(x *Tensor) *Tensor {
	if len(x.Shape) != 4 || x.Shape[1] != c.InC {
		panic(fmt.Sprintf("conv2d: input %v, want [N,%d,H,W]", x.Shape, c.InC))
	}
	n, h, w := x.Shape[0], x.Shape[2], x.Shape[3]
	ho, wo := c.OutputSize(h, w)
	out := Empty(n, c.OutC, ho, wo)
	conv2DIm2col(c, x.Data, n, h, w, out.Data, ho, wo, maxColFloats)
	return out
}

// maxColFloats bounds the im2col scratch buffer (16 MiB); larger outputs are
// processed in bands of output rows.
const maxColFloats = 4 << 20

// conv2DIm2col is the single convolution kernel: it lowers each band of
// output rows to a column matrix and multiplies it by the weight with gemm.
// A fused packing kernel can replace this function without touching callers.
// maxCol bounds the column buffer (a parameter so tests can force banding).
func conv2DIm2col(c *Conv2D, x []float32, n, h, w int, out []float32, ho, wo, maxCol int) {
	k := c.InC * c.KH * c.KW
	hw := ho * wo
	pointwise := c.KH == 1 && c.KW == 1 && c.Stride == 1 && c.PadTop == 0 && c.PadBottom == 0 && c.PadLeft == 0 && c.PadRight == 0
	bandRows := max(1, min(ho, maxCol/max(1, k*wo)))
	var col []float32
	if !pointwise {
		col = getBuffer(k * bandRows * wo)
		defer putBuffer(col)
	}
	for b := 0; b < n; b++ {
		xb := x[b*c.InC*h*w : (b+1)*c.InC*h*w]
		ob := out[b*c.OutC*hw : (b+1)*c.OutC*hw]
		if pointwise {
			gemm.Sgemm(false, false, c.OutC, hw, k, 1, c.Weight, k, xb, hw, 0, ob, hw)
		} else {
			for y0 := 0; y0 < ho; y0 += bandRows {
				rows := min(bandRows, ho-y0)
				cols := rows * wo
				im2colBand(c, xb, h, w, y0, rows, wo, col[:k*cols])
				gemm.Sgemm(false, false, c.OutC, cols, k, 1, c.Weight, k, col, cols, 0, ob[y0*wo:], hw)
			}
		}
		if c.Bias != nil {
			parallelFor(c.OutC, hw, func(lo, hi int) {
				for oc := lo; oc < hi; oc++ {
					bias := c.Bias[oc]
					row := ob[oc*hw : (oc+1)*hw]
					for i := range row {
						row[i] += bias
					}
				}
			})
		}
	}
}

// im2colBand fills col [InC·KH·KW, rows·wo] for output rows y0..y0+rows.
func im2colBand(c *Conv2D, x []float32, h, w, y0, rows, wo int, col []float32) {
	cols := rows * wo
	parallelFor(c.InC, c.KH*c.KW*cols, func(lo, hi int) {
		for ci := lo; ci < hi; ci++ {
			plane := x[ci*h*w : (ci+1)*h*w]
			for ky := 0; ky < c.KH; ky++ {
				for kx := 0; kx < c.KW; kx++ {
					dst := col[((ci*c.KH+ky)*c.KW+kx)*cols:][:cols]
					for r := 0; r < rows; r++ {
						iy := (y0+r)*c.Stride + ky - c.PadTop
						drow := dst[r*wo : (r+1)*wo]
						if iy < 0 || iy >= h {
							clear(drow)
							continue
						}
						src := plane[iy*w : (iy+1)*w]
						ix := kx - c.PadLeft
						if c.Stride == 1 {
							// A contiguous run of the input row, zero outside it.
							lo, hi := max(0, -ix), min(wo, w-ix)
							if lo >= hi {
								clear(drow)
								continue
							}
							clear(drow[:lo])
							copy(drow[lo:hi], src[ix+lo:ix+hi])
							clear(drow[hi:])
							continue
						}
						for ox := range drow {
							if j := ix + ox*c.Stride; j >= 0 && j < w {
								drow[ox] = src[j]
							} else {
								drow[ox] = 0
							}
						}
					}
				}
			}
		}
	})
}
