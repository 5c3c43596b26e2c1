package sd

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/invokego/invokego/internal/engine/tensor"
)

// CLIPVisionConfig mirrors the fields of a transformers CLIPVisionConfig that affect inference.
type CLIPVisionConfig struct {
	HiddenSize        int     `json:"hidden_size"`
	IntermediateSize  int     `json:"intermediate_size"`
	NumHiddenLayers   int     `json:"num_hidden_layers"`
	NumAttentionHeads int     `json:"num_attention_heads"`
	NumChannels       int     `json:"num_channels"`
	ImageSize         int     `json:"image_size"`
	PatchSize         int     `json:"patch_size"`
	ProjectionDim     int     `json:"projection_dim"`
	HiddenAct         string  `json:"hidden_act"`
	LayerNormEps      float32 `json:"layer_norm_eps"`
}

// LoadCLIPVisionConfig reads the config.json of a CLIPVisionModelWithProjection (the IP-Adapter image
// encoder); a full CLIPModel config's vision_config is read too.
func LoadCLIPVisionConfig(path string) (CLIPVisionConfig, error) {
	c := CLIPVisionConfig{HiddenSize: 768, IntermediateSize: 3072, NumHiddenLayers: 12, NumAttentionHeads: 12,
		NumChannels: 3, ImageSize: 224, PatchSize: 32, ProjectionDim: 512, HiddenAct: "quick_gelu", LayerNormEps: 1e-5}
	var nested struct {
		VisionConfig json.RawMessage `json:"vision_config"`
	}
	if err := readJSONConfig(path, &nested); err != nil {
		return c, err
	}
	if len(nested.VisionConfig) > 0 && string(nested.VisionConfig) != "null" {
		if err := json.Unmarshal(nested.VisionConfig, &c); err != nil {
			return c, fmt.Errorf("parse %s: vision_config: %w", path, err)
		}
		var top struct {
			ProjectionDim int `json:"projection_dim"`
		}
		if err := readJSONConfig(path, &top); err == nil && top.ProjectionDim > 0 {
			c.ProjectionDim = top.ProjectionDim
		}
		return c, nil
	}
	err := readJSONConfig(path, &c)
	return c, err
}

// CLIPVisionModel is transformers' CLIPVisionModelWithProjection: patch embedding with a class token and
// learned positions, a pre-norm, the CLIP encoder layers without a mask, and the projection of the
// post-normed class token.
type CLIPVisionModel struct {
	Config CLIPVisionConfig

	patch      *tensor.Conv2D // no bias
	classEmb   []float32
	positions  *tensor.Tensor // [1 + patches, hidden]
	preNorm    *layerNorm
	layers     []*clipLayer
	postNorm   *layerNorm
	projection *tensor.Linear // nil without visual_projection
	names      *layerNames
}

// CLIPVisionOutput holds what IP-Adapters use of the image encoder.
type CLIPVisionOutput struct {
	// HiddenStates[0] is the pre-normed embedding and HiddenStates[i] the output of layer i, each [N, 1 +
	// patches, hidden]; the last one is transformers' last_hidden_state.
	HiddenStates []*tensor.Tensor
	// ImageEmbeds is visual_projection(post_layernorm(class token)) [N, projection_dim].
	ImageEmbeds *tensor.Tensor
}

