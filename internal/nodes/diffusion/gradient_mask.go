package diffusion

import (
	"image"
	"math"

	"github.com/invokego/invokego/internal/engine/imaging"
	"github.com/invokego/invokego/internal/engine/pipeline"
	"github.com/invokego/invokego/internal/engine/tensor"
	"github.com/invokego/invokego/internal/models"
	"github.com/invokego/invokego/internal/nodes"
	"github.com/invokego/invokego/internal/schema"
)

// CoherenceMode is create_gradient_mask's way of widening the mask.
type CoherenceMode string

// LiteralValues implements schema.Literal.
func (CoherenceMode) LiteralValues() []string { return []string{"Gaussian Blur", "Box Blur", "Staged"} }

var _ schema.Literal = CoherenceMode("")

// GradientMaskOutput is gradient_mask_output.
type GradientMaskOutput struct {
	DenoiseMask      DenoiseMaskField `json:"denoise_mask" description:"Mask for denoise model run. Values of 0.0 represent the regions to be fully denoised, and 1.0 represent the regions to be preserved."`
	ExpandedMaskArea nodes.ImageField `json:"expanded_mask_area" description:"Image representing the total gradient area of the mask. For paste-back purposes."`
}

// OutputType implements nodes.Output.
func (GradientMaskOutput) OutputType() string { return "gradient_mask_output" }

// CreateGradientMask is create_gradient_mask: the canvas's denoise mask, widened by a coherence band in
// which the denoising strength falls off (a gradient mask: denoise_latents regenerates a pixel once the noise
// level drops below its value).
type CreateGradientMask struct {
	Mask           nodes.ImageField  `json:"mask" ui_order:"1" description:"Image which will be masked"`
	EdgeRadius     int               `json:"edge_radius" default:"16" ge:"0" le:"1024" ui_order:"2" description:"How far to expand the edges of the mask"`
	CoherenceMode  CoherenceMode     `json:"coherence_mode" default:"Gaussian Blur" ui_order:"3"`
	MinimumDenoise float64           `json:"minimum_denoise" default:"0.0" ge:"0" le:"1" ui_order:"4" description:"Minimum denoise level for the coherence region"`
	Image          *nodes.ImageField `json:"image" default:"null" title:"[OPTIONAL] Image" ui_order:"6" description:"OPTIONAL: Only connect for specialized Inpainting models, masked_latents will be generated from the image with the VAE"`
	UNet           *UNetField        `json:"unet" input:"connection" title:"[OPTIONAL] UNet" ui_order:"5" description:"OPTIONAL: If the Unet is a specialized Inpainting model, masked_latents will be generated from the image with the VAE"`
	VAE            *VAEField         `json:"vae" input:"connection" title:"[OPTIONAL] VAE" ui_order:"7" description:"OPTIONAL: Only connect for specialized Inpainting models, masked_latents will be generated from the image with the VAE"`
	Tiled          bool              `json:"tiled" default:"false" ui_order:"8" description:"Processing using overlapping tiles (reduce memory consumption)"`
	FP32           bool              `json:"fp32" default:"false" ui_order:"9" description:"Whether or not to use full float32 precision"`
	models         modelAccess
	store          *ObjectStore
}

// NodeInfo implements nodes.Node.
func (*CreateGradientMask) NodeInfo() nodes.Info {
	return nodes.Info{Type: "create_gradient_mask", Title: "Create Gradient Mask",
		Description: "Makes the denoise mask of a canvas inpaint, with a band around the masked area whose strength falls off.",
		Tags:        []string{"mask", "denoise"}, Category: "latents", Version: "1.3.0", Output: GradientMaskOutput{}}
}

// coherenceKernel is the weight of each offset within radius r (row-major, (2r+1)²): for "Box Blur" 1 −
// distance/r in float32, otherwise OpenCV's Gaussian kernel (σ = r/2.5) as an outer product scaled to 1 at
// the centre, zero beyond r.
func coherenceKernel(r int, mode CoherenceMode) []float64 {
	n := 2*r + 1
	k := make([]float64, n*n)
	if mode == "Box Blur" {
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				d := math.Sqrt(float64((i-r)*(i-r) + (j-r)*(j-r)))
				if d <= float64(r) {
					k[i*n+j] = float64(float32(1.0 - d/float64(r)))
				}
			}
		}
		return k
	}
	g := gaussianKernel1D(n, float64(r)/2.5)
	center := g[r] * g[r]
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			if math.Sqrt(float64((i-r)*(i-r)+(j-r)*(j-r))) <= float64(r) {
				k[i*n+j] = g[i] * g[j] / center
			}
		}
	}
	return k
}

// gaussianKernel1D is cv2.getGaussianKernel(n, sigma) for odd n and sigma > 0, in the order OpenCV 4 sums
// and normalises it (both halves from the same values, the centre weight 1 before normalisation).
func gaussianKernel1D(n int, sigma float64) []float64 {
	scale := -0.125 / (sigma * sigma)
	half := (n - 1) / 2
	vals := make([]float64, half)
	var sum float64
	for i, x := 0, 1-n; i < half; i, x = i+1, x+2 {
		vals[i] = math.Exp(float64(x*x) * scale)
		sum += vals[i]
	}
	sum = sum*2 + 1
	mul := 1 / sum
	out := make([]float64, n)
	for i, v := range vals {
		out[i] = v * mul
		out[n-1-i] = out[i]
	}
	out[half] = mul
	return out
}

