package sd

import (
	"strconv"

	"github.com/invokego/invokego/internal/engine/tensor"
)

// groupNorm holds GroupNorm parameters.
type groupNorm struct {
	groups       int
	eps          float32
	weight, bias []float32
}

func (r *weightReader) groupNorm(name string, groups int, eps float32) *groupNorm {
	s := r.shape(name + ".weight")
	if len(s) != 1 {
		r.fail("groupnorm %q: weight shape %v", name, s)
		return &groupNorm{groups: 1}
	}
	if s[0]%groups != 0 {
		r.fail("groupnorm %q: %d channels not divisible by %d groups", name, s[0], groups)
	}
	return &groupNorm{groups: groups, eps: eps, weight: r.vec(name+".weight", s[0]), bias: r.vec(name+".bias", s[0])}
}

func (g *groupNorm) forward(x *tensor.Tensor, silu bool) *tensor.Tensor {
	return tensor.GroupNorm(x, g.groups, g.weight, g.bias, g.eps, silu)
}

// forwardInPlace is forward overwriting x.
func (g *groupNorm) forwardInPlace(x *tensor.Tensor, silu bool) {
	tensor.GroupNormInto(x.Data, x, g.groups, g.weight, g.bias, g.eps, silu)
}

// layerNorm holds LayerNorm parameters.
type layerNorm struct {
	eps          float32
	weight, bias []float32
}

func (r *weightReader) layerNorm(name string, eps float32) *layerNorm {
	s := r.shape(name + ".weight")
	if len(s) != 1 {
		r.fail("layernorm %q: weight shape %v", name, s)
		return &layerNorm{}
	}
	return &layerNorm{eps: eps, weight: r.vec(name+".weight", s[0]), bias: r.vec(name+".bias", s[0])}
}

func (l *layerNorm) forward(x *tensor.Tensor) *tensor.Tensor {
	return tensor.LayerNorm(x, l.weight, l.bias, l.eps)
}

// resnetBlock is diffusers' ResnetBlock2D: GroupNorm-SiLU-conv twice, with
// the projected time embedding added in between, and a 1×1 shortcut when
// the channel count changes.
type resnetBlock struct {
	norm1, norm2 *groupNorm
	conv1, conv2 *tensor.Conv2D
	timeProj     *tensor.Linear // nil in the VAE
	shortcut     *tensor.Conv2D // nil when in == out
}

func (r *weightReader) resnet(prefix string, groups int, eps float32) *resnetBlock {
	b := &resnetBlock{
		norm1: r.groupNorm(prefix+".norm1", groups, eps),
		conv1: r.conv(prefix+".conv1", 1, 1),
		norm2: r.groupNorm(prefix+".norm2", groups, eps),
		conv2: r.conv(prefix+".conv2", 1, 1),
	}
	if r.has(prefix + ".time_emb_proj.weight") {
		b.timeProj = r.linear(prefix + ".time_emb_proj")
	}
	if r.has(prefix + ".conv_shortcut.weight") {
		b.shortcut = r.conv(prefix+".conv_shortcut", 1, 0)
	}
	return b
}

// forward applies the block; embAct is SiLU(time embedding) [N, D] or nil.
// Intermediates are released as soon as they are consumed; x belongs to
// the caller and is left alone.
func (b *resnetBlock) forward(p *pass, x *tensor.Tensor, embAct *tensor.Tensor) *tensor.Tensor {
	return b.run(p, x, embAct, false)
}

// forwardOwned is forward taking x over: x is released, and a block with a
// shortcut convolution normalises x in place once the shortcut has read
// it, which saves the largest buffer of a VAE decoder's full-resolution
// blocks (256 channels at 512², 268 MB; docs/performance.md). Same values
// as forward.
func (b *resnetBlock) forwardOwned(p *pass, x *tensor.Tensor, embAct *tensor.Tensor) *tensor.Tensor {
	return b.run(p, x, embAct, true)
}

