package imaging

import (
	"fmt"
	"math"
)

// Pillow's box and Gaussian blurs (ImageFilter.BoxBlur and ImageFilter.GaussianBlur), byte for byte. Pillow
// blurs with repeated "extended" box filters: a box of integer radius r plus a fractional weight for the two
// pixels just outside it, in 8.24 fixed point, with the edge pixels repeated beyond the border. A Gaussian of
// standard deviation σ is three such passes whose radius is chosen so that their variance is σ² (Gwosdek et
// al., "Theoretical Foundations of Gaussian Convolution by Extended Box Filtering"). Every pass runs over the
// rows, then every pass over the columns.

// MaxBlurRadius bounds the radius of a blur: the accumulators are 32-bit, and a larger radius means nothing
// more than the image's mean.
const MaxBlurRadius = 1 << 20

// BoxBlur is ImageFilter.BoxBlur(radius) on interleaved 8-bit pixels with ch channels; the result is a new
// slice. A radius of 0 leaves the image unchanged.
func BoxBlur(pix []uint8, w, h, ch int, radius float32) ([]uint8, error) {
	return boxBlur(pix, w, h, ch, radius, radius, 1)
}

// GaussianBlur is ImageFilter.GaussianBlur(radius) (radius is the standard deviation) on interleaved 8-bit
// pixels with ch channels; the result is a new slice.
func GaussianBlur(pix []uint8, w, h, ch int, radius float32) ([]uint8, error) {
	r := gaussianBoxRadius(radius, 3)
	return boxBlur(pix, w, h, ch, r, r, 3)
}

// gaussianBoxRadius is the extended box radius whose n passes have variance radius² (Pillow's
// _gaussian_blur_radius, in its single-precision arithmetic).
func gaussianBoxRadius(radius float32, passes int) float32 {
	sigma2 := radius * radius / float32(passes)
	boxLen := float32(math.Sqrt(float64(12.0*float64(sigma2)) + 1.0))
	l := float32(math.Floor((float64(boxLen) - 1.0) / 2.0))
	a := (2*l + 1) * (float32(l*(l+1)) - float32(3*sigma2))
	a /= 6 * (sigma2 - float32((l+1)*(l+1)))
	return l + a
}

func boxBlur(pix []uint8, w, h, ch int, xr, yr float32, passes int) ([]uint8, error) {
	if w < 0 || h < 0 || ch < 1 || len(pix) != w*h*ch {
		return nil, fmt.Errorf("imaging: blur: %d bytes for %dx%d with %d channels", len(pix), w, h, ch)
	}
	if !(xr >= 0 && yr >= 0) || xr > MaxBlurRadius || yr > MaxBlurRadius {
		return nil, fmt.Errorf("imaging: blur radius %v×%v outside [0, %d]", xr, yr, MaxBlurRadius)
	}
	out := append([]uint8(nil), pix...)
	if w == 0 || h == 0 {
		return out, nil
	}
	n := max(w, h)
	line := make([]uint8, n*ch)
	res := make([]uint8, n*ch)
	if xr != 0 {
		for y := 0; y < h; y++ {
			row := out[y*w*ch : (y+1)*w*ch]
			for i := 0; i < passes; i++ {
				copy(line, row)
				blurLine(res[:w*ch], line[:w*ch], w, ch, xr)
				copy(row, res[:w*ch])
			}
		}
	}
	if yr != 0 {
		for x := 0; x < w; x++ {
			for y := 0; y < h; y++ {
				copy(line[y*ch:(y+1)*ch], out[(y*w+x)*ch:(y*w+x+1)*ch])
			}
			for i := 0; i < passes; i++ {
				blurLine(res[:h*ch], line[:h*ch], h, ch, yr)
				copy(line[:h*ch], res[:h*ch])
			}
			for y := 0; y < h; y++ {
				copy(out[(y*w+x)*ch:(y*w+x+1)*ch], line[y*ch:(y+1)*ch])
			}
		}
	}
	return out, nil
}

// blurLine is one extended-box pass over a line of n pixels: each output is the sum of the 2r+1 pixels
// around it times ww plus the two next ones times fw, in 8.24 fixed point, the line's end pixels standing in
// for everything beyond them.
func blurLine(out, in []uint8, n, ch int, floatRadius float32) {
	radius := int(floatRadius)
	ww := uint32(float32(1<<24) / (floatRadius*2 + 1))
	fw := (uint32(1<<24) - uint32(radius*2+1)*ww) / 2
	last := n - 1
	edgeA := min(radius+1, n)
	edgeB := max(n-radius-1, 0)
	at := func(x, c int) uint32 { return uint32(in[x*ch+c]) }
	for c := 0; c < ch; c++ {
		// The sum for the (virtual) pixel -1: the first pixel repeated radius+1 times, then the pixels up to
		// radius-1 (the last one standing in for those beyond the line).
		acc := at(0, c) * uint32(radius+1)
		for x := 0; x < edgeA-1; x++ {
			acc += at(x, c)
		}
		acc += at(last, c) * uint32(radius-edgeA+1)
		step := func(x, sub, add, left, right int) {
			acc += at(add, c) - at(sub, c) // wraps like Pillow's unsigned accumulator
			bulk := acc*ww + (at(left, c)+at(right, c))*fw
			out[x*ch+c] = uint8((bulk + 1<<23) >> 24)
		}
		if edgeA <= edgeB {
			for x := 0; x < edgeA; x++ {
				step(x, 0, x+radius, 0, x+radius+1)
			}
			for x := edgeA; x < edgeB; x++ {
				step(x, x-radius-1, x+radius, x-radius-1, x+radius+1)
			}
			for x := edgeB; x <= last; x++ {
				step(x, x-radius-1, last, x-radius-1, last)
			}
			continue
		}
		for x := 0; x < edgeB; x++ {
			step(x, 0, x+radius, 0, x+radius+1)
		}
		for x := edgeB; x < edgeA; x++ {
			step(x, 0, last, 0, last)
		}
		for x := edgeA; x <= last; x++ {
			step(x, x-radius-1, last, x-radius-1, last)
		}
	}
}
