package flux

import (
	"fmt"
	"image"

	"github.com/invokego/invokego/internal/engine/tensor"
)

// latentRGBFactors map FLUX's 16 latent channels to approximate RGB for
// progress images (the linear fit InvokeAI's FLUX step callback uses).
var latentRGBFactors = [LatentChannels][3]float32{
	{-0.0346, 0.0244, 0.0681},
	{0.0034, 0.0210, 0.0687},
	{0.0275, -0.0668, -0.0433},
	{-0.0174, 0.0160, 0.0617},
	{0.0859, 0.0721, 0.0329},
	{0.0004, 0.0383, 0.0115},
	{0.0405, 0.0861, 0.0915},
	{-0.0236, -0.0185, -0.0259},
	{-0.0245, 0.0250, 0.1180},
	{0.1008, 0.0755, -0.0421},
	{-0.0515, 0.0201, 0.0011},
	{0.0428, -0.0012, -0.0036},
	{0.0817, 0.0765, 0.0749},
	{-0.1264, -0.0522, -0.1103},
	{-0.0280, -0.0881, -0.0499},
	{-0.1262, -0.0982, -0.0778},
}

// maxPreviewSide bounds progress images so events stay small.
const maxPreviewSide = 256

// PreviewImage estimates the image latents [1, 16, h, w] stand for at
// latent resolution: (latents·factors + 1)/2 per pixel, clamped and
// truncated to a byte, halved until the longest side is at most 256.
func PreviewImage(latents *tensor.Tensor) (*image.RGBA, error) {
	if len(latents.Shape) != 4 || latents.Shape[1] != LatentChannels {
		return nil, fmt.Errorf("flux preview: latents of shape %v, want [N, 16, h, w]", latents.Shape)
	}
	h, w := latents.Shape[2], latents.Shape[3]
	step := 1
	for max(h, w)/step > maxPreviewSide {
		step *= 2
	}
	ph, pw := (h+step-1)/step, (w+step-1)/step
	img := image.NewRGBA(image.Rect(0, 0, pw, ph))
	plane := h * w
	for y := range ph {
		for x := range pw {
			o := img.PixOffset(x, y)
			src := y*step*w + x*step
			for c := range 3 {
				var v float32
				for l := range LatentChannels {
					v += latents.Data[l*plane+src] * latentRGBFactors[l][c]
				}
				img.Pix[o+c] = uint8(min(max((v+1)/2, 0), 1) * 255)
			}
			img.Pix[o+3] = 255
		}
	}
	return img, nil
}
