package diffusion

import (
	"image"
	"math"

	"github.com/invokego/invokego/internal/engine/imaging"
	"github.com/invokego/invokego/internal/engine/pipeline"
	"github.com/invokego/invokego/internal/engine/tensor"
	"github.com/invokego/invokego/internal/nodes"
)

// gridImage is InvokeAI's image_resized_to_grid_as_tensor before the tensor conversion: the image converted
// to "RGB" (or "L" for a mask) as PIL converts it, then resized with Pillow's Lanczos filter down to
// multiples of 8 on each side (an image already on the grid is left as it is).
func gridImage(img image.Image, gray bool) (image.Image, error) {
	rgba, w, h := imaging.NRGBA8(img)
	ch := 3
	if gray {
		ch = 1
	}
	pix := make([]uint8, w*h*ch)
	for i := 0; i < w*h; i++ {
		if gray {
			pix[i] = imaging.Luma(rgba[i*4], rgba[i*4+1], rgba[i*4+2])
		} else {
			copy(pix[i*3:i*3+3], rgba[i*4:i*4+3])
		}
	}
	gw, gh := w-w%latentScale, h-h%latentScale
	if gw < 1 || gh < 1 {
		return nil, valueError("an image of %dx%d has no %d-pixel grid to resize to", w, h, latentScale)
	}
	if gw != w || gh != h {
		var err error
		if pix, err = imaging.Resize(pix, w, h, ch, gw, gh, imaging.Lanczos); err != nil {
			return nil, valueError("%v", err)
		}
	}
	r := image.Rect(0, 0, gw, gh)
	if gray {
		return &image.Gray{Pix: pix, Stride: gw, Rect: r}, nil
	}
	out := image.NewRGBA(r)
	for i := 0; i < gw*gh; i++ {
		copy(out.Pix[i*4:i*4+3], pix[i*3:i*3+3])
		out.Pix[i*4+3] = 255
	}
	return out, nil
}

// CropLatents is crop_latents: a box given in image pixels (multiples of 8) cut from the latents.
type CropLatents struct {
	Latents LatentsField `json:"latents" input:"connection" description:"Latents tensor"`
	X       int          `json:"x" ge:"0" multiple_of:"8" description:"The left edge of the box, in image pixels"`
	Y       int          `json:"y" ge:"0" multiple_of:"8" description:"The top edge of the box, in image pixels"`
	Width   int          `json:"width" ge:"1" multiple_of:"8" description:"The width of the box, in image pixels"`
	Height  int          `json:"height" ge:"1" multiple_of:"8" description:"The height of the box, in image pixels"`
	store   *ObjectStore
}

// NodeInfo implements nodes.Node.
func (*CropLatents) NodeInfo() nodes.Info {
	return nodes.Info{Type: "crop_latents", Class: "CropLatentsCoreInvocation", Title: "Crop Latents",
		Description: "Cuts a box, given in image pixels divisible by 8, out of latents.",
		Tags:        []string{"latents", "crop"}, Category: "latents", Version: "1.0.2", Output: LatentsOutput{}}
}

// Invoke implements nodes.Invocation. The box is a slice of the latents, so the part outside them is
// dropped; a box entirely outside them is refused.
func (n *CropLatents) Invoke(nodes.Context) (nodes.Output, error) {
	lat, err := n.store.Tensor(n.Latents.LatentsName)
	if err != nil {
		return nil, valueError("latents: %v", err)
	}
	if len(lat.Shape) != 4 {
		return nil, valueError("latents of shape %v, want [N, C, H, W]", lat.Shape)
	}
	nb, c, h, w := lat.Shape[0], lat.Shape[1], lat.Shape[2], lat.Shape[3]
	x0, y0 := min(n.X/latentScale, w), min(n.Y/latentScale, h)
	x1, y1 := min(x0+n.Width/latentScale, w), min(y0+n.Height/latentScale, h)
	if x1 <= x0 || y1 <= y0 {
		return nil, valueError("the box (%d, %d) %dx%d lies outside latents of %dx%d pixels", n.X, n.Y, n.Width, n.Height, w*latentScale, h*latentScale)
	}
	out := tensor.New(nb, c, y1-y0, x1-x0)
	for p := 0; p < nb*c; p++ {
		for y := y0; y < y1; y++ {
			copy(out.Data[(p*(y1-y0)+y-y0)*(x1-x0):], lat.Data[(p*h+y)*w+x0:(p*h+y)*w+x1])
		}
	}
	name := n.store.SaveTensor("latents", out)
	return LatentsOutput{Latents: LatentsField{LatentsName: name}, Width: (x1 - x0) * latentScale, Height: (y1 - y0) * latentScale}, nil
}

