package flux

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// Config mirrors diffusers' FluxTransformer2DModel config. Widths are
// checked against the weights when a model is built.
type Config struct {
	PatchSize           int   `json:"patch_size"`
	InChannels          int   `json:"in_channels"`
	NumLayers           int   `json:"num_layers"`
	NumSingleLayers     int   `json:"num_single_layers"`
	AttentionHeadDim    int   `json:"attention_head_dim"`
	NumAttentionHeads   int   `json:"num_attention_heads"`
	JointAttentionDim   int   `json:"joint_attention_dim"`
	PooledProjectionDim int   `json:"pooled_projection_dim"`
	GuidanceEmbeds      bool  `json:"guidance_embeds"`
	AxesDimsRope        []int `json:"axes_dims_rope"`
}

// FLUX1Config is FLUX.1 [dev]'s configuration (schnell has no guidance
// embedding).
func FLUX1Config(guidance bool) Config {
	return Config{PatchSize: 1, InChannels: 64, NumLayers: 19, NumSingleLayers: 38, AttentionHeadDim: 128,
		NumAttentionHeads: 24, JointAttentionDim: 4096, PooledProjectionDim: 768, GuidanceEmbeds: guidance,
		AxesDimsRope: []int{16, 56, 56}}
}

// Hidden is the model width (heads × head width).
func (c Config) Hidden() int { return c.NumAttentionHeads * c.AttentionHeadDim }

// Limits on configurations, generous next to FLUX.1 (19 + 38 blocks, 24
// heads of 128): they only keep a hostile config from sizing absurd buffers.
const (
	maxBlocks   = 1024
	maxHeads    = 1024
	maxHeadDim  = 1024
	maxChannels = 1 << 16
)

// Validate checks the config's internal consistency.
func (c Config) Validate() error {
	switch {
	case c.PatchSize != 1:
		return fmt.Errorf("flux config: patch_size %d is not supported", c.PatchSize)
	case c.NumLayers < 0 || c.NumSingleLayers < 0 || c.NumLayers > maxBlocks || c.NumSingleLayers > maxBlocks:
		return fmt.Errorf("flux config: %d double and %d single blocks", c.NumLayers, c.NumSingleLayers)
	case c.NumAttentionHeads < 1 || c.NumAttentionHeads > maxHeads || c.AttentionHeadDim < 2 || c.AttentionHeadDim > maxHeadDim || c.AttentionHeadDim%2 != 0:
		return fmt.Errorf("flux config: %d heads of width %d", c.NumAttentionHeads, c.AttentionHeadDim)
	case c.InChannels < 1 || c.InChannels > maxChannels || c.JointAttentionDim < 1 || c.JointAttentionDim > maxChannels ||
		c.PooledProjectionDim < 1 || c.PooledProjectionDim > maxChannels:
		return fmt.Errorf("flux config: widths in %d, text %d, pooled %d", c.InChannels, c.JointAttentionDim, c.PooledProjectionDim)
	}
	sum := 0
	for _, d := range c.AxesDimsRope {
		if d < 2 || d%2 != 0 {
			return fmt.Errorf("flux config: rope axis widths %v must be even", c.AxesDimsRope)
		}
		sum += d
	}
	if len(c.AxesDimsRope) != 3 || sum != c.AttentionHeadDim {
		return fmt.Errorf("flux config: rope axis widths %v must be three and sum to the head width %d", c.AxesDimsRope, c.AttentionHeadDim)
	}
	return nil
}

// maxConfigBytes bounds a JSON config or shard index; real ones are kilobytes. A larger file is refused before
// it is read (docs/security.md "Model files are untrusted input").
const maxConfigBytes = 16 << 20

// readConfigFile reads a JSON file of at most maxConfigBytes.
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
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxConfigBytes)
	}
	return b, nil
}

// LoadConfig reads a diffusers transformer/config.json.
func LoadConfig(path string) (Config, error) {
	b, err := readConfigFile(path)
	if err != nil {
		return Config{}, err
	}
	c := Config{PatchSize: 1, InChannels: 64, NumLayers: 19, NumSingleLayers: 38, AttentionHeadDim: 128,
		NumAttentionHeads: 24, JointAttentionDim: 4096, PooledProjectionDim: 768, AxesDimsRope: []int{16, 56, 56}}
	if err := json.Unmarshal(b, &c); err != nil {
		return Config{}, fmt.Errorf("parse %s: %w", path, err)
	}
	return c, c.Validate()
}

// DefaultAxes splits a head width over the three position-id axes when no
// config says how: FLUX.1's 16/56/56 for its 128-wide heads; other widths
// (small test models) give a quarter to the first axis and split the rest
// evenly, which is the fixture models' 8/12/12 for 32-wide heads.
func DefaultAxes(headDim int) []int {
	if headDim == 128 {
		return []int{16, 56, 56}
	}
	a := headDim / 4
	a -= a % 2
	rest := headDim - a
	b := rest / 2
	b -= b % 2
	return []int{a, b, rest - b}
}
