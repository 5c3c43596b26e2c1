package sd

// This file adds the two text-encoder variations InvokeAI's prompt handling
// needs beyond Forward: compel's down-weighting, which hides a fragment's
// tokens with an attention mask, and InvokeAI's CLIP skip, which removes the
// last layers from the encoder (so the final layer norm, the pooled output
// and the projection all apply to the earlier layer).

import (
	"context"
	"fmt"
	"math"

	"github.com/invokego/invokego/internal/engine/tensor"
)

// ForwardOptions modifies a text-encoder pass.
type ForwardOptions struct {
	// KeyMask, when set, has one row per sequence: false hides that token
	// from every query (transformers' attention_mask = 0), on top of the
	// causal mask.
	KeyMask [][]bool
	// SkipLayers runs only the first NumHiddenLayers-SkipLayers layers, as
	// InvokeAI's ModelPatcher.apply_clip_skip does by truncating the layer
	// list; every output then derives from the last layer run.
	SkipLayers int
	// Layers, when set, substitutes layers for this call (see LayerPatcher;
	// the names are transformers', e.g. "text_model.encoder.layers.0.mlp.fc1").
	Layers LayerPatcher
	// ExtraTokens, when set, are the embeddings of token ids from the
	// vocabulary size on (textual inversion's added tokens, for this call
	// only): id vocab+i uses ExtraTokens[i], of the hidden width.
	ExtraTokens [][]float32
}

// ForwardWith is the text encoder's pass; Forward is ForwardWith without options.
func (m *CLIPTextModel) ForwardWith(ctx context.Context, ids [][]int, opts ForwardOptions) (*CLIPOutput, error) {
	if opts.SkipLayers < 0 || opts.SkipLayers >= len(m.layers) {
		return nil, fmt.Errorf("clip: skip %d layers out of range for %d layers", opts.SkipLayers, len(m.layers))
	}
	if opts.KeyMask != nil && len(opts.KeyMask) != len(ids) {
		return nil, fmt.Errorf("clip: %d mask rows for %d sequences", len(opts.KeyMask), len(ids))
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("clip: no input sequences")
	}
	n, seq := len(ids), len(ids[0])
	hidden := m.Config.HiddenSize
	vocab := m.tokenEmbedding.Shape[0]
	for i, e := range opts.ExtraTokens {
		if len(e) != hidden {
			return nil, fmt.Errorf("clip: added token %d has width %d, the encoder %d", i, len(e), hidden)
		}
	}
	if seq == 0 || seq > m.positionEmbedding.Shape[0] {
		return nil, fmt.Errorf("clip: sequence length %d, max %d", seq, m.positionEmbedding.Shape[0])
	}
	x := tensor.New(n, seq, hidden)
	for b, row := range ids {
		if len(row) != seq {
			return nil, fmt.Errorf("clip: sequences of different lengths %d and %d", seq, len(row))
		}
		if opts.KeyMask != nil && len(opts.KeyMask[b]) != seq {
			return nil, fmt.Errorf("clip: mask row of %d for %d tokens", len(opts.KeyMask[b]), seq)
		}
		for p, id := range row {
			if id < 0 || id >= vocab+len(opts.ExtraTokens) {
				return nil, fmt.Errorf("clip: token id %d outside vocabulary of %d", id, vocab+len(opts.ExtraTokens))
			}
			dst := x.Data[(b*seq+p)*hidden : (b*seq+p+1)*hidden]
			var tok []float32
			if id < vocab {
				tok = m.tokenEmbedding.Data[id*hidden : (id+1)*hidden]
			} else {
				tok = opts.ExtraTokens[id-vocab]
			}
			pos := m.positionEmbedding.Data[p*hidden : (p+1)*hidden]
			for i := range dst {
				dst[i] = tok[i] + pos[i]
			}
		}
	}
	out := &CLIPOutput{HiddenStates: []*tensor.Tensor{x}, model: m}
	heads := m.Config.NumAttentionHeads
	p := newPass(m.names, Seamless{}, opts.Layers)
	for _, l := range m.layers[:len(m.layers)-opts.SkipLayers] {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		x = l.forward(p, x, heads, m.Config.HiddenAct == "gelu", true, opts.KeyMask)
		out.HiddenStates = append(out.HiddenStates, x)
	}
	out.LastHiddenState = m.finalNorm.forward(x)
	out.Pooled = tensor.New(n, hidden)
	for b, row := range ids {
		eos := m.eosPosition(row)
		copy(out.Pooled.Data[b*hidden:(b+1)*hidden], out.LastHiddenState.Data[(b*seq+eos)*hidden:])
	}
	if m.projection != nil {
		out.TextEmbeds = p.linear(m.projection).Forward(out.Pooled)
	}
	return out, nil
}

