package sd

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// CLIPTextConfig mirrors the fields of a transformers CLIPTextConfig that
// affect inference.
type CLIPTextConfig struct {
	VocabSize             int     `json:"vocab_size"`
	HiddenSize            int     `json:"hidden_size"`
	IntermediateSize      int     `json:"intermediate_size"`
	NumHiddenLayers       int     `json:"num_hidden_layers"`
	NumAttentionHeads     int     `json:"num_attention_heads"`
	MaxPositionEmbeddings int     `json:"max_position_embeddings"`
	HiddenAct             string  `json:"hidden_act"`
	LayerNormEps          float32 `json:"layer_norm_eps"`
	ProjectionDim         int     `json:"projection_dim"`
	BOSTokenID            int     `json:"bos_token_id"`
	EOSTokenID            int     `json:"eos_token_id"`
	PadTokenID            int     `json:"pad_token_id"`
	// WithProjection is true for CLIPTextModelWithProjection (text_projection present).
	WithProjection bool `json:"-"`
}

// intList decodes either a single integer or a list of integers, as
// diffusers configs use both for per-block settings.
type intList []int

func (l *intList) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*l = nil
		return nil
	}
	var one int
	if err := json.Unmarshal(b, &one); err == nil {
		*l = intList{one}
		return nil
	}
	var many []int
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("want int or list of ints, got %s", b)
	}
	*l = many
	return nil
}

// perBlock expands a single value to n blocks.
func (l intList) perBlock(n int) ([]int, error) {
	switch len(l) {
	case 0:
		return nil, nil
	case 1:
		out := make([]int, n)
		for i := range out {
			out[i] = l[0]
		}
		return out, nil
	case n:
		return append([]int(nil), l...), nil
	}
	return nil, fmt.Errorf("%d values for %d blocks", len(l), n)
}

// UNetConfig mirrors diffusers' UNet2DConditionModel config. Per-block
// lists are expanded by Normalize.
type UNetConfig struct {
	InChannels                        int      `json:"in_channels"`
	OutChannels                       int      `json:"out_channels"`
	BlockOutChannels                  []int    `json:"block_out_channels"`
	LayersPerBlock                    int      `json:"layers_per_block"`
	DownBlockTypes                    []string `json:"down_block_types"`
	UpBlockTypes                      []string `json:"up_block_types"`
	MidBlockType                      *string  `json:"mid_block_type"`
	CrossAttentionDim                 int      `json:"cross_attention_dim"`
	NormNumGroups                     int      `json:"norm_num_groups"`
	NormEps                           float32  `json:"norm_eps"`
	FlipSinToCos                      bool     `json:"flip_sin_to_cos"`
	FreqShift                         float32  `json:"freq_shift"`
	UseLinearProjection               bool     `json:"use_linear_projection"`
	UpcastAttention                   bool     `json:"upcast_attention"`
	AdditionEmbedType                 string   `json:"addition_embed_type"`
	AdditionTimeEmbedDim              int      `json:"addition_time_embed_dim"`
	ProjectionClassEmbeddingsInputDim int      `json:"projection_class_embeddings_input_dim"`

	// AttentionHeadDim is, for legacy reasons, the number of heads per block.
	AttentionHeadDim                 intList `json:"attention_head_dim"`
	NumAttentionHeads                intList `json:"num_attention_heads"`
	TransformerLayersPerBlock        intList `json:"transformer_layers_per_block"`
	ReverseTransformerLayersPerBlock [][]int `json:"reverse_transformer_layers_per_block"`

	// Options this engine does not implement; Normalize rejects configs
	// that set them rather than silently computing something else.
	ClassEmbedType       *string `json:"class_embed_type"`
	EncoderHidDimType    *string `json:"encoder_hid_dim_type"`
	TimeCondProjDim      *int    `json:"time_cond_proj_dim"`
	ResnetTimeScaleShift string  `json:"resnet_time_scale_shift"`
	TimeEmbeddingType    string  `json:"time_embedding_type"`
	ConvInKernel         int     `json:"conv_in_kernel"`
	ConvOutKernel        int     `json:"conv_out_kernel"`
	OnlyCrossAttention   any     `json:"only_cross_attention"`
	DualCrossAttention   bool    `json:"dual_cross_attention"`
	CenterInputSample    bool    `json:"center_input_sample"`
	AttentionType        string  `json:"attention_type"`
	ResnetOutScaleFactor float32 `json:"resnet_out_scale_factor"`
	MidBlockScaleFactor  float32 `json:"mid_block_scale_factor"`

	// Heads and TransformerLayers are the resolved per-down-block values.
	Heads             []int `json:"-"`
	TransformerLayers []int `json:"-"`
}

