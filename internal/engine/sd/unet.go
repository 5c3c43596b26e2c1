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

	enc        *UNetEncoder
	crossAttns []CrossAttention
	up         []*unetUpBlock
	normOut    *groupNorm
	convOut    *tensor.Conv2D
}

// UNetEncoder is the first half of a UNet: the time embedding (with SDXL's
// text_time conditioning), conv_in, the down blocks and the mid block. A UNet
// runs one before its up path; a ControlNet is one with its own weights.
type UNetEncoder struct {
	Config UNetConfig

	convIn             *tensor.Conv2D
	timeLin1, timeLin2 *tensor.Linear
	addLin1, addLin2   *tensor.Linear // SDXL text_time conditioning; nil otherwise
	down               []*unetDownBlock
	mid                *unetMidBlock

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
	enc, err := r.unetEncoder(cfg)
	if err != nil {
		return nil, err
	}
	u := &UNet{Config: cfg, enc: enc}
	g, eps := cfg.NormNumGroups, cfg.NormEps
	n := len(cfg.BlockOutChannels)
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
	enc.names = r.names
	// diffusers numbers attention processors in module order: the down
	// blocks, then the up blocks, then the mid block.
	var attns []*transformer2D
	for _, b := range enc.down {
		attns = append(attns, b.attns...)
	}
	for _, b := range u.up {
		attns = append(attns, b.attns...)
	}
	u.crossAttns = numberProcessors(append(attns, enc.mid.attn))
	return u, nil
}

// CrossAttention describes one cross-attention layer of a UNet: diffusers'
// processor id and name and its inner (query) width.
type CrossAttention struct {
	ID    int
	Name  string
	Inner int
}

// CrossAttentions lists the UNet's cross-attention layers in processor order
// (what an IP-Adapter must have weights for).
func (u *UNet) CrossAttentions() []CrossAttention { return u.crossAttns }

// NewUNetEncoder builds the encoder half of a UNet (see UNetEncoder) from
// diffusers-named weights that hold nothing else; the config's up-block
// types are not used.
func NewUNetEncoder(cfg UNetConfig, sd StateDict, opts Options) (*UNetEncoder, error) {
	r, err := opts.reader(sd)
	if err != nil {
		return nil, err
	}
	cfg.UpBlockTypes = make([]string, len(cfg.DownBlockTypes))
	for i := range cfg.UpBlockTypes {
		cfg.UpBlockTypes[i] = "UpBlock2D"
	}
	if err := cfg.Normalize(); err != nil {
		return nil, err
	}
	enc, err := r.unetEncoder(cfg)
	if err != nil {
		return nil, err
	}
	if err := r.finish("unet encoder"); err != nil {
		return nil, err
	}
	enc.names = r.names
	var attns []*transformer2D
	for _, b := range enc.down {
		attns = append(attns, b.attns...)
	}
	numberProcessors(append(attns, enc.mid.attn))
	return enc, nil
}

// numberProcessors gives every cross-attention its diffusers processor id:
// attention modules counted in order, self-attention (attn1) then
// cross-attention (attn2) in each transformer block, so attn2 ids are odd.
func numberProcessors(attns []*transformer2D) []CrossAttention {
	id := 0
	var out []CrossAttention
	for _, t := range attns {
		for k, b := range t.blocks {
			b.attn2ID = id + 1
			b.attn2Name = t.name + ".transformer_blocks." + strconv.Itoa(k) + ".attn2.processor"
			out = append(out, CrossAttention{ID: b.attn2ID, Name: b.attn2Name, Inner: b.attn2.toQ.Out})
			id += 2
		}
	}
	return out
}

