package ldm

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/invokego/invokego/internal/engine/sd"
	"go.yaml.in/yaml/v3"
)

// maxConfigBytes bounds an inference yaml; real ones are a few kilobytes.
const maxConfigBytes = 1 << 20

// Config is what an LDM inference yaml (v1-inference.yaml and relatives, SGM's sd_xl_base.yaml, cldm_v15.yaml)
// says about a checkpoint that its weights cannot: the UNet's attention head rule, the latent scale, the
// text encoder family and the prediction type.
type Config struct {
	// Target is model.target, e.g. "ldm.models.diffusion.ddpm.LatentDiffusion".
	Target string
	// Parameterization is "v" for v-prediction models, else "" (epsilon).
	Parameterization string
	ScaleFactor      float32
	// Heads and ContextDim come from the denoiser's params: unet_config (LDM), network_config (SGM), or
	// control_stage_config (a ControlNet's cldm yaml).
	Heads      sd.UNetHeads
	ContextDim int
	// CondStageTarget is the LDM text encoder class; Embedders the SGM conditioner's embedder classes.
	CondStageTarget string
	Embedders       []string
}

// yamlNet is the params block of a UNet-like network.
type yamlNet struct {
	Params struct {
		NumHeads        int `yaml:"num_heads"`
		NumHeadChannels int `yaml:"num_head_channels"`
		ContextDim      int `yaml:"context_dim"`
	} `yaml:"params"`
}

type yamlFile struct {
	Model struct {
		Target string `yaml:"target"`
		Params struct {
			Parameterization string   `yaml:"parameterization"`
			ScaleFactor      float32  `yaml:"scale_factor"`
			UNet             *yamlNet `yaml:"unet_config"`
			Network          *yamlNet `yaml:"network_config"`
			Control          *yamlNet `yaml:"control_stage_config"`
			CondStage        struct {
				Target string `yaml:"target"`
			} `yaml:"cond_stage_config"`
			Conditioner struct {
				Params struct {
					EmbModels []struct {
						Target string `yaml:"target"`
					} `yaml:"emb_models"`
				} `yaml:"params"`
			} `yaml:"conditioner_config"`
		} `yaml:"params"`
	} `yaml:"model"`
}

// ParseConfig reads an LDM inference yaml.
func ParseConfig(data []byte) (Config, error) {
	var c Config
	if len(data) > maxConfigBytes {
		return c, fmt.Errorf("ldm yaml: %d bytes, more than %d", len(data), maxConfigBytes)
	}
	var f yamlFile
	if err := yaml.Unmarshal(data, &f); err != nil {
		return c, fmt.Errorf("ldm yaml: %w", err)
	}
	m := f.Model
	c.Target, c.Parameterization, c.ScaleFactor = m.Target, m.Params.Parameterization, m.Params.ScaleFactor
	c.CondStageTarget = m.Params.CondStage.Target
	for _, e := range m.Params.Conditioner.Params.EmbModels {
		c.Embedders = append(c.Embedders, e.Target)
	}
	for _, net := range []*yamlNet{m.Params.UNet, m.Params.Network, m.Params.Control} {
		if net == nil {
			continue
		}
		p := net.Params
		c.ContextDim = p.ContextDim
		if p.NumHeadChannels > 0 {
			c.Heads.NumHeadChannels = p.NumHeadChannels // LDM: num_head_channels wins when set
		} else {
			c.Heads.NumHeads = p.NumHeads
		}
		break
	}
	return c, nil
}

// LoadConfig reads and parses an LDM inference yaml file.
func LoadConfig(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return Config{}, err
	}
	return ParseConfig(b)
}

// Base names the base model the config describes, by its text encoder: OpenAI CLIP (SD 1.x), OpenCLIP
// (SD 2.x), an SDXL conditioner with two embedders (base) or one (refiner), falling back to the context
// width. "" when it does not say.
func (c Config) Base() string {
	switch n := len(c.Embedders); {
	case n >= 2:
		return "sdxl"
	case n == 1:
		return "sdxl-refiner"
	}
	switch t := c.CondStageTarget; {
	case strings.HasSuffix(t, "FrozenOpenCLIPEmbedder"):
		return "sd-2"
	case strings.HasSuffix(t, "FrozenCLIPEmbedder"):
		return "sd-1"
	}
	switch c.ContextDim {
	case 768:
		return "sd-1"
	case 1024:
		return "sd-2"
	}
	return ""
}

// Prediction is "v_prediction" for parameterization v, else "".
func (c Config) Prediction() string {
	if c.Parameterization == "v" {
		return "v_prediction"
	}
	return ""
}