func (b *resnetBlock) run(p *pass, x *tensor.Tensor, embAct *tensor.Tensor, owned bool) *tensor.Tensor {
	var skip, n1 *tensor.Tensor
	if owned && b.shortcut != nil {
		skip = p.conv(b.shortcut).Forward(x)
		b.norm1.forwardInPlace(x, true)
		n1 = x
	} else {
		n1 = b.norm1.forward(x, true)
	}
	h := p.conv(b.conv1).Forward(n1)
	if n1 != x || owned {
		n1.Release()
	}
	if b.timeProj != nil && embAct != nil {
		t := p.linear(b.timeProj).Forward(embAct)
		tensor.AddChannelBias(h, t.Data)
		t.Release()
	}
	// h is read only by the norm, so it is normalised in place.
	b.norm2.forwardInPlace(h, true)
	var out *tensor.Tensor
	switch {
	case skip != nil:
		out = p.conv(b.conv2).ForwardAdd(h, skip)
		skip.Release()
	case b.shortcut != nil:
		skip = p.conv(b.shortcut).Forward(x)
		out = p.conv(b.conv2).ForwardAdd(h, skip)
		skip.Release()
	default:
		out = p.conv(b.conv2).ForwardAdd(h, x)
		if owned {
			x.Release()
		}
	}
	h.Release()
	return out
}

// attention is diffusers' Attention module: multi-head attention with
// separate q/k/v projections and an output projection.
type attention struct {
	toQ, toK, toV, toOut *tensor.Linear
	heads                int
	bf16                 bool // self-attention products on bf16 operands (Options.Precision "bf16")
}

func (r *weightReader) attention(prefix string, heads int) *attention {
	a := &attention{
		toQ:   r.linear(prefix + ".to_q"),
		toK:   r.linear(prefix + ".to_k"),
		toV:   r.linear(prefix + ".to_v"),
		toOut: r.linear(prefix + ".to_out.0"),
		heads: heads,
		bf16:  r.bf16,
	}
	if a.toQ.Out%heads != 0 {
		r.fail("attention %q: inner dim %d not divisible by %d heads", prefix, a.toQ.Out, heads)
	}
	return a
}

// imageAttention is one IP-Adapter's keys and values [N, T, inner] for a
// cross-attention layer, and its scale.
type imageAttention struct {
	k, v  *tensor.Tensor
	scale float32
	mask  []float32 // [Lq] weights of a regional adapter, nil for none
}

// forward attends from x [N, Lq, C] to context [N, Lk, Cctx] (x itself when
// nil), with bias [N, Lq, Lk] added to the scores when given. Each image
// attention (IP-Adapter) adds, before the output projection, scale times the
// attention of the same queries to its keys and values: decoupled
// cross-attention.
func (a *attention) forward(p *pass, x, context *tensor.Tensor, images []imageAttention, bias []float32) *tensor.Tensor {
	if context == nil {
		context = x
	}
	n, lq, lk := x.Shape[0], x.Shape[1], context.Shape[1]
	q := p.linear(a.toQ).Forward(x)
	k := p.linear(a.toK).Forward(context)
	v := p.linear(a.toV).Forward(context)
	inner := a.toQ.Out
	att := tensor.Empty(n, lq, inner)
	if bias != nil {
		tensor.AttentionBias(q.Data, k.Data, v.Data, bias, n, lq, lk, a.heads, inner/a.heads, att.Data)
	} else if a.bf16 && context == x {
		// Self-attention only: cross-attention keeps the 77-token text
		// keys and values in fp32, as their projections are (keepFP32).
		tensor.AttentionBF16(q.Data, k.Data, v.Data, n, lq, lk, a.heads, inner/a.heads, att.Data)
	} else {
		tensor.Attention(q.Data, k.Data, v.Data, n, lq, lk, a.heads, inner/a.heads, false, att.Data)
	}
	for _, im := range images {
		ia := tensor.Empty(n, lq, inner)
		tensor.Attention(q.Data, im.k.Data, im.v.Data, n, lq, im.k.Shape[1], a.heads, inner/a.heads, false, ia.Data)
		if im.mask == nil {
			for i, v := range ia.Data {
				att.Data[i] += float32(im.scale * v) // rounded before the sum, as torch does
			}
		} else {
			// A regional adapter: the scaled result times the mask at the
			// query's position (docs/compatibility.md, regional reference images).
			for i, v := range ia.Data {
				att.Data[i] += float32(im.scale*v) * im.mask[(i/inner)%lq]
			}
		}
		ia.Release()
	}
	q.Release()
	k.Release()
	v.Release()
	out := p.linear(a.toOut).Forward(att)
	att.Release()
	return out
}

// transformerBlock is diffusers' BasicTransformerBlock: self-attention,
// cross-attention and a GEGLU feed-forward, each pre-normed and residual.
type transformerBlock struct {
	norm1, norm2, norm3 *layerNorm
	attn1, attn2        *attention
	ffIn, ffOut         *tensor.Linear
	// attn2ID and attn2Name identify the cross-attention as diffusers'
	// attn_processors does (IP-Adapter weights are keyed by the id).
	attn2ID   int
	attn2Name string
}

