// Package canvas holds the image nodes InvokeAI's canvas builds its inpaint and outpaint graphs from: mask
// application and feathering, paste-back, and the infill methods (solid colour, tiles, PatchMatch, OpenCV's
// Telea inpainting). Each reproduces the PIL and OpenCV operations InvokeAI's node performs, with their
// rounding (internal/engine/imaging, internal/engine/inpaint).
package canvas

import (
	"math/big"

	"github.com/invokego/invokego/internal/engine/imaging"
	"github.com/invokego/invokego/internal/nodes"
)

// Register adds the canvas, mask and infill node types to r.
func Register(r *nodes.Registry) {
	r.Register(&ApplyMaskToImage{}, &ExpandMaskWithFade{}, &CanvasPasteBack{}, &CanvasV2MaskAndCrop{},
		&InfillColor{}, &InfillTile{}, &InfillPatchMatch{}, &CV2Infill{}, &CvInpaint{})
}

// saving is embedded by the nodes that save their result.
type saving struct {
	nodes.WithMetadata
	nodes.WithBoard
}

func (s *saving) save(ctx nodes.Context, p *pilImage, category string) (nodes.Output, error) {
	return ctx.SaveImage(p.image(), nodes.SaveImageOptions{Board: s.Board, Metadata: s.Metadata, Category: category})
}

func valueError(format string, args ...any) error { return nodes.Errorf("ValueError", format, args...) }

// ApplyMaskToImage is apply_mask_to_image: the mask (as "L", optionally inverted) becomes the alpha channel
// of the image.
type ApplyMaskToImage struct {
	saving
	Image      nodes.ImageField `json:"image" description:"The image whose pixels the mask keeps or drops"`
	Mask       nodes.ImageField `json:"mask" description:"The mask: black keeps, white discards"`
	InvertMask bool             `json:"invert_mask" default:"false" description:"Invert the mask before using it"`
}

// NodeInfo implements nodes.Node.
func (*ApplyMaskToImage) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "apply_mask_to_image",
		Title:       "Apply Mask to Image",
		Description: "Uses a mask as the alpha channel of an image, so that only the masked region of a generated image shows when it is laid over its source.",
		Tags:        []string{"image", "mask", "blend"},
		Category:    "image",
		Version:     "1.0.0",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *ApplyMaskToImage) Invoke(ctx nodes.Context) (nodes.Output, error) {
	img, err := loadPIL(ctx, n.Image)
	if err != nil {
		return nil, err
	}
	mask, err := loadPIL(ctx, n.Mask)
	if err != nil {
		return nil, err
	}
	if img.w != mask.w || img.h != mask.h {
		return nil, valueError("images do not match: image %dx%d, mask %dx%d", img.w, img.h, mask.w, mask.h)
	}
	out := img.convert("RGBA")
	alpha := mask.convert("L").pix
	if n.InvertMask {
		invert(alpha)
	}
	for i, a := range alpha {
		out.pix[i*4+3] = a
	}
	return n.save(ctx, out, "")
}

// ExpandMaskWithFade is expand_mask_with_fade: the mask is thresholded, and the white region is faded in over
// fade_size_px pixels from the black region's edge along a cubic fitted to InvokeAI's control points.
type ExpandMaskWithFade struct {
	saving
	Mask       nodes.ImageField `json:"mask" description:"The mask to expand"`
	Threshold  int              `json:"threshold" default:"0" ge:"0" le:"255" description:"Mask values above this are white, the rest black (0-255)"`
	FadeSizePx int              `json:"fade_size_px" default:"32" ge:"0" description:"The width of the fade, in pixels"`
}

// NodeInfo implements nodes.Node.
func (*ExpandMaskWithFade) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "expand_mask_with_fade",
		Title:       "Expand Mask with Fade",
		Description: "Thresholds a mask (black keeps the generated image, white discards it) and fades its white region in from the black region's edge over the given number of pixels, slightly growing the black region. A fade of 0 returns the mask unchanged.",
		Tags:        []string{"image", "mask"},
		Category:    "image",
		Version:     "1.0.1",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *ExpandMaskWithFade) Invoke(ctx nodes.Context) (nodes.Output, error) {
	src, err := loadPIL(ctx, n.Mask)
	if err != nil {
		return nil, err
	}
	mask := src.convert("L")
	if n.FadeSizePx == 0 {
		return n.save(ctx, mask, "mask")
	}
	white := make([]uint8, len(mask.pix))
	for i, v := range mask.pix {
		if int(v) > n.Threshold {
			white[i] = 1
		}
	}
	dist, err := imaging.DistanceL2Mask5(white, mask.w, mask.h)
	if err != nil {
		return nil, err
	}
	coef := fadeCurve(n.FadeSizePx)
	fade := float32(n.FadeSizePx)
	for i, d := range dist {
		if white[i] == 0 {
			mask.pix[i] = 0
			continue
		}
		// NumPy 1.x (as InvokeAI pins it) keeps this float32 arrays' arithmetic in float32 throughout.
		t := min(max(d/fade, 0), 1)
		var f float32 = 1
		if t < 1 {
			f = 0
			for _, c := range coef {
				f = float32(f*t) + c
			}
			f = min(max(f, 0), 1)
		}
		mask.pix[i] = uint8(float32(f * 255))
	}
	return n.save(ctx, mask, "mask")
}