// BlendLatents is lblend: spherical interpolation from latents A to B, B first replaced by A where the
// optional mask is white.
type BlendLatents struct {
	LatentsA LatentsField      `json:"latents_a" input:"connection" description:"Latents tensor"`
	LatentsB LatentsField      `json:"latents_b" input:"connection" description:"Latents tensor"`
	Mask     *nodes.ImageField `json:"mask" default:"null" description:"Mask for blending in latents B"`
	Alpha    float64           `json:"alpha" default:"0.5" ge:"0" description:"Blending factor. 0.0 = use input A only, 1.0 = use input B only, 0.5 = 50% mix of input A and input B."`
	store    *ObjectStore
}

// NodeInfo implements nodes.Node.
func (*BlendLatents) NodeInfo() nodes.Info {
	return nodes.Info{Type: "lblend", Title: "Blend Latents",
		Description: "Blends two latents of the same size by spherical interpolation; with a mask, latents B take A's values where the mask is white first.",
		Tags:        []string{"latents", "blend", "mask"}, Category: "latents", Version: "1.1.0", Output: LatentsOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *BlendLatents) Invoke(ctx nodes.Context) (nodes.Output, error) {
	a, err := n.store.Tensor(n.LatentsA.LatentsName)
	if err != nil {
		return nil, valueError("latents_a: %v", err)
	}
	b, err := n.store.Tensor(n.LatentsB.LatentsName)
	if err != nil {
		return nil, valueError("latents_b: %v", err)
	}
	if len(a.Shape) != 4 || len(b.Shape) != 4 || a.Shape[0] != b.Shape[0] || a.Shape[1] != b.Shape[1] || a.Shape[2] != b.Shape[2] || a.Shape[3] != b.Shape[3] {
		return nil, valueError("Latents to blend must be the same size.")
	}
	bm := b
	if n.Mask != nil && n.Mask.ImageName != "" {
		img, err := ctx.LoadImage(n.Mask.ImageName)
		if err != nil {
			return nil, err
		}
		g, err := gridImage(img, true)
		if err != nil {
			return nil, err
		}
		m, err := pipeline.ResizeIn(ctx, pipeline.MaskFromImage(g), a.Shape[2], a.Shape[3], "bilinear")
		if err != nil {
			return nil, nodeError(err)
		}
		bm = b.Clone()
		plane := a.Shape[2] * a.Shape[3]
		for i := range bm.Data {
			bm.Data[i] = b.Data[i] + float32(m.Data[i%plane]*float32(a.Data[i]-b.Data[i]))
		}
	}
	out := slerp(n.Alpha, a, bm)
	name := n.store.SaveTensor("latents", out)
	return LatentsOutput{Latents: LatentsField{LatentsName: name}, Width: out.Shape[3] * latentScale, Height: out.Shape[2] * latentScale}, nil
}

// slerp is InvokeAI's spherical interpolation of two whole tensors (as flat vectors): a plain lerp when they
// are nearly parallel (|cos| > 0.9995), otherwise the spherical formula with the angle computed in single
// precision and the weights in double, as NumPy computes them; the blend itself is in float32.
func slerp(t float64, v0, v1 *tensor.Tensor) *tensor.Tensor {
	var n0, n1 float64
	for i := range v0.Data {
		n0 += float64(v0.Data[i]) * float64(v0.Data[i])
		n1 += float64(v1.Data[i]) * float64(v1.Data[i])
	}
	norm := float32(math.Sqrt(n0)) * float32(math.Sqrt(n1))
	var dot64 float64
	for i := range v0.Data {
		dot64 += float64(float32(v0.Data[i]*v1.Data[i]) / norm)
	}
	dot := float32(dot64)
	out := tensor.New(v0.Shape...)
	if math.Abs(float64(dot)) > 0.9995 {
		a, b := float32(1-t), float32(t)
		for i := range out.Data {
			out.Data[i] = float32(a*v0.Data[i]) + float32(b*v1.Data[i])
		}
		return out
	}
	theta0 := float32(math.Acos(float64(dot)))
	sin0 := float32(math.Sin(float64(theta0)))
	thetaT := float64(theta0) * t
	s0 := float32(math.Sin(float64(theta0)-thetaT) / float64(sin0))
	s1 := float32(math.Sin(thetaT) / float64(sin0))
	for i := range out.Data {
		out.Data[i] = float32(s0*v0.Data[i]) + float32(s1*v1.Data[i])
	}
	return out
}
