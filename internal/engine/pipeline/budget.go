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

// Heap sizes handed to tensor.LimitHeap for a phase: what its activations
// hold at their peak, measured on SD-1.5 at 512² in bf16 (docs/performance.md).
//
// unetHeap: a UNet step's largest activation is the first level's GEGLU
// projection, 8·C0 channels over h×w tokens for each of the 2n rows of the
// CFG pair; the step's live set peaked at about six of them (with the skip
// connections and attention scratch), and a limit that close made the
// collector run every few tens of milliseconds, so seven: eight let SD-1.5
// bf16 512² with CFG peak at 3.00-3.03 GB, seven at 2.96-2.97 GB with the
// same step time (docs/performance.md).
func unetHeap(unet *sd.UNet, n, h, w int) int64 {
	c0 := 320
	if len(unet.Config.BlockOutChannels) > 0 {
		c0 = unet.Config.BlockOutChannels[0]
	}
	return 7 * 4 * int64(2*n) * int64(h*w) * int64(8*c0)
}

// vaeHeap: a VAE decode's largest live set is the first resnet of its
// full-resolution block, which holds its 2·C0-channel input, the shortcut's
// output and the first convolution's output: four images of C0 channels at
// h×w. The upsampler before it is banded (sd/upconv.go) so its 4×-sized
// input is never held whole; unbanded it held about five, the limit this
// used before. Four keeps SD-1.5 bf16 512² under 3.0 GB peak RSS with no
// measurable extra collector time (docs/performance.md).
func vaeHeap(vae *sd.VAE, n, h, w int) int64 {
	c0 := 128
	if len(vae.Config.BlockOutChannels) > 0 {
		c0 = vae.Config.BlockOutChannels[0]
	}
	return 4 * 4 * int64(n) * int64(c0) * int64(h*w)
}
