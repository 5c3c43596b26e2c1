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
	Weight            []float32 // [OutC, InC, KH, KW]; nil once packed
	Bias              []float32 // [OutC] or nil

	// WrapX and WrapY make the padding circular along the width or height
	// (seamless tiling): the padded border repeats the opposite edge instead
	// of zeros. An axis that does not wrap keeps zero padding.
	WrapX, WrapY bool

	// Pre-packed Wᵀ (k×OutC) for the im2col-folded product; at most one is set.
	packed     *gemm.PackedB
	packedBF16 *gemm.PackedBBF16

	// Deltas are a run's additions to the output (see Delta); only ever
	// set on a run's shallow copy of the layer.
	Deltas []Delta
}

// Pack pre-packs the weight once, at load time, for gemm.SgemmConvPacked:
// the convolution then gathers its input windows while packing (no im2col
// matrix) and skips per-call weight packing. The unpacked weight is
// released (Weight becomes nil). Pack is not safe to call concurrently with
// Forward.
func (c *Conv2D) Pack() {
	if c.packed == nil && c.packedBF16 == nil {
		k := c.InC * c.KH * c.KW
		c.packed = gemm.PackB(true, k, c.OutC, c.Weight, k)
		c.Weight = nil
	}
}

// PackBF16 is Pack with the weight rounded to bfloat16 (half the memory;
// about twice the speed where the CPU has AVX512_BF16). See gemm's accuracy note.
func (c *Conv2D) PackBF16() {
	if c.packed == nil && c.packedBF16 == nil {
		k := c.InC * c.KH * c.KW
		c.packedBF16 = gemm.PackBBF16(true, k, c.OutC, c.Weight, k)
		c.Weight = nil
	}
}

// Packed reports whether the weight has been pre-packed (fp32 or bf16).
func (c *Conv2D) Packed() bool { return c.packed != nil || c.packedBF16 != nil }

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

// wraps reports whether circular padding applies: an axis wraps only where
// it is padded at all.
func (c *Conv2D) wraps() bool {
	return (c.WrapX && (c.PadLeft > 0 || c.PadRight > 0)) || (c.WrapY && (c.PadTop > 0 || c.PadBottom > 0))
}

// padded returns x padded as the convolution pads it (circular along the
// wrapped axes, zeros along the others) and the same convolution without
// padding, which computes on that input what c computes on x. The caller
// releases the padded tensor.
func (c *Conv2D) padded(x *Tensor) (*Tensor, *Conv2D) {
	n, ch, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	ph, pw := h+c.PadTop+c.PadBottom, w+c.PadLeft+c.PadRight
	// Torch's circular pad may not reach further than the input is wide.
	if (c.WrapY && max(c.PadTop, c.PadBottom) > h) || (c.WrapX && max(c.PadLeft, c.PadRight) > w) {
		panic(fmt.Sprintf("conv2d: circular padding %d,%d,%d,%d wider than a %dx%d input", c.PadTop, c.PadBottom, c.PadLeft, c.PadRight, h, w))
	}
	out := Empty(n, ch, ph, pw)
	// Source column of each padded column, or -1 for zero.
	cols := make([]int, pw)
	for j := range cols {
		cols[j] = wrapIndex(j-c.PadLeft, w, c.WrapX)
	}
	parallelFor(n*ch, ph*pw, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			src := x.Data[p*h*w : (p+1)*h*w]
			dst := out.Data[p*ph*pw : (p+1)*ph*pw]
			for i := range ph {
				drow := dst[i*pw : (i+1)*pw]
				si := wrapIndex(i-c.PadTop, h, c.WrapY)
				if si < 0 {
					clear(drow)
					continue
				}
				srow := src[si*w : (si+1)*w]
				for j, sj := range cols {
					if sj < 0 {
						drow[j] = 0
					} else {
						drow[j] = srow[sj]
					}
				}
			}
		}
	})
	plain := *c
	plain.PadTop, plain.PadBottom, plain.PadLeft, plain.PadRight = 0, 0, 0, 0
	plain.WrapX, plain.WrapY = false, false
	plain.Deltas = unpaddedDeltas(c.Deltas)
	return out, &plain
}

// wrapIndex maps a padded coordinate to its source in [0, size): modulo the
// size when the axis wraps, -1 (a zero) outside it otherwise.
func wrapIndex(i, size int, wrap bool) int {
	if i >= 0 && i < size {
		return i
	}
	if !wrap {
		return -1
	}
	return ((i % size) + size) % size
}

