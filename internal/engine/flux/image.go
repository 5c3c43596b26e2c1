package flux

import (
	"context"
	"fmt"
	"image"

	"github.com/invokego/invokego/internal/engine/tensor"
)

// DecodeImage is InvokeAI's flux_vae_decode: the VAE decodes the latents
// [1, 16, h, w] and each value becomes the byte ⌊127.5·(clamp(x, −1, 1) + 1)⌋
// (InvokeAI truncates where diffusers rounds).
func DecodeImage(ctx context.Context, vae *VAE, latents *tensor.Tensor) (*image.NRGBA, error) {
	decoded, err := vae.Decode(ctx, latents)
	if err != nil {
		return nil, err
	}
	defer decoded.Release()
	return ToImage(decoded)
}

// ToImage converts the first image of decoder output [N, 3, H, W] in about
// [−1, 1] to 8-bit RGB as InvokeAI's FLUX decode does (truncating).
func ToImage(x *tensor.Tensor) (*image.NRGBA, error) {
	if len(x.Shape) != 4 || x.Shape[1] != 3 {
		return nil, fmt.Errorf("flux image: shape %v, want [N, 3, H, W]", x.Shape)
	}
	h, w := x.Shape[2], x.Shape[3]
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	plane := h * w
	for y := range h {
		for xx := range w {
			o := out.PixOffset(xx, y)
			for c := range 3 {
				v := min(max(x.Data[c*plane+y*w+xx], -1), 1)
				out.Pix[o+c] = uint8(float32(127.5 * (v + 1)))
			}
			out.Pix[o+3] = 255
		}
	}
	return out, nil
}
