package imaging

import (
	"context"
	"fmt"
	"math"
)

// Pillow 9.4's pixel operations on Pictures, with its arithmetic: Image.blend, the 3×3 kernel filter behind
// ImageFilter.SMOOTH, ImageEnhance's four enhancers, ImageOps.invert, ImageChops.multiply, Image.getbbox,
// Image.crop, Image.paste and Image.putalpha.

// Blend is Image.blend(a, b, alpha): every byte becomes a + alpha·(b − a) in single precision (Pillow passes
// alpha as a C float), truncated; outside 0 ≤ alpha ≤ 1 the result is clipped to 0..255 first. Both pictures
// must have one mode and size; palette and bilevel pictures are refused as Pillow refuses them.
func Blend(a, b *Picture, alpha float64) (*Picture, error) {
	if a.Mode == ModeP || a.Mode == ModeBilevel || b.Mode == ModeP || b.Mode == ModeBilevel {
		return nil, fmt.Errorf("image has wrong mode")
	}
	if a.Mode != b.Mode || a.W != b.W || a.H != b.H {
		return nil, fmt.Errorf("images do not match")
	}
	al := float32(alpha)
	switch al {
	case 0:
		return a.Clone(), nil
	case 1:
		return b.Clone(), nil
	}
	out := &Picture{W: a.W, H: a.H, Mode: a.Mode, Pix: make([]uint8, len(a.Pix))}
	inside := al >= 0 && al <= 1
	for i, v1 := range a.Pix {
		// The explicit conversion keeps the product rounded on its own, as the C code computes it.
		t := float32(v1) + float32(al*float32(int(b.Pix[i])-int(v1)))
		if inside {
			out.Pix[i] = uint8(max(t, 0))
			continue
		}
		switch {
		case t <= 0:
			out.Pix[i] = 0
		case t >= 255:
			out.Pix[i] = 255
		default:
			out.Pix[i] = uint8(t)
		}
	}
	return out, nil
}

// clip8f is Pillow's clip8 of a float sum that already holds its rounding half.
func clip8f(v float32) uint8 {
	if v <= 0 {
		return 0
	}
	if v >= 255 {
		return 255
	}
	return uint8(v)
}

// Filter3x3 is Image.filter(ImageFilter.Kernel((3, 3), kernel, scale, offset)) for 8-bit pictures: each
// coefficient divided by scale in single precision, the sums formed in single precision in Pillow's order
// (the row below first, the kernel flipped as a convolution), plus offset and one half, clipped and
// truncated; the outermost rows and columns are copied. A picture smaller than 3×3 comes back unchanged.
func (p *Picture) Filter3x3(kernel [9]float32, scale, offset float32) (*Picture, error) {
	if p.Mode == ModeP || p.Mode == ModeBilevel {
		return nil, fmt.Errorf("image has wrong mode")
	}
	if p.W < 3 || p.H < 3 {
		return p.Clone(), nil
	}
	var k [9]float32
	for i, v := range kernel {
		k[i] = v / scale
	}
	out := p.Clone()
	ch := p.Channels()
	// Pillow's two-band layout filters only the first and the alpha byte; with one byte per channel here
	// every channel is filtered, which for LA is the same two.
	off := offset + 0.5
	row := p.W * ch
	for y := 1; y < p.H-1; y++ {
		up, mid, down := p.Pix[(y-1)*row:], p.Pix[y*row:], p.Pix[(y+1)*row:]
		for x := 1; x < p.W-1; x++ {
			for c := 0; c < ch; c++ {
				i := x*ch + c
				line := func(in []uint8, k []float32) float32 {
					s := float32(float32(in[i-ch])*k[0]) + float32(float32(in[i])*k[1])
					return s + float32(float32(in[i+ch])*k[2])
				}
				s := off
				s += line(down, k[0:3])
				s += line(mid, k[3:6])
				s += line(up, k[6:9])
				out.Pix[y*row+i] = clip8f(s)
			}
		}
	}
	return out, nil
}

// Smooth is Image.filter(ImageFilter.SMOOTH).
func (p *Picture) Smooth() (*Picture, error) {
	return p.Filter3x3([9]float32{1, 1, 1, 1, 5, 1, 1, 1, 1}, 13, 0)
}