// fadeCurve is numpy.polyfit(x, y, 3) through InvokeAI's control points (0, 0), (1/fade, 0), (0.2, 0.2),
// (0.8, 0.9), (1, 1): the least-squares cubic, highest power first, rounded to float32 as NumPy does when it
// evaluates it on a float32 array. The normal equations are solved in 256-bit arithmetic, so the result is the
// exact least-squares solution rounded, which is what LAPACK's solution rounds to as well.
func fadeCurve(fade int) [4]float32 {
	xs := []float64{0, 1 / float64(fade), 0.2, 0.8, 1}
	ys := []float64{0, 0, 0.2, 0.9, 1}
	const prec = 256
	nf := func(v float64) *big.Float { return new(big.Float).SetPrec(prec).SetFloat64(v) }
	// A[i][j] = Σ x^(6-i-j), b[i] = Σ y·x^(3-i), for the powers 3, 2, 1, 0.
	var a [4][5]*big.Float
	for i := 0; i < 4; i++ {
		for j := 0; j < 5; j++ {
			a[i][j] = nf(0)
		}
	}
	for k, xv := range xs {
		x := nf(xv)
		pow := make([]*big.Float, 7)
		pow[0] = nf(1)
		for p := 1; p < 7; p++ {
			pow[p] = new(big.Float).SetPrec(prec).Mul(pow[p-1], x)
		}
		for i := 0; i < 4; i++ {
			for j := 0; j < 4; j++ {
				a[i][j].Add(a[i][j], pow[6-i-j])
			}
			a[i][4].Add(a[i][4], new(big.Float).SetPrec(prec).Mul(nf(ys[k]), pow[3-i]))
		}
	}
	// Gaussian elimination with partial pivoting.
	for col := 0; col < 4; col++ {
		piv := col
		for r := col + 1; r < 4; r++ {
			if new(big.Float).Abs(a[r][col]).Cmp(new(big.Float).Abs(a[piv][col])) > 0 {
				piv = r
			}
		}
		a[col], a[piv] = a[piv], a[col]
		for r := 0; r < 4; r++ {
			if r == col || a[r][col].Sign() == 0 {
				continue
			}
			f := new(big.Float).SetPrec(prec).Quo(a[r][col], a[col][col])
			for j := col; j < 5; j++ {
				a[r][j].Sub(a[r][j], new(big.Float).SetPrec(prec).Mul(f, a[col][j]))
			}
		}
	}
	var out [4]float32
	for i := 0; i < 4; i++ {
		c, _ := new(big.Float).SetPrec(prec).Quo(a[i][4], a[i][i]).Float64()
		out[i] = float32(c)
	}
	return out
}

// prepareMask is the mask preparation of canvas_paste_back and canvas_v2_mask_and_crop: for a positive blur,
// cv2.erode with a blur×blur square three times, then PIL's GaussianBlur(blur); then "L", inverted.
func prepareMask(mask *pilImage, blur int) (*pilImage, error) {
	if blur > 0 {
		ch := channels(mask.mode)
		eroded, err := imaging.Erode(mask.pix, mask.w, mask.h, ch, blur, blur, 3)
		if err != nil {
			return nil, valueError("mask_blur %d: %v", blur, err)
		}
		blurred, err := imaging.GaussianBlur(eroded, mask.w, mask.h, ch, float32(blur))
		if err != nil {
			return nil, valueError("mask_blur %d: %v", blur, err)
		}
		mask = &pilImage{w: mask.w, h: mask.h, mode: mask.mode, pix: blurred}
	}
	out := mask.convert("L")
	invert(out.pix)
	return out, nil
}

