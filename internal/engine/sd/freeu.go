package sd

import (
	"math"

	"github.com/invokego/invokego/internal/engine/tensor"
)

// FreeU (Si et al., "FreeU: Free Lunch in Diffusion U-Net") reweighs the first two up blocks of a UNet, as
// diffusers' enable_freeu does: before each of their resnets, the first half of the backbone's channels is
// multiplied by B (B1 in up block 0, B2 in up block 1) and the skip connection's lowest spatial frequencies
// by S (S1, S2). Like diffusers, it is off unless all four factors are non-zero.
type FreeU struct {
	B1, B2, S1, S2 float32
}

func (f *FreeU) enabled() bool {
	return f != nil && f.B1 != 0 && f.B2 != 0 && f.S1 != 0 && f.S2 != 0
}

// apply reweighs h and skip in place for a resnet of up block block.
func (f *FreeU) apply(block int, h, skip *tensor.Tensor) {
	if !f.enabled() || block > 1 {
		return
	}
	b, s := f.B1, f.S1
	if block == 1 {
		b, s = f.B2, f.S2
	}
	n, c, hw := h.Shape[0], h.Shape[1], h.Shape[2]*h.Shape[3]
	half := c / 2
	for i := 0; i < n; i++ {
		d := h.Data[i*c*hw : (i*c+half)*hw]
		for j := range d {
			d[j] *= b
		}
	}
	FourierFilter(skip, s)
}

// FourierFilter scales the frequencies of every [H, W] plane of x [N, C, H, W] that diffusers' fourier_filter
// masks with threshold 1 — the 2×2 block around the centre of the shifted spectrum, i.e. frequencies 0 and -1
// on each axis — by scale, in place. Those four coefficients are computed directly (a DFT of four terms), so
// the result is the inverse FFT's real part without a full transform.
func FourierFilter(x *tensor.Tensor, scale float32) {
	if scale == 1 {
		return
	}
	H, W := x.Shape[2], x.Shape[3]
	rows, cols := []int{0}, []int{0}
	if H > 1 {
		rows = append(rows, H-1)
	}
	if W > 1 {
		cols = append(cols, W-1)
	}
	// Twiddles e^{-2πi·u·h/H} for the kept row frequencies and e^{-2πi·v·w/W} for the kept column ones.
	type cplx struct{ re, im float64 }
	twiddle := func(freqs []int, size int) [][]cplx {
		out := make([][]cplx, len(freqs))
		for k, u := range freqs {
			out[k] = make([]cplx, size)
			for h := 0; h < size; h++ {
				a := -2 * math.Pi * float64(u*h%size) / float64(size)
				out[k][h] = cplx{math.Cos(a), math.Sin(a)}
			}
		}
		return out
	}
	rt, ct := twiddle(rows, H), twiddle(cols, W)
	k := (float64(scale) - 1) / float64(H*W)
	planes := x.Shape[0] * x.Shape[1]
	for p := 0; p < planes; p++ {
		d := x.Data[p*H*W : (p+1)*H*W]
		// X(u, v) = Σ_h e^{-iθ_u(h)} Σ_w x[h, w] e^{-iθ_v(w)}.
		var coef [2][2]cplx
		for ci := range cols {
			for h := 0; h < H; h++ {
				var re, im float64
				row := d[h*W : (h+1)*W]
				for w, v := range row {
					re += float64(v) * ct[ci][w].re
					im += float64(v) * ct[ci][w].im
				}
				for ri := range rows {
					t := rt[ri][h]
					coef[ri][ci].re += re*t.re - im*t.im
					coef[ri][ci].im += re*t.im + im*t.re
				}
			}
		}
		// y[h, w] = x[h, w] + (scale-1)/(HW) · Re Σ X(u, v) e^{+iθ_u(h)} e^{+iθ_v(w)}.
		for h := 0; h < H; h++ {
			for w := 0; w < W; w++ {
				var sum float64
				for ri := range rows {
					for ci := range cols {
						// e^{+iθ} is the conjugate of the twiddle.
						er, ei := rt[ri][h].re*ct[ci][w].re-rt[ri][h].im*ct[ci][w].im, -(rt[ri][h].re*ct[ci][w].im + rt[ri][h].im*ct[ci][w].re)
						sum += coef[ri][ci].re*er - coef[ri][ci].im*ei
					}
				}
				d[h*W+w] = float32(float64(d[h*W+w]) + k*sum)
			}
		}
	}
}