// hasAlpha reports whether Pillow's getbands() holds "A".
func (p *Picture) hasAlpha() bool { return p.Mode == ModeRGBA || p.Mode == ModeLA }

// withAlphaOf replaces d's last channel by p's alpha channel, as degenerate.putalpha(image.getchannel("A"))
// does in ImageEnhance when the modes agree.
func (p *Picture) withAlphaOf(d *Picture) {
	ch := p.Channels()
	for i := 0; i < p.W*p.H; i++ {
		d.Pix[i*ch+ch-1] = p.Pix[i*ch+ch-1]
	}
}

// EnhanceColor is ImageEnhance.Color(p).enhance(factor): a blend from the picture's grey version (through
// "LA" when it has alpha).
func (p *Picture) EnhanceColor(factor float64) (*Picture, error) {
	mid := ModeL
	if p.hasAlpha() {
		mid = ModeLA
	}
	g, err := p.Convert(mid)
	if err != nil {
		return nil, err
	}
	if g, err = g.Convert(p.Mode); err != nil {
		return nil, err
	}
	return Blend(g, p, factor)
}

// MeanL is ImageStat.Stat(p.convert("L")).mean[0]: the histogram's mean in double precision.
func (p *Picture) MeanL() (float64, error) {
	l, err := p.Convert(ModeL)
	if err != nil {
		return 0, err
	}
	var hist [256]int64
	for _, v := range l.Pix {
		hist[v]++
	}
	sum, n := 0.0, int64(0)
	for i, c := range hist {
		sum += float64(i) * float64(c)
		n += c
	}
	if n == 0 {
		return 0, fmt.Errorf("an empty image has no mean")
	}
	return sum / float64(n), nil
}

// EnhanceContrast is ImageEnhance.Contrast(p).enhance(factor): a blend from a grey picture at the rounded
// mean luminance, keeping the alpha channel.
func (p *Picture) EnhanceContrast(factor float64) (*Picture, error) {
	mean, err := p.MeanL()
	if err != nil {
		return nil, err
	}
	g := &Picture{W: p.W, H: p.H, Mode: ModeL, Pix: make([]uint8, p.W*p.H)}
	level := uint8(min(int(mean+0.5), 255))
	for i := range g.Pix {
		g.Pix[i] = level
	}
	d, err := g.Convert(p.Mode)
	if err != nil {
		return nil, err
	}
	if p.hasAlpha() {
		p.withAlphaOf(d)
	}
	return Blend(d, p, factor)
}

// EnhanceBrightness is ImageEnhance.Brightness(p).enhance(factor): a blend from black, keeping the alpha
// channel.
func (p *Picture) EnhanceBrightness(factor float64) (*Picture, error) {
	d := &Picture{W: p.W, H: p.H, Mode: p.Mode, Pix: make([]uint8, len(p.Pix))}
	if p.hasAlpha() {
		p.withAlphaOf(d)
	}
	return Blend(d, p, factor)
}

// EnhanceSharpness is ImageEnhance.Sharpness(p).enhance(factor): a blend from the SMOOTH-filtered picture,
// keeping the alpha channel.
func (p *Picture) EnhanceSharpness(factor float64) (*Picture, error) {
	d, err := p.Smooth()
	if err != nil {
		return nil, err
	}
	if p.hasAlpha() {
		p.withAlphaOf(d)
	}
	return Blend(d, p, factor)
}

// Invert is ImageOps.invert: 255 − v for "L" and "RGB" pictures (and "1"); Pillow refuses other modes.
func (p *Picture) Invert() (*Picture, error) {
	if p.Mode != ModeL && p.Mode != ModeRGB && p.Mode != ModeBilevel {
		return nil, fmt.Errorf("not supported for mode %s", p.Mode)
	}
	out := p.Clone()
	for i, v := range out.Pix {
		out.Pix[i] = 255 - v
	}
	return out, nil
}

