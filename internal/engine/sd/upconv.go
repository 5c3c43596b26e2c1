package sd

import "github.com/invokego/invokego/internal/engine/tensor"

// upconvBandFloats bounds the upsampled input of one band of upsampleConv
// (16 MiB of fp32). A VAE decoder's last upsampler otherwise holds its
// 4×-sized input whole (256 ch × 512² = 268 MB) next to the convolution's
// output, which set the image's peak memory (docs/performance.md).
const upconvBandFloats = 1 << 22

// upsampleConv returns c applied to the 2× nearest-neighbour upsampling of
// x [N, C, H, W], computed in horizontal bands of output rows so that only
// a band's upsampled rows (with a one-row halo) are ever held. The result is
// bit-identical to c.Forward(tensor.UpsampleNearest2x(x)): each output pixel
// sees the same window values and the GEMM's k blocking does not depend on
// how many pixels one call is given (gemm.multiplyPackedN steps k by the
// kernel's kc whatever m is). Convolutions the bands do not fit (not 3×3
// stride 1 with padding 1, circular padding, or per-run deltas whose own
// padding would need the same treatment) take the unbanded path.
func upsampleConv(c *tensor.Conv2D, x *tensor.Tensor) *tensor.Tensor {
	return upsampleConvBands(c, x, upconvBandFloats)
}

// upsampleConvBands is upsampleConv with bands of at most about bandFloats
// upsampled input floats (a parameter so tests can force many bands).
func upsampleConvBands(c *tensor.Conv2D, x *tensor.Tensor, bandFloats int) *tensor.Tensor {
	if c.KH != 3 || c.KW != 3 || c.Stride != 1 || c.PadTop != 1 || c.PadBottom != 1 ||
		c.PadLeft != 1 || c.PadRight != 1 || c.WrapX || c.WrapY || len(c.Deltas) > 0 {
		up := tensor.UpsampleNearest2x(x)
		defer up.Release()
		return c.Forward(up)
	}
	n, ch, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	oh, ow := 2*h, 2*w
	rowFloats := n * ch * ow
	rows := max(1, bandFloats/rowFloats-2)
	out := tensor.Empty(n, c.OutC, oh, ow)
	for y0 := 0; y0 < oh; y0 += rows {
		y1 := min(oh, y0+rows)
		// Upsampled rows [lo, hi) feed output rows [y0, y1); the image's own
		// top and bottom edges keep the convolution's zero padding.
		lo, hi := max(0, y0-1), min(oh, y1+1)
		band := tensor.Empty(n, ch, hi-lo, ow)
		upsampleRows(band.Data, x.Data, n*ch, h, w, lo, hi)
		bc := *c
		if y0 > 0 {
			bc.PadTop = 0
		}
		if y1 < oh {
			bc.PadBottom = 0
		}
		part := bc.Forward(band)
		band.Release()
		span := (y1 - y0) * ow
		for p := range n * c.OutC {
			copy(out.Data[p*oh*ow+y0*ow:p*oh*ow+y1*ow], part.Data[p*span:(p+1)*span])
		}
		part.Release()
	}
	return out
}

// upsampleRows writes rows [lo, hi) of the 2× nearest-neighbour upsampling
// of planes (planes × h × w, row-major) into dst (planes × (hi-lo) × 2w).
func upsampleRows(dst, src []float32, planes, h, w, lo, hi int) {
	ow, rows := 2*w, hi-lo
	for p := range planes {
		plane := src[p*h*w : (p+1)*h*w]
		out := dst[p*rows*ow : (p+1)*rows*ow]
		for r := lo; r < hi; r++ {
			row := out[(r-lo)*ow : (r-lo+1)*ow]
			if r > lo && r/2 == (r-1)/2 {
				copy(row, out[(r-lo-1)*ow:(r-lo)*ow])
				continue
			}
			for i, v := range plane[(r/2)*w : (r/2+1)*w] {
				row[2*i] = v
				row[2*i+1] = v
			}
		}
	}
}
