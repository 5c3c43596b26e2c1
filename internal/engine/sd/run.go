package sd

import "github.com/invokego/invokego/internal/engine/tensor"

// Per-run options.
//
// A built model is shared: the model cache hands the same *UNet or *VAE to
// every run that asks for it, possibly at the same time. Nothing a single
// run wants (seamless tiling, a ControlNet's residuals, an adapter's
// features, extra attention, LoRA weights) may therefore be written into
// the model. Each such option is an argument of the forward call instead
// (UNetOptions, VAEOptions, ForwardOptions for the text encoder), and the
// call sees the model through a pass: the model's layers as this call's
// options change them. The cached layers are never modified.
//
// Extension point. A new per-run feature is added in one of two ways:
//
//   - Values the forward pass mixes in at fixed places (ControlNet down and
//     mid residuals added to the skip connections and the mid block,
//     T2I-Adapter features added inside the down blocks, IP-Adapter keys and
//     values attended to beside the text in every cross-attention layer)
//     become fields of UNetOptions that Forward reads at those places. They
//     are computed by their own engine packages from their own models, per
//     step, and handed in by the denoising loop.
//   - Changes to what a named layer computes (LoRA and its relatives) go
//     through LayerPatcher: the pass asks it for the layer to use each time
//     a linear or convolution layer runs, by the layer's diffusers module
//     name. The patcher returns the cached layer itself when it has nothing
//     for that name, or a run-owned replacement of the same type: a shallow
//     copy shares the packed weights and costs no weight memory, a merged
//     copy holds the run's own weights. Either way the cached layer stays
//     as it was, so concurrent runs with other patches are unaffected.
//
// Seamless tiling itself is such a layer substitution: the pass uses a
// shallow copy of each convolution with circular padding switched on.

// Seamless selects circular padding along the width (X) and height (Y) of
// every convolution, so that the output tiles without seams.
type Seamless struct{ X, Y bool }

// LayerPatcher substitutes layers for one forward call; see the extension
// point above. Implementations must be safe for use by the goroutines of
// one call (the pass asks from one goroutine at a time) and must return
// base, not a copy, for layers they leave alone.
type LayerPatcher interface {
	// Linear returns the linear layer to use in place of base, the layer
	// named name (e.g. "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k").
	Linear(name string, base *tensor.Linear) *tensor.Linear
	// Conv returns the convolution to use in place of base, named name
	// (e.g. "down_blocks.0.resnets.0.conv1").
	Conv(name string, base *tensor.Conv2D) *tensor.Conv2D
}

// UNetOptions are the per-call options of UNet.ForwardWith. The zero value
// is a plain pass.
type UNetOptions struct {
	Seamless Seamless
	// Layers, when set, substitutes layers for this call.
	Layers LayerPatcher

	// DownResiduals (ControlNet) hold one tensor per skip connection, in
	// the encoder's order (conv_in's output first), added to the skips
	// before the up path uses them; MidResidual is added to the mid block's
	// output. Each has the shape of what it is added to, or a batch of one.
	DownResiduals []*tensor.Tensor
	MidResidual   *tensor.Tensor
	// AdapterResiduals (T2I-Adapter) are added inside the down blocks, in
	// order: after the last (resnet, attention) pair of a cross-attention
	// block, after the whole of a plain block; one left over goes to the mid
	// block's output if its shape matches (diffusers'
	// down_intrablock_additional_residuals).
	AdapterResiduals []*tensor.Tensor
	// ImageAttention (IP-Adapter) adds decoupled cross-attention to image
	// tokens in every cross-attention layer, one entry per adapter.
	ImageAttention []ImageAttention
	// TextAttentionBias (regional prompts) returns a bias [batch, lq, lk]
	// added to the scores of the text cross-attention of a layer with lq
	// query positions and lk text tokens (the same for every head), or nil
	// to leave that layer alone.
	TextAttentionBias func(batch, lq, lk int) []float32
	// FreeU, when set, reweighs the first two up blocks (see FreeU).
	FreeU *FreeU
}

// ImageAttention is one IP-Adapter's part of a call: every cross-attention
// layer also attends, with the same queries and heads, to the adapter's
// image keys and values, and adds Scale times the result to the text
// attention before the output projection.
type ImageAttention struct {
	Scale float32
	// KV returns the keys and values [batch, tokens, inner] for the
	// cross-attention with diffusers' processor id and name (ids count every
	// attention module in order, down blocks then up blocks then the mid
	// block, self-attention first, so cross-attention ids are odd: 1, 3, …;
	// names look like "down_blocks.1.attentions.0.transformer_blocks.0.attn2.processor").
	// nil leaves the layer alone.
	KV func(id int, name string, batch int) (k, v *tensor.Tensor)
	// Mask, when set, limits the adapter to a region (a regional IP-Adapter):
	// it returns one weight per query position of a layer with lq of them
	// (the mask at that layer's resolution, the same for every batch item),
	// by which the scaled image attention is multiplied. A result of another
	// length leaves the layer alone (the caller reports its own failure).
	Mask func(lq int) []float32
}

