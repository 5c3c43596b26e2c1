package imaging

import (
	"fmt"
	"image"
	"image/color"
)

// Mode is a Pillow image mode. A Picture of each mode stores the channels below, 8 bits each, interleaved:
//
//	"1"            one byte, 0 or 255 (Pillow's bilevel image, as its 8-bit storage holds it)
//	"L"            luminance
//	"P"            a palette image, held here as the R, G, B, A of each pixel's palette entry
//	"LA", "La"     luminance and alpha (La premultiplied)
//	"RGB", "YCbCr", "HSV", "LAB"   three channels
//	"RGBA", "RGBa", "CMYK"         four channels
type Mode string

// The 8-bit Pillow modes that Picture holds.
const (
	ModeBilevel Mode = "1"
	ModeL       Mode = "L"
	ModeP       Mode = "P"
	ModeLA      Mode = "LA"
	ModeLa      Mode = "La"
	ModeRGB     Mode = "RGB"
	ModeRGBA    Mode = "RGBA"
	ModeRGBa    Mode = "RGBa"
	ModeCMYK    Mode = "CMYK"
	ModeYCbCr   Mode = "YCbCr"
	ModeHSV     Mode = "HSV"
	ModeLAB     Mode = "LAB"
)

// Channels is the number of bytes a pixel of the mode takes in a Picture (0 for an unknown mode).
func (m Mode) Channels() int {
	switch m {
	case ModeBilevel, ModeL:
		return 1
	case ModeLA, ModeLa:
		return 2
	case ModeRGB, ModeYCbCr, ModeHSV, ModeLAB:
		return 3
	case ModeRGBA, ModeRGBa, ModeCMYK, ModeP:
		return 4
	}
	return 0
}

// Bands names the channels of the mode as Pillow's getbands() does.
func (m Mode) Bands() []string {
	switch m {
	case ModeBilevel:
		return []string{"1"}
	case ModeL:
		return []string{"L"}
	case ModeP:
		return []string{"P"}
	case ModeLA:
		return []string{"L", "A"}
	case ModeLa:
		return []string{"L", "a"}
	case ModeRGB:
		return []string{"R", "G", "B"}
	case ModeRGBA:
		return []string{"R", "G", "B", "A"}
	case ModeRGBa:
		return []string{"R", "G", "B", "a"}
	case ModeCMYK:
		return []string{"C", "M", "Y", "K"}
	case ModeYCbCr:
		return []string{"Y", "Cb", "Cr"}
	case ModeHSV:
		return []string{"H", "S", "V"}
	case ModeLAB:
		return []string{"L", "A", "B"}
	}
	return nil
}

// MaxPictureSide bounds the pictures this package makes, so that no computed size allocates without limit.
const MaxPictureSide = 1 << 15

// Picture is an 8-bit image as Pillow holds it: a mode and interleaved pixels, Mode.Channels() bytes each,
// rows top to bottom without padding.
type Picture struct {
	W, H int
	Mode Mode
	Pix  []uint8
}

// NewPicture returns a picture of the mode filled with zero bytes.
func NewPicture(mode Mode, w, h int) (*Picture, error) {
	ch := mode.Channels()
	if ch == 0 {
		return nil, fmt.Errorf("imaging: unknown mode %q", mode)
	}
	if w < 0 || h < 0 || w > MaxPictureSide || h > MaxPictureSide {
		return nil, fmt.Errorf("imaging: picture size %dx%d out of range (0..%d)", w, h, MaxPictureSide)
	}
	return &Picture{W: w, H: h, Mode: mode, Pix: make([]uint8, w*h*ch)}, nil
}

// Channels is the number of bytes per pixel.
func (p *Picture) Channels() int { return p.Mode.Channels() }

// Clone returns a deep copy.
func (p *Picture) Clone() *Picture {
	return &Picture{W: p.W, H: p.H, Mode: p.Mode, Pix: append([]uint8(nil), p.Pix...)}
}

// Band returns channel c (0-based) as an "L" picture, as Pillow's getchannel does.
func (p *Picture) Band(c int) *Picture {
	ch := p.Channels()
	out := &Picture{W: p.W, H: p.H, Mode: ModeL, Pix: make([]uint8, p.W*p.H)}
	for i := range out.Pix {
		out.Pix[i] = p.Pix[i*ch+c]
	}
	return out
}

// BandNamed returns the channel Pillow's getchannel(name) returns, or an error naming the bands it has.
func (p *Picture) BandNamed(name string) (*Picture, error) {
	for i, b := range p.Mode.Bands() {
		if b == name && p.Mode != ModeP {
			return p.Band(i), nil
		}
	}
	return nil, fmt.Errorf(`the image has no channel "%s"`, name)
}

// Merge builds a picture of the mode from "L" bands of one size, as Pillow's Image.merge does.
func Merge(mode Mode, bands ...*Picture) (*Picture, error) {
	ch := mode.Channels()
	if ch == 0 || mode == ModeP || len(bands) != ch {
		return nil, fmt.Errorf("imaging: merge: %d bands for mode %q", len(bands), mode)
	}
	w, h := bands[0].W, bands[0].H
	for _, b := range bands {
		if b.Mode != ModeL && b.Mode != ModeBilevel {
			return nil, fmt.Errorf("imaging: merge: a band of mode %q", b.Mode)
		}
		if b.W != w || b.H != h {
			return nil, fmt.Errorf("imaging: merge: bands of sizes %dx%d and %dx%d", w, h, b.W, b.H)
		}
	}
	out := &Picture{W: w, H: h, Mode: mode, Pix: make([]uint8, w*h*ch)}
	for c, b := range bands {
		for i, v := range b.Pix {
			out.Pix[i*ch+c] = v
		}
	}
	return out, nil
}