// Invoke implements nodes.Invocation.
func (n *CreateGradientMask) Invoke(ctx nodes.Context) (nodes.Output, error) {
	src, err := ctx.LoadImage(n.Mask.ImageName)
	if err != nil {
		return nil, err
	}
	rgba, w, h := imaging.NRGBA8(src)
	gray := make([]uint8, w*h)
	for i := range gray {
		gray[i] = imaging.Luma(rgba[i*4], rgba[i*4+1], rgba[i*4+2])
	}
	// The work happens at latent scale: the mask is shrunk by 8 with Pillow's bilinear filter.
	lw, lh := w/latentScale, h/latentScale
	if lw < 1 || lh < 1 {
		return nil, valueError("height and width must be > 0: a %dx%d mask is smaller than one latent", w, h)
	}
	small, err := imaging.Resize(gray, w, h, 1, lw, lh, imaging.Bilinear)
	if err != nil {
		return nil, valueError("%v", err)
	}
	orig := make([]float32, len(small))
	for i, v := range small {
		orig[i] = float32(v)
	}
	dilated := orig
	r := n.EdgeRadius / latentScale
	if r > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		dilated = n.coherence(orig, lw, lh, r)
	}
	levels := make([]uint8, len(dilated))
	for i, v := range dilated {
		levels[i] = uint8(min(max(v, 0), 255)) // NumPy's clip, then a truncating cast
	}
	// The paste-back area: white only where the mask was fully white, upscaled back by 8 (nearest).
	area := image.NewGray(image.Rect(0, 0, lw*latentScale, lh*latentScale))
	maskImg := image.NewGray(area.Rect)
	for y := 0; y < lh*latentScale; y++ {
		for x := 0; x < lw*latentScale; x++ {
			v := levels[(y/latentScale)*lw+x/latentScale]
			maskImg.Pix[y*maskImg.Stride+x] = v
			if v == 255 {
				area.Pix[y*area.Stride+x] = 255
			}
		}
	}
	areaOut, err := ctx.SaveImage(area, nodes.SaveImageOptions{})
	if err != nil {
		return nil, err
	}
	mask := pipeline.MaskFromImage(maskImg)
	out := DenoiseMaskField{Gradient: true}
	if n.UNet != nil && n.VAE != nil && n.Image != nil && n.Image.ImageName != "" {
		cfg, err := n.models.config(ctx, n.UNet.UNet)
		if err != nil {
			return nil, valueError("Unknown model: %s", n.UNet.UNet.Key)
		}
		if cfg.Variant != nil && *cfg.Variant == models.VariantInpaint {
			name, err := n.maskedLatents(ctx, mask)
			if err != nil {
				return nil, err
			}
			out.MaskedLatentsName = &name
		}
	}
	out.MaskName = n.store.SaveTensor("mask", mask)
	return GradientMaskOutput{DenoiseMask: out, ExpandedMaskArea: areaOut.Image}, nil
}

// coherence widens the masked area (dark in the mask) by a weighted maximum filter over the inverted mask,
// then applies the minimum denoise: values between the threshold and white drop to the threshold ("Staged"
// first lowers the whole widened band to it). Arithmetic as NumPy and PyTorch do it in float32.
func (n *CreateGradientMask) coherence(orig []float32, w, h, r int) []float32 {
	inv := make([]float32, len(orig))
	for i, v := range orig {
		inv[i] = 255 - v
	}
	kernel := coherenceKernel(r, n.CoherenceMode)
	ks := 2*r + 1
	grown := make([]float32, len(orig))
	for i := 0; i < ks; i++ {
		for j := 0; j < ks; j++ {
			wgt := float32(kernel[i*ks+j])
			if !(kernel[i*ks+j] > 0) {
				continue
			}
			// Offset (i-r, j-r); pixels beyond the mask's edge count as 0.
			for y := max(0, r-i); y < min(h, h+r-i); y++ {
				sy := y + i - r
				for x := max(0, r-j); x < min(w, w+r-j); x++ {
					if v := inv[sy*w+x+j-r] * wgt; v > grown[y*w+x] {
						grown[y*w+x] = v
					}
				}
			}
		}
	}
	dilated := make([]float32, len(orig))
	for i, v := range grown {
		dilated[i] = 255 - v
	}
	threshold := float32((1 - n.MinimumDenoise) * 255)
	if n.CoherenceMode == "Staged" {
		for i := range dilated {
			if dilated[i] < orig[i] && orig[i] > threshold {
				dilated[i] = threshold
			} else {
				dilated[i] = orig[i]
			}
		}
	}
	for i, v := range dilated {
		if v > threshold && v < 255 {
			dilated[i] = threshold
		}
	}
	return dilated
}

// maskedLatents encodes the image with the masked area blanked, for inpainting models (their UNet takes it
// as extra input channels), as create_denoise_mask does.
func (n *CreateGradientMask) maskedLatents(ctx nodes.Context, mask *tensor.Tensor) (string, error) {
	img, err := ctx.LoadImage(n.Image.ImageName)
	if err != nil {
		return "", err
	}
	g, err := gridImage(img, false)
	if err != nil {
		return "", err
	}
	x := pipeline.FromImage(g)
	imgMask, err := pipeline.ResizeIn(ctx, mask, x.Shape[2], x.Shape[3], "bilinear")
	if err != nil {
		return "", nodeError(err)
	}
	plane := x.Shape[2] * x.Shape[3]
	for i := range x.Data {
		if imgMask.Data[i%plane] < 0.5 {
			x.Data[i] = 0
		}
	}
	vae, err := n.models.vae(ctx, *n.VAE, n.FP32)
	if err != nil {
		return "", nodeError(err)
	}
	ctx.ReportProgress(nodes.Progress{Message: "Running VAE encoder"})
	latents, err := pipeline.EncodeImage(ctx, vae, x, 0)
	if err != nil {
		return "", nodeError(err)
	}
	return n.store.SaveTensor("masked_latents", latents), nil
}