// DefaultUNetConfig returns diffusers' constructor defaults, the base that
// config.json values override.
func DefaultUNetConfig() UNetConfig {
	return UNetConfig{
		InChannels: 4, OutChannels: 4,
		BlockOutChannels:          []int{320, 640, 1280, 1280},
		LayersPerBlock:            2,
		DownBlockTypes:            []string{"CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"},
		UpBlockTypes:              []string{"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"},
		CrossAttentionDim:         1280,
		NormNumGroups:             32,
		NormEps:                   1e-5,
		FlipSinToCos:              true,
		AttentionHeadDim:          intList{8},
		TransformerLayersPerBlock: intList{1},
	}
}

// Normalize validates the config and resolves per-block lists.
func (c *UNetConfig) Normalize() error {
	n := len(c.BlockOutChannels)
	if n == 0 || len(c.DownBlockTypes) != n || len(c.UpBlockTypes) != n {
		return fmt.Errorf("unet config: %d block_out_channels, %d down and %d up block types", n, len(c.DownBlockTypes), len(c.UpBlockTypes))
	}
	if c.LayersPerBlock < 1 || c.NormNumGroups < 1 {
		return fmt.Errorf("unet config: layers_per_block %d, norm_num_groups %d", c.LayersPerBlock, c.NormNumGroups)
	}
	heads := c.NumAttentionHeads
	if len(heads) == 0 {
		heads = c.AttentionHeadDim
	}
	var err error
	if c.Heads, err = heads.perBlock(n); err != nil || c.Heads == nil {
		return fmt.Errorf("unet config: attention heads %v: %v", heads, err)
	}
	tl := c.TransformerLayersPerBlock
	if len(tl) == 0 {
		tl = intList{1}
	}
	if c.TransformerLayers, err = tl.perBlock(n); err != nil {
		return fmt.Errorf("unet config: transformer_layers_per_block: %w", err)
	}
	if c.ReverseTransformerLayersPerBlock != nil {
		return fmt.Errorf("unet config: reverse_transformer_layers_per_block is not supported")
	}
	for _, t := range append(append([]string(nil), c.DownBlockTypes...), c.UpBlockTypes...) {
		switch t {
		case "DownBlock2D", "CrossAttnDownBlock2D", "UpBlock2D", "CrossAttnUpBlock2D":
		default:
			return fmt.Errorf("unet config: unsupported block type %q", t)
		}
	}
	if c.MidBlockType != nil && *c.MidBlockType != "UNetMidBlock2DCrossAttn" {
		return fmt.Errorf("unet config: unsupported mid block %q", *c.MidBlockType)
	}
	switch c.AdditionEmbedType {
	case "", "text_time":
	default:
		return fmt.Errorf("unet config: unsupported addition_embed_type %q", c.AdditionEmbedType)
	}
	unsupported := []struct {
		set  bool
		name string
	}{
		{c.ClassEmbedType != nil, "class_embed_type"},
		{c.EncoderHidDimType != nil, "encoder_hid_dim_type"},
		{c.TimeCondProjDim != nil, "time_cond_proj_dim"},
		{c.ResnetTimeScaleShift != "" && c.ResnetTimeScaleShift != "default", "resnet_time_scale_shift"},
		{c.TimeEmbeddingType != "" && c.TimeEmbeddingType != "positional", "time_embedding_type"},
		{c.ConvInKernel != 0 && c.ConvInKernel != 3, "conv_in_kernel"},
		{c.ConvOutKernel != 0 && c.ConvOutKernel != 3, "conv_out_kernel"},
		{c.OnlyCrossAttention != nil && c.OnlyCrossAttention != false, "only_cross_attention"},
		{c.DualCrossAttention, "dual_cross_attention"},
		{c.CenterInputSample, "center_input_sample"},
		{c.AttentionType != "" && c.AttentionType != "default", "attention_type"},
		{c.ResnetOutScaleFactor != 0 && c.ResnetOutScaleFactor != 1, "resnet_out_scale_factor"},
		{c.MidBlockScaleFactor != 0 && c.MidBlockScaleFactor != 1, "mid_block_scale_factor"},
	}
	for _, u := range unsupported {
		if u.set {
			return fmt.Errorf("unet config: %s is not supported", u.name)
		}
	}
	return nil
}

