package imageops

import (
	"github.com/invokego/invokego/internal/engine/imaging"
	"github.com/invokego/invokego/internal/nodes"
)

// ColorChannel names a channel of one of Pillow's colour spaces.
type ColorChannel string

// LiteralValues implements schema.Literal.
func (ColorChannel) LiteralValues() []string {
	return []string{"Red (RGBA)", "Green (RGBA)", "Blue (RGBA)", "Alpha (RGBA)", "Cyan (CMYK)", "Magenta (CMYK)",
		"Yellow (CMYK)", "Black (CMYK)", "Hue (HSV)", "Saturation (HSV)", "Value (HSV)", "Luminosity (LAB)",
		"A (LAB)", "B (LAB)", "Y (YCbCr)", "Cb (YCbCr)", "Cr (YCbCr)"}
}

// space is the Pillow mode the channel belongs to and its index there.
func (c ColorChannel) space() (imaging.Mode, int, bool) {
	modes := []imaging.Mode{imaging.ModeRGBA, imaging.ModeRGBA, imaging.ModeRGBA, imaging.ModeRGBA,
		imaging.ModeCMYK, imaging.ModeCMYK, imaging.ModeCMYK, imaging.ModeCMYK, imaging.ModeHSV, imaging.ModeHSV,
		imaging.ModeHSV, imaging.ModeLAB, imaging.ModeLAB, imaging.ModeLAB, imaging.ModeYCbCr, imaging.ModeYCbCr,
		imaging.ModeYCbCr}
	idx := []int{0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 0, 1, 2, 0, 1, 2}
	for i, v := range c.LiteralValues() {
		if v == string(c) {
			return modes[i], idx[i], true
		}
	}
	return "", 0, false
}

// adjustChannel converts the RGBA picture to the channel's space, replaces the channel's values through f,
// converts back to RGBA and, unless the channel is alpha, restores the original alpha.
func adjustChannel(p *imaging.Picture, c ColorChannel, f func(v uint8) uint8) (*imaging.Picture, error) {
	mode, idx, ok := c.space()
	if !ok {
		return nil, valueError("unknown channel %q", c)
	}
	conv, err := convert(p, mode)
	if err != nil {
		return nil, err
	}
	ch := conv.Channels()
	// NumPy sees LAB's a and b as signed bytes (Pillow keeps them offset by 128, and its array interface
	// hands them over as two's complement), and InvokeAI's arithmetic works on what NumPy sees.
	var flip uint8
	if mode == imaging.ModeLAB && idx > 0 {
		flip = 0x80
	}
	for i := idx; i < len(conv.Pix); i += ch {
		conv.Pix[i] = f(conv.Pix[i]^flip) ^ flip
	}
	out, err := convert(conv, imaging.ModeRGBA)
	if err != nil {
		return nil, err
	}
	if c != "Alpha (RGBA)" {
		for i := 3; i < len(out.Pix); i += 4 {
			out.Pix[i] = p.Pix[i]
		}
	}
	return out, nil
}

// ImageChannelOffset is img_channel_offset: a value added to one channel, clipped to 0..255 (hue wraps).
type ImageChannelOffset struct {
	saving
	Image   nodes.ImageField `json:"image" description:"The image to adjust"`
	Channel ColorChannel     `json:"channel" description:"The channel to adjust"`
	Offset  int              `json:"offset" default:"0" ge:"-255" le:"255" description:"The value to add to the channel"`
}

