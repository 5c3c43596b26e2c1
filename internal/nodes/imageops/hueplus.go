package imageops

import (
	"math"

	"github.com/invokego/invokego/internal/engine/imaging"
	"github.com/invokego/invokego/internal/nodes"
)

// HueSpace is the colour space invokeai_img_hue_adjust_plus rotates hue in.
type HueSpace string

// LiteralValues implements schema.Literal.
func (HueSpace) LiteralValues() []string {
	return []string{"HSV / HSL / RGB", "Okhsl", "Okhsv", "*Oklch / Oklab", "*LCh / CIELab",
		"*UPLab (w/CIELab_to_UPLab.icc)"}
}

// InvokeAdjustImageHuePlus is invokeai_img_hue_adjust_plus: the image's hue rotated in Pillow's HSV, in Okhsl,
// Okhsv or Oklch (single-precision arithmetic, oklab.go) or in CIELAB's LCh, optionally keeping each pixel's
// CIELAB lightness, with the image's alpha kept.
//
// The UPLab option needs Bruce Lindbloom's CIELab_to_UPLab.icc colour profile, which InvokeAI ships and
// invokego does not (its licence does not allow it here); that option is refused (docs/compatibility.md).
type InvokeAdjustImageHuePlus struct {
	saving
	Image             nodes.ImageField `json:"image" description:"The image whose hue to rotate"`
	Space             HueSpace         `json:"space" default:"\"HSV / HSL / RGB\"" description:"The colour space to rotate hue in (*: not exactly invertible)"`
	Degrees           float64          `json:"degrees" default:"0.0" description:"How far to rotate the hue, in degrees"`
	PreserveLightness bool             `json:"preserve_lightness" default:"false" description:"Keep each pixel's CIELAB lightness"`
	OkAdaptiveGamut   float64          `json:"ok_adaptive_gamut" default:"0.05" ge:"0" description:"Oklch: higher keeps chroma rather than lightness when bringing colours into gamut"`
	OkHighPrecision   bool             `json:"ok_high_precision" default:"true" description:"Take more steps when computing the gamut's edge (Oklch, Okhsv, Okhsl)"`
}

