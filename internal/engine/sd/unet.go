package sd

import (
	"context"
	"fmt"
	"strconv"

	"github.com/invokego/invokego/internal/engine/tensor"
)

// UNet is diffusers' UNet2DConditionModel for SD-1.x, SD-2.x and SDXL.
type UNet struct {
	Config UNetConfig

	convIn             *tensor.Conv2D
	timeLin1, timeLin2 *tensor.Linear
	addLin1, addLin2   *tensor.Linear // SDXL text_time conditioning; nil otherwise
	down               []*unetDownBlock
	mid                *unetMidBlock
	up                 []*unetUpBlock
	normOut            *groupNorm
	convOut            *tensor.Conv2D

	names *layerNames // for LayerPatcher
}

type unetDownBlock struct {
	resnets    []*resnetBlock
	attns      []*transformer2D // empty for DownBlock2D
	downsample *tensor.Conv2D
}

type unetMidBlock struct {
	resnet0, resnet1 *resnetBlock
	attn             *transformer2D
}

type unetUpBlock struct {
	resnets  []*resnetBlock
	attns    []*transformer2D // empty for UpBlock2D
	upsample *tensor.Conv2D
}

// NewUNet builds a UNet from a diffusers-named state dict. Layer widths come
// from the weight shapes; the config supplies structure (block types,
// heads, norms) that shapes cannot express.
func NewUNet(cfg UNetConfig, sd StateDict) (*UNet, error) {
	return newUNet(cfg, newWeightReader(sd))
}

// NewUNetWithOptions is NewUNet with build options (e.g. bf16 weights).
func NewUNetWithOptions(cfg UNetConfig, sd StateDict, opts Options) (*UNet, error) {
	r, err := opts.reader(sd)
	if err != nil {
		return nil, err
	}
	return newUNet(cfg, r)
}

func newUNet(cfg UNetConfig, r *weightReader) (*UNet, error) {
	if err := cfg.Normalize(); err != nil {
		return nil, err
	}
	g, eps := cfg.NormNumGroups, cfg.NormEps
	u := &UNet{
		Config:   cfg,
		convIn:   r.conv("conv_in", 1, 1),
		timeLin1: r.linear("time_embedding.linear_1"),
		timeLin2: r.linear("time_embedding.linear_2"),
	}
	if cfg.AdditionEmbedType == "text_time" {
		u.addLin1 = r.linear("add_embedding.linear_1")
		u.addLin2 = r.linear("add_embedding.linear_2")
		if cfg.AdditionTimeEmbedDim <= 0 {
			return nil, fmt.Errorf("build unet: text_time conditioning needs addition_time_embed_dim")
		}
	}
	n := len(cfg.BlockOutChannels)
	for i := 0; i < n; i++ {
		p := "down_blocks." + strconv.Itoa(i)
		b := &unetDownBlock{}
		cross := cfg.DownBlockTypes[i] == "CrossAttnDownBlock2D"
		for j := 0; j < cfg.LayersPerBlock; j++ {
			b.resnets = append(b.resnets, r.resnet(p+".resnets."+strconv.Itoa(j), g, eps))
			if cross {
				b.attns = append(b.attns, r.transformer2D(p+".attentions."+strconv.Itoa(j), cfg.Heads[i], g))
			}
		}
		if i < n-1 {
			b.downsample = r.conv(p+".downsamplers.0.conv", 2, 1)
		}
		u.down = append(u.down, b)
	}
	u.mid = &unetMidBlock{
		resnet0: r.resnet("mid_block.resnets.0", g, eps),
		attn:    r.transformer2D("mid_block.attentions.0", cfg.Heads[n-1], g),
		resnet1: r.resnet("mid_block.resnets.1", g, eps),
	}
	for i := 0; i < n; i++ {
		p := "up_blocks." + strconv.Itoa(i)
		b := &unetUpBlock{}
		cross := cfg.UpBlockTypes[i] == "CrossAttnUpBlock2D"
		heads := cfg.Heads[n-1-i] // up blocks use the reversed per-block list
		for j := 0; j <= cfg.LayersPerBlock; j++ {
			b.resnets = append(b.resnets, r.resnet(p+".resnets."+strconv.Itoa(j), g, eps))
			if cross {
				b.attns = append(b.attns, r.transformer2D(p+".attentions."+strconv.Itoa(j), heads, g))
			}
		}
		if i < n-1 {
			b.upsample = r.conv(p+".upsamplers.0.conv", 1, 1)
		}
		u.up = append(u.up, b)
	}
	u.normOut = r.groupNorm("conv_norm_out", g, eps)
	u.convOut = r.conv("conv_out", 1, 1)
	if err := r.finish("unet"); err != nil {
		return nil, err
	}
	u.names = r.names
	return u, nil
}

// AddedCond is SDXL's extra conditioning: the pooled text embedding and the
// six size/crop ids per sample (orig_h, orig_w, crop_top, crop_left,
// target_h, target_w).
type AddedCond struct {
	TextEmbeds *tensor.Tensor // [N, D]
	TimeIDs    *tensor.Tensor // [N, 6]
}

// Forward predicts noise for sample [N, C, H, W] at the given timesteps (one
// value broadcast to the batch, or one per sample) conditioned on context
// [N, L, cross_attention_dim]. added is required for SDXL and ignored
// otherwise. Cancellation is checked between blocks.
func (u *UNet) Forward(ctx context.Context, sample *tensor.Tensor, timesteps []float32, context *tensor.Tensor, added *AddedCond) (*tensor.Tensor, error) {
	return u.ForwardWith(ctx, sample, timesteps, context, added, UNetOptions{})
}