// MultiplyPictures is ImageChops.multiply(a, b): byte by byte, the product over 255, truncated. Pillow
// multiplies the overlapping area of pictures of one mode.
func MultiplyPictures(a, b *Picture) (*Picture, error) {
	if a.Mode != b.Mode {
		return nil, fmt.Errorf("images do not match")
	}
	w, h, ch := min(a.W, b.W), min(a.H, b.H), a.Channels()
	out := &Picture{W: w, H: h, Mode: a.Mode, Pix: make([]uint8, w*h*ch)}
	for y := 0; y < h; y++ {
		for x := 0; x < w*ch; x++ {
			out.Pix[y*w*ch+x] = Multiply(a.Pix[y*a.W*ch+x], b.Pix[y*b.W*ch+x])
		}
	}
	return out, nil
}

// BBox is Image.getbbox(): the smallest box (x0, y0 inclusive; x1, y1 exclusive) holding every pixel that is
// not zero; for pictures with alpha only the alpha channel counts, for RGB the three colours. ok is false
// when every pixel is zero.
func (p *Picture) BBox() (x0, y0, x1, y1 int, ok bool) {
	ch := p.Channels()
	first, n := 0, ch
	switch p.Mode {
	case ModeRGBA, ModeRGBa, ModeLA, ModeLa:
		first, n = ch-1, 1
	}
	x0, y0, x1, y1 = p.W, p.H, 0, 0
	for y := 0; y < p.H; y++ {
		for x := 0; x < p.W; x++ {
			px := p.Pix[(y*p.W+x)*ch+first:][:n]
			set := false
			for _, v := range px {
				if v != 0 {
					set = true
				}
			}
			if set {
				x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x+1), max(y1, y+1)
			}
		}
	}
	if x1 == 0 {
		return 0, 0, 0, 0, false
	}
	return x0, y0, x1, y1, true
}

// Crop is Image.crop((x0, y0, x1, y1)): the box may reach beyond the picture, where the result is zero.
func (p *Picture) Crop(x0, y0, x1, y1 int) (*Picture, error) {
	if x1 < x0 {
		return nil, fmt.Errorf("coordinate 'right' is less than 'left'")
	}
	if y1 < y0 {
		return nil, fmt.Errorf("coordinate 'lower' is less than 'upper'")
	}
	out, err := NewPicture(p.Mode, x1-x0, y1-y0)
	if err != nil {
		return nil, err
	}
	if err := out.Paste(p, -x0, -y0, nil); err != nil {
		return nil, err
	}
	return out, nil
}

// Paste is Image.paste(src, (x, y), mask): src, converted to p's mode, is copied onto p at (x, y), clipped
// to p. With a mask (the size of src) every byte becomes (dst·(255−m) + src·m)/255, rounded as Pillow
// rounds, where m is an "L" or "1" mask's value or an "RGBA" or "LA" mask's alpha.
func (p *Picture) Paste(src *Picture, x, y int, mask *Picture) error {
	if src.Mode != p.Mode {
		var err error
		if src, err = src.Convert(p.Mode); err != nil {
			return err
		}
	}
	if mask != nil && (mask.W != src.W || mask.H != src.H) {
		return fmt.Errorf("bad transparency mask")
	}
	var mch, mc int
	if mask != nil {
		switch mask.Mode {
		case ModeL, ModeBilevel:
			mch, mc = 1, 0
		case ModeLA, ModeRGBA:
			mch = mask.Channels()
			mc = mch - 1
		default:
			return fmt.Errorf("bad transparency mask")
		}
	}
	ch := p.Channels()
	sx0, sy0 := max(0, -x), max(0, -y)
	sx1, sy1 := min(src.W, p.W-x), min(src.H, p.H-y)
	for sy := sy0; sy < sy1; sy++ {
		for sx := sx0; sx < sx1; sx++ {
			d := p.Pix[((sy+y)*p.W+sx+x)*ch:][:ch]
			s := src.Pix[(sy*src.W+sx)*ch:][:ch]
			if mask == nil {
				copy(d, s)
				continue
			}
			m := uint32(mask.Pix[(sy*mask.W+sx)*mch+mc])
			for c := range d {
				d[c] = div255(uint32(d[c])*(255-m) + uint32(s[c])*m)
			}
		}
	}
	return nil
}