// forward applies one encoder layer to x [N, L, hidden] (pre-norm
// self-attention and MLP, each residual). The text encoder's attention is
// causal, optionally with a key mask; the vision encoder's sees every token.
// x is left to the caller.
func (l *clipLayer) forward(p *pass, x *tensor.Tensor, heads int, gelu, causal bool, keyMask [][]bool) *tensor.Tensor {
	n, seq, hidden := x.Shape[0], x.Shape[1], x.Shape[2]
	// Intermediates go back to the pool as soon as they are consumed: fresh
	// memory costs a page fault per page, which dominated a cold encode.
	h := l.norm1.forward(x)
	q, k, v := p.linear(l.qProj).Forward(h), p.linear(l.kProj).Forward(h), p.linear(l.vProj).Forward(h)
	h.Release()
	att := tensor.Empty(n, seq, hidden)
	if keyMask == nil {
		tensor.Attention(q.Data, k.Data, v.Data, n, seq, seq, heads, hidden/heads, causal, att.Data)
	} else {
		maskedCausalAttention(q.Data, k.Data, v.Data, keyMask, n, seq, heads, hidden/heads, att.Data)
	}
	q.Release()
	k.Release()
	v.Release()
	h = p.linear(l.outProj).Forward(att)
	att.Release()
	tensor.AddInto(h.Data, h.Data, x.Data)
	mid := h
	normed := l.norm2.forward(mid)
	h = p.linear(l.fc1).Forward(normed)
	normed.Release()
	if gelu {
		tensor.GELU(h.Data)
	} else {
		tensor.QuickGELU(h.Data)
	}
	act := h
	h = p.linear(l.fc2).Forward(act)
	act.Release()
	tensor.AddInto(h.Data, h.Data, mid.Data)
	mid.Release()
	return h
}

// maskedCausalAttention is softmax(QKᵀ/√d + mask)·V where query i sees key
// j when j ≤ i and keep[b][j]. The text encoder's 77 tokens make the
// straightforward loop cheap; it runs only for down-weighted prompts.
func maskedCausalAttention(q, k, v []float32, keep [][]bool, batch, seq, heads, headDim int, out []float32) {
	width := heads * headDim
	scale := float32(1 / math.Sqrt(float64(headDim)))
	scores := make([]float32, seq)
	for b := 0; b < batch; b++ {
		for h := 0; h < heads; h++ {
			for i := 0; i < seq; i++ {
				qi := q[(b*seq+i)*width+h*headDim:][:headDim]
				maxScore := float32(math.Inf(-1))
				for j := 0; j <= i; j++ {
					if !keep[b][j] {
						continue
					}
					kj := k[(b*seq+j)*width+h*headDim:][:headDim]
					var s float32
					for d := range qi {
						s += qi[d] * kj[d]
					}
					s *= scale
					scores[j] = s
					if s > maxScore {
						maxScore = s
					}
				}
				dst := out[(b*seq+i)*width+h*headDim:][:headDim]
				clear(dst)
				if math.IsInf(float64(maxScore), -1) {
					// Every visible key is masked: torch's softmax over an
					// all-minimum row is uniform over the visible keys.
					for j := 0; j <= i; j++ {
						vj := v[(b*seq+j)*width+h*headDim:][:headDim]
						for d := range dst {
							dst[d] += vj[d] / float32(i+1)
						}
					}
					continue
				}
				var sum float32
				for j := 0; j <= i; j++ {
					if !keep[b][j] {
						continue
					}
					e := float32(math.Exp(float64(scores[j] - maxScore)))
					scores[j] = e
					sum += e
				}
				for j := 0; j <= i; j++ {
					if !keep[b][j] {
						continue
					}
					w := scores[j] / sum
					vj := v[(b*seq+j)*width+h*headDim:][:headDim]
					for d := range dst {
						dst[d] += w * vj[d]
					}
				}
			}
		}
	}
}