// Forward convolves x [N, InC, H, W].
func (c *Conv2D) Forward(x *Tensor) *Tensor {
	if len(x.Shape) != 4 || x.Shape[1] != c.InC {
		panic(fmt.Sprintf("conv2d: input %v, want [N,%d,H,W]", x.Shape, c.InC))
	}
	if c.wraps() {
		xp, plain := c.padded(x)
		defer xp.Release()
		return plain.Forward(xp)
	}
	n, h, w := x.Shape[0], x.Shape[2], x.Shape[3]
	ho, wo := c.OutputSize(h, w)
	out := Empty(n, c.OutC, ho, wo)
	if c.Packed() {
		c.forwardPacked(x.Data, n, h, w, out.Data, ho, wo)
	} else {
		conv2DIm2col(c, x.Data, n, h, w, out.Data, ho, wo, maxColFloats)
	}
	if len(c.Deltas) > 0 {
		addConvDeltas(c.Deltas, out, x)
	}
	return out
}

// ForwardAdd returns Forward(x) + residual (residual has the output's shape),
// adding as the packed product is laid out rather than in a second pass.
func (c *Conv2D) ForwardAdd(x, residual *Tensor) *Tensor {
	if c.wraps() {
		xp, plain := c.padded(x)
		defer xp.Release()
		return plain.ForwardAdd(xp, residual)
	}
	if !c.Packed() || len(c.Deltas) > 0 {
		out := c.Forward(x)
		AddInto(out.Data, out.Data, residual.Data)
		return out
	}
	if len(x.Shape) != 4 || x.Shape[1] != c.InC {
		panic(fmt.Sprintf("conv2d: input %v, want [N,%d,H,W]", x.Shape, c.InC))
	}
	n, h, w := x.Shape[0], x.Shape[2], x.Shape[3]
	ho, wo := c.OutputSize(h, w)
	out := Empty(n, c.OutC, ho, wo)
	if len(residual.Data) != len(out.Data) {
		panic(fmt.Sprintf("conv2d: residual %v for output %v", residual.Shape, out.Shape))
	}
	c.forwardPackedRes(x.Data, n, h, w, out.Data, ho, wo, residual.Data)
	return out
}

// forwardPacked multiplies the gathered input windows by the packed weight
// into a pixel-major scratch, then transposes it to NCHW adding the bias.
func (c *Conv2D) forwardPacked(x []float32, n, h, w int, out []float32, ho, wo int) {
	c.forwardPackedRes(x, n, h, w, out, ho, wo, nil)
}

// forwardPackedRes is forwardPacked adding res (NCHW like out) when not nil.
// The product is computed in bands of output pixels, each laid out into out
// while its pixel-major result is still in cache; the band buffer is reused.
func (c *Conv2D) forwardPackedRes(x []float32, n, h, w int, out []float32, ho, wo int, res []float32) {
	c.forwardPackedBands(x, n, h, w, out, ho, wo, res, max(convBandFloats, 576*c.OutC))
}

// forwardPackedBands is forwardPackedRes with bands of about bandFloats
// outputs (a parameter so tests can force many bands).
func (c *Conv2D) forwardPackedBands(x []float32, n, h, w int, out []float32, ho, wo int, res []float32, bandFloats int) {
	if c.Stride == 1 && c.PadTop+c.PadBottom+c.PadLeft+c.PadRight > 0 && n*c.InC*h*w < maxPaddedConvFloats {
		// Padding once (about one more pass over the input) lets the packing
		// gather every window without bounds checks, whichever output rows
		// and images a micro-panel spans; the product is unchanged (the
		// same zero taps in the same order). Large inputs are wide, where
		// few micro-panels touch an edge, so they skip the copy and the
		// memory it would hold (a VAE decode's 512² layers).
		xp, plain := c.padded(FromData(x[:n*c.InC*h*w], n, c.InC, h, w))
		plain.forwardPackedBands(xp.Data, n, xp.Shape[2], xp.Shape[3], out, ho, wo, res, bandFloats)
		xp.Release()
		return
	}
	in := gemm.ConvInput{X: x, N: n, C: c.InC, H: h, W: w, KH: c.KH, KW: c.KW, Stride: c.Stride,
		PadTop: c.PadTop, PadLeft: c.PadLeft, OutH: ho, OutW: wo}
	total := in.Rows()
	band := max(1, min(total, bandFloats/max(c.OutC, 1)))
	tmp := getBuffer(band * c.OutC)
	for r0 := 0; r0 < total; r0 += band {
		rows := min(band, total-r0)
		if c.packed != nil {
			gemm.SgemmConvPackedRows(&in, r0, rows, c.packed, tmp, c.OutC, false)
		} else {
			gemm.SgemmConvPackedRowsBF16(&in, r0, rows, c.packedBF16, tmp, c.OutC, false)
		}
		pixelsToChannels(out, tmp, r0, rows, ho*wo, c.OutC, c.Bias, res)
	}
	putBuffer(tmp)
}

// maxPaddedConvFloats bounds the inputs a packed convolution pads first
// (64 MiB: every SD-1.5 and SDXL UNet level up to 1024², the largest being
// 2×320×128² = 10.5M floats, but not a VAE decoder's 256² and 512² layers).
const maxPaddedConvFloats = 1 << 24

// convBandFloats sizes the pixel-major band of a packed convolution (4 MiB).
const convBandFloats = 1 << 20