// NewCLIPVisionModel builds the encoder from transformers-named weights ("vision_model.*" and
// "visual_projection.weight").
func NewCLIPVisionModel(cfg CLIPVisionConfig, weights StateDict) (*CLIPVisionModel, error) {
	hidden := cfg.HiddenSize
	if hidden < 1 || cfg.NumAttentionHeads < 1 || hidden%cfg.NumAttentionHeads != 0 || cfg.PatchSize < 1 || cfg.ImageSize < cfg.PatchSize {
		return nil, fmt.Errorf("build clip vision: invalid config %+v", cfg)
	}
	switch cfg.HiddenAct {
	case "quick_gelu", "gelu":
	default:
		return nil, fmt.Errorf("build clip vision: unsupported hidden_act %q", cfg.HiddenAct)
	}
	r := newWeightReader(weights)
	r.used["vision_model.embeddings.position_ids"] = true // a buffer, not a weight
	patches := (cfg.ImageSize / cfg.PatchSize) * (cfg.ImageSize / cfg.PatchSize)
	m := &CLIPVisionModel{
		Config:    cfg,
		patch:     r.conv("vision_model.embeddings.patch_embedding", cfg.PatchSize, 0),
		classEmb:  r.vec("vision_model.embeddings.class_embedding", hidden),
		positions: r.get("vision_model.embeddings.position_embedding.weight", 1+patches, hidden),
		preNorm:   r.layerNorm("vision_model.pre_layrnorm", cfg.LayerNormEps),
	}
	for i := 0; i < cfg.NumHiddenLayers; i++ {
		m.layers = append(m.layers, r.clipLayer("vision_model.encoder.layers."+strconv.Itoa(i), cfg.LayerNormEps))
	}
	m.postNorm = r.layerNorm("vision_model.post_layernorm", cfg.LayerNormEps)
	if r.has("visual_projection.weight") {
		m.projection = r.linear("visual_projection")
	}
	if err := r.finish("clip vision model"); err != nil {
		return nil, err
	}
	m.names = r.names
	return m, nil
}

// LoadCLIPVisionFolder loads an image_encoder folder (config.json and model.safetensors).
func LoadCLIPVisionFolder(dir string) (*CLIPVisionModel, error) {
	cfg, err := LoadCLIPVisionConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("load clip vision: %w", err)
	}
	path, err := findWeights(dir)
	if err != nil {
		return nil, fmt.Errorf("load clip vision: %w", err)
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("load clip vision: %w", err)
	}
	weights, err := LoadStateDict(path, nil)
	if err != nil {
		return nil, fmt.Errorf("load clip vision: %w", err)
	}
	m, err := NewCLIPVisionModel(cfg, weights)
	if err != nil {
		return nil, fmt.Errorf("load clip vision %s: %w", dir, err)
	}
	return m, nil
}

// Forward encodes pixel values [N, channels, image_size, image_size] (already normalised).
func (m *CLIPVisionModel) Forward(ctx context.Context, pixels *tensor.Tensor) (*CLIPVisionOutput, error) {
	cfg := m.Config
	if len(pixels.Shape) != 4 || pixels.Shape[1] != cfg.NumChannels || pixels.Shape[2] != cfg.ImageSize || pixels.Shape[3] != cfg.ImageSize {
		return nil, fmt.Errorf("clip vision: pixels %v, want [N, %d, %d, %d]", pixels.Shape, cfg.NumChannels, cfg.ImageSize, cfg.ImageSize)
	}
	n, hidden := pixels.Shape[0], cfg.HiddenSize
	tokens := m.patch.ForwardTokens(pixels) // [N, patches, hidden]
	seq := tokens.Shape[1] + 1
	x := tensor.New(n, seq, hidden)
	for b := 0; b < n; b++ {
		for s := 0; s < seq; s++ {
			dst := x.Data[(b*seq+s)*hidden : (b*seq+s+1)*hidden]
			src := m.classEmb
			if s > 0 {
				src = tokens.Data[(b*(seq-1)+s-1)*hidden:]
			}
			pos := m.positions.Data[s*hidden:]
			for i := range dst {
				dst[i] = src[i] + pos[i]
			}
		}
	}
	tokens.Release()
	h := m.preNorm.forward(x)
	out := &CLIPVisionOutput{HiddenStates: []*tensor.Tensor{h}}
	for _, l := range m.layers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h = l.forward(nil, h, cfg.NumAttentionHeads, cfg.HiddenAct == "gelu", false, nil)
		out.HiddenStates = append(out.HiddenStates, h)
	}
	cls := tensor.New(n, hidden)
	for b := 0; b < n; b++ {
		copy(cls.Data[b*hidden:(b+1)*hidden], h.Data[b*seq*hidden:])
	}
	pooled := m.postNorm.forward(cls)
	if m.projection != nil {
		out.ImageEmbeds = m.projection.Forward(pooled)
	} else {
		out.ImageEmbeds = pooled
	}
	return out, nil
}