func (r *weightReader) unetEncoder(cfg UNetConfig) (*UNetEncoder, error) {
	g, eps := cfg.NormNumGroups, cfg.NormEps
	e := &UNetEncoder{
		Config:   cfg,
		convIn:   r.conv("conv_in", 1, 1),
		timeLin1: r.linear("time_embedding.linear_1"),
		timeLin2: r.linear("time_embedding.linear_2"),
	}
	if cfg.AdditionEmbedType == "text_time" {
		e.addLin1 = r.linear("add_embedding.linear_1")
		e.addLin2 = r.linear("add_embedding.linear_2")
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
		e.down = append(e.down, b)
	}
	e.mid = &unetMidBlock{
		resnet0: r.resnet("mid_block.resnets.0", g, eps),
		attn:    r.transformer2D("mid_block.attentions.0", cfg.Heads[n-1], g),
		resnet1: r.resnet("mid_block.resnets.1", g, eps),
	}
	return e, nil
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
	p := newUNetPass(u.enc.names, opts)
	enc, err := u.enc.forward(ctx, p, sample, timesteps, context, added, nil, opts.AdapterResiduals)
	if err != nil {
		return nil, err
	}
	emb, skips, h := enc.emb, enc.skips, enc.mid
	defer emb.Release()
	defer func() {
		for _, s := range skips { // left over only on cancellation
			s.Release()
		}
	}()
	// ControlNet residuals: one per skip connection, and one for the mid
	// block's output.
	if opts.DownResiduals != nil {
		if len(opts.DownResiduals) != len(skips) {
			h.Release()
			return nil, fmt.Errorf("unet: %d down residuals for %d skip connections", len(opts.DownResiduals), len(skips))
		}
		for i, r := range opts.DownResiduals {
			if err := addResidual(skips[i], r); err != nil {
				h.Release()
				return nil, fmt.Errorf("unet: down residual %d: %w", i, err)
			}
		}
	}
	if opts.MidResidual != nil {
		if err := addResidual(h, opts.MidResidual); err != nil {
			h.Release()
			return nil, fmt.Errorf("unet: mid residual: %w", err)
		}
	}
	for bi, b := range u.up {
		if err := ctx.Err(); err != nil {
			h.Release()
			return nil, err
		}
		for j, res := range b.resnets {
			skip := skips[len(skips)-1]
			skips = skips[:len(skips)-1]
			opts.FreeU.apply(bi, h, skip)
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
			oh, ow := next.Shape[2], next.Shape[3]
			var up *tensor.Tensor
			if oh == 2*h.Shape[2] && ow == 2*h.Shape[3] {
				up = upsampleConv(p.conv(b.upsample), h)
			} else {
				x := tensor.UpsampleNearest(h, oh, ow)
				up = p.conv(b.upsample).Forward(x)
				x.Release()
			}
			h.Release()
			h = up
		}
	}
	n := u.normOut.forward(h, true)
	h.Release()
	out := p.conv(u.convOut).Forward(n)
	n.Release()
	return out, nil
}

// addResidual adds r to x [N, C, H, W] in place. r has x's shape, or a
// batch of one that is added to every sample, or (a pooled ControlNet
// residual) one value per channel, [N or 1, C, 1, 1], added to the whole
// channel.
func addResidual(x, r *tensor.Tensor) error {
	bad := fmt.Errorf("shape %v for %v", r.Shape, x.Shape)
	if len(r.Shape) != 4 || len(x.Shape) != 4 || r.Shape[1] != x.Shape[1] || (r.Shape[0] != x.Shape[0] && r.Shape[0] != 1) {
		return bad
	}
	pooled := r.Shape[2] == 1 && r.Shape[3] == 1
	if !pooled && (r.Shape[2] != x.Shape[2] || r.Shape[3] != x.Shape[3]) {
		return bad
	}
	n, ch, plane := x.Shape[0], x.Shape[1], x.Shape[2]*x.Shape[3]
	for b := 0; b < n; b++ {
		rb := 0
		if r.Shape[0] > 1 {
			rb = b
		}
		if !pooled {
			row := x.Data[b*ch*plane : (b+1)*ch*plane]
			tensor.AddInto(row, row, r.Data[rb*ch*plane:(rb+1)*ch*plane])
			continue
		}
		for c := 0; c < ch; c++ {
			v := r.Data[rb*ch+c]
			for i := range x.Data[(b*ch+c)*plane : (b*ch+c+1)*plane] {
				x.Data[(b*ch+c)*plane+i] += v
			}
		}
	}
	return nil
}

// EncoderOutput is what a UNet encoder computes: the skip connections in
// order (conv_in's output first) and the mid block's output. The caller owns
// the tensors.
type EncoderOutput struct {
	Skips []*tensor.Tensor
	Mid   *tensor.Tensor
}

// Forward runs the encoder on sample [N, C, H, W]; inputAdd, when set, is
// added to conv_in's output (a ControlNet's conditioning embedding, [N or 1,
// C, H, W]). The arguments are UNet.ForwardWith's; AdapterResiduals and the
// ControlNet residuals of opts are ignored.
func (e *UNetEncoder) Forward(ctx context.Context, sample *tensor.Tensor, timesteps []float32, context *tensor.Tensor, added *AddedCond, opts UNetOptions, inputAdd *tensor.Tensor) (*EncoderOutput, error) {
	opts.DownResiduals, opts.MidResidual, opts.AdapterResiduals = nil, nil, nil
	out, err := e.forward(ctx, newUNetPass(e.names, opts), sample, timesteps, context, added, inputAdd, nil)
	if err != nil {
		return nil, err
	}
	out.emb.Release()
	return &EncoderOutput{Skips: out.skips, Mid: out.mid}, nil
}

// encoderState is the encoder's output with the activated time embedding the
// up path needs.
type encoderState struct {
	emb   *tensor.Tensor
	skips []*tensor.Tensor
	mid   *tensor.Tensor
}