// VAEConfig mirrors diffusers' AutoencoderKL config.
type VAEConfig struct {
	InChannels       int     `json:"in_channels"`
	OutChannels      int     `json:"out_channels"`
	BlockOutChannels []int   `json:"block_out_channels"`
	LayersPerBlock   int     `json:"layers_per_block"`
	LatentChannels   int     `json:"latent_channels"`
	NormNumGroups    int     `json:"norm_num_groups"`
	ScalingFactor    float32 `json:"scaling_factor"`
	// ShiftFactor is used by some newer VAEs; 0 for SD.
	ShiftFactor    float32  `json:"shift_factor"`
	DownBlockTypes []string `json:"down_block_types"`
	UpBlockTypes   []string `json:"up_block_types"`
}

// DefaultVAEConfig returns diffusers' AutoencoderKL constructor defaults.
func DefaultVAEConfig() VAEConfig {
	return VAEConfig{InChannels: 3, OutChannels: 3, BlockOutChannels: []int{64}, LayersPerBlock: 1,
		LatentChannels: 4, NormNumGroups: 32, ScalingFactor: 0.18215}
}

// maxConfigBytes bounds a model's JSON config or index; real ones are a few kilobytes (a sharded model's
// index a few hundred). A larger file is refused before it is read (docs/security.md "Model files are untrusted input").
const maxConfigBytes = 16 << 20

// readConfigFile reads a JSON config of at most maxConfigBytes.
func readConfigFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxConfigBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", filepath.Base(path), maxConfigBytes)
	}
	return b, nil
}

func readJSONConfig(path string, into any) error {
	b, err := readConfigFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, into); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	return nil
}

// LoadCLIPTextConfig reads a transformers config.json.
func LoadCLIPTextConfig(path string) (CLIPTextConfig, error) {
	c := CLIPTextConfig{VocabSize: 49408, HiddenSize: 512, IntermediateSize: 2048, NumHiddenLayers: 12,
		NumAttentionHeads: 8, MaxPositionEmbeddings: 77, HiddenAct: "quick_gelu", LayerNormEps: 1e-5,
		ProjectionDim: 512, BOSTokenID: 49406, EOSTokenID: 49407, PadTokenID: 1}
	var raw struct {
		Architectures []string `json:"architectures"`
	}
	if err := readJSONConfig(path, &c); err != nil {
		return c, err
	}
	_ = readJSONConfig(path, &raw)
	for _, a := range raw.Architectures {
		if a == "CLIPTextModelWithProjection" {
			c.WithProjection = true
		}
	}
	return c, nil
}

// LoadUNetConfig reads a diffusers unet/config.json.
func LoadUNetConfig(path string) (UNetConfig, error) {
	c := DefaultUNetConfig()
	if err := readJSONConfig(path, &c); err != nil {
		return c, err
	}
	return c, c.Normalize()
}

// LoadVAEConfig reads a diffusers vae/config.json.
func LoadVAEConfig(path string) (VAEConfig, error) {
	c := DefaultVAEConfig()
	err := readJSONConfig(path, &c)
	return c, err
}
