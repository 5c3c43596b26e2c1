package imaging

import (
	"fmt"
	"math"
)

// coefficientsBox is Pillow's precompute_coeffs for the source span [in0, in1) (Image.resize's box, which
// Pillow passes as single-precision floats): coefficients does the same for the whole side.
func coefficientsBox(inSize int, in0, in1 float32, outSize int, f Filter) (bounds []int, kk []int32, ksize int) {
	scale := float64(in1-in0) / float64(outSize) // the difference in single precision, as Pillow's C
	filterScale := max(scale, 1)
	support := f.support() * filterScale
	ksize = int(math.Ceil(support))*2 + 1
	bounds = make([]int, 2*outSize)
	kk = make([]int32, outSize*ksize)
	k := make([]float64, ksize)
	for xx := 0; xx < outSize; xx++ {
		center := float64(in0) + (float64(xx)+0.5)*scale
		ss := 1 / filterScale
		xmin := max(int(center-support+0.5), 0) // C's truncating conversion
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
		bounds[2*xx], bounds[2*xx+1] = xmin, max(xmax, 0)
	}
	return bounds, kk, ksize
}

// ResizeBox is Pillow's Image.resize((w, h), filter, box=(x0, y0, x1, y1)) for the filters other than
// nearest: the box's span of the picture (in fractional pixels) resampled to w×h, "RGBA" and "LA" premultiplied
// by alpha around it as Resize does. A box of the whole picture at its own size gives a copy.
func (p *Picture) ResizeBox(w, h int, f Filter, box [4]float64) (*Picture, error) {
	if w < 1 || h < 1 || w > MaxPictureSide || h > MaxPictureSide {
		return nil, fmt.Errorf("imaging: resize to %dx%d (1..%d a side)", w, h, MaxPictureSide)
	}
	if f == Nearest || p.Mode == ModeP || p.Mode == ModeBilevel {
		return nil, fmt.Errorf("imaging: resize with a box supports the smoothing filters only")
	}
	if w == p.W && h == p.H && box == [4]float64{0, 0, float64(p.W), float64(p.H)} {
		return p.Clone(), nil
	}
	if p.Mode == ModeRGBA || p.Mode == ModeLA {
		pre, err := p.Convert(map[Mode]Mode{ModeRGBA: ModeRGBa, ModeLA: ModeLa}[p.Mode])
		if err != nil {
			return nil, err
		}
		r, err := pre.ResizeBox(w, h, f, box)
		if err != nil {
			return nil, err
		}
		return r.Convert(p.Mode)
	}
	b := [4]float32{float32(box[0]), float32(box[1]), float32(box[2]), float32(box[3])}
	ch := p.Channels()
	cur, cw := p.Pix, p.W
	if w != p.W || b[0] != 0 || b[2] != float32(w) {
		bounds, kk, ksize := coefficientsBox(p.W, b[0], b[2], w, f)
		next := make([]uint8, w*p.H*ch)
		for y := 0; y < p.H; y++ {
			row := cur[y*p.W*ch : (y+1)*p.W*ch]
			for xx := 0; xx < w; xx++ {
				xmin, n := bounds[2*xx], bounds[2*xx+1]
				k := kk[xx*ksize:]
				for c := 0; c < ch; c++ {
					ss := int32(1) << (precisionBits - 1)
					for x := 0; x < n; x++ {
						ss += int32(row[(x+xmin)*ch+c]) * k[x]
					}
					next[(y*w+xx)*ch+c] = clip8(ss)
				}
			}
		}
		cur, cw = next, w
	}
	if h != p.H || b[1] != 0 || b[3] != float32(h) {
		bounds, kk, ksize := coefficientsBox(p.H, b[1], b[3], h, f)
		next := make([]uint8, cw*h*ch)
		for yy := 0; yy < h; yy++ {
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
	if cw != w {
		return nil, fmt.Errorf("imaging: resize with a box: internal width %d for %d", cw, w)
	}
	out := &Picture{W: w, H: h, Mode: p.Mode, Pix: cur}
	if len(cur) > 0 && &cur[0] == &p.Pix[0] {
		out.Pix = append([]uint8(nil), cur...)
	}
	return out, nil
}