func (r *weightReader) transformerBlock(prefix string, heads int) *transformerBlock {
	return &transformerBlock{
		norm1: r.layerNorm(prefix+".norm1", 1e-5),
		attn1: r.attention(prefix+".attn1", heads),
		norm2: r.layerNorm(prefix+".norm2", 1e-5),
		attn2: r.attention(prefix+".attn2", heads),
		norm3: r.layerNorm(prefix+".norm3", 1e-5),
		ffIn:  r.linear(prefix + ".ff.net.0.proj"),
		ffOut: r.linear(prefix + ".ff.net.2"),
	}
}

// forward consumes x: it is released (x must be owned by the caller's
// chain of intermediates, never a skip connection or user input).
func (b *transformerBlock) forward(p *pass, x, context *tensor.Tensor) *tensor.Tensor {
	n := b.norm1.forward(x)
	h := b.attn1.forward(p, n, nil, nil, nil)
	n.Release()
	tensor.AddInto(h.Data, h.Data, x.Data)
	x.Release()
	x = h
	n = b.norm2.forward(x)
	var bias []float32
	if context != nil {
		bias = p.textAttentionBias(x.Shape[0], x.Shape[1], context.Shape[1])
	}
	h = b.attn2.forward(p, n, context, p.imageAttention(b, x.Shape[0], x.Shape[1]), bias)
	n.Release()
	tensor.AddInto(h.Data, h.Data, x.Data)
	x.Release()
	x = h
	n = b.norm3.forward(x)
	ff := p.linear(b.ffIn).Forward(n)
	n.Release()
	g := tensor.GEGLU(ff)
	ff.Release()
	out := p.linear(b.ffOut).Forward(g)
	g.Release()
	tensor.AddInto(out.Data, out.Data, x.Data)
	x.Release()
	return out
}

// transformer2D is diffusers' Transformer2DModel for continuous inputs:
// GroupNorm, a projection in (1×1 conv or linear), transformer blocks, a
// projection out and a residual connection.
type transformer2D struct {
	name                  string // module name, e.g. "down_blocks.1.attentions.0"
	norm                  *groupNorm
	projInConv            *tensor.Conv2D
	projOutConv           *tensor.Conv2D
	projInLin, projOutLin *tensor.Linear
	blocks                []*transformerBlock
}

func (r *weightReader) transformer2D(prefix string, heads, groups int) *transformer2D {
	t := &transformer2D{name: prefix, norm: r.groupNorm(prefix+".norm", groups, 1e-6)}
	if len(r.shape(prefix+".proj_in.weight")) == 2 {
		t.projInLin = r.linear(prefix + ".proj_in")
		t.projOutLin = r.linear(prefix + ".proj_out")
	} else {
		t.projInConv = r.conv(prefix+".proj_in", 1, 0)
		t.projOutConv = r.conv(prefix+".proj_out", 1, 0)
	}
	for i := 0; r.has(prefix + ".transformer_blocks." + strconv.Itoa(i) + ".norm1.weight"); i++ {
		t.blocks = append(t.blocks, r.transformerBlock(prefix+".transformer_blocks."+strconv.Itoa(i), heads))
	}
	if len(t.blocks) == 0 {
		r.fail("transformer %q has no blocks", prefix)
	}
	return t
}

// forward leaves x to the caller. The projections read and write NCHW
// directly (the transposes to and from tokens are folded into them), and the
// residual is added as the output is laid out.
func (t *transformer2D) forward(p *pass, x, context *tensor.Tensor) *tensor.Tensor {
	h, w := x.Shape[2], x.Shape[3]
	y := t.norm.forward(x, false)
	var tokens *tensor.Tensor
	if t.projInConv != nil {
		tokens = p.conv(t.projInConv).ForwardTokens(y)
	} else {
		tokens = p.linear(t.projInLin).ForwardNCHW(y)
	}
	y.Release()
	for _, b := range t.blocks {
		tokens = b.forward(p, tokens, context)
	}
	var out *tensor.Tensor
	if t.projOutConv != nil {
		out = p.conv(t.projOutConv).ForwardFromTokens(tokens, h, w, x)
	} else {
		out = p.linear(t.projOutLin).ForwardToNCHW(tokens, h, w, x)
	}
	tokens.Release()
	return out
}
