package ldm

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/invokego/invokego/internal/engine/sd"
)

// Options supplies what an original-layout checkpoint cannot say
// about itself. All fields are optional.
type Options struct {
	// YAMLPath is the LDM inference config; by default a .yaml next to the
	// checkpoint with the same base name is used when present.
	YAMLPath string
	// TextEncoderConfig overrides the CLIP config inferred from shapes
	// (head count and token ids are not visible in the weights).
	TextEncoderConfig *sd.CLIPTextConfig
	// TextEncoder2Config does the same for SDXL's second text encoder.
	TextEncoder2Config *sd.CLIPTextConfig
	// Build is how the networks are built (Precision "bf16": weights
	// packed as bfloat16); the zero value builds fp32.
	Build sd.Options
	// Heads overrides the UNet attention head rule.
	Heads *sd.UNetHeads
	// Part, when set, reads and builds only one component: "unet", "vae",
	// "text_encoder" or "text_encoder_2" (the model cache loads parts one at
	// a time; reading the others would cost their time and memory each time).
	Part string
}

// Components LoadSingleFile can build alone (Options.Part).
const (
	PartUNet         = "unet"
	PartVAE          = "vae"
	PartTextEncoder  = "text_encoder"
	PartTextEncoder2 = "text_encoder_2"
)

// sdxlScalingFactor is the SDXL VAE's latent scale, used when a single-file
// SDXL checkpoint comes without a yaml.
const sdxlScalingFactor = 0.13025

// buildSingleFileCLIP builds a converted text encoder (nil when absent),
// from the given config or one inferred from the weights.
func buildSingleFileCLIP(weights sd.StateDict, openCLIP bool, cfg *sd.CLIPTextConfig, build sd.Options) (*sd.CLIPTextModel, error) {
	if weights == nil {
		return nil, nil
	}
	var c sd.CLIPTextConfig
	if cfg != nil {
		c = *cfg
	} else {
		var err error
		if c, err = sd.InferCLIPTextConfig(weights); err != nil {
			return nil, err
		}
		if openCLIP {
			c.HiddenAct, c.PadTokenID = "gelu", 0
		}
	}
	return sd.NewCLIPTextModelWithOptions(c, weights, build)
}

// LoadSingleFile loads an original-layout safetensors checkpoint (CompVis/LDM
// for SD-1.x/2.x, SGM for SDXL), converting its keys to diffusers names and
// inferring the architecture from tensor shapes and the optional yaml.
func LoadSingleFile(path string, opts Options) (*sd.Pipeline, error) {
	switch opts.Part {
	case "", PartUNet, PartVAE, PartTextEncoder, PartTextEncoder2:
	default:
		return nil, fmt.Errorf("load %s: unknown part %q", path, opts.Part)
	}
	want := func(part string) bool { return opts.Part == "" || opts.Part == part }
	comps, ldmCfg, err := ReadSingleFile(path, opts)
	if err != nil {
		return nil, err
	}
	p := &sd.Pipeline{}
	sdxl := comps.SGM
	if want(PartUNet) {
		if comps.UNet == nil {
			return nil, fmt.Errorf("load %s: no model.diffusion_model weights", path)
		}
		heads := ldmCfg.Heads
		if opts.Heads != nil {
			heads = *opts.Heads
		}
		ucfg, err := sd.InferUNetConfig(comps.UNet, heads, 0)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", path, err)
		}
		sdxl = sdxl || ucfg.AdditionEmbedType == "text_time"
		if p.UNet, err = sd.NewUNetWithOptions(ucfg, comps.UNet, opts.Build); err != nil {
			return nil, fmt.Errorf("load %s: %w", path, err)
		}
	}
	if want(PartVAE) && comps.VAE != nil {
		scale := ldmCfg.ScaleFactor
		if scale == 0 && sdxl {
			scale = sdxlScalingFactor
		}
		vcfg, err := sd.InferVAEConfig(comps.VAE, scale)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", path, err)
		}
		if p.VAE, err = sd.NewVAEWithOptions(vcfg, comps.VAE, opts.Build); err != nil {
			return nil, fmt.Errorf("load %s: %w", path, err)
		}
	}
	if want(PartTextEncoder) {
		if p.TextEncoder, err = buildSingleFileCLIP(comps.TextEncoder, comps.TextEncoderOpenCLIP, opts.TextEncoderConfig, opts.Build); err != nil {
			return nil, fmt.Errorf("load %s: text encoder: %w", path, err)
		}
	}
	if want(PartTextEncoder2) {
		if p.TextEncoder2, err = buildSingleFileCLIP(comps.TextEncoder2, comps.TextEncoder2OpenCLIP, opts.TextEncoder2Config, opts.Build); err != nil {
			return nil, fmt.Errorf("load %s: text encoder 2: %w", path, err)
		}
	}
	return p, nil
}

// ldmPart names the component an original-layout key belongs to.
func ldmPart(name string) string {
	switch {
	case strings.HasPrefix(name, ldmUNetPrefix):
		return PartUNet
	case strings.HasPrefix(name, ldmVAEPrefix):
		return PartVAE
	case strings.HasPrefix(name, ldmCLIPPrefix), strings.HasPrefix(name, ldmOpenCLIPPrefix):
		return PartTextEncoder
	}
	// SDXL: conditioner.embedders.N.transformer (CLIP-L) and .model (OpenCLIP bigG).
	if rest, ok := strings.CutPrefix(name, sgmEmbedderPrefix); ok {
		if _, inner, ok := strings.Cut(rest, "."); ok {
			if strings.HasPrefix(inner, "transformer.") {
				return PartTextEncoder
			}
			if strings.HasPrefix(inner, "model.") {
				return PartTextEncoder2
			}
		}
	}
	return ""
}

// ReadSingleFile reads and converts an original-layout checkpoint without
// building the networks, returning diffusers-named state dicts and the
// settings from its yaml (zero values when there is none).
func ReadSingleFile(path string, opts Options) (*Components, Config, error) {
	var ldmCfg Config
	yamlPath := opts.YAMLPath
	if yamlPath == "" {
		candidate := strings.TrimSuffix(path, filepath.Ext(path)) + ".yaml"
		if _, err := os.Stat(candidate); err == nil {
			yamlPath = candidate
		}
	}
	if yamlPath != "" {
		var err error
		if ldmCfg, err = LoadConfig(yamlPath); err != nil {
			return nil, ldmCfg, fmt.Errorf("load %s: %w", path, err)
		}
	}
	sgm := false
	ckpt, err := sd.LoadStateDict(path, func(name string) bool {
		// Every name passes here, read or not: SDXL shows in its key layout.
		sgm = sgm || strings.HasPrefix(name, sgmEmbedderPrefix)
		return !isLDMModelKey(name) || (opts.Part != "" && ldmPart(name) != opts.Part)
	})
	if err != nil {
		return nil, ldmCfg, fmt.Errorf("load %s: %w", path, err)
	}
	comps, err := Convert(ckpt)
	if err != nil {
		return nil, ldmCfg, fmt.Errorf("load %s: %w", path, err)
	}
	comps.SGM = sgm
	return comps, ldmCfg, nil
}
