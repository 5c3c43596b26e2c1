package pipeline

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	"image/jpeg"

	"github.com/invokego/invokego/internal/engine/tensor"
)

// LatentRGBFactors map the four latent channels to approximate RGB, as in
// InvokeAI's step_callback.py.
type LatentRGBFactors [4][3]float32

var (
	// SD1LatentRGBFactors are InvokeAI's SD1_5_LATENT_RGB_FACTORS.
	SD1LatentRGBFactors = LatentRGBFactors{
		{0.3444, 0.1385, 0.0670},
		{0.1247, 0.4027, 0.1494},
		{-0.3192, 0.2513, 0.2103},
		{-0.1307, -0.1874, -0.7445},
	}
	// SDXLLatentRGBFactors are InvokeAI's SDXL_LATENT_RGB_FACTORS.
	SDXLLatentRGBFactors = LatentRGBFactors{
		{0.3816, 0.4930, 0.5320},
		{-0.3753, 0.1631, 0.1739},
		{0.1770, 0.3588, -0.2048},
		{-0.4350, -0.2644, -0.4289},
	}
)

// maxPreviewSide bounds the preview so progress events stay small.
const maxPreviewSide = 256

// PreviewImage is InvokeAI's sample_to_lowres_estimated_image: each latent
// pixel of the first sample becomes (latent·factors + 1)/2, clamped and
// truncated to a byte. The picture has the latent's size (1/8 of the image
// it stands for), halved until its longest side is at most 256.
func PreviewImage(latents *tensor.Tensor, factors LatentRGBFactors) (*image.RGBA, error) {
	if len(latents.Shape) != 4 || latents.Shape[1] != 4 {
		return nil, fmt.Errorf("preview: latents of shape %v, want [N, 4, h, w]", latents.Shape)
	}
	h, w := latents.Shape[2], latents.Shape[3]
	step := 1
	for max(h, w)/step > maxPreviewSide {
		step *= 2
	}
	ph, pw := (h+step-1)/step, (w+step-1)/step
	img := image.NewRGBA(image.Rect(0, 0, pw, ph))
	plane := h * w
	for y := 0; y < ph; y++ {
		for x := 0; x < pw; x++ {
			sy, sx := y*step, x*step
			o := img.PixOffset(x, y)
			for c := 0; c < 3; c++ {
				var v float32
				for l := 0; l < 4; l++ {
					v += latents.Data[l*plane+sy*w+sx] * factors[l][c]
				}
				v = min(max((v+1)/2, 0), 1)
				img.Pix[o+c] = uint8(v * 255)
			}
			img.Pix[o+3] = 255
		}
	}
	return img, nil
}

// JPEGDataURL encodes an image as InvokeAI's image_to_dataURL does for
// progress images: "data:image/jpeg;base64,…".
func JPEGDataURL(img image.Image) (string, error) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 75}); err != nil {
		return "", fmt.Errorf("preview: %w", err)
	}
	return "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}