// ForwardWith is Forward with per-call options (see UNetOptions). The model
// is not changed, so calls with different options may run concurrently.
func (u *UNet) ForwardWith(ctx context.Context, sample *tensor.Tensor, timesteps []float32, context *tensor.Tensor, added *AddedCond, opts UNetOptions) (*tensor.Tensor, error) {
	p := newPass(u.names, opts.Seamless, opts.Layers)
	if len(sample.Shape) != 4 || len(context.Shape) != 3 || context.Shape[0] != sample.Shape[0] {
		return nil, fmt.Errorf("unet: sample %v and context %v do not match", sample.Shape, context.Shape)
	}
	batch := sample.Shape[0]
	ts := timesteps
	if len(ts) == 1 && batch > 1 {
		ts = make([]float32, batch)
		for i := range ts {
			ts[i] = timesteps[0]
		}
	}
	if len(ts) != batch {
		return nil, fmt.Errorf("unet: %d timesteps for batch %d", len(timesteps), batch)
	}
	emb, err := u.timeEmbedding(p, ts, added, batch)
	if err != nil {
		return nil, err
	}
	tensor.SiLU(emb.Data) // every resnet applies SiLU to the embedding first

	defer emb.Release()

	// Intermediates are released for reuse once consumed. Every tensor on
	// the skip stack stays alive until the up path concatenates it.
	h := p.conv(u.convIn).Forward(sample)
	skips := []*tensor.Tensor{h}
	defer func() {
		for _, s := range skips { // left over only on cancellation
			s.Release()
		}
	}()
	for _, b := range u.down {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for j, res := range b.resnets {
			h = res.forward(p, h, emb)
			if len(b.attns) > 0 {
				a := b.attns[j].forward(p, h, context)
				h.Release()
				h = a
			}
			skips = append(skips, h)
		}
		if b.downsample != nil {
			h = p.conv(b.downsample).Forward(h)
			skips = append(skips, h)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h = u.mid.resnet0.forward(p, h, emb)
	a := u.mid.attn.forward(p, h, context)
	h.Release()
	h = u.mid.resnet1.forward(p, a, emb)
	a.Release()
	for _, b := range u.up {
		if err := ctx.Err(); err != nil {
			h.Release()
			return nil, err
		}
		for j, res := range b.resnets {
			skip := skips[len(skips)-1]
			skips = skips[:len(skips)-1]
			cat := tensor.ConcatChannels(h, skip)
			h.Release()
			skip.Release()
			h = res.forward(p, cat, emb)
			cat.Release()
			if len(b.attns) > 0 {
				a := b.attns[j].forward(p, h, context)
				h.Release()
				h = a
			}
		}
		if b.upsample != nil {
			// Upsample to the next skip's size so odd latent sizes work.
			next := skips[len(skips)-1]
			up := tensor.UpsampleNearest(h, next.Shape[2], next.Shape[3])
			h.Release()
			h = p.conv(b.upsample).Forward(up)
			up.Release()
		}
	}
	n := u.normOut.forward(h, true)
	h.Release()
	out := p.conv(u.convOut).Forward(n)
	n.Release()
	return out, nil
}

// timeEmbedding returns the (pre-activation) time embedding [N, D], with
// SDXL's added text/time conditioning summed in.
func (u *UNet) timeEmbedding(p *pass, ts []float32, added *AddedCond, batch int) (*tensor.Tensor, error) {
	cfg := &u.Config
	proj := tensor.TimestepEmbedding(ts, u.timeLin1.In, cfg.FlipSinToCos, cfg.FreqShift)
	emb := p.linear(u.timeLin1).Forward(proj)
	tensor.SiLU(emb.Data)
	emb = p.linear(u.timeLin2).Forward(emb)
	if u.addLin1 == nil {
		return emb, nil
	}
	if added == nil || added.TextEmbeds == nil || added.TimeIDs == nil {
		return nil, fmt.Errorf("unet: SDXL model needs text_embeds and time_ids")
	}
	if added.TextEmbeds.Shape[0] != batch || added.TimeIDs.Shape[0] != batch {
		return nil, fmt.Errorf("unet: added conditioning batch %v/%v, want %d", added.TextEmbeds.Shape, added.TimeIDs.Shape, batch)
	}
	textDim := len(added.TextEmbeds.Data) / batch
	idsPer := len(added.TimeIDs.Data) / batch
	td := cfg.AdditionTimeEmbedDim
	if textDim+idsPer*td != u.addLin1.In {
		return nil, fmt.Errorf("unet: text_embeds %d + %d time ids × %d != add_embedding input %d", textDim, idsPer, td, u.addLin1.In)
	}
	timeEmb := tensor.TimestepEmbedding(added.TimeIDs.Data, td, cfg.FlipSinToCos, cfg.FreqShift)
	cond := tensor.New(batch, u.addLin1.In)
	for b := 0; b < batch; b++ {
		row := cond.Data[b*u.addLin1.In:]
		copy(row, added.TextEmbeds.Data[b*textDim:(b+1)*textDim])
		copy(row[textDim:], timeEmb.Data[b*idsPer*td:(b+1)*idsPer*td])
	}
	aug := p.linear(u.addLin1).Forward(cond)
	tensor.SiLU(aug.Data)
	aug = p.linear(u.addLin2).Forward(aug)
	tensor.AddInto(emb.Data, emb.Data, aug.Data)
	return emb, nil
}