// forward runs the encoder. adapter holds T2I-Adapter features, diffusers'
// down_intrablock_additional_residuals: taken in order, one is added inside
// each cross-attention down block after its last (resnet, attention) pair,
// or to the output of a plain down block (after its downsampler); one left
// over is added to the mid block's output when the shapes match.
func (e *UNetEncoder) forward(ctx context.Context, p *pass, sample *tensor.Tensor, timesteps []float32, context *tensor.Tensor, added *AddedCond, inputAdd *tensor.Tensor, adapter []*tensor.Tensor) (*encoderState, error) {
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
	emb, err := e.timeEmbedding(p, ts, added, batch)
	if err != nil {
		return nil, err
	}
	tensor.SiLU(emb.Data) // every resnet applies SiLU to the embedding first

	// Intermediates are released for reuse once consumed. Every tensor on
	// the skip stack stays alive until the up path concatenates it.
	h := p.conv(e.convIn).Forward(sample)
	skips := []*tensor.Tensor{h}
	fail := func(err error) (*encoderState, error) {
		emb.Release()
		for _, s := range skips {
			s.Release()
		}
		return nil, err
	}
	if inputAdd != nil {
		if err := addResidual(h, inputAdd); err != nil {
			return fail(fmt.Errorf("unet: conditioning embedding: %w", err))
		}
	}
	for _, b := range e.down {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		for j, res := range b.resnets {
			h = res.forward(p, h, emb)
			if len(b.attns) > 0 {
				a := b.attns[j].forward(p, h, context)
				h.Release()
				h = a
				if j == len(b.resnets)-1 && len(adapter) > 0 {
					if err := addResidual(h, adapter[0]); err != nil {
						h.Release()
						return fail(fmt.Errorf("unet: adapter feature: %w", err))
					}
					adapter = adapter[1:]
				}
			}
			skips = append(skips, h)
		}
		if b.downsample != nil {
			h = p.conv(b.downsample).Forward(h)
			skips = append(skips, h)
		}
		// h is also the last skip, which therefore includes the feature.
		if len(b.attns) == 0 && len(adapter) > 0 {
			if err := addResidual(h, adapter[0]); err != nil {
				return fail(fmt.Errorf("unet: adapter feature: %w", err))
			}
			adapter = adapter[1:]
		}
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	h = e.mid.resnet0.forward(p, h, emb)
	a := e.mid.attn.forward(p, h, context)
	h.Release()
	h = e.mid.resnet1.forward(p, a, emb)
	a.Release()
	if len(adapter) > 0 && sameFeatureShape(adapter[0], h) {
		if err := addResidual(h, adapter[0]); err != nil {
			h.Release()
			return fail(fmt.Errorf("unet: adapter feature: %w", err))
		}
	}
	return &encoderState{emb: emb, skips: skips, mid: h}, nil
}

// sameFeatureShape compares shapes past the batch dimension.
func sameFeatureShape(a, b *tensor.Tensor) bool {
	if len(a.Shape) != len(b.Shape) {
		return false
	}
	for i := 1; i < len(a.Shape); i++ {
		if a.Shape[i] != b.Shape[i] {
			return false
		}
	}
	return true
}

// timeEmbedding returns the (pre-activation) time embedding [N, D], with
// SDXL's added text/time conditioning summed in.
func (e *UNetEncoder) timeEmbedding(p *pass, ts []float32, added *AddedCond, batch int) (*tensor.Tensor, error) {
	cfg := &e.Config
	proj := tensor.TimestepEmbedding(ts, e.timeLin1.In, cfg.FlipSinToCos, cfg.FreqShift)
	emb := p.linear(e.timeLin1).Forward(proj)
	tensor.SiLU(emb.Data)
	emb = p.linear(e.timeLin2).Forward(emb)
	if e.addLin1 == nil {
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
	if textDim+idsPer*td != e.addLin1.In {
		return nil, fmt.Errorf("unet: text_embeds %d + %d time ids × %d != add_embedding input %d", textDim, idsPer, td, e.addLin1.In)
	}
	timeEmb := tensor.TimestepEmbedding(added.TimeIDs.Data, td, cfg.FlipSinToCos, cfg.FreqShift)
	cond := tensor.New(batch, e.addLin1.In)
	for b := 0; b < batch; b++ {
		row := cond.Data[b*e.addLin1.In:]
		copy(row, added.TextEmbeds.Data[b*textDim:(b+1)*textDim])
		copy(row[textDim:], timeEmb.Data[b*idsPer*td:(b+1)*idsPer*td])
	}
	aug := p.linear(e.addLin1).Forward(cond)
	tensor.SiLU(aug.Data)
	aug = p.linear(e.addLin2).Forward(aug)
	tensor.AddInto(emb.Data, emb.Data, aug.Data)
	return emb, nil
}
