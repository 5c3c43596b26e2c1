package sd

import (
	"context"
	"fmt"
	"math"
	"strconv"

	"github.com/invokego/invokego/internal/engine/tensor"
)

// vaeNormEps is the epsilon of every GroupNorm in AutoencoderKL.
const vaeNormEps = 1e-6

// VAE is diffusers' AutoencoderKL.
type VAE struct {
	Config VAEConfig

	encConvIn, encConvOut *tensor.Conv2D
	encDown               []*vaeDownBlock
	encMid                *vaeMidBlock
	encNormOut            *groupNorm
	quantConv             *tensor.Conv2D // nil in VAEs without it

	names                 *layerNames // for LayerPatcher
	postQuantConv         *tensor.Conv2D
	decConvIn, decConvOut *tensor.Conv2D
	decMid                *vaeMidBlock
	decUp                 []*vaeUpBlock
	decNormOut            *groupNorm
}

type vaeDownBlock struct {
	resnets    []*resnetBlock
	downsample *tensor.Conv2D
}

type vaeUpBlock struct {
	resnets  []*resnetBlock
	upsample *tensor.Conv2D
}

type vaeMidBlock struct {
	resnet0, resnet1 *resnetBlock
	attn             *spatialAttention // nil when the VAE has no mid attention
}

// spatialAttention is the VAE's single-head self-attention over pixels.
type spatialAttention struct {
	norm *groupNorm
	attn *attention
}

func (a *spatialAttention) forward(p *pass, x *tensor.Tensor) *tensor.Tensor {
	h, w := x.Shape[2], x.Shape[3]
	n := a.norm.forward(x, false)
	tokens := tensor.NCHWToTokens(n)
	n.Release()
	att := a.attn.forward(p, tokens, nil, nil, nil)
	tokens.Release()
	out := tensor.TokensToNCHW(att, h, w)
	att.Release()
	tensor.AddInto(out.Data, out.Data, x.Data)
	return out
}

func (r *weightReader) vaeMid(prefix string, groups int) *vaeMidBlock {
	m := &vaeMidBlock{
		resnet0: r.resnet(prefix+".resnets.0", groups, vaeNormEps),
		resnet1: r.resnet(prefix+".resnets.1", groups, vaeNormEps),
	}
	// Newer configs can drop the attention (mid_block_add_attention=false).
	if r.has(prefix + ".attentions.0.to_q.weight") {
		m.attn = &spatialAttention{
			norm: r.groupNorm(prefix+".attentions.0.group_norm", groups, vaeNormEps),
			attn: r.attention(prefix+".attentions.0", 1),
		}
	}
	return m
}

// forward leaves x to the caller.
func (m *vaeMidBlock) forward(p *pass, x *tensor.Tensor) *tensor.Tensor {
	h := m.resnet0.forward(p, x, nil)
	if m.attn != nil {
		a := m.attn.forward(p, h)
		h.Release()
		h = a
	}
	out := m.resnet1.forward(p, h, nil)
	h.Release()
	return out
}

// then applies f to x and releases x unless it is the caller's input.
func then(x, input *tensor.Tensor, f func(*tensor.Tensor) *tensor.Tensor) *tensor.Tensor {
	y := f(x)
	if x != input {
		x.Release()
	}
	return y
}

// NewVAE builds an AutoencoderKL from a diffusers-named state dict.
func NewVAE(cfg VAEConfig, sd StateDict) (*VAE, error) {
	return newVAE(cfg, newWeightReader(sd))
}

// NewVAEWithOptions is NewVAE with build options (e.g. bf16 weights).
func NewVAEWithOptions(cfg VAEConfig, sd StateDict, opts Options) (*VAE, error) {
	r, err := opts.reader(sd)
	if err != nil {
		return nil, err
	}
	return newVAE(cfg, r)
}

