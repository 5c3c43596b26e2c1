package pipeline

import (
	"context"

	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// The stages check their largest allocation against the run's memory budget (tensor.BudgetOf(ctx)) before
// they start: the sizes follow from the inputs, so a stage that could not run within the budget fails at once
// with a tensor.SizeError instead of exhausting the machine's memory part way.

// checkVAE: a VAE pass over n images of h×w pixels holds, in its full-resolution blocks, the first
// block_out_channels channels at h×w for each image.
func checkVAE(ctx context.Context, vae *sd.VAE, what string, n, h, w int) error {
	ch := 3
	if len(vae.Config.BlockOutChannels) > 0 {
		ch = max(ch, vae.Config.BlockOutChannels[0])
	}
	return tensor.BudgetOf(ctx).Check(what, 4, n, ch, h, w)
}

// checkUNet: a UNet step over latents of h×w holds, in its first block, the first block_out_channels channels
// at h×w for each of the batch's two halves (negative and positive conditioning).
func checkUNet(ctx context.Context, unet *sd.UNet, n, h, w int) error {
	ch := 4
	if len(unet.Config.BlockOutChannels) > 0 {
		ch = max(ch, unet.Config.BlockOutChannels[0])
	}
	return tensor.BudgetOf(ctx).Check("the UNet's activations", 4, 2*n, ch, h, w)
}

// ResizeIn is Resize after checking the resized tensor against ctx's budget.
func ResizeIn(ctx context.Context, x *tensor.Tensor, h, w int, mode string) (*tensor.Tensor, error) {
	if len(x.Shape) == 4 {
		if err := tensor.BudgetOf(ctx).Check("the resized tensor", 4, x.Shape[0], x.Shape[1], h, w); err != nil {
			return nil, err
		}
	}
	return Resize(x, h, w, mode)
}
