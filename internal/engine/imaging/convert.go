package imaging

import (
	"fmt"
	"math"
)

// Pillow's mode conversions between 8-bit modes (Image.convert without a matrix, palette or dither), with
// its integer arithmetic. A pair Pillow has no direct conversion for goes through the source's base mode
// ("RGB" for CMYK, YCbCr and HSV), as Image.convert retries. LAB is separate (lab.go): Pillow converts
// through LittleCMS.

// MulDiv255 is Pillow's MULDIV255: a·b/255 rounded, for a, b ≤ 255.
func MulDiv255(a, b uint8) uint8 {
	t := uint32(a)*uint32(b) + 128
	return uint8((t>>8 + t) >> 8)
}

// luma24 is Pillow's RGB → L conversion (ITU-R 601-2 weights in 16-bit fixed point).
func luma24(r, g, b uint8) uint8 {
	return uint8((uint32(r)*19595 + uint32(g)*38470 + uint32(b)*7471 + 0x8000) >> 16)
}

// clip8 of an int, as Pillow's CLIP8.
func clipInt8(v int) uint8 {
	if v <= 0 {
		return 0
	}
	if v >= 255 {
		return 255
	}
	return uint8(v)
}

// unpremultiply is Pillow's RGBa → RGBA step for one channel.
func unpremultiply(v, a uint8) uint8 {
	if a == 255 || a == 0 {
		return v
	}
	return clipInt8(255 * int(v) / int(a))
}

// modeBase is Pillow's getmodebase for the modes here.
func modeBase(m Mode) Mode {
	switch m {
	case ModeBilevel, ModeL, ModeLA, ModeLa:
		return ModeL
	case ModeP:
		return ModeP
	}
	return ModeRGB
}

// Convert returns the picture in another mode, as Pillow's Image.convert(mode) does; converting to the same
// mode copies. Conversions to "1" (Pillow dithers) and to or from "P" are not provided, except from "P",
// whose pixels already hold their palette colours.
func (p *Picture) Convert(mode Mode) (*Picture, error) {
	if mode == p.Mode {
		return p.Clone(), nil
	}
	if mode == ModeLAB || p.Mode == ModeLAB {
		return p.convertLAB(mode)
	}
	if out, ok := p.convertDirect(mode); ok {
		return out, nil
	}
	if base := modeBase(p.Mode); base != p.Mode {
		if mid, ok := p.convertDirect(base); ok {
			if out, ok := mid.convertDirect(mode); ok {
				return out, nil
			}
		}
	}
	return nil, fmt.Errorf("conversion from %s to %s not supported", p.Mode, mode)
}