// NodeInfo implements nodes.Node.
func (*InvokeAdjustImageHuePlus) NodeInfo() nodes.Info {
	return nodes.Info{
		Type: "invokeai_img_hue_adjust_plus", Title: "Adjust Image Hue Plus", Category: "image", Version: "1.2.0",
		Tags:        []string{"image", "hue", "oklab", "cielab", "uplab", "lch", "hsv", "hsl", "lab"},
		Description: "Rotates an image's hue in HSV, Okhsl, Okhsv, Oklch or CIELAB LCh, optionally keeping its lightness.",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *InvokeAdjustImageHuePlus) Invoke(ctx nodes.Context) (nodes.Output, error) {
	space := string(n.Space)
	if space == "" {
		space = "HSV / HSL / RGB"
	}
	if !validLiteral(HueSpace("").LiteralValues(), space) {
		return nil, valueError("unknown colour space %q", space)
	}
	if space == "*UPLab (w/CIELab_to_UPLab.icc)" {
		return nil, valueError("the UPLab colour space needs the CIELab_to_UPLab.icc colour profile, which invokego does not ship; choose another space")
	}
	if math.IsNaN(n.Degrees) || math.IsInf(n.Degrees, 0) || n.OkAdaptiveGamut < 0 || math.IsNaN(n.OkAdaptiveGamut) {
		return nil, valueError("degrees must be finite and ok_adaptive_gamut at least 0")
	}
	p, err := load(ctx, n.Image)
	if err != nil {
		return nil, err
	}
	if err := checkSize(ctx, p.W, p.H); err != nil {
		return nil, err
	}
	// The alpha is set aside and the rest converted to RGB, as InvokeAI's node does.
	var alpha []uint8
	mode := p.Mode
	switch p.Mode {
	case imaging.ModeRGBA, imaging.ModeLA:
		ch := p.Channels()
		alpha = make([]uint8, p.W*p.H)
		for i := range alpha {
			alpha[i] = p.Pix[i*ch+ch-1]
		}
		mode = map[imaging.Mode]imaging.Mode{imaging.ModeRGBA: imaging.ModeRGB, imaging.ModeLA: imaging.ModeL}[p.Mode]
	case imaging.ModeP:
		// Pillow would quantise the result to its web palette with dithering; invokego keeps it RGB
		// (docs/compatibility.md).
		mode = imaging.ModeRGB
	}
	rgb, err := convert(p, imaging.ModeRGB)
	if err != nil {
		return nil, err
	}
	steps := 1
	if n.OkHighPrecision {
		steps = 3
	}
	np := p.W * p.H
	out := &imaging.Picture{W: p.W, H: p.H, Mode: imaging.ModeRGB, Pix: make([]uint8, np*3)}
	shift := f32(n.Degrees) / 360
	rot := f32(n.Degrees / 180 * math.Pi)
	const pi = math.Pi
	parallelChunks(np, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if i%4096 == 0 && ctx.Err() != nil {
				return
			}
			px := rgb.Pix[i*3 : i*3+3]
			var res [3]uint8
			switch space {
			case "HSV / HSL / RGB":
				h, sv, v := imaging.RGBToHSV(px[0], px[1], px[2])
				// All three channels go through float32 and back with truncation, which can lose a unit.
				hh := remainder32(f32(h)/255+shift, 1)
				res[0], res[1], res[2] = imaging.HSVToRGB(castUint8(hh*255), castUint8((f32(sv)/255)*255),
					castUint8((f32(v)/255)*255))
			case "Okhsl":
				hsl := okhslFromLinear(linearOf(px))
				hsl[0] = remainder32(hsl[0]+shift, 1)
				res = bytesOf(srgbFromOkhsl(hsl, 0, 1, 1))
			case "Okhsv":
				hsv := okhsvFromLinear(linearOf(px), steps)
				hsv[0] = remainder32(hsv[0]+shift, 1)
				res = bytesOf(srgbFromOkhsv(hsv, 0, 1))
			case "*Oklch / Oklab":
				lab := oklabFromLinear(linearOf(px))
				c := sqrt32(lab[1]*lab[1] + lab[2]*lab[2])
				h := atan2_32(lab[2], lab[1]) + rot
				h = remainder32(h+f32(2*pi), f32(2*pi))
				lab[1], lab[2] = c*cos32(h), c*sin32(h)
				res = bytesOf(srgbFromLinearPx(linearFromOklab(lab), f32(n.OkAdaptiveGamut), steps))
			case "*LCh / CIELab":
				lab := labBytes(px[0], px[1], px[2])
				a := (f32(lab[1])/255)*2 - 1
				b := (f32(lab[2])/255)*2 - 1
				c := sqrt32(a*a + b*b)
				h := atan2_32(b, a) + rot
				h = remainder32(h+f32(pi), f32(2*pi)) - f32(pi)
				lab[1] = castUint8(((c*cos32(h) + 1) / 2) * 255)
				lab[2] = castUint8(((c*sin32(h) + 1) / 2) * 255)
				res = rgbFromLabBytes(lab)
			}
			if n.PreserveLightness && space != "*LCh / CIELab" {
				// The rotated colour's a* and b* under the original's L*, through 8-bit LAB both ways.
				l0 := labBytes(px[0], px[1], px[2])[0]
				lab := labBytes(res[0], res[1], res[2])
				lab[0] = l0
				res = rgbFromLabBytes(lab)
			}
			copy(out.Pix[i*3:i*3+3], res[:])
		}
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res := out
	if mode != imaging.ModeRGB {
		if res, err = convert(out, mode); err != nil {
			return nil, err
		}
	}
	if alpha != nil {
		withAlpha := map[imaging.Mode]imaging.Mode{imaging.ModeRGB: imaging.ModeRGBA, imaging.ModeL: imaging.ModeLA}[mode]
		a := &imaging.Picture{W: p.W, H: p.H, Mode: imaging.ModeL, Pix: alpha}
		bands := make([]*imaging.Picture, 0, 4)
		for c := range res.Channels() {
			bands = append(bands, res.Band(c))
		}
		if res, err = imaging.Merge(withAlpha, append(bands, a)...); err != nil {
			return nil, valueError("%v", err)
		}
	}
	return n.save(ctx, res, "")
}

// bytesOf is torchvision's to_pil_image of float values in [0, 1]: times 255, truncated.
func bytesOf(v [3]f32) [3]uint8 {
	return [3]uint8{castUint8(v[0] * 255), castUint8(v[1] * 255), castUint8(v[2] * 255)}
}
