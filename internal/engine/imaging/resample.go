// Package imaging holds the pixel operations whose exact results the reference pipelines and InvokeAI's image
// nodes depend on: Pillow's images in their modes (Picture), its mode conversions and its resampling (the
// resize behind img_resize, CLIPImageProcessor, image-to-latents and control-image preparation), and the
// conversions between 8-bit images and tensors.
package imaging

import (
	"fmt"
	"math"
)

// Filter is a Pillow resampling filter.
type Filter int

// The filters of Pillow's Image.resize. Nearest is a different operation in Pillow (an affine transform
// that picks one source pixel per output pixel) and Resize treats it so.
const (
	Bicubic Filter = iota
	Lanczos
	Bilinear
	Box
	Hamming
	Nearest
)

// ParseFilter maps InvokeAI's resample mode names ("nearest", "box", "bilinear", "hamming", "bicubic",
// "lanczos") to filters.
func ParseFilter(name string) (Filter, error) {
	switch name {
	case "nearest":
		return Nearest, nil
	case "box":
		return Box, nil
	case "bilinear":
		return Bilinear, nil
	case "hamming":
		return Hamming, nil
	case "bicubic":
		return Bicubic, nil
	case "lanczos":
		return Lanczos, nil
	}
	return 0, fmt.Errorf("imaging: unknown resampling filter %q", name)
}

// support is how far the filter reaches at scale 1, and kernel its weight at distance x.
func (f Filter) support() float64 {
	switch f {
	case Lanczos:
		return 3
	case Bicubic:
		return 2
	case Box:
		return 0.5
	}
	return 1
}

func (f Filter) kernel(x float64) float64 {
	switch f {
	case Bicubic:
		const a = -0.5
		if x < 0 {
			x = -x
		}
		if x < 1 {
			return ((a+2)*x-(a+3))*x*x + 1
		}
		if x < 2 {
			return (((x-5)*x+8)*x - 4) * a
		}
		return 0
	case Lanczos:
		if -3 <= x && x < 3 {
			return sinc(x) * sinc(x/3)
		}
		return 0
	case Box:
		if x > -0.5 && x <= 0.5 {
			return 1
		}
		return 0
	case Hamming:
		if x < 0 {
			x = -x
		}
		if x == 0 {
			return 1
		}
		if x >= 1 {
			return 0
		}
		x *= math.Pi
		return math.Sin(x) / x * (0.54 + 0.46*math.Cos(x))
	}
	if x < 0 { // bilinear
		x = -x
	}
	if x < 1 {
		return 1 - x
	}
	return 0
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	x *= math.Pi
	return math.Sin(x) / x
}

// precisionBits is the fixed-point precision of Pillow's 8-bit resampling coefficients.
const precisionBits = 32 - 8 - 2

// coefficients computes, for every output position, the first input index it reads, how many it reads and
// their fixed-point weights (ksize per position), as Pillow's precompute_coeffs and normalize_coeffs_8bpc do.
func coefficients(inSize, outSize int, f Filter) (bounds []int, kk []int32, ksize int) {
	scale := float64(inSize) / float64(outSize)
	filterScale := max(scale, 1)
	support := f.support() * filterScale
	ksize = int(math.Ceil(support))*2 + 1
	bounds = make([]int, 2*outSize)
	kk = make([]int32, outSize*ksize)
	k := make([]float64, ksize)
	for xx := 0; xx < outSize; xx++ {
		center := (float64(xx) + 0.5) * scale
		ss := 1 / filterScale
		xmin := int(center - support + 0.5) // C's truncating conversion
		xmin = max(xmin, 0)
		xmax := min(int(center+support+0.5), inSize) - xmin
		var ww float64
		for x := 0; x < xmax; x++ {
			w := f.kernel((float64(x+xmin) - center + 0.5) * ss)
			k[x] = w
			ww += w
		}
		for x := 0; x < ksize; x++ {
			w := 0.0
			if x < xmax {
				w = k[x]
				if ww != 0 {
					w /= ww
				}
			}
			if w < 0 {
				kk[xx*ksize+x] = int32(-0.5 + w*(1<<precisionBits))
			} else {
				kk[xx*ksize+x] = int32(0.5 + w*(1<<precisionBits))
			}
		}
		bounds[2*xx], bounds[2*xx+1] = xmin, xmax
	}
	return bounds, kk, ksize
}

func clip8(v int32) uint8 {
	v >>= precisionBits
	return uint8(min(max(v, 0), 255))
}

