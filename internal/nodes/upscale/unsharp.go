package upscale

import (
	"image"
	"image/draw"
	"math"

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
	// The blur costs the same at any radius, but its set-up walks the radius once: a radius far beyond any
	// image (where the blur is the image's mean) is refused rather than walked.
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
	return ctx.SaveImage(unsharp(img, n.Radius, n.Strength), nodes.SaveImageOptions{Board: n.Board, Metadata: n.Metadata})
}

func unsharp(img image.Image, radius, strength float64) *image.NRGBA {
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
		blurred := pilGaussianBlur(plane, w, h, float32(radius))
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
	return out
}

// pilGaussianBlur is Pillow's GaussianBlur of one 8-bit plane: the Gaussian's variance split over three
// passes of an "extended" box blur (a box with fractional radius, after Gwosdek et al.), horizontally then
// vertically, each pass rounding to 8 bits and repeating the edge pixels beyond the border.
func pilGaussianBlur(plane []uint8, w, h int, radius float32) []uint8 {
	const passes = 3
	// Pillow computes the box radius in single precision (the square root in double).
	sigma2 := radius * radius / passes
	boxL := float32(math.Sqrt(12.0*float64(sigma2) + 1.0))
	l := float32(math.Floor((float64(boxL) - 1.0) / 2.0))
	a := (2*l + 1) * (l*(l+1) - 3*sigma2)
	a /= 6 * (sigma2 - (l+1)*(l+1))
	box := l + a

	cur := append([]uint8(nil), plane...)
	line := make([]uint8, max(w, h))
	tmp := make([]uint8, max(w, h))
	for range passes {
		for y := range h {
			row := cur[y*w : (y+1)*w]
			boxBlurLine(tmp[:w], row, box)
			copy(row, tmp[:w])
		}
	}
	for range passes {
		for x := range w {
			col := line[:h]
			for y := range h {
				col[y] = cur[y*w+x]
			}
			boxBlurLine(tmp[:h], col, box)
			for y := range h {
				cur[y*w+x] = tmp[y]
			}
		}
	}
	return cur
}

// boxBlurLine blurs one line with a box of radius r (fractional part weighting the two outermost taps),
// in Pillow's 8.24 fixed point, the pixels beyond either end repeating the end pixel.
func boxBlurLine(out, in []uint8, r float32) {
	n := len(in)
	radius := int(r)
	ww := uint32(float32(1<<24) / (r*2 + 1))
	fw := (uint32(1<<24) - uint32(radius*2+1)*ww) / 2
	last := n - 1
	at := func(i int) uint32 { return uint32(in[min(max(i, 0), last)]) }
	// The window sum for pixel −1: the first pixel repeated radius+1 times, then pixels 0..radius−1
	// (beyond the end, the last pixel).
	acc := at(0) * uint32(radius+1)
	for i := range radius {
		acc += at(i)
	}
	for x := range n {
		// Slide: drop pixel x−radius−1, add pixel x+radius (clamped to the line).
		acc += at(x+radius) - at(x-radius-1)
		bulk := acc*ww + (at(x-radius-1)+at(x+radius+1))*fw
		out[x] = uint8((bulk + 1<<23) >> 24)
	}
}
