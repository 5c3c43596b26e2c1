package imageops

import (
	"context"

	"github.com/invokego/invokego/internal/engine/imaging"
	"github.com/invokego/invokego/internal/nodes"
)

// HeuristicResize is heuristic_resize: InvokeAI's resize for control images, which picks OpenCV's filter by
// what the image holds — nearest for segmentation maps (3 to 199 colours), area when shrinking, cubic when
// enlarging — and keeps black-and-white edge maps crisp: after resizing, local maxima along four directions,
// Otsu's threshold and, for maps of one-pixel lines, Zhang-Suen thinning.
type HeuristicResize struct {
	Image  nodes.ImageField `json:"image" description:"The image to resize"`
	Width  int              `json:"width" default:"512" ge:"1" le:"16384" description:"The width to resize to (px)"`
	Height int              `json:"height" default:"512" ge:"1" le:"16384" description:"The height to resize to (px)"`
}

// NodeInfo implements nodes.Node.
func (*HeuristicResize) NodeInfo() nodes.Info {
	return nodes.Info{
		Type: "heuristic_resize", Title: "Heuristic Resize", Category: "image", Version: "1.1.1",
		Tags: []string{"image, controlnet"}, Classification: "prototype",
		Description: "Resizes an image with a filter chosen by its content, keeping edge maps sharp.",
		Output:      nodes.ImageOutput{},
	}
}

// SizeFields implements nodes.Sizer.
func (*HeuristicResize) SizeFields() []string { return []string{"width", "height"} }

// Allocation implements nodes.Sizer: the output's pixels.
func (n *HeuristicResize) Allocation() (string, int, []int) {
	return "the resized image", 4, []int{n.Height, n.Width}
}

// Invoke implements nodes.Invocation.
func (n *HeuristicResize) Invoke(ctx nodes.Context) (nodes.Output, error) {
	if err := checkSize(ctx, n.Width, n.Height); err != nil {
		return nil, err
	}
	p, err := loadAs(ctx, n.Image, imaging.ModeRGB)
	if err != nil {
		return nil, err
	}
	pix, err := HeuristicResizePixels(ctx, p.Pix, p.W, p.H, n.Width, n.Height)
	if err != nil {
		return nil, valueError("%v", err)
	}
	var s saving
	return s.save(ctx, &imaging.Picture{W: n.Width, H: n.Height, Mode: imaging.ModeRGB, Pix: pix}, "")
}

// HeuristicResizePixels is InvokeAI's heuristic_resize_fast on interleaved RGB pixels (handed to OpenCV as
// they are, so its "BGR" grey weighs red as blue). InvokeAI decides on colours and range from a random sample
// of 100000 pixels; here every pixel counts, which is what InvokeAI's sample is for smaller images.
func HeuristicResizePixels(ctx context.Context, pix []uint8, w, h, nw, nh int) ([]uint8, error) {
	if w == nw && h == nh {
		return append([]uint8(nil), pix...), nil
	}
	colors := map[[3]uint8]struct{}{}
	lo, hi := uint8(255), uint8(0)
	for i := 0; i < w*h; i++ {
		if len(colors) < 200 {
			colors[[3]uint8{pix[i*3], pix[i*3+1], pix[i*3+2]}] = struct{}{}
		}
	}
	for _, v := range pix {
		lo, hi = min(lo, v), max(hi, v)
	}
	uc := len(colors)
	binary := uc == 2 && lo < 16 && hi > 240
	onePixel := false
	if binary {
		gray := imaging.GrayCV(pix)
		grad, err := imaging.MorphGradient3(gray, w, h)
		if err != nil {
			return nil, err
		}
		edge, bright := 0, 0
		for i, g := range grad {
			if g != 0 {
				edge++
			}
			if gray[i] > 127 {
				bright++
			}
		}
		onePixel = 2*edge > bright
	}
	var out []uint8
	var err error
	switch {
	case uc > 2 && uc < 200:
		out = imaging.ResizeNearestCV(pix, w, h, 3, nw, nh)
	case nw*nh < w*h:
		out, err = imaging.ResizeAreaCV(pix, w, h, 3, nw, nh)
	default:
		out, err = imaging.ResizeCubicCV(pix, w, h, 3, nw, nh)
	}
	if err != nil {
		return nil, err
	}
	if !binary {
		return out, nil
	}
	gray := imaging.GrayCV(out)
	nms := make([]uint8, len(gray))
	// Directional 3×3 elements (horizontal, vertical, both diagonals) as row spans about the centre.
	for _, rows := range [][][2]int{{{0, 0}, {0, 3}, {0, 0}}, {{1, 2}, {1, 2}, {1, 2}}, {{0, 1}, {1, 2}, {2, 3}}, {{2, 3}, {1, 2}, {0, 1}}} {
		d, err := imaging.Morph(ctx, gray, nw, nh, 1, rows, 3, true)
		if err != nil {
			return nil, err
		}
		for i, v := range d {
			if v == gray[i] {
				nms[i] = gray[i]
			}
		}
	}
	t := imaging.OtsuThreshold(nms)
	for i, v := range nms {
		nms[i] = 0
		if int(v) > t {
			nms[i] = 255
		}
	}
	if onePixel {
		nms = imaging.ThinZhangSuen(nms, nw, nh)
	}
	for i, v := range nms {
		out[i*3], out[i*3+1], out[i*3+2] = v, v, v
	}
	return out, nil
}
