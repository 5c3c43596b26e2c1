package sd

import (
	"context"
	"fmt"
	"strconv"

	"github.com/invokego/invokego/internal/engine/tensor"
)

// CLIPTextModel is transformers' CLIPTextModel, optionally with the
// text_projection of CLIPTextModelWithProjection.
type CLIPTextModel struct {
	Config CLIPTextConfig

	tokenEmbedding    *tensor.Tensor // [vocab, hidden]
	positionEmbedding *tensor.Tensor // [positions, hidden]
	layers            []*clipLayer
	finalNorm         *layerNorm
	projection        *tensor.Linear // nil without projection
	names             *layerNames    // for LayerPatcher
}

type clipLayer struct {
	norm1, norm2                 *layerNorm
	qProj, kProj, vProj, outProj *tensor.Linear
	fc1, fc2                     *tensor.Linear
}

func (r *weightReader) clipLayer(p string, eps float32) *clipLayer {
	return &clipLayer{
		norm1:   r.layerNorm(p+".layer_norm1", eps),
		qProj:   r.linear(p + ".self_attn.q_proj"),
		kProj:   r.linear(p + ".self_attn.k_proj"),
		vProj:   r.linear(p + ".self_attn.v_proj"),
		outProj: r.linear(p + ".self_attn.out_proj"),
		norm2:   r.layerNorm(p+".layer_norm2", eps),
		fc1:     r.linear(p + ".mlp.fc1"),
		fc2:     r.linear(p + ".mlp.fc2"),
	}
}

// CLIPOutput holds every output SD pipelines use.
type CLIPOutput struct {
	// HiddenStates[0] is the embedding output and HiddenStates[i] the output
	// of layer i, all before the final layer norm. Each is [N, L, hidden].
	HiddenStates []*tensor.Tensor
	// LastHiddenState is final_layer_norm(HiddenStates[last]).
	LastHiddenState *tensor.Tensor
	// Pooled is LastHiddenState at each sequence's EOS position [N, hidden].
	Pooled *tensor.Tensor
	// TextEmbeds is text_projection(Pooled) [N, projection_dim], or nil.
	TextEmbeds *tensor.Tensor

	model *CLIPTextModel
}

// NewCLIPTextModel builds the encoder from transformers-named weights
// ("text_model.*", plus "text_projection.weight" when present).
func NewCLIPTextModel(cfg CLIPTextConfig, sd StateDict) (*CLIPTextModel, error) {
	return NewCLIPTextModelWithOptions(cfg, sd, Options{})
}

// NewCLIPTextModelWithOptions is NewCLIPTextModel with build options
// (Options.Precision "bf16" packs every linear layer as bfloat16).
func NewCLIPTextModelWithOptions(cfg CLIPTextConfig, sd StateDict, opts Options) (*CLIPTextModel, error) {
	r, err := opts.reader(sd)
	if err != nil {
		return nil, fmt.Errorf("build clip: %w", err)
	}
	return newCLIPTextModel(cfg, r)
}

func newCLIPTextModel(cfg CLIPTextConfig, r *weightReader) (*CLIPTextModel, error) {
	r.used["text_model.embeddings.position_ids"] = true // a buffer, not a weight
	hidden := cfg.HiddenSize
	if cfg.NumAttentionHeads < 1 || hidden%cfg.NumAttentionHeads != 0 {
		return nil, fmt.Errorf("build clip: hidden %d not divisible by %d heads", hidden, cfg.NumAttentionHeads)
	}
	switch cfg.HiddenAct {
	case "quick_gelu", "gelu":
	default:
		return nil, fmt.Errorf("build clip: unsupported hidden_act %q", cfg.HiddenAct)
	}
	m := &CLIPTextModel{
		Config:            cfg,
		tokenEmbedding:    r.get("text_model.embeddings.token_embedding.weight", -1, hidden),
		positionEmbedding: r.get("text_model.embeddings.position_embedding.weight", -1, hidden),
	}
	for i := 0; i < cfg.NumHiddenLayers; i++ {
		p := "text_model.encoder.layers." + strconv.Itoa(i)
		m.layers = append(m.layers, r.clipLayer(p, cfg.LayerNormEps))
	}
	m.finalNorm = r.layerNorm("text_model.final_layer_norm", cfg.LayerNormEps)
	if r.has("text_projection.weight") {
		m.projection = r.linear("text_projection")
		m.Config.WithProjection = true
	}
	if err := r.finish("clip text model"); err != nil {
		return nil, err
	}
	m.names = r.names
	return m, nil
}

// Forward encodes token ids (one row per sequence, equal lengths up to
// max_position_embeddings) with CLIP's causal self-attention and no padding
// mask, as SD pipelines do.
func (m *CLIPTextModel) Forward(ctx context.Context, ids [][]int) (*CLIPOutput, error) {
	return m.ForwardWith(ctx, ids, ForwardOptions{})
}

// eosPosition is where transformers pools: the first EOS token, or, for
// legacy configs with eos_token_id 2, the position of the largest id.
func (m *CLIPTextModel) eosPosition(row []int) int {
	best := 0
	if m.Config.EOSTokenID == 2 {
		for i, id := range row {
			if id > row[best] {
				best = i
			}
		}
		return best
	}
	for i, id := range row {
		if id == m.Config.EOSTokenID {
			return i
		}
	}
	return 0
}

// HiddenState returns hidden_states[i], counting from the end when i < 0
// (-1 is the last layer's output before the final layer norm).
func (o *CLIPOutput) HiddenState(i int) *tensor.Tensor {
	if i < 0 {
		i += len(o.HiddenStates)
	}
	return o.HiddenStates[i]
}

// SkipLayers returns the conditioning for CLIP skip: hidden_states[-(1+skip)].
// With finalLayerNorm it applies the final layer norm, as diffusers' SD-1/2
// pipelines do for clip_skip; SDXL uses the penultimate state without it.
// skip 0 with finalLayerNorm is LastHiddenState.
func (o *CLIPOutput) SkipLayers(skip int, finalLayerNorm bool) (*tensor.Tensor, error) {
	if skip < 0 || skip >= len(o.HiddenStates)-1 {
		return nil, fmt.Errorf("clip skip %d out of range for %d layers", skip, len(o.HiddenStates)-1)
	}
	h := o.HiddenState(-(1 + skip))
	if finalLayerNorm {
		return o.model.finalNorm.forward(h), nil
	}
	return h, nil
}
