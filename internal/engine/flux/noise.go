package flux

import (
	"fmt"

	"github.com/invokego/invokego/internal/engine/noise"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// LatentChannels is the channel count of FLUX latents.
const LatentChannels = 16

// MaxImageSide bounds image sides in pixels (the node schemas bound them
// lower; this keeps direct callers from sizing absurd buffers).
const MaxImageSide = 16384

// LatentSize returns the latent height and width for an image of h×w
// pixels: 2·⌈h/16⌉ × 2·⌈w/16⌉, so that the latents pack into whole 2×2
// patches (InvokeAI's get_noise; diffusers floors instead, which agrees for
// sizes that are multiples of 16).
func LatentSize(h, w int) (int, int) { return 2 * ((h + 15) / 16), 2 * ((w + 15) / 16) }

// Noise draws the starting noise [1, 16, lh, lw] for an image of h×w
// pixels as torch.randn with a CPU generator seeded with seed. InvokeAI
// draws FLUX noise in float16 (noise.Float16) whatever the device, so a
// seed gives InvokeAI's image only with that dtype; diffusers' FluxPipeline
// draws float32.
func Noise(seed uint64, h, w int, dtype noise.DType) (*tensor.Tensor, error) {
	if h < 1 || w < 1 || h > MaxImageSide || w > MaxImageSide {
		return nil, fmt.Errorf("flux noise: image size %dx%d outside [1, %d]", w, h, MaxImageSide)
	}
	lh, lw := LatentSize(h, w)
	data := noise.Randn(seed, dtype, 1, LatentChannels, lh, lw)
	return tensor.FromData(data, 1, LatentChannels, lh, lw), nil
}
