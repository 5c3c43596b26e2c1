package probe

import (
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ldmConfig is what identification reads from an LDM inference yaml (v1-inference.yaml and relatives).
type ldmConfig struct {
	Model struct {
		Target string `yaml:"target"`
		Params struct {
			Parameterization string `yaml:"parameterization"`
			UNet             struct {
				Params struct {
					InChannels int `yaml:"in_channels"`
					ContextDim int `yaml:"context_dim"`
				} `yaml:"params"`
			} `yaml:"unet_config"`
			CondStage struct {
				Target string `yaml:"target"`
			} `yaml:"cond_stage_config"`
			Conditioner struct {
				Params struct {
					EmbConfigs []struct {
						Target string `yaml:"target"`
					} `yaml:"emb_models"`
				} `yaml:"params"`
			} `yaml:"conditioner_config"`
		} `yaml:"params"`
	} `yaml:"model"`
}

// readLDMYaml parses a small yaml; a missing or unreadable file yields nil.
func readLDMYaml(path string) *ldmConfig {
	b, err := os.ReadFile(path)
	if err != nil || len(b) > 1<<20 {
		return nil
	}
	var c ldmConfig
	if yaml.Unmarshal(b, &c) != nil {
		return nil
	}
	return &c
}

// base names the base model an LDM config describes, by its text encoder: OpenAI CLIP (SD 1.x), OpenCLIP
// (SD 2.x), an SDXL conditioner with two embedders (base) or one (refiner). "" when it does not say.
func (c *ldmConfig) base() string {
	p := c.Model.Params
	switch n := len(p.Conditioner.Params.EmbConfigs); {
	case n >= 2:
		return "sdxl"
	case n == 1:
		return "sdxl-refiner"
	}
	switch t := p.CondStage.Target; {
	case strings.HasSuffix(t, "FrozenOpenCLIPEmbedder"):
		return "sd-2"
	case strings.HasSuffix(t, "FrozenCLIPEmbedder"):
		return "sd-1"
	}
	switch p.UNet.Params.ContextDim {
	case 768:
		return "sd-1"
	case 1024:
		return "sd-2"
	}
	return ""
}

// prediction is "v_prediction" for parameterization: v, else "".
func (c *ldmConfig) prediction() string {
	if c.Model.Params.Parameterization == "v" {
		return "v_prediction"
	}
	return ""
}