func newVAE(cfg VAEConfig, r *weightReader) (*VAE, error) {
	n := len(cfg.BlockOutChannels)
	if n == 0 || cfg.LayersPerBlock < 1 || cfg.NormNumGroups < 1 {
		return nil, fmt.Errorf("build vae: invalid config %+v", cfg)
	}
	for _, t := range append(append([]string(nil), cfg.DownBlockTypes...), cfg.UpBlockTypes...) {
		if t != "DownEncoderBlock2D" && t != "UpDecoderBlock2D" {
			return nil, fmt.Errorf("build vae: unsupported block type %q", t)
		}
	}
	g := cfg.NormNumGroups
	v := &VAE{Config: cfg, encConvIn: r.conv("encoder.conv_in", 1, 1)}
	for i := 0; i < n; i++ {
		p := "encoder.down_blocks." + strconv.Itoa(i)
		b := &vaeDownBlock{}
		for j := 0; j < cfg.LayersPerBlock; j++ {
			b.resnets = append(b.resnets, r.resnet(p+".resnets."+strconv.Itoa(j), g, vaeNormEps))
		}
		if i < n-1 {
			// The encoder pads only bottom/right, then convolves with stride 2.
			b.downsample = r.conv(p+".downsamplers.0.conv", 2, 0)
			b.downsample.PadBottom, b.downsample.PadRight = 1, 1
		}
		v.encDown = append(v.encDown, b)
	}
	v.encMid = r.vaeMid("encoder.mid_block", g)
	v.encNormOut = r.groupNorm("encoder.conv_norm_out", g, vaeNormEps)
	v.encConvOut = r.conv("encoder.conv_out", 1, 1)
	if r.has("quant_conv.weight") {
		v.quantConv = r.conv("quant_conv", 1, 0)
	}
	if r.has("post_quant_conv.weight") {
		v.postQuantConv = r.conv("post_quant_conv", 1, 0)
	}
	v.decConvIn = r.conv("decoder.conv_in", 1, 1)
	v.decMid = r.vaeMid("decoder.mid_block", g)
	for i := 0; i < n; i++ {
		p := "decoder.up_blocks." + strconv.Itoa(i)
		b := &vaeUpBlock{}
		for j := 0; j <= cfg.LayersPerBlock; j++ {
			b.resnets = append(b.resnets, r.resnet(p+".resnets."+strconv.Itoa(j), g, vaeNormEps))
		}
		if i < n-1 {
			b.upsample = r.conv(p+".upsamplers.0.conv", 1, 1)
		}
		v.decUp = append(v.decUp, b)
	}
	v.decNormOut = r.groupNorm("decoder.conv_norm_out", g, vaeNormEps)
	v.decConvOut = r.conv("decoder.conv_out", 1, 1)
	if err := r.finish("vae"); err != nil {
		return nil, err
	}
	v.names = r.names
	return v, nil
}

// Encode maps images [N, 3, H, W] in [-1, 1] to the latent distribution's
// mean and log-variance (clamped to [-30, 20]), after quant_conv.
func (v *VAE) Encode(ctx context.Context, image *tensor.Tensor) (mean, logvar *tensor.Tensor, err error) {
	return v.EncodeWith(ctx, image, VAEOptions{})
}

// EncodeWith is Encode with per-call options; the model is not changed.
func (v *VAE) EncodeWith(ctx context.Context, image *tensor.Tensor, opts VAEOptions) (mean, logvar *tensor.Tensor, err error) {
	p := newPass(v.names, opts.Seamless, opts.Layers)
	h := p.conv(v.encConvIn).Forward(image)
	for _, b := range v.encDown {
		if err := ctx.Err(); err != nil {
			h.Release()
			return nil, nil, err
		}
		for _, res := range b.resnets {
			h = res.forwardOwned(p, h, nil)
		}
		if b.downsample != nil {
			h = then(h, nil, p.conv(b.downsample).Forward)
		}
	}
	if err := ctx.Err(); err != nil {
		h.Release()
		return nil, nil, err
	}
	h = then(h, nil, func(x *tensor.Tensor) *tensor.Tensor { return v.encMid.forward(p, x) })
	h = then(h, nil, func(x *tensor.Tensor) *tensor.Tensor { return v.encNormOut.forward(x, true) })
	h = then(h, nil, p.conv(v.encConvOut).Forward)
	if v.quantConv != nil {
		h = then(h, nil, p.conv(v.quantConv).Forward)
	}
	defer h.Release()
	n, c2, hh, ww := h.Shape[0], h.Shape[1], h.Shape[2], h.Shape[3]
	c := c2 / 2
	mean, logvar = tensor.New(n, c, hh, ww), tensor.New(n, c, hh, ww)
	plane := c * hh * ww
	for b := 0; b < n; b++ {
		copy(mean.Data[b*plane:(b+1)*plane], h.Data[b*2*plane:])
		lv := logvar.Data[b*plane : (b+1)*plane]
		copy(lv, h.Data[b*2*plane+plane:])
		for i, x := range lv {
			lv[i] = min(max(x, -30), 20)
		}
	}
	return mean, logvar, nil
}

