// Package t5 is the T5 encoder FLUX uses as its second text encoder
// (transformers' T5EncoderModel, v1.1 style: RMS layer norms, relative
// position buckets shared by all layers, unscaled attention, gated-GELU
// feed-forward), loadable from a diffusers text_encoder_2 folder
// (safetensors, float32/float16/bfloat16) or a GGUF file in llama.cpp's T5
// naming. Weights stay in their stored form, memory-mapped, and products
// decode them on the fly (package quant); activations and sums are float32.
package t5

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// Config is the part of transformers' T5Config the encoder uses.
type Config struct {
	VocabSize                    int     `json:"vocab_size"`
	DModel                       int     `json:"d_model"`
	DKV                          int     `json:"d_kv"`
	DFF                          int     `json:"d_ff"`
	NumLayers                    int     `json:"num_layers"`
	NumHeads                     int     `json:"num_heads"`
	RelativeAttentionNumBuckets  int     `json:"relative_attention_num_buckets"`
	RelativeAttentionMaxDistance int     `json:"relative_attention_max_distance"`
	LayerNormEpsilon             float64 `json:"layer_norm_epsilon"`
	// FeedForwardProj is "gated-gelu" (T5 v1.1, FLUX's T5-XXL) or "relu"
	// (the original T5); DenseActFn names the gated activation.
	FeedForwardProj string `json:"feed_forward_proj"`
	DenseActFn      string `json:"dense_act_fn"`
}

// Limits that keep a hostile config from sizing huge allocations; T5-XXL
// is d_model 4096, d_ff 10240, 24 layers, 64 heads, 32 buckets.
const (
	maxWidth   = 1 << 16
	maxLayers  = 256
	maxHeads   = 1024
	maxBuckets = 1 << 12
	maxVocab   = 1 << 22
	// MaxSequence bounds the tokens of one forward pass (FLUX uses 256 or 512).
	MaxSequence = 4096
)

// DefaultConfig fills in T5 v1.1's defaults for what a GGUF file does not record.
func DefaultConfig() Config {
	return Config{
		RelativeAttentionNumBuckets:  32,
		RelativeAttentionMaxDistance: 128,
		LayerNormEpsilon:             1e-6,
		FeedForwardProj:              "gated-gelu",
		DenseActFn:                   "gelu_new",
	}
}

// LoadConfig reads a transformers config.json.
func LoadConfig(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("t5 config: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return Config{}, fmt.Errorf("t5 config: %w", err)
	}
	cfg := DefaultConfig()
	cfg.FeedForwardProj = "relu" // transformers' default when the key is absent
	if err := json.Unmarshal(b, &cfg); err != nil {
		return Config{}, fmt.Errorf("t5 config %s: %w", path, err)
	}
	// As transformers does, the activation follows from feed_forward_proj
	// ("gated-gelu" means the tanh approximation, gelu_new).
	cfg.DenseActFn = cfg.FeedForwardProj
	if i := strings.LastIndexByte(cfg.FeedForwardProj, '-'); i >= 0 {
		cfg.DenseActFn = cfg.FeedForwardProj[i+1:]
	}
	if cfg.FeedForwardProj == "gated-gelu" {
		cfg.DenseActFn = "gelu_new"
	}
	return cfg, cfg.Validate()
}

// Gated reports whether the feed-forward is gated (wi_0, wi_1).
func (c Config) Gated() bool { return strings.HasPrefix(c.FeedForwardProj, "gated-") }

// Validate checks sizes and supported variants.
func (c Config) Validate() error {
	switch {
	case c.DModel < 1 || c.DModel > maxWidth, c.DKV < 1 || c.DKV > maxWidth, c.DFF < 1 || c.DFF > maxWidth:
		return fmt.Errorf("t5 config: widths d_model %d, d_kv %d, d_ff %d out of range", c.DModel, c.DKV, c.DFF)
	case c.NumLayers < 1 || c.NumLayers > maxLayers:
		return fmt.Errorf("t5 config: %d layers", c.NumLayers)
	case c.NumHeads < 1 || c.NumHeads > maxHeads || c.NumHeads*c.DKV > maxWidth:
		return fmt.Errorf("t5 config: %d heads of %d", c.NumHeads, c.DKV)
	case c.RelativeAttentionNumBuckets < 2 || c.RelativeAttentionNumBuckets > maxBuckets || c.RelativeAttentionMaxDistance < 1 || c.RelativeAttentionMaxDistance > 1<<20:
		return fmt.Errorf("t5 config: %d relative buckets, max distance %d", c.RelativeAttentionNumBuckets, c.RelativeAttentionMaxDistance)
	case c.VocabSize < 1 || c.VocabSize > maxVocab:
		return fmt.Errorf("t5 config: vocabulary of %d", c.VocabSize)
	case !(c.LayerNormEpsilon > 0 && c.LayerNormEpsilon < 1):
		return fmt.Errorf("t5 config: layer_norm_epsilon %g", c.LayerNormEpsilon)
	}
	switch {
	case c.FeedForwardProj == "relu" && c.DenseActFn == "relu":
	case c.Gated() && (c.DenseActFn == "gelu_new" || c.DenseActFn == "gelu_pytorch_tanh"):
	default:
		return fmt.Errorf("t5 config: feed_forward_proj %q with activation %q is not supported", c.FeedForwardProj, c.DenseActFn)
	}
	return nil
}