// NodeInfo implements nodes.Node.
func (*ImageChannelOffset) NodeInfo() nodes.Info {
	return nodes.Info{
		Type: "img_channel_offset", Title: "Offset Image Channel", Category: "image", Version: "1.2.3",
		Tags: []string{"image", "offset", "red", "green", "blue", "alpha", "cyan", "magenta", "yellow", "black",
			"hue", "saturation", "luminosity", "value"},
		Description: "Adds a value to one channel of an image in the RGBA, CMYK, HSV, LAB or YCbCr colour space.",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *ImageChannelOffset) Invoke(ctx nodes.Context) (nodes.Output, error) {
	p, err := loadAs(ctx, n.Image, imaging.ModeRGBA)
	if err != nil {
		return nil, err
	}
	out, err := adjustChannel(p, n.Channel, func(v uint8) uint8 {
		s := int(v) + n.Offset
		if n.Channel == "Hue (HSV)" {
			return uint8(((s % 256) + 256) % 256)
		}
		return uint8(min(max(s, 0), 255))
	})
	if err != nil {
		return nil, err
	}
	return n.save(ctx, out, "")
}

// ImageChannelMultiply is img_channel_multiply: one channel scaled (in double precision, clipped, then
// truncated), optionally inverted.
type ImageChannelMultiply struct {
	saving
	Image         nodes.ImageField `json:"image" description:"The image to adjust"`
	Channel       ColorChannel     `json:"channel" description:"The channel to adjust"`
	Scale         float64          `json:"scale" default:"1.0" ge:"0.0" description:"The factor to scale the channel by"`
	InvertChannel bool             `json:"invert_channel" default:"false" description:"Invert the channel after scaling it"`
}

// NodeInfo implements nodes.Node.
func (*ImageChannelMultiply) NodeInfo() nodes.Info {
	return nodes.Info{
		Type: "img_channel_multiply", Title: "Multiply Image Channel", Category: "image", Version: "1.2.3",
		Tags: []string{"image", "invert", "scale", "multiply", "red", "green", "blue", "alpha", "cyan", "magenta",
			"yellow", "black", "hue", "saturation", "luminosity", "value"},
		Description: "Scales one channel of an image in the RGBA, CMYK, HSV, LAB or YCbCr colour space.",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *ImageChannelMultiply) Invoke(ctx nodes.Context) (nodes.Output, error) {
	p, err := loadAs(ctx, n.Image, imaging.ModeRGBA)
	if err != nil {
		return nil, err
	}
	out, err := adjustChannel(p, n.Channel, func(v uint8) uint8 {
		s := min(max(float64(v)*n.Scale, 0), 255)
		if n.InvertChannel {
			s = 255 - s
		}
		return uint8(s)
	})
	if err != nil {
		return nil, err
	}
	return n.save(ctx, out, "")
}

// ImageHueAdjustment is img_hue_adjust: Pillow's HSV hue rotated by int(256·(hue mod 360)/360) steps.
type ImageHueAdjustment struct {
	saving
	Image nodes.ImageField `json:"image" description:"The image to adjust"`
	Hue   int              `json:"hue" default:"0" description:"The rotation of the hue, in degrees"`
}

// NodeInfo implements nodes.Node.
func (*ImageHueAdjustment) NodeInfo() nodes.Info {
	return nodes.Info{
		Type: "img_hue_adjust", Title: "Adjust Image Hue", Category: "image", Version: "1.2.2",
		Tags:        []string{"image", "hue"},
		Description: "Rotates the hue of an image (the result is opaque RGBA).",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *ImageHueAdjustment) Invoke(ctx nodes.Context) (nodes.Output, error) {
	p, err := load(ctx, n.Image)
	if err != nil {
		return nil, err
	}
	hsv, err := convert(p, imaging.ModeHSV)
	if err != nil {
		return nil, err
	}
	deg := ((n.Hue % 360) + 360) % 360
	shift := int(256 * (float64(deg) / 360))
	for i := 0; i < len(hsv.Pix); i += 3 {
		hsv.Pix[i] = uint8((int(hsv.Pix[i]) + shift) % 256)
	}
	out, err := convert(hsv, imaging.ModeRGBA)
	if err != nil {
		return nil, err
	}
	return n.save(ctx, out, "")
}

// ColorSpace is where color_correct matches histograms.
type ColorSpace string

// LiteralValues implements schema.Literal.
func (ColorSpace) LiteralValues() []string {
	return []string{"RGB", "YCbCr", "YCbCr-Chroma", "YCbCr-Luma"}
}

// ColorCorrect is color_correct: each chosen channel's histogram matched to the reference's, through their
// cumulative distributions.
type ColorCorrect struct {
	saving
	BaseImage      nodes.ImageField  `json:"base_image" description:"The image to correct"`
	ColorReference nodes.ImageField  `json:"color_reference" description:"The image whose colours to match"`
	Mask           *nodes.ImageField `json:"mask" default:"null" description:"Where white, the base image is kept unchanged"`
	Colorspace     ColorSpace        `json:"colorspace" default:"RGB" title:"Color Space" description:"The colour space and channels to match"`
}

// NodeInfo implements nodes.Node.
func (*ColorCorrect) NodeInfo() nodes.Info {
	return nodes.Info{
		Type: "color_correct", Title: "Color Correct", Category: "image", Version: "2.0.0",
		Tags:        []string{"image", "color"},
		Description: "Matches the histograms of an image's channels to those of a reference image, optionally only outside a mask.",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *ColorCorrect) Invoke(ctx nodes.Context) (nodes.Output, error) {
	base, err := loadAs(ctx, n.BaseImage, imaging.ModeRGBA)
	if err != nil {
		return nil, err
	}
	mode, chans := imaging.ModeRGB, []int{0, 1, 2}
	switch n.Colorspace {
	case "YCbCr":
		mode = imaging.ModeYCbCr
	case "YCbCr-Chroma":
		mode, chans = imaging.ModeYCbCr, []int{1, 2}
	case "YCbCr-Luma":
		mode, chans = imaging.ModeYCbCr, []int{0}
	}
	b, err := convert(base, mode)
	if err != nil {
		return nil, err
	}
	ref, err := loadAs(ctx, n.ColorReference, mode)
	if err != nil {
		return nil, err
	}
	corrected := b.Clone()
	for _, c := range chans {
		lut := matchHistogram(b.Band(c).Pix, ref.Band(c).Pix)
		for i := c; i < len(corrected.Pix); i += 3 {
			corrected.Pix[i] = lut[corrected.Pix[i]]
		}
	}
	if corrected, err = convert(corrected, imaging.ModeRGB); err != nil {
		return nil, err
	}
	if n.Mask != nil && n.Mask.ImageName != "" {
		mask, err := loadAs(ctx, *n.Mask, imaging.ModeL)
		if err != nil {
			return nil, err
		}
		if mask.W != corrected.W || mask.H != corrected.H {
			return nil, valueError("mask size must match base image size")
		}
		rgb, err := convert(base, imaging.ModeRGB)
		if err != nil {
			return nil, err
		}
		if err := corrected.Paste(rgb, 0, 0, mask); err != nil {
			return nil, valueError("%v", err)
		}
	}
	out, err := convert(corrected, imaging.ModeRGBA)
	if err != nil {
		return nil, err
	}
	for i := 3; i < len(out.Pix); i += 4 {
		out.Pix[i] = base.Pix[i]
	}
	return n.save(ctx, out, "")
}

// matchHistogram is InvokeAI's histogram matching of one channel: the normalised cumulative histograms of
// source and reference, numpy.interp(source_cdf, reference_cdf, arange(256)) in double precision, truncated.
func matchHistogram(source, reference []uint8) [256]uint8 {
	cdf := func(v []uint8) [256]float64 {
		var hist [256]int64
		for _, x := range v {
			hist[x]++
		}
		var out [256]float64
		var sum int64
		for i, h := range hist {
			sum += h
			out[i] = float64(sum)
		}
		if sum > 0 {
			for i := range out {
				out[i] /= float64(sum)
			}
		}
		return out
	}
	sc, rc := cdf(source), cdf(reference)
	var lut [256]uint8
	for i, x := range sc {
		lut[i] = uint8(interp(x, rc[:]))
	}
	return lut
}

// interp is numpy.interp(x, xp, arange(len(xp))) for a non-decreasing xp: the last j with xp[j] ≤ x, and the
// straight line from there to the next point, computed as NumPy computes it (slope first).
func interp(x float64, xp []float64) float64 {
	n := len(xp)
	if x < xp[0] {
		return 0
	}
	if x > xp[n-1] {
		return float64(n - 1)
	}
	lo, hi := 0, n // the first index whose value exceeds x
	for lo < hi {
		mid := lo + (hi-lo)/2
		if x >= xp[mid] {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	j := lo - 1
	if j == n-1 || xp[j] == x {
		return float64(j)
	}
	slope := 1 / (xp[j+1] - xp[j])
	return float64(slope*(x-xp[j])) + float64(j)
}

// InvokeImageEnhance is invokeai_img_enhance: ImageOps.invert, then ImageEnhance's Color, Contrast,
// Brightness and Sharpness, each only when its factor is not 1.
type InvokeImageEnhance struct {
	saving
	Image      nodes.ImageField `json:"image" description:"The image to enhance"`
	Invert     bool             `json:"invert" default:"false" description:"Invert the colours (an image with alpha becomes RGB first)"`
	Color      float64          `json:"color" default:"1.0" ge:"0" description:"The colour factor (0: grey)"`
	Contrast   float64          `json:"contrast" default:"1.0" ge:"0" description:"The contrast factor (0: flat grey)"`
	Brightness float64          `json:"brightness" default:"1.0" ge:"0" description:"The brightness factor (0: black)"`
	Sharpness  float64          `json:"sharpness" default:"1.0" ge:"0" description:"The sharpness factor (0: smoothed)"`
}

// NodeInfo implements nodes.Node.
func (*InvokeImageEnhance) NodeInfo() nodes.Info {
	return nodes.Info{
		Type: "invokeai_img_enhance", Title: "Enhance Image", Category: "image", Version: "1.2.1",
		Tags:        []string{"enhance", "image"},
		Description: "Inverts an image and adjusts its colour, contrast, brightness and sharpness as PIL's ImageEnhance does.",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *InvokeImageEnhance) Invoke(ctx nodes.Context) (nodes.Output, error) {
	p, err := load(ctx, n.Image)
	if err != nil {
		return nil, err
	}
	if n.Invert {
		if p.Mode != imaging.ModeL && p.Mode != imaging.ModeRGB {
			if p, err = convert(p, imaging.ModeRGB); err != nil {
				return nil, err
			}
		}
		if p, err = p.Invert(); err != nil {
			return nil, valueError("%v", err)
		}
	}
	steps := []struct {
		factor float64
		apply  func(*imaging.Picture, float64) (*imaging.Picture, error)
	}{
		{n.Color, (*imaging.Picture).EnhanceColor},
		{n.Contrast, (*imaging.Picture).EnhanceContrast},
		{n.Brightness, (*imaging.Picture).EnhanceBrightness},
		{n.Sharpness, (*imaging.Picture).EnhanceSharpness},
	}
	for _, s := range steps {
		if s.factor == 1 {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if p, err = s.apply(p, s.factor); err != nil {
			return nil, valueError("%v", err)
		}
	}
	return n.save(ctx, p, "")
}
