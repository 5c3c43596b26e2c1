package canvas

import (
	"image"
	"image/color"

	"github.com/invokego/invokego/internal/engine/imaging"
	"github.com/invokego/invokego/internal/nodes"
)

// pilImage is a decoded gallery image in the terms of the PIL image InvokeAI's node would hold: its mode
// ("L", "RGB", "RGBA", or "P" for a palette image, kept as RGBA) and interleaved 8-bit pixels.
type pilImage struct {
	w, h int
	mode string
	pix  []uint8
}

// channels is the number of bytes a pixel of the mode takes here.
func channels(mode string) int {
	switch mode {
	case "L":
		return 1
	case "RGB":
		return 3
	}
	return 4
}

// fromImage reads a decoded image as PIL would have opened its file: grey PNGs are "L", truecolour PNGs
// without alpha "RGB", with alpha "RGBA", palette PNGs "P"; other models become "RGB" when opaque.
func fromImage(img image.Image) *pilImage {
	b := img.Bounds()
	p := &pilImage{w: b.Dx(), h: b.Dy()}
	switch m := img.(type) {
	case *image.Gray:
		p.mode = "L"
		p.pix = make([]uint8, p.w*p.h)
		for y := 0; y < p.h; y++ {
			o := m.PixOffset(b.Min.X, b.Min.Y+y)
			copy(p.pix[y*p.w:(y+1)*p.w], m.Pix[o:o+p.w])
		}
		return p
	case *image.Gray16:
		p.mode = "L"
		p.pix = make([]uint8, p.w*p.h)
		for y := 0; y < p.h; y++ {
			for x := 0; x < p.w; x++ {
				p.pix[y*p.w+x] = color.GrayModel.Convert(m.At(b.Min.X+x, b.Min.Y+y)).(color.Gray).Y
			}
		}
		return p
	case *image.Paletted:
		p.mode = "P"
	case *image.NRGBA, *image.NRGBA64:
		p.mode = "RGBA"
	default:
		p.mode = "RGBA"
		if o, ok := img.(interface{ Opaque() bool }); ok && o.Opaque() {
			p.mode = "RGB"
		}
	}
	rgba, _, _ := imaging.NRGBA8(img)
	p.pix = rgba
	if p.mode == "RGB" {
		p.pix = dropAlpha(rgba)
	}
	return p
}

func dropAlpha(rgba []uint8) []uint8 {
	out := make([]uint8, len(rgba)/4*3)
	for i := 0; i < len(rgba)/4; i++ {
		copy(out[i*3:i*3+3], rgba[i*4:i*4+3])
	}
	return out
}

// convert is PIL's Image.convert between L, RGB and RGBA (a palette image converts through its colours).
func (p *pilImage) convert(mode string) *pilImage {
	if p.mode == mode {
		return &pilImage{w: p.w, h: p.h, mode: mode, pix: append([]uint8(nil), p.pix...)}
	}
	n := p.w * p.h
	src := channels(p.mode)
	out := &pilImage{w: p.w, h: p.h, mode: mode, pix: make([]uint8, n*channels(mode))}
	for i := 0; i < n; i++ {
		s := p.pix[i*src : (i+1)*src]
		var r, g, b, a uint8 = s[0], s[0], s[0], 255
		if src >= 3 {
			g, b = s[1], s[2]
		}
		if src == 4 {
			a = s[3]
		}
		switch mode {
		case "L":
			out.pix[i] = imaging.Luma(r, g, b)
			if src == 1 {
				out.pix[i] = r
			}
		case "RGB":
			copy(out.pix[i*3:], []uint8{r, g, b})
		default:
			copy(out.pix[i*4:], []uint8{r, g, b, a})
		}
	}
	return out
}

// image returns the pixels as a Go image that the gallery saves in the mode's PNG colour type (an opaque
// RGBA image is written as RGB).
func (p *pilImage) image() image.Image {
	r := image.Rect(0, 0, p.w, p.h)
	switch p.mode {
	case "L":
		return &image.Gray{Pix: p.pix, Stride: p.w, Rect: r}
	case "RGB":
		out := image.NewRGBA(r)
		for i := 0; i < p.w*p.h; i++ {
			copy(out.Pix[i*4:i*4+3], p.pix[i*3:i*3+3])
			out.Pix[i*4+3] = 255
		}
		return out
	}
	return &image.NRGBA{Pix: p.pix, Stride: p.w * 4, Rect: r}
}

// band returns one channel (0-based) of the pixels.
func (p *pilImage) band(c int) []uint8 {
	ch := channels(p.mode)
	out := make([]uint8, p.w*p.h)
	for i := range out {
		out[i] = p.pix[i*ch+c]
	}
	return out
}

func loadPIL(ctx nodes.Context, f nodes.ImageField) (*pilImage, error) {
	if f.ImageName == "" {
		return nil, nodes.Errorf("ValueError", "no image given")
	}
	img, err := ctx.LoadImage(f.ImageName)
	if err != nil {
		return nil, err
	}
	return fromImage(img), nil
}

func invert(a []uint8) {
	for i, v := range a {
		a[i] = 255 - v
	}
}
