package upscale

import (
	"image"
	"image/draw"
	"math"

	"github.com/invokego/invokego/internal/engine/imaging"
	"github.com/invokego/invokego/internal/nodes"
)

// maxBlurRadius bounds unsharp_mask's radius (see Invoke); the radius field's le tag says the same.
const maxBlurRadius = 100000

// UnsharpMask is unsharp_mask: out = a + (a − blur(a))·strength/100 on [0, 1] values, clipped and truncated
// to 8 bits, where blur is Pillow's GaussianBlur (three box-blur passes per axis, each rounded to 8 bits), so
// that results match InvokeAI's exactly. Alpha passes through unchanged.
type UnsharpMask struct {
	nodes.WithMetadata
	nodes.WithBoard
	Image    nodes.ImageField `json:"image" description:"The image to use"`
	Radius   float64          `json:"radius" default:"2" gt:"0" le:"100000" description:"Unsharp mask radius"`
	Strength float64          `json:"strength" default:"50" ge:"0" description:"Unsharp mask strength"`
}

// NodeInfo implements nodes.Node.
func (*UnsharpMask) NodeInfo() nodes.Info {
	return nodes.Info{Type: "unsharp_mask", Title: "Unsharp Mask", Description: "Applies an unsharp mask filter to an image",
		Version: "1.2.2", Category: "image", Tags: []string{"image", "unsharp_mask"}, Output: nodes.ImageOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *UnsharpMask) Invoke(ctx nodes.Context) (nodes.Output, error) {
	if n.Image.ImageName == "" {
		return nil, nodes.Errorf("ValueError", "no image given")
	}
	// The blur costs the same at any radius; a radius far beyond any image (where the blur is the image's
	// mean) is refused, well inside imaging.MaxBlurRadius.
	if !(n.Radius > 0 && n.Radius <= maxBlurRadius) || !(n.Strength >= 0) || math.IsInf(n.Strength, 0) {
		return nil, nodes.Errorf("ValueError", "radius %v (0 < radius ≤ %d) or strength %v (≥ 0) out of range", n.Radius, maxBlurRadius, n.Strength)
	}
	img, err := ctx.LoadImage(n.Image.ImageName)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out, err := unsharp(img, n.Radius, n.Strength)
	if err != nil {
		return nil, err
	}
	return ctx.SaveImage(out, nodes.SaveImageOptions{Board: n.Board, Metadata: n.Metadata})
}

func unsharp(img image.Image, radius, strength float64) (*image.NRGBA, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	src := image.NewNRGBA(image.Rect(0, 0, w, h))
	draw.Draw(src, src.Bounds(), img, b.Min, draw.Src)
	out := image.NewNRGBA(src.Rect)
	plane := make([]uint8, w*h)
	k := strength / 100.0
	for c := range 3 {
		for i := range plane {
			plane[i] = src.Pix[(i/w)*src.Stride+(i%w)*4+c]
		}
		blurred, err := imaging.GaussianBlur(plane, w, h, 1, float32(radius))
		if err != nil {
			return nil, err
		}
		for i, v := range plane {
			a := float64(v) / 255
			bl := float64(blurred[i]) / 255
			a += (a - bl) * k
			a = min(max(a, 0), 1)
			out.Pix[(i/w)*out.Stride+(i%w)*4+c] = uint8(a * 255)
		}
	}
	for y := range h {
		for x := range w {
			out.Pix[y*out.Stride+x*4+3] = src.Pix[y*src.Stride+x*4+3]
		}
	}
	return out, nil
}