// PutBand replaces channel c with an "L" picture of the same size (Pillow's putalpha for the last band of
// an RGBA or LA picture).
func (p *Picture) PutBand(c int, band *Picture) error {
	if band.W != p.W || band.H != p.H || band.Channels() != 1 {
		return fmt.Errorf("imaging: band of %dx%d (%s) for a %dx%d picture", band.W, band.H, band.Mode, p.W, p.H)
	}
	ch := p.Channels()
	for i, v := range band.Pix {
		p.Pix[i*ch+c] = v
	}
	return nil
}

// FromImage reads a decoded image as Pillow would hold the file it came from: a grey PNG is "L", a
// truecolour PNG without alpha "RGB" (Go decodes it as an opaque *image.RGBA), one with alpha "RGBA" (Go's
// *image.NRGBA, which a grey+alpha PNG also decodes to), a palette PNG "P". Other in-memory images are "RGB"
// when opaque and "RGBA" otherwise; 16-bit images keep their high bytes.
func FromImage(img image.Image) *Picture {
	b := img.Bounds()
	p := &Picture{W: b.Dx(), H: b.Dy()}
	switch m := img.(type) {
	case *image.Gray:
		p.Mode = ModeL
		p.Pix = make([]uint8, p.W*p.H)
		for y := 0; y < p.H; y++ {
			o := m.PixOffset(b.Min.X, b.Min.Y+y)
			copy(p.Pix[y*p.W:(y+1)*p.W], m.Pix[o:o+p.W])
		}
		return p
	case *image.Gray16:
		p.Mode = ModeL
		p.Pix = make([]uint8, p.W*p.H)
		for y := 0; y < p.H; y++ {
			for x := 0; x < p.W; x++ {
				p.Pix[y*p.W+x] = uint8(m.Gray16At(b.Min.X+x, b.Min.Y+y).Y >> 8)
			}
		}
		return p
	case *image.Paletted:
		p.Mode = ModeP
	case *image.NRGBA, *image.NRGBA64:
		p.Mode = ModeRGBA
	default:
		p.Mode = ModeRGBA
		if o, ok := img.(interface{ Opaque() bool }); ok && o.Opaque() {
			p.Mode = ModeRGB
		}
	}
	rgba, _, _ := NRGBA8(img)
	if p.Mode == ModeRGB {
		p.Pix = make([]uint8, p.W*p.H*3)
		for i := 0; i < p.W*p.H; i++ {
			copy(p.Pix[i*3:i*3+3], rgba[i*4:i*4+3])
		}
		return p
	}
	p.Pix = rgba
	return p
}

// Image returns the picture as a Go image that the gallery's PNG encoder writes with the colour type Pillow
// would use: "L" and "1" as grey, "RGB" as an opaque *image.RGBA, "RGBA", "LA" and "P" as *image.NRGBA (Go's
// encoder writes any opaque image as RGB). Pillow cannot write CMYK, YCbCr, HSV or LAB pictures as PNG, and
// neither can this.
func (p *Picture) Image() (image.Image, error) {
	r := image.Rect(0, 0, p.W, p.H)
	n := p.W * p.H
	switch p.Mode {
	case ModeL, ModeBilevel:
		return &image.Gray{Pix: append([]uint8(nil), p.Pix...), Stride: p.W, Rect: r}, nil
	case ModeRGB:
		out := image.NewRGBA(r)
		for i := 0; i < n; i++ {
			copy(out.Pix[i*4:i*4+3], p.Pix[i*3:i*3+3])
			out.Pix[i*4+3] = 255
		}
		return out, nil
	case ModeRGBA, ModeP:
		return &image.NRGBA{Pix: append([]uint8(nil), p.Pix...), Stride: p.W * 4, Rect: r}, nil
	case ModeLA:
		out := image.NewNRGBA(r)
		for i := 0; i < n; i++ {
			l := p.Pix[i*2]
			out.Pix[i*4], out.Pix[i*4+1], out.Pix[i*4+2], out.Pix[i*4+3] = l, l, l, p.Pix[i*2+1]
		}
		return out, nil
	}
	return nil, fmt.Errorf("cannot write mode %s as PNG", p.Mode)
}

// MustImage is Image for the modes that always have a PNG form (L, 1, RGB, RGBA, LA, P); it panics otherwise.
func (p *Picture) MustImage() image.Image {
	img, err := p.Image()
	if err != nil {
		panic(err)
	}
	return img
}

// At returns the pixel at (x, y) as a colour, for tests and debugging.
func (p *Picture) At(x, y int) color.NRGBA {
	ch := p.Channels()
	s := p.Pix[(y*p.W+x)*ch:][:ch]
	switch ch {
	case 1:
		return color.NRGBA{s[0], s[0], s[0], 255}
	case 2:
		return color.NRGBA{s[0], s[0], s[0], s[1]}
	case 3:
		return color.NRGBA{s[0], s[1], s[2], 255}
	}
	return color.NRGBA{s[0], s[1], s[2], s[3]}
}