// PutAlpha is Image.putalpha with an "L" picture of the same size: "RGB" and "L" pictures become "RGBA" and
// "LA" first; the result is a new picture.
func (p *Picture) PutAlpha(alpha *Picture) (*Picture, error) {
	target := p.Mode
	switch p.Mode {
	case ModeRGB:
		target = ModeRGBA
	case ModeL:
		target = ModeLA
	case ModeRGBA, ModeLA:
	default:
		return nil, fmt.Errorf("putalpha on mode %s", p.Mode)
	}
	out, err := p.Convert(target)
	if err != nil {
		return nil, err
	}
	if err := out.PutBand(out.Channels()-1, alpha); err != nil {
		return nil, err
	}
	return out, nil
}

// EllipseKernel is OpenCV's getStructuringElement(MORPH_ELLIPSE, (w, h)): for each of the h rows, the
// half-open column range [from, to) that the element covers.
func EllipseKernel(w, h int) [][2]int {
	rows := make([][2]int, h)
	if w == 1 && h == 1 {
		return [][2]int{{0, 1}}
	}
	r, c := h/2, w/2
	inv := 0.0
	if r != 0 {
		inv = 1 / (float64(r) * float64(r))
	}
	for i := range rows {
		dy := i - r
		if dy < -r || dy > r {
			continue
		}
		dx := int(math.RoundToEven(float64(c) * math.Sqrt(float64(r*r-dy*dy)*inv)))
		rows[i] = [2]int{max(c-dx, 0), min(c+dx+1, w)}
	}
	return rows
}

// Morph is cv2.dilate (dilate true) or cv2.erode with a structuring element kw wide given by rows (as
// EllipseKernel returns them) anchored at its centre, one iteration, on interleaved 8-bit pixels: the maximum
// (minimum) of each channel over the element, pixels outside the image left out as OpenCV's default border
// does. Each element row is a sliding window over an image row, so the cost is the image's size times the
// element's height.
func Morph(ctx context.Context, pix []uint8, w, h, ch int, rows [][2]int, kw int, dilate bool) ([]uint8, error) {
	if w < 0 || h < 0 || ch < 1 || len(pix) != w*h*ch {
		return nil, fmt.Errorf("imaging: morphology: %d bytes for %dx%d×%d", len(pix), w, h, ch)
	}
	kh := len(rows)
	if kw < 1 || kh < 1 || kw > MaxMorphWindow || kh > MaxMorphWindow {
		return nil, fmt.Errorf("imaging: morphology element %dx%d out of range", kw, kh)
	}
	ay, ax := kh/2, kw/2
	out := make([]uint8, len(pix))
	n := max(w, 1)
	line, res, acc, queue := make([]uint8, n), make([]uint8, n), make([]uint8, n), make([]int, n)
	for y := 0; y < h; y++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for c := 0; c < ch; c++ {
			for x := range acc[:w] {
				acc[x] = 255
				if dilate {
					acc[x] = 0
				}
			}
			for i, r := range rows {
				sy := y + i - ay
				if sy < 0 || sy >= h || r[1] <= r[0] {
					continue
				}
				for x := 0; x < w; x++ {
					line[x] = pix[(sy*w+x)*ch+c]
				}
				if r[0] > ax || r[1] <= ax {
					// A span beside the anchor (the diagonal and one-sided elements): its window may lie
					// wholly outside the image, where it adds nothing.
					for x := 0; x < w; x++ {
						for j := max(r[0], ax-x); j < min(r[1], w-x+ax); j++ {
							if v := line[x+j-ax]; dilate {
								acc[x] = max(acc[x], v)
							} else {
								acc[x] = min(acc[x], v)
							}
						}
					}
					continue
				}
				slideExtreme(res[:w], line[:w], ax-r[0], r[1]-r[0], dilate, queue)
				for x := 0; x < w; x++ {
					if dilate {
						acc[x] = max(acc[x], res[x])
					} else {
						acc[x] = min(acc[x], res[x])
					}
				}
			}
			for x := 0; x < w; x++ {
				out[(y*w+x)*ch+c] = acc[x]
			}
		}
	}
	return out, nil
}