// Decode maps latents [N, C, h, w] (already divided by the scaling factor)
// to images [N, 3, H, W] in roughly [-1, 1], applying post_quant_conv first.
func (v *VAE) Decode(ctx context.Context, latent *tensor.Tensor) (*tensor.Tensor, error) {
	return v.DecodeWith(ctx, latent, VAEOptions{})
}

// DecodeWith is Decode with per-call options; the model is not changed, so
// calls with different options may run concurrently.
func (v *VAE) DecodeWith(ctx context.Context, latent *tensor.Tensor, opts VAEOptions) (*tensor.Tensor, error) {
	p := newPass(v.names, opts.Seamless, opts.Layers)
	h := latent
	if v.postQuantConv != nil {
		h = p.conv(v.postQuantConv).Forward(h)
	}
	h = then(h, latent, p.conv(v.decConvIn).Forward)
	h = then(h, nil, func(x *tensor.Tensor) *tensor.Tensor { return v.decMid.forward(p, x) })
	for _, b := range v.decUp {
		if err := ctx.Err(); err != nil {
			h.Release()
			return nil, err
		}
		for i, res := range b.resnets {
			h = res.forwardOwned(p, h, nil)
			if i == 0 && res.shortcut != nil {
				// The block's wider input (256 ch × 512² = 268 MB at the
				// last one) went back to a pool class nothing later in
				// the block asks for; pooled, it stayed live under the
				// rest of the block (docs/performance.md).
				tensor.TrimPooled()
			}
		}
		if b.upsample != nil {
			// The buffers recycled at the smaller size are no use at the
			// doubled one; dropped here they do not add to the peak of
			// the full-resolution blocks (docs/performance.md). The
			// upsampling is banded into the convolution, so its 4×-sized
			// input is never held whole.
			tensor.TrimPooled()
			conv := p.conv(b.upsample)
			h = then(h, nil, func(x *tensor.Tensor) *tensor.Tensor { return upsampleConv(conv, x) })
			tensor.TrimPooled()
		}
	}
	h = then(h, nil, func(x *tensor.Tensor) *tensor.Tensor { return v.decNormOut.forward(x, true) })
	h = then(h, nil, p.conv(v.decConvOut).Forward)
	return h, nil
}

// LatentStd returns exp(logvar/2), the standard deviation of the encoder's
// diagonal Gaussian.
func LatentStd(logvar *tensor.Tensor) *tensor.Tensor {
	out := tensor.New(logvar.Shape...)
	for i, v := range logvar.Data {
		out.Data[i] = float32(math.Exp(0.5 * float64(v)))
	}
	return out
}

// SampleLatent draws mean + std·noise from the encoder's distribution, with
// noise a standard normal tensor of the same shape (supplied by the caller
// so the random stream stays under its control).
func SampleLatent(mean, logvar, noise *tensor.Tensor) (*tensor.Tensor, error) {
	if len(mean.Data) != len(logvar.Data) || len(mean.Data) != len(noise.Data) {
		return nil, fmt.Errorf("sample latent: shapes %v, %v, %v differ", mean.Shape, logvar.Shape, noise.Shape)
	}
	out := LatentStd(logvar)
	for i := range out.Data {
		out.Data[i] = mean.Data[i] + out.Data[i]*noise.Data[i]
	}
	return out, nil
}