// VAEOptions are the per-call options of VAE.DecodeWith and EncodeWith. The
// zero value is a plain pass.
type VAEOptions struct {
	Seamless Seamless
	Layers   LayerPatcher
}

// layerNames maps a model's layers to their diffusers module names, for
// LayerPatcher. It is built once with the model and only read afterwards.
type layerNames struct {
	linear map[*tensor.Linear]string
	conv   map[*tensor.Conv2D]string
}

// pass is one forward call's view of a model. A nil *pass is a plain call:
// every method then returns the cached layer unchanged.
type pass struct {
	names    *layerNames
	seamless Seamless
	layers   LayerPatcher
	images   []ImageAttention
	textBias func(batch, lq, lk int) []float32
}

// newPass returns the view for the given options, nil when they change
// nothing.
func newPass(names *layerNames, seamless Seamless, layers LayerPatcher) *pass {
	if !seamless.X && !seamless.Y && layers == nil {
		return nil
	}
	return &pass{names: names, seamless: seamless, layers: layers}
}

// newUNetPass is newPass with a UNet's options.
func newUNetPass(names *layerNames, opts UNetOptions) *pass {
	p := newPass(names, opts.Seamless, opts.Layers)
	if len(opts.ImageAttention) == 0 && opts.TextAttentionBias == nil {
		return p
	}
	if p == nil {
		p = &pass{names: names}
	}
	p.images = opts.ImageAttention
	p.textBias = opts.TextAttentionBias
	return p
}

// textAttentionBias returns the bias of a text cross-attention, nil for none.
func (p *pass) textAttentionBias(batch, lq, lk int) []float32 {
	if p == nil || p.textBias == nil {
		return nil
	}
	return p.textBias(batch, lq, lk)
}

// imageAttention returns the IP-Adapter keys and values for a transformer
// block's cross-attention.
func (p *pass) imageAttention(b *transformerBlock, batch, lq int) []imageAttention {
	if p == nil || len(p.images) == 0 {
		return nil
	}
	var out []imageAttention
	for _, im := range p.images {
		k, v := im.KV(b.attn2ID, b.attn2Name, batch)
		if k == nil || v == nil {
			continue
		}
		var mask []float32
		if im.Mask != nil {
			if mask = im.Mask(lq); len(mask) != lq {
				continue
			}
		}
		out = append(out, imageAttention{k: k, v: v, scale: im.Scale, mask: mask})
	}
	return out
}

// linear returns the layer this call uses for l.
func (p *pass) linear(l *tensor.Linear) *tensor.Linear {
	if p == nil || p.layers == nil {
		return l
	}
	return p.layers.Linear(p.names.linear[l], l)
}

// conv returns the convolution this call uses for c. Seamless tiling wraps
// only symmetrically padded convolutions: the VAE encoder's downsamplers pad
// their bottom and right edges with zeros before an unpadded convolution,
// and the reference leaves that padding alone.
func (p *pass) conv(c *tensor.Conv2D) *tensor.Conv2D {
	if p == nil {
		return c
	}
	if p.layers != nil {
		c = p.layers.Conv(p.names.conv[c], c)
	}
	if (p.seamless.X || p.seamless.Y) && c.PadTop == c.PadBottom && c.PadLeft == c.PadRight {
		wrapped := *c
		wrapped.WrapX, wrapped.WrapY = p.seamless.X, p.seamless.Y
		return &wrapped
	}
	return c
}

// shapes returns the weight shape of every named layer: [out, in] for a
// linear layer, [out, in, kh, kw] for a convolution.
func (n *layerNames) shapes() map[string][]int {
	if n == nil {
		return map[string][]int{}
	}
	out := make(map[string][]int, len(n.linear)+len(n.conv))
	for l, name := range n.linear {
		out[name] = []int{l.Out, l.In}
	}
	for c, name := range n.conv {
		out[name] = []int{c.OutC, c.InC, c.KH, c.KW}
	}
	return out
}

// LayerShapes lists the UNet's linear and convolution layers by diffusers
// module name with their weight shapes, for resolving a LoRA onto the model
// (the names LayerPatcher is asked with).
func (u *UNet) LayerShapes() map[string][]int { return u.enc.names.shapes() }

// LayerShapes lists the text encoder's linear layers by transformers module
// name with their weight shapes (see UNet.LayerShapes).
func (m *CLIPTextModel) LayerShapes() map[string][]int { return m.names.shapes() }