// Resize resamples an 8-bit image of w×h pixels with ch interleaved channels to outW×outH exactly as
// Pillow's Image.resize does for images without alpha ("L", "RGB"): a horizontal pass, then a vertical pass,
// each with fixed-point weights and rounding back to 8 bits; a pass is skipped when its size does not
// change. Nearest picks pixels as Pillow's nearest-neighbour scaling does. Picture.Resize adds Pillow's
// handling of alpha.
func Resize(pix []uint8, w, h, ch, outW, outH int, f Filter) ([]uint8, error) {
	if w < 1 || h < 1 || ch < 1 || outW < 1 || outH < 1 || len(pix) != w*h*ch {
		return nil, fmt.Errorf("resize: %d bytes for %dx%d×%d to %dx%d", len(pix), w, h, ch, outW, outH)
	}
	if outW > MaxPictureSide || outH > MaxPictureSide {
		return nil, fmt.Errorf("resize: %dx%d is larger than %d pixels a side", outW, outH, MaxPictureSide)
	}
	if f == Nearest {
		return ResizeNearest(pix, w, h, ch, outW, outH)
	}
	cur, cw := pix, w
	if outW != w {
		bounds, kk, ksize := coefficients(w, outW, f)
		next := make([]uint8, outW*h*ch)
		for y := 0; y < h; y++ {
			row := cur[y*w*ch : (y+1)*w*ch]
			for xx := 0; xx < outW; xx++ {
				xmin, n := bounds[2*xx], bounds[2*xx+1]
				k := kk[xx*ksize:]
				for c := 0; c < ch; c++ {
					ss := int32(1) << (precisionBits - 1)
					for x := 0; x < n; x++ {
						ss += int32(row[(x+xmin)*ch+c]) * k[x]
					}
					next[(y*outW+xx)*ch+c] = clip8(ss)
				}
			}
		}
		cur, cw = next, outW
	}
	if outH != h {
		bounds, kk, ksize := coefficients(h, outH, f)
		next := make([]uint8, cw*outH*ch)
		for yy := 0; yy < outH; yy++ {
			ymin, n := bounds[2*yy], bounds[2*yy+1]
			k := kk[yy*ksize:]
			for x := 0; x < cw*ch; x++ {
				ss := int32(1) << (precisionBits - 1)
				for y := 0; y < n; y++ {
					ss += int32(cur[(y+ymin)*cw*ch+x]) * k[y]
				}
				next[yy*cw*ch+x] = clip8(ss)
			}
		}
		cur = next
	}
	if &cur[0] == &pix[0] {
		cur = append([]uint8(nil), pix...) // Pillow returns a copy
	}
	return cur, nil
}

// Resize is Pillow's Image.resize((w, h), filter): a copy when the size does not change; palette and
// bilevel pictures always nearest-neighbour; "RGBA" and "LA" premultiplied by alpha around any other filter
// (converted to "RGBa"/"La", resampled, and converted back), so that transparent pixels lend no colour.
func (p *Picture) Resize(w, h int, f Filter) (*Picture, error) {
	if w < 1 || h < 1 || w > MaxPictureSide || h > MaxPictureSide {
		return nil, fmt.Errorf("imaging: resize to %dx%d (1..%d a side)", w, h, MaxPictureSide)
	}
	if w == p.W && h == p.H {
		return p.Clone(), nil
	}
	if p.Mode == ModeP || p.Mode == ModeBilevel {
		f = Nearest
	}
	if (p.Mode == ModeRGBA || p.Mode == ModeLA) && f != Nearest {
		pre, err := p.Convert(map[Mode]Mode{ModeRGBA: ModeRGBa, ModeLA: ModeLa}[p.Mode])
		if err != nil {
			return nil, err
		}
		r, err := pre.Resize(w, h, f)
		if err != nil {
			return nil, err
		}
		return r.Convert(p.Mode)
	}
	pix, err := Resize(p.Pix, p.W, p.H, p.Channels(), w, h, f)
	if err != nil {
		return nil, err
	}
	return &Picture{W: w, H: h, Mode: p.Mode, Pix: pix}, nil
}

// TrimToGrid is the resize step of InvokeAI's image_resized_to_grid_as_tensor: both sides are cut down to a
// multiple of m, and the picture is resized there with Pillow's Lanczos filter (a copy when nothing is cut).
func (p *Picture) TrimToGrid(m int) (*Picture, error) {
	if m < 1 {
		return nil, fmt.Errorf("imaging: grid multiple %d", m)
	}
	w, h := p.W-p.W%m, p.H-p.H%m
	if w == p.W && h == p.H {
		return p.Clone(), nil
	}
	if w < 1 || h < 1 {
		return nil, fmt.Errorf("imaging: a %dx%d image is smaller than %d pixels a side", p.W, p.H, m)
	}
	return p.Resize(w, h, Lanczos)
}
