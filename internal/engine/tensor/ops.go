package tensor

import (
	"fmt"
	"math"
)

// Add returns a + b for equal shapes.
func Add(a, b *Tensor) *Tensor {
	out := Empty(a.Shape...)
	AddInto(out.Data, a.Data, b.Data)
	return out
}

// AddInto writes a + b into dst (which may alias a or b).
func AddInto(dst, a, b []float32) {
	if len(a) != len(b) || len(dst) != len(a) {
		panic(fmt.Sprintf("tensor add: lengths %d, %d, %d", len(dst), len(a), len(b)))
	}
	parallelFor(len(a), 1, func(lo, hi int) {
		d, x, y := dst[lo:hi], a[lo:hi], b[lo:hi]
		for i := range d {
			d[i] = x[i] + y[i]
		}
	})
}

// Scale multiplies x by s in place.
func Scale(x []float32, s float32) {
	parallelFor(len(x), 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			x[i] *= s
		}
	})
}

// AddChannelBias adds bias[n][c] to every spatial element of channel c of
// sample n in an NCHW tensor: the broadcast used to add time embeddings.
// bias has shape [N, C] (or [1, C] to broadcast over the batch).
func AddChannelBias(x *Tensor, bias []float32) {
	n, c := x.Shape[0], x.Shape[1]
	spatial := len(x.Data) / (n * c)
	perSample := len(bias) != c
	if perSample && len(bias) != n*c {
		panic(fmt.Sprintf("tensor: channel bias of %d for %v", len(bias), x.Shape))
	}
	parallelFor(n*c, spatial, func(lo, hi int) {
		for nc := lo; nc < hi; nc++ {
			bv := bias[nc%c]
			if perSample {
				bv = bias[nc]
			}
			p := x.Data[nc*spatial : (nc+1)*spatial]
			for i := range p {
				p[i] += bv
			}
		}
	})
}

// ConcatChannels concatenates NCHW tensors with equal N, H, W along C.
func ConcatChannels(ts ...*Tensor) *Tensor {
	n, h, w := ts[0].Shape[0], ts[0].Shape[2], ts[0].Shape[3]
	total := 0
	for _, t := range ts {
		if t.Shape[0] != n || t.Shape[2] != h || t.Shape[3] != w {
			panic(fmt.Sprintf("concat channels: %v vs %v", t.Shape, ts[0].Shape))
		}
		total += t.Shape[1]
	}
	out := Empty(n, total, h, w)
	hw := h * w
	for b := 0; b < n; b++ {
		off := b * total * hw
		for _, t := range ts {
			sz := t.Shape[1] * hw
			copy(out.Data[off:off+sz], t.Data[b*sz:(b+1)*sz])
			off += sz
		}
	}
	return out
}

// UpsampleNearest2x doubles H and W of an NCHW tensor by repetition.
func UpsampleNearest2x(x *Tensor) *Tensor {
	n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	out := Empty(n, c, 2*h, 2*w)
	parallelFor(n*c, 4*h*w, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			src := x.Data[p*h*w : (p+1)*h*w]
			dst := out.Data[p*4*h*w : (p+1)*4*h*w]
			for y := 0; y < h; y++ {
				row := dst[2*y*2*w : (2*y+1)*2*w]
				for xx, v := range src[y*w : (y+1)*w] {
					row[2*xx] = v
					row[2*xx+1] = v
				}
				copy(dst[(2*y+1)*2*w:(2*y+2)*2*w], row)
			}
		}
	})
	return out
}

// NCHWToTokens transposes [N, C, H, W] to [N, H·W, C] for attention.
func NCHWToTokens(x *Tensor) *Tensor {
	n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	hw := h * w
	out := Empty(n, hw, c)
	transposeBatch(out.Data, x.Data, n, c, hw)
	return out
}

// TokensToNCHW transposes [N, H·W, C] back to [N, C, H, W].
func TokensToNCHW(x *Tensor, h, w int) *Tensor {
	n, hw, c := x.Shape[0], x.Shape[1], x.Shape[2]
	if hw != h*w {
		panic(fmt.Sprintf("tokens to NCHW: %v is not %dx%d", x.Shape, h, w))
	}
	out := Empty(n, c, h, w)
	transposeBatch(out.Data, x.Data, n, hw, c)
	return out
}

// transposeBatch transposes n row-major rows×cols matrices, blocked for cache.
func transposeBatch(dst, src []float32, n, rows, cols int) {
	const blk = 32
	for b := 0; b < n; b++ {
		s := src[b*rows*cols : (b+1)*rows*cols]
		d := dst[b*rows*cols : (b+1)*rows*cols]
		rowBlocks := (rows + blk - 1) / blk
		parallelFor(rowBlocks, blk*cols, func(lo, hi int) {
			for rb := lo; rb < hi; rb++ {
				r0 := rb * blk
				r1 := min(r0+blk, rows)
				for c0 := 0; c0 < cols; c0 += blk {
					c1 := min(c0+blk, cols)
					for r := r0; r < r1; r++ {
						for c := c0; c < c1; c++ {
							d[c*rows+r] = s[r*cols+c]
						}
					}
				}
			}
		})
	}
}

// TimestepEmbedding returns the sinusoidal embedding [len(t), dim] used by
// diffusers' get_timestep_embedding: frequencies exp(-ln(10000)·i/(half-shift)),
// sin half then cos half, swapped when flipSinToCos. Arithmetic mirrors
// torch's float32 computation so results agree to rounding.
func TimestepEmbedding(t []float32, dim int, flipSinToCos bool, freqShift float32) *Tensor {
	half := dim / 2
	out := New(len(t), dim)
	freqs := make([]float32, half)
	for i := range freqs {
		exponent := float32(-math.Log(10000)) * float32(i)
		exponent /= float32(half) - freqShift
		freqs[i] = expf(exponent)
	}
	for b, tv := range t {
		row := out.Data[b*dim : (b+1)*dim]
		for i, f := range freqs {
			arg := float64(tv * f)
			sin, cos := float32(math.Sin(arg)), float32(math.Cos(arg))
			if flipSinToCos {
				row[i], row[half+i] = cos, sin
			} else {
				row[i], row[half+i] = sin, cos
			}
		}
		// An odd dimension is zero-padded at the end, as in diffusers.
	}
	return out
}

// UpsampleNearest resizes an NCHW tensor to oh×ow with nearest-neighbour
// sampling (source index floor(dst·in/out), as torch's "nearest" mode).
func UpsampleNearest(x *Tensor, oh, ow int) *Tensor {
	n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	if oh == 2*h && ow == 2*w {
		return UpsampleNearest2x(x)
	}
	out := Empty(n, c, oh, ow)
	sy, sx := float32(h)/float32(oh), float32(w)/float32(ow)
	parallelFor(n*c, oh*ow, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			src := x.Data[p*h*w : (p+1)*h*w]
			dst := out.Data[p*oh*ow : (p+1)*oh*ow]
			for y := 0; y < oh; y++ {
				iy := min(int(float32(y)*sy), h-1)
				for xx := 0; xx < ow; xx++ {
					dst[y*ow+xx] = src[iy*w+min(int(float32(xx)*sx), w-1)]
				}
			}
		}
	})
	return out
}