// convertDirect is one entry of Pillow's conversion table.
func (p *Picture) convertDirect(mode Mode) (*Picture, bool) {
	n := p.W * p.H
	in := p.Pix
	sc := p.Channels()
	dc := mode.Channels()
	if dc == 0 {
		return nil, false
	}
	out := &Picture{W: p.W, H: p.H, Mode: mode, Pix: make([]uint8, n*dc)}
	o := out.Pix
	set := func(i int, v ...uint8) { copy(o[i*dc:i*dc+dc], v) }
	switch p.Mode {
	case ModeBilevel:
		for i := 0; i < n; i++ {
			v := uint8(0)
			if in[i] != 0 {
				v = 255
			}
			switch mode {
			case ModeL:
				set(i, v)
			case ModeRGB, ModeRGBA:
				set(i, v, v, v, 255)
			case ModeCMYK:
				set(i, 0, 0, 0, 255-v)
			case ModeYCbCr:
				set(i, v, 128, 128)
			case ModeHSV:
				set(i, 0, 0, v)
			default:
				return nil, false
			}
		}
	case ModeL, ModeLA:
		for i := 0; i < n; i++ {
			v, a := in[i*sc], uint8(255)
			if sc == 2 {
				a = in[i*sc+1]
			}
			switch mode {
			case ModeL:
				set(i, v)
			case ModeLA:
				set(i, v, a)
			case ModeLa:
				if p.Mode != ModeLA {
					return nil, false
				}
				set(i, MulDiv255(v, a), a)
			case ModeRGB:
				set(i, v, v, v)
			case ModeRGBA:
				set(i, v, v, v, a)
			case ModeCMYK:
				set(i, 0, 0, 0, 255-v)
			case ModeYCbCr:
				set(i, v, 128, 128)
			case ModeHSV:
				set(i, 0, 0, v)
			default:
				return nil, false
			}
		}
	case ModeLa:
		if mode != ModeLA {
			return nil, false
		}
		for i := 0; i < n; i++ {
			set(i, unpremultiply(in[i*2], in[i*2+1]), in[i*2+1])
		}
	case ModeRGB, ModeRGBA, ModeP:
		for i := 0; i < n; i++ {
			r, g, b, a := in[i*sc], in[i*sc+1], in[i*sc+2], uint8(255)
			if sc == 4 {
				a = in[i*sc+3]
			}
			switch mode {
			case ModeL:
				set(i, luma24(r, g, b))
			case ModeLA:
				set(i, luma24(r, g, b), a)
			case ModeRGB:
				set(i, r, g, b)
			case ModeRGBA:
				set(i, r, g, b, a)
			case ModeRGBa:
				if p.Mode != ModeRGBA {
					return nil, false
				}
				set(i, MulDiv255(r, a), MulDiv255(g, a), MulDiv255(b, a), a)
			case ModeCMYK:
				set(i, 255-r, 255-g, 255-b, 0)
			case ModeYCbCr:
				y, cb, cr := rgbToYCbCr(r, g, b)
				set(i, y, cb, cr)
			case ModeHSV:
				h, s, v := rgbToHSV(r, g, b)
				set(i, h, s, v)
			default:
				return nil, false
			}
		}
	case ModeRGBa:
		if mode != ModeRGBA && mode != ModeRGB {
			return nil, false
		}
		for i := 0; i < n; i++ {
			a := in[i*4+3]
			set(i, unpremultiply(in[i*4], a), unpremultiply(in[i*4+1], a), unpremultiply(in[i*4+2], a), a)
		}
	case ModeCMYK:
		if mode != ModeRGB && mode != ModeRGBA && mode != ModeHSV {
			return nil, false
		}
		for i := 0; i < n; i++ {
			nk := 255 - in[i*4+3]
			r := clipInt8(int(nk) - int(MulDiv255(in[i*4], nk)))
			g := clipInt8(int(nk) - int(MulDiv255(in[i*4+1], nk)))
			b := clipInt8(int(nk) - int(MulDiv255(in[i*4+2], nk)))
			if mode == ModeHSV {
				h, s, v := rgbToHSV(r, g, b)
				set(i, h, s, v)
			} else {
				set(i, r, g, b, 255)
			}
		}
	case ModeYCbCr:
		for i := 0; i < n; i++ {
			y := in[i*3]
			switch mode {
			case ModeL:
				set(i, y)
			case ModeLA:
				set(i, y, 255)
			case ModeRGB:
				r, g, b := yCbCrToRGB(y, in[i*3+1], in[i*3+2])
				set(i, r, g, b)
			default:
				return nil, false
			}
		}
	case ModeHSV:
		if mode != ModeRGB {
			return nil, false
		}
		for i := 0; i < n; i++ {
			r, g, b := hsvToRGB(in[i*3], in[i*3+1], in[i*3+2])
			set(i, r, g, b)
		}
	default:
		return nil, false
	}
	return out, true
}

// rgbToHSV is Pillow's RGB → HSV (after Python's colorsys), with its single-precision intermediates.
func rgbToHSV(r, g, b uint8) (uint8, uint8, uint8) {
	maxc, minc := max(r, g, b), min(r, g, b)
	if maxc == minc {
		return 0, 0, maxc
	}
	cr := float32(maxc - minc)
	s := cr / float32(maxc)
	rc := float32(maxc-r) / cr
	gc := float32(maxc-g) / cr
	bc := float32(maxc-b) / cr
	var h float32
	switch {
	case r == maxc:
		h = bc - gc
	case g == maxc:
		h = float32(2.0 + float64(rc) - float64(bc))
	default:
		h = float32(4.0 + float64(gc) - float64(rc))
	}
	h = float32(math.Mod(float64(h)/6.0+1.0, 1.0))
	return clipInt8(int(float64(h) * 255.0)), clipInt8(int(float64(s) * 255.0)), maxc
}