// ForwardTokens convolves x [N, InC, H, W] and returns the result pixel-major,
// [N, OutH·OutW, OutC] (what NCHWToTokens of Forward's output would be): the
// layout the packed product produces, so no transpose is needed.
func (c *Conv2D) ForwardTokens(x *Tensor) *Tensor {
	if c.wraps() {
		xp, plain := c.padded(x)
		defer xp.Release()
		return plain.ForwardTokens(xp)
	}
	if !c.Packed() || len(c.Deltas) > 0 {
		y := c.Forward(x)
		t := NCHWToTokens(y)
		y.Release()
		return t
	}
	if len(x.Shape) != 4 || x.Shape[1] != c.InC {
		panic(fmt.Sprintf("conv2d: input %v, want [N,%d,H,W]", x.Shape, c.InC))
	}
	n, h, w := x.Shape[0], x.Shape[2], x.Shape[3]
	ho, wo := c.OutputSize(h, w)
	in := gemm.ConvInput{X: x.Data, N: n, C: c.InC, H: h, W: w, KH: c.KH, KW: c.KW, Stride: c.Stride,
		PadTop: c.PadTop, PadLeft: c.PadLeft, OutH: ho, OutW: wo}
	out := Empty(n, ho*wo, c.OutC)
	if c.packed != nil {
		gemm.SgemmConvPacked(&in, c.packed, out.Data, c.OutC, false)
	} else {
		gemm.SgemmConvPackedBF16(&in, c.packedBF16, out.Data, c.OutC, false)
	}
	if c.Bias != nil {
		addRowBias(out.Data, c.Bias)
	}
	return out
}

// ForwardFromTokens applies a 1×1, stride-1, unpadded convolution to
// pixel-major input tokens [N, h·w, InC] and returns NCHW [N, OutC, h, w],
// plus residual (same shape) when it is not nil: TokensToNCHW, Forward and
// an addition in one pass over the output.
func (c *Conv2D) ForwardFromTokens(tokens *Tensor, h, w int, residual *Tensor) *Tensor {
	pointwise := c.KH == 1 && c.KW == 1 && c.Stride == 1 && c.PadTop == 0 && c.PadBottom == 0 && c.PadLeft == 0 && c.PadRight == 0
	if !pointwise || len(tokens.Shape) != 3 || tokens.Shape[1] != h*w || tokens.Shape[2] != c.InC {
		panic(fmt.Sprintf("conv2d from tokens: %dx%d kernel, input %v for %dx%d", c.KH, c.KW, tokens.Shape, h, w))
	}
	n := tokens.Shape[0]
	if !c.Packed() || len(c.Deltas) > 0 {
		img := TokensToNCHW(tokens, h, w)
		out := c.Forward(img)
		img.Release()
		if residual != nil {
			AddInto(out.Data, out.Data, residual.Data)
		}
		return out
	}
	tmp := getBuffer(n * h * w * c.OutC)
	if c.packed != nil {
		gemm.SgemmPacked(n*h*w, tokens.Data, c.InC, c.packed, tmp, c.OutC, false)
	} else {
		gemm.SgemmPackedBF16(n*h*w, tokens.Data, c.InC, c.packedBF16, tmp, c.OutC, false)
	}
	out := Empty(n, c.OutC, h, w)
	var res []float32
	if residual != nil {
		res = residual.Data[:len(out.Data)]
	}
	pixelsToChannels(out.Data, tmp, 0, n*h*w, h*w, c.OutC, c.Bias, res)
	putBuffer(tmp)
	return out
}

// pixelsToChannels lays out pixel-major rows [r0, r0+rows) of a batch of
// images with hw pixels and ch channels (src holds just those rows, row i
// being pixel r0+i counted across images) into NCHW dst:
// dst[b][c][p] = src[i][c] + bias[c] + res[b][c][p] (bias and res may be nil).
func pixelsToChannels(dst, src []float32, r0, rows, hw, ch int, bias, res []float32) {
	const tile = 256
	tiles := (rows + tile - 1) / tile
	parallelFor(tiles, tile*ch, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			// A tile of pixels, split where it crosses into the next image.
			for i0, iEnd := t*tile, min((t+1)*tile, rows); i0 < iEnd; {
				g := r0 + i0
				b, p0 := g/hw, g%hw
				n := min(iEnd-i0, hw-p0)
				// Transpose first, then add in place in the same order
				// ((s + bias) + res), so the values are those of a
				// direct loop.
				gemm.Transpose(dst[b*ch*hw+p0:], hw, src[i0*ch:], ch, n, ch)
				for c := range ch {
					bv := float32(0)
					if bias != nil {
						bv = bias[c]
					}
					off := (b*ch+c)*hw + p0
					drow := dst[off : off+n]
					if res != nil {
						rrow := res[off : off+n]
						for j := range drow {
							drow[j] = drow[j] + bv + rrow[j]
						}
						continue
					}
					for j := range drow {
						drow[j] += bv
					}
				}
				i0 += n
			}
		}
	})
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
