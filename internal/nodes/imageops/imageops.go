// Package imageops holds InvokeAI's pixel-level image, mask and bounding-box nodes: channel offsets and
// scales in Pillow's colour spaces, hue rotation, histogram matching, ImageEnhance, masks from alpha, ids
// and edges, padding, cropping and pasting by bounding boxes. Each reproduces the Pillow, NumPy and OpenCV
// calls InvokeAI's node makes, with their rounding (internal/engine/imaging), so the results are the same
// bytes; the tests compare them with Pillow 9.4 / NumPy 1.24 / OpenCV 4.6 outputs (testdata/nodes/imageops).
package imageops

import (
	"context"
	"image"

	"github.com/invokego/invokego/internal/engine/imaging"
	"github.com/invokego/invokego/internal/engine/tensor"
	"github.com/invokego/invokego/internal/nodes"
)

// Register adds the node types of this package to r.
func Register(r *nodes.Registry) {
	r.Register(&ShowImage{}, &MaskFromAlpha{}, &MaskCombine{}, &MaskFromID{}, &ImageInverseLerp{},
		&CenterPadCrop{}, &ImagePanelLayout{}, &GetMaskBoundingBox{}, &CropImageToBoundingBox{},
		&PasteImageIntoBoundingBox{}, &ImageChannelOffset{}, &ImageChannelMultiply{}, &ImageHueAdjustment{},
		&ColorCorrect{}, &InvokeImageEnhance{}, &MaskEdge{}, &ImageNoise{}, &InvokeImageDilateOrErode{},
		&InvokeImageValueThresholds{}, &ImageWatermark{}, &HeuristicResize{},
		&InvokeEquivalentAchromaticLightness{}, &InvokeImageCompositor{}, &InvokeImageBlend{},
		&InvokeAdjustImageHuePlus{})
}

// maxSide bounds the pictures the nodes here make (as the other image nodes do, docs/security.md
// "Resource limits and hostile input").
const maxSide = 16384

// saving is embedded by the nodes that save their result.
type saving struct {
	nodes.WithMetadata
	nodes.WithBoard
}

func (s *saving) save(ctx nodes.Context, p *imaging.Picture, category string) (nodes.Output, error) {
	img, err := p.Image()
	if err != nil {
		return nil, valueError("%v", err)
	}
	return ctx.SaveImage(img, nodes.SaveImageOptions{Board: s.Board, Metadata: s.Metadata, Category: category})
}

func valueError(format string, args ...any) error { return nodes.Errorf("ValueError", format, args...) }

// load reads a gallery image as InvokeAI's context.images.get_pil(name) holds it: in its file's mode.
func load(ctx nodes.Context, f nodes.ImageField) (*imaging.Picture, error) {
	if f.ImageName == "" {
		return nil, valueError("no image given")
	}
	img, err := ctx.LoadImage(f.ImageName)
	if err != nil {
		return nil, err
	}
	return imaging.FromImage(img), nil
}

// loadIndexed is load, and for a palette image also its palette indices as an "L" picture: what NumPy sees
// of a "P" image.
func loadIndexed(ctx nodes.Context, f nodes.ImageField) (*imaging.Picture, *imaging.Picture, error) {
	if f.ImageName == "" {
		return nil, nil, valueError("no image given")
	}
	img, err := ctx.LoadImage(f.ImageName)
	if err != nil {
		return nil, nil, err
	}
	p := imaging.FromImage(img)
	pal, ok := img.(*image.Paletted)
	if !ok {
		return p, nil, nil
	}
	idx := &imaging.Picture{W: p.W, H: p.H, Mode: imaging.ModeL, Pix: make([]uint8, p.W*p.H)}
	b := pal.Bounds()
	for y := 0; y < p.H; y++ {
		o := pal.PixOffset(b.Min.X, b.Min.Y+y)
		copy(idx.Pix[y*p.W:(y+1)*p.W], pal.Pix[o:o+p.W])
	}
	return p, idx, nil
}

// loadAs is get_pil(name, mode): the image converted to the mode.
func loadAs(ctx nodes.Context, f nodes.ImageField, mode imaging.Mode) (*imaging.Picture, error) {
	p, err := load(ctx, f)
	if err != nil {
		return nil, err
	}
	return convert(p, mode)
}

func convert(p *imaging.Picture, mode imaging.Mode) (*imaging.Picture, error) {
	out, err := p.Convert(mode)
	if err != nil {
		return nil, valueError("%v", err)
	}
	return out, nil
}

// checkSize refuses a picture size out of range, or one whose pixels the run's memory budget cannot hold,
// before anything is allocated.
func checkSize(ctx context.Context, w, h int) error {
	if w <= 0 || h <= 0 || w > maxSide || h > maxSide {
		return valueError("image size %dx%d is out of range (1..%d)", w, h, maxSide)
	}
	return tensor.BudgetOf(ctx).Check("the image", 4, h, w)
}