// hsvToRGB is Pillow's HSV → RGB, with its mixed single- and double-precision arithmetic.
func hsvToRGB(h, s, v uint8) (uint8, uint8, uint8) {
	if s == 0 {
		return v, v, v
	}
	i := int(math.Floor(float64(float32(h)) * 6.0 / 255.0))
	f := float32(float64(float32(h))*6.0/255.0 - float64(float32(i)))
	fs := float32(float64(s) / 255.0)
	fv := float64(float32(v))
	p := clipInt8(int(math.Round(fv * (1.0 - float64(fs)))))
	q := clipInt8(int(math.Round(fv * (1.0 - float64(fs*f)))))
	t := clipInt8(int(math.Round(fv * (1.0 - float64(fs)*(1.0-float64(f))))))
	switch i % 6 {
	case 0:
		return v, t, p
	case 1:
		return q, v, p
	case 2:
		return p, v, t
	case 3:
		return p, q, v
	case 4:
		return t, p, v
	}
	return v, p, q
}

// The JPEG/JFIF YCbCr tables: each coefficient times 64 for every 8-bit value, rounded half away from zero,
// negative entries then raised by one (which is how Pillow's tables are built).
var yccTables = func() (t struct{ yR, yG, yB, cbR, cbG, cbB, crG, crB, rCr, gCb, gCr, bCb [256]int32 }) {
	entry := func(x float64) int32 {
		v := int32(math.Floor(math.Abs(x*64) + 0.5))
		if x < 0 {
			v = -v
		}
		if v < 0 {
			v++
		}
		return v
	}
	for i := 0; i < 256; i++ {
		f, c := float64(i), float64(i-128)
		t.yR[i], t.yG[i], t.yB[i] = entry(f*0.299), entry(f*0.587), entry(f*0.114)
		t.cbR[i], t.cbG[i], t.cbB[i] = entry(f*-0.16874), entry(f*-0.33126), entry(f*0.5)
		t.crG[i], t.crB[i] = entry(f*-0.41869), entry(f*-0.08131)
		t.rCr[i], t.gCb[i], t.gCr[i], t.bCb[i] = entry(c*1.402), entry(c*-0.34414), entry(c*-0.71414), entry(c*1.772)
	}
	return t
}()

func rgbToYCbCr(r, g, b uint8) (uint8, uint8, uint8) {
	t := &yccTables
	y := (t.yR[r] + t.yG[g] + t.yB[b]) >> 6
	cb := (t.cbR[r]+t.cbG[g]+t.cbB[b])>>6 + 128
	cr := (t.cbB[r]+t.crG[g]+t.crB[b])>>6 + 128 // Cr's red weight equals Cb's blue weight (0.5)
	return uint8(y), uint8(cb), uint8(cr)
}

func yCbCrToRGB(y, cb, cr uint8) (uint8, uint8, uint8) {
	t := &yccTables
	r := int(y) + int(t.rCr[cr]>>6)
	g := int(y) + int((t.gCb[cb]+t.gCr[cr])>>6)
	b := int(y) + int(t.bCb[cb]>>6)
	return clipInt8(r), clipInt8(g), clipInt8(b)
}

// RGBToHSV is Pillow's conversion of one pixel to "HSV".
func RGBToHSV(r, g, b uint8) (uint8, uint8, uint8) { return rgbToHSV(r, g, b) }

// HSVToRGB is Pillow's conversion of one "HSV" pixel to "RGB".
func HSVToRGB(h, s, v uint8) (uint8, uint8, uint8) { return hsvToRGB(h, s, v) }
