package flux

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/invokego/invokego/internal/engine/ldm"
	"github.com/invokego/invokego/internal/engine/noise"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// FLUX.1's VAE latent normalisation: model latents = (z − shift)·scale.
const (
	VAEScalingFactor = 0.3611
	VAEShiftFactor   = 0.1159
)

// VAE is FLUX's 16-channel AutoencoderKL (package sd's network: the same
// blocks, no quant convs) with its latent scale and shift.
type VAE struct {
	Net          *sd.VAE
	Scale, Shift float32
}

// LoadVAEFolder loads a diffusers vae/ folder.
func LoadVAEFolder(dir string, opts sd.Options) (*VAE, error) {
	net, err := sd.LoadVAEFolderWithOptions(dir, opts)
	if err != nil {
		return nil, err
	}
	return newVAE(net)
}

// LoadVAEFile loads FLUX's VAE from a single safetensors file in the BFL
// layout (ae.safetensors: LDM names) or with diffusers names.
func LoadVAEFile(path string, opts sd.Options) (*VAE, error) {
	st, err := sd.LoadStateDict(path, nil)
	if err != nil {
		return nil, fmt.Errorf("load flux vae: %w", err)
	}
	if _, ok := st["encoder.down.0.block.0.conv1.weight"]; ok {
		if st, err = ldm.ConvertVAE(st); err != nil {
			return nil, fmt.Errorf("load flux vae %s: %w", filepath.Base(path), err)
		}
	}
	cfg, err := sd.InferVAEConfig(st, VAEScalingFactor)
	if err != nil {
		return nil, fmt.Errorf("load flux vae %s: %w", filepath.Base(path), err)
	}
	cfg.ShiftFactor = VAEShiftFactor
	for range cfg.BlockOutChannels {
		cfg.DownBlockTypes = append(cfg.DownBlockTypes, "DownEncoderBlock2D")
		cfg.UpBlockTypes = append(cfg.UpBlockTypes, "UpDecoderBlock2D")
	}
	net, err := sd.NewVAEWithOptions(cfg, st, opts)
	if err != nil {
		return nil, fmt.Errorf("load flux vae %s: %w", filepath.Base(path), err)
	}
	return newVAE(net)
}

func newVAE(net *sd.VAE) (*VAE, error) {
	if net.Config.LatentChannels != LatentChannels {
		return nil, fmt.Errorf("flux vae: %d latent channels, want %d", net.Config.LatentChannels, LatentChannels)
	}
	scale, shift := net.Config.ScalingFactor, net.Config.ShiftFactor
	if scale == 0 {
		scale, shift = VAEScalingFactor, VAEShiftFactor
	}
	return &VAE{Net: net, Scale: scale, Shift: shift}, nil
}

// Decode maps model latents [N, 16, h, w] to images [N, 3, 8h, 8w] in
// about [−1, 1]: z = latents/scale + shift through the decoder.
func (v *VAE) Decode(ctx context.Context, latents *tensor.Tensor) (*tensor.Tensor, error) {
	if v == nil || v.Net == nil {
		return nil, errors.New("flux decode: no vae")
	}
	if len(latents.Shape) != 4 || latents.Shape[1] != LatentChannels {
		return nil, fmt.Errorf("flux decode: latents of shape %v, want [N, %d, h, w]", latents.Shape, LatentChannels)
	}
	z := tensor.New(latents.Shape...)
	for i, x := range latents.Data {
		z.Data[i] = x/v.Scale + v.Shift
	}
	return v.Net.Decode(ctx, z)
}

// Encode maps images [N, 3, H, W] in [−1, 1] (H, W multiples of 8) to
// model latents (z − shift)·scale. With eps nil z is the mean of the
// encoder's distribution; otherwise z = mean + std·eps, eps being standard
// normal noise of the latents' shape (InvokeAI's FLUX image-to-latents
// samples with a CPU generator seeded with 0: see EncodeNoise).
func (v *VAE) Encode(ctx context.Context, img *tensor.Tensor, eps *tensor.Tensor) (*tensor.Tensor, error) {
	if v == nil || v.Net == nil {
		return nil, errors.New("flux encode: no vae")
	}
	if len(img.Shape) != 4 || img.Shape[1] != 3 || img.Shape[2]%8 != 0 || img.Shape[3]%8 != 0 {
		return nil, fmt.Errorf("flux encode: image of shape %v, want [N, 3, H, W] with H and W multiples of 8", img.Shape)
	}
	mean, logvar, err := v.Net.Encode(ctx, img)
	if err != nil {
		return nil, fmt.Errorf("flux encode: %w", err)
	}
	z := mean
	if eps != nil {
		if z, err = sd.SampleLatent(mean, logvar, eps); err != nil {
			return nil, fmt.Errorf("flux encode: %w", err)
		}
	}
	for i, x := range z.Data {
		z.Data[i] = (x - v.Shift) * v.Scale
	}
	return z, nil
}

// EncodeNoise is the noise InvokeAI's FLUX image-to-latents samples the
// encoder's distribution with, for an image of h×w pixels: float32 randn
// from a CPU generator seeded with 0.
func EncodeNoise(h, w int) *tensor.Tensor {
	shape := []int{1, LatentChannels, h / 8, w / 8}
	return tensor.FromData(noise.Randn(0, noise.Float32, shape...), shape...)
}
