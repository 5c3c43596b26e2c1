package imageops

import (
	"math"

	"github.com/invokego/invokego/internal/engine/imaging"
	"github.com/invokego/invokego/internal/engine/noise"
	"github.com/invokego/invokego/internal/nodes"
)

// MaskEdge is mask_edge: a mask of the edges of an image's grey version, for inpainting a seam.
type MaskEdge struct {
	saving
	Image         nodes.ImageField `json:"image" description:"The image whose edges to mask"`
	EdgeSize      int              `json:"edge_size" le:"16384" description:"How far the edges are grown (3×3 dilations, half this many)"`
	EdgeBlur      int              `json:"edge_blur" description:"The box blur radius of the edge mask (none when not positive)"`
	LowThreshold  int              `json:"low_threshold" description:"Canny's lower hysteresis threshold"`
	HighThreshold int              `json:"high_threshold" description:"Canny's upper hysteresis threshold"`
}

// NodeInfo implements nodes.Node.
func (*MaskEdge) NodeInfo() nodes.Info {
	return nodes.Info{
		Type: "mask_edge", Title: "Mask Edge", Category: "image", Version: "1.2.2",
		Tags:        []string{"image", "mask", "inpaint"},
		Description: "Makes an inpainting mask of an image's edges: OpenCV's Canny edges and the mid-grey levels, grown, blurred and inverted.",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation: every step is InvokeAI's, with its uint8 wrap-around where the level
// term and the edges add up.
func (n *MaskEdge) Invoke(ctx nodes.Context) (nodes.Output, error) {
	src, err := load(ctx, n.Image)
	if err != nil {
		return nil, err
	}
	m, err := convert(src, imaging.ModeL)
	if err != nil {
		return nil, err
	}
	edges, err := imaging.Canny(m.Pix, m.W, m.H, 1, float64(n.LowThreshold), float64(n.HighThreshold))
	if err != nil {
		return nil, valueError("%v", err)
	}
	pix := make([]uint8, len(m.Pix))
	for i, v := range m.Pix {
		// 255·(1 − floor(|0.5 − v/255|·2)) in float32 is 0 for black and white and 255 otherwise.
		var level uint8 = 255
		if v == 0 || v == 255 {
			level = 0
		}
		pix[i] = level + edges[i]
	}
	// int(edge_size / 2) truncates toward zero; OpenCV runs a negative iteration count once.
	iters := n.EdgeSize / 2
	if iters < 0 {
		iters = 1
	}
	if iters > 0 {
		if pix, err = imaging.Dilate(pix, m.W, m.H, 1, 3, 3, iters); err != nil {
			return nil, valueError("edge_size %d: %v", n.EdgeSize, err)
		}
	}
	if n.EdgeBlur > 0 {
		if pix, err = imaging.BoxBlur(pix, m.W, m.H, 1, float32(n.EdgeBlur)); err != nil {
			return nil, valueError("edge_blur %d: %v", n.EdgeBlur, err)
		}
	}
	for i, v := range pix {
		pix[i] = 255 - v
	}
	return n.save(ctx, &imaging.Picture{W: m.W, H: m.H, Mode: imaging.ModeL, Pix: pix}, "mask")
}

// NoiseType is img_noise's kind of noise.
type NoiseType string

// LiteralValues implements schema.Literal.
func (NoiseType) LiteralValues() []string { return []string{"gaussian", "salt_and_pepper"} }

// ImageNoise is img_noise: seeded noise blended into the image, optionally only where a mask is black.
type ImageNoise struct {
	saving
	Image      nodes.ImageField  `json:"image" description:"The image to add noise to"`
	Mask       *nodes.ImageField `json:"mask" default:"null" description:"Where black, noise is added; where white, not"`
	Seed       int64             `json:"seed" default:"0" ge:"0" le:"4294967295" description:"The seed of the noise"`
	NoiseType  NoiseType         `json:"noise_type" default:"gaussian" description:"Gaussian noise, or black and white dots"`
	Amount     float64           `json:"amount" default:"0.1" ge:"0" le:"1" description:"How much of the noise to blend in"`
	NoiseColor bool              `json:"noise_color" default:"true" description:"Noise in colour, or grey"`
	Size       int               `json:"size" default:"1" ge:"1" le:"16384" description:"The size of the noise dots, in pixels"`
}

// NodeInfo implements nodes.Node.
func (*ImageNoise) NodeInfo() nodes.Info {
	return nodes.Info{
		Type: "img_noise", Title: "Add Image Noise", Category: "image", Version: "1.1.0",
		Tags:        []string{"image", "noise"},
		Description: "Blends seeded Gaussian or salt-and-pepper noise into an image, optionally through a mask.",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation: NumPy's legacy RandomState seeded through a SeedSequence, its normal
// or choice draws in C order, the noise enlarged with Pillow's nearest filter, Image.blend, and the mask
// (Lanczos-resized when its size differs) pasted through inverted; the alpha channel is kept.
func (n *ImageNoise) Invoke(ctx nodes.Context) (nodes.Output, error) {
	img, err := loadAs(ctx, n.Image, imaging.ModeRGBA)
	if err != nil {
		return nil, err
	}
	nw, nh := img.W/n.Size, img.H/n.Size
	if nw < 1 || nh < 1 {
		return nil, valueError("noise size %d is larger than the %dx%d image", n.Size, img.W, img.H)
	}
	rs := noise.NewRandomState(uint64(n.Seed))
	draws := nw * nh
	if n.NoiseColor {
		draws *= 3
	}
	// choice's cumulative distribution, normalised by its last entry as NumPy does.
	cut := (1 - n.Amount) / ((1 - n.Amount) + n.Amount)
	vals := make([]uint8, draws)
	for i := range vals {
		if n.NoiseType == "salt_and_pepper" {
			if rs.Double() >= cut {
				vals[i] = 255
			}
			continue
		}
		vals[i] = castFloat64Uint8(rs.Gauss() * 255)
	}
	small := &imaging.Picture{W: nw, H: nh, Mode: imaging.ModeRGB, Pix: vals}
	if !n.NoiseColor {
		small.Pix = make([]uint8, nw*nh*3)
		for i, v := range vals {
			small.Pix[i*3], small.Pix[i*3+1], small.Pix[i*3+2] = v, v, v
		}
	}
	big, err := small.Resize(img.W, img.H, imaging.Nearest)
	if err != nil {
		return nil, valueError("%v", err)
	}
	rgb, err := convert(img, imaging.ModeRGB)
	if err != nil {
		return nil, err
	}
	blended, err := imaging.Blend(rgb, big, n.Amount)
	if err != nil {
		return nil, valueError("%v", err)
	}
	noisy, err := convert(blended, imaging.ModeRGBA)
	if err != nil {
		return nil, err
	}
	out := noisy
	if n.Mask != nil && n.Mask.ImageName != "" {
		mask, err := loadAs(ctx, *n.Mask, imaging.ModeL)
		if err != nil {
			return nil, err
		}
		if mask.W != img.W || mask.H != img.H {
			if mask, err = mask.Resize(img.W, img.H, imaging.Lanczos); err != nil {
				return nil, valueError("%v", err)
			}
		}
		if mask, err = mask.Invert(); err != nil {
			return nil, valueError("%v", err)
		}
		out = img.Clone()
		if err := out.Paste(noisy, 0, 0, mask); err != nil {
			return nil, valueError("%v", err)
		}
	}
	for i := 3; i < len(out.Pix); i += 4 {
		out.Pix[i] = img.Pix[i]
	}
	return n.save(ctx, out, "")
}

// castFloat64Uint8 is NumPy's float64 → uint8 cast on x86-64: truncation to a 32-bit integer, keeping the
// low byte.
func castFloat64Uint8(f float64) uint8 {
	if math.IsNaN(f) || f >= 2147483648 || f < -2147483648 {
		return 0
	}
	return uint8(int32(f))
}

// DilateErodeMode is invokeai_img_dilate_erode's operation.
type DilateErodeMode string

// LiteralValues implements schema.Literal.
func (DilateErodeMode) LiteralValues() []string { return []string{"Dilate", "Erode"} }

// maxMorphRadius bounds the element: the cost grows with its height.
const maxMorphRadius = 1024

// InvokeImageDilateOrErode is invokeai_img_dilate_erode: OpenCV's dilate or erode with an elliptical element
// (2·radius_w+1)×(2·radius_h+1), on every channel or only on the CIELAB lightness.
type InvokeImageDilateOrErode struct {
	nodes.WithMetadata
	Image         nodes.ImageField `json:"image" description:"The image to dilate or erode"`
	LightnessOnly bool             `json:"lightness_only" default:"false" description:"Only change the lightness (CIELAB L*)"`
	RadiusW       int              `json:"radius_w" default:"4" ge:"0" le:"1024" description:"The horizontal radius of the element, in pixels"`
	RadiusH       int              `json:"radius_h" default:"4" ge:"0" le:"1024" description:"The vertical radius of the element, in pixels"`
	Mode          DilateErodeMode  `json:"mode" default:"Dilate" description:"Dilate (grow light regions) or erode (shrink them)"`
}

// NodeInfo implements nodes.Node.
func (*InvokeImageDilateOrErode) NodeInfo() nodes.Info {
	return nodes.Info{
		Type: "invokeai_img_dilate_erode", Title: "Image Dilate or Erode", Category: "image", Version: "1.3.0",
		Tags:        []string{"image", "mask", "dilate", "erode", "expand", "contract", "mask"},
		Description: "Grows (dilate) or shrinks (erode) the light regions of an image with an elliptical element.",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *InvokeImageDilateOrErode) Invoke(ctx nodes.Context) (nodes.Output, error) {
	if n.RadiusW > maxMorphRadius || n.RadiusH > maxMorphRadius || n.RadiusW < 0 || n.RadiusH < 0 {
		return nil, valueError("radii %d, %d out of range (0..%d)", n.RadiusW, n.RadiusH, maxMorphRadius)
	}
	p, err := load(ctx, n.Image)
	if err != nil {
		return nil, err
	}
	kw, kh := 2*n.RadiusW+1, 2*n.RadiusH+1
	rows := imaging.EllipseKernel(kw, kh)
	morph := func(q *imaging.Picture) (*imaging.Picture, error) {
		pix, err := imaging.Morph(ctx, q.Pix, q.W, q.H, q.Channels(), rows, kw, n.Mode == "Dilate")
		if err != nil {
			return nil, err
		}
		return &imaging.Picture{W: q.W, H: q.H, Mode: q.Mode, Pix: pix}, nil
	}
	var out *imaging.Picture
	if n.LightnessOnly {
		out, err = onLightness(p, morph)
	} else {
		out, err = morph(p)
	}
	if err != nil {
		return nil, err
	}
	var s saving
	s.WithMetadata = n.WithMetadata
	return s.save(ctx, out, "")
}

// onLightness is InvokeAI's lightness_only path: the image as RGB, then LAB; f changes the L channel; back to
// the image's mode (grey images through RGB), its alpha channel put back.
func onLightness(p *imaging.Picture, f func(*imaging.Picture) (*imaging.Picture, error)) (*imaging.Picture, error) {
	mode := p.Mode
	var alpha *imaging.Picture
	switch mode {
	case imaging.ModeRGBA:
		alpha, mode = p.Band(3), imaging.ModeRGB
	case imaging.ModeLA:
		alpha, mode = p.Band(1), imaging.ModeL
	case imaging.ModeP:
		return nil, valueError("lightness_only does not take palette images")
	}
	rgb, err := convert(p, imaging.ModeRGB)
	if err != nil {
		return nil, err
	}
	lab, err := convert(rgb, imaging.ModeLAB)
	if err != nil {
		return nil, err
	}
	l, err := f(lab.Band(0))
	if err != nil {
		return nil, err
	}
	merged, err := imaging.Merge(imaging.ModeLAB, l, lab.Band(1), lab.Band(2))
	if err != nil {
		return nil, valueError("%v", err)
	}
	if mode == imaging.ModeL {
		if merged, err = convert(merged, imaging.ModeRGB); err != nil {
			return nil, err
		}
	}
	out, err := convert(merged, mode)
	if err != nil {
		return nil, err
	}
	if alpha != nil {
		if out, err = out.PutAlpha(alpha); err != nil {
			return nil, valueError("%v", err)
		}
	}
	return out, nil
}

// InvokeImageValueThresholds is invokeai_img_val_thresholds: values at or above the upper threshold become
// white, below the lower one black, and those between optionally stretched, on every channel (alpha too) or
// on the lightness only. Like InvokeAI's node, it first resizes the image down to a multiple of 8 a side.
type InvokeImageValueThresholds struct {
	saving
	Image             nodes.ImageField `json:"image" description:"The image to threshold"`
	InvertOutput      bool             `json:"invert_output" default:"false" description:"Swap white and black"`
	RenormalizeValues bool             `json:"renormalize_values" default:"false" description:"Stretch the values between the thresholds to the full range"`
	LightnessOnly     bool             `json:"lightness_only" default:"false" description:"Only change the lightness (CIELAB L*)"`
	ThresholdUpper    float64          `json:"threshold_upper" default:"0.5" description:"Values at or above this (0-1) become full"`
	ThresholdLower    float64          `json:"threshold_lower" default:"0.5" description:"Values below this (0-1) become zero"`
}

// NodeInfo implements nodes.Node.
func (*InvokeImageValueThresholds) NodeInfo() nodes.Info {
	return nodes.Info{
		Type: "invokeai_img_val_thresholds", Title: "Image Value Thresholds", Category: "image", Version: "1.2.0",
		Tags:        []string{"image", "mask", "value", "threshold"},
		Description: "Turns an image's values past two thresholds to pure black and white.",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *InvokeImageValueThresholds) Invoke(ctx nodes.Context) (nodes.Output, error) {
	p, err := load(ctx, n.Image)
	if err != nil {
		return nil, err
	}
	if p.Mode == imaging.ModeP {
		return nil, valueError("palette images are not supported")
	}
	var out *imaging.Picture
	if n.LightnessOnly {
		out, err = onLightness(p, n.threshold)
	} else {
		out, err = n.threshold(p)
	}
	if err != nil {
		return nil, err
	}
	return n.save(ctx, out, "")
}

// threshold is the node's tensor arithmetic on one picture: trimmed to a multiple of 8 with Pillow's
// Lanczos, each byte as a float32 fraction v/255, compared and stretched in single precision (PyTorch casts
// the Python numbers to the tensor's float32), and back as ⌊x·255⌋.
func (n *InvokeImageValueThresholds) threshold(p *imaging.Picture) (*imaging.Picture, error) {
	q, err := p.TrimToGrid(8)
	if err != nil {
		return nil, valueError("%v", err)
	}
	up, lo := float32(n.ThresholdUpper), float32(n.ThresholdLower)
	vmax, vmin := max(n.ThresholdUpper, n.ThresholdLower), min(n.ThresholdUpper, n.ThresholdLower)
	span, fmin := float32(vmax-vmin), float32(vmin)
	var lut [256]uint8
	for v := range lut {
		x := float32(v) / 255
		y := x
		if n.ThresholdUpper != n.ThresholdLower && n.RenormalizeValues && x >= lo && x < up {
			y = (x - fmin) / span
			if n.InvertOutput {
				y = 1 - y
			}
		}
		high, low := x >= up, x < lo
		if n.InvertOutput {
			high, low = x < lo, x >= up
		}
		if high {
			y = 1
		}
		if low {
			y = 0
		}
		lut[v] = uint8(float32(y * 255))
	}
	out := q.Clone()
	for i, v := range out.Pix {
		out.Pix[i] = lut[v]
	}
	return out, nil
}