// pasteAt00 is PIL's dst.paste(src, (0, 0), mask) with an "L" mask the size of src: src is converted to
// dst's mode and blended into the part of dst it covers.
func pasteAt00(dst, src, mask *pilImage) error {
	if mask.w != src.w || mask.h != src.h {
		return valueError("images do not match: pasted image %dx%d, mask %dx%d", src.w, src.h, mask.w, mask.h)
	}
	src = src.convert(dst.mode)
	ch := channels(dst.mode)
	w, h := min(dst.w, src.w), min(dst.h, src.h)
	for y := 0; y < h; y++ {
		d := dst.pix[y*dst.w*ch : (y*dst.w+w)*ch]
		s := src.pix[y*src.w*ch : (y*src.w+w)*ch]
		if err := imaging.PasteMaskL(d, s, mask.pix[y*mask.w:y*mask.w+w], ch); err != nil {
			return err
		}
	}
	return nil
}

// CanvasPasteBack is canvas_paste_back: the target image is laid over the source image where the (eroded,
// blurred, inverted) mask allows.
type CanvasPasteBack struct {
	saving
	SourceImage nodes.ImageField `json:"source_image" description:"The image to paste onto"`
	TargetImage nodes.ImageField `json:"target_image" description:"The image to paste"`
	Mask        nodes.ImageField `json:"mask" description:"The mask: white where the target image is pasted"`
	MaskBlur    int              `json:"mask_blur" default:"0" ge:"0" description:"How far to shrink and soften the mask's edge, in pixels"`
}

// NodeInfo implements nodes.Node.
func (*CanvasPasteBack) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "canvas_paste_back",
		Title:       "Canvas Paste Back",
		Description: "Pastes a generated image back onto its source through a mask, as the unified canvas does.",
		Tags:        []string{"image", "combine"},
		Category:    "image",
		Version:     "1.0.1",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *CanvasPasteBack) Invoke(ctx nodes.Context) (nodes.Output, error) {
	src, err := loadPIL(ctx, n.SourceImage)
	if err != nil {
		return nil, err
	}
	target, err := loadPIL(ctx, n.TargetImage)
	if err != nil {
		return nil, err
	}
	mask, err := loadPIL(ctx, n.Mask)
	if err != nil {
		return nil, err
	}
	if mask, err = prepareMask(mask, n.MaskBlur); err != nil {
		return nil, err
	}
	if err := pasteAt00(src, target, mask); err != nil {
		return nil, err
	}
	return n.save(ctx, src, "")
}

// CanvasV2MaskAndCrop is canvas_v2_mask_and_crop: like canvas_paste_back, or, without a source image, the
// generated image with the prepared mask as its alpha channel.
type CanvasV2MaskAndCrop struct {
	saving
	SourceImage    *nodes.ImageField `json:"source_image" description:"The image to paste the masked generated image onto; without it, the generated image comes back with the mask as transparency"`
	GeneratedImage nodes.ImageField  `json:"generated_image" description:"The generated image"`
	Mask           nodes.ImageField  `json:"mask" description:"The mask to apply"`
	MaskBlur       int               `json:"mask_blur" default:"0" ge:"0" description:"How far to shrink and soften the mask's edge, in pixels"`
}

// NodeInfo implements nodes.Node.
func (*CanvasV2MaskAndCrop) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:           "canvas_v2_mask_and_crop",
		Title:          "Canvas V2 Mask and Crop",
		Description:    "Masks a generated image for the canvas: pasted onto a source image, or with the mask as its alpha channel.",
		Tags:           []string{"image", "mask", "id"},
		Category:       "image",
		Version:        "1.0.0",
		Classification: "deprecated",
		Output:         nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *CanvasV2MaskAndCrop) Invoke(ctx nodes.Context) (nodes.Output, error) {
	mask, err := loadPIL(ctx, n.Mask)
	if err != nil {
		return nil, err
	}
	if mask, err = prepareMask(mask, n.MaskBlur); err != nil {
		return nil, err
	}
	gen, err := loadPIL(ctx, n.GeneratedImage)
	if err != nil {
		return nil, err
	}
	if n.SourceImage != nil && n.SourceImage.ImageName != "" {
		src, err := loadPIL(ctx, *n.SourceImage)
		if err != nil {
			return nil, err
		}
		if err := pasteAt00(src, gen, mask); err != nil {
			return nil, err
		}
		return n.save(ctx, src, "")
	}
	if mask.w != gen.w || mask.h != gen.h {
		return nil, valueError("images do not match: image %dx%d, mask %dx%d", gen.w, gen.h, mask.w, mask.h)
	}
	// putalpha turns "L" into "LA", which is kept here as grey RGBA.
	out := gen.convert("RGBA")
	for i, a := range mask.pix {
		out.pix[i*4+3] = a
	}
	return n.save(ctx, out, "")
}
