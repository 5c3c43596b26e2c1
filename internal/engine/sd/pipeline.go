package sd

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Pipeline holds the networks of a Stable Diffusion model. Components a
// model does not have (TextEncoder2 outside SDXL) are nil.
type Pipeline struct {
	TextEncoder  *CLIPTextModel
	TextEncoder2 *CLIPTextModel
	UNet         *UNet
	VAE          *VAE
}

// LoadDiffusersPipeline loads a diffusers folder: model_index.json plus one
// folder per component. Components listed in model_index.json whose folders
// are absent stay nil, so a caller can supply shared parts (SDXL fixtures
// reuse another model's text encoder and VAE).
func LoadDiffusersPipeline(dir string) (*Pipeline, error) {
	return LoadDiffusersPipelineWithOptions(dir, Options{}, Options{})
}

// LoadDiffusersPipelineWithOptions is LoadDiffusersPipeline with build
// options for the UNet and for the VAE (text encoders use the defaults).
func LoadDiffusersPipelineWithOptions(dir string, unet, vae Options) (*Pipeline, error) {
	b, err := os.ReadFile(filepath.Join(dir, "model_index.json"))
	if err != nil {
		return nil, fmt.Errorf("load pipeline: %w", err)
	}
	var index map[string]json.RawMessage
	if err := json.Unmarshal(b, &index); err != nil {
		return nil, fmt.Errorf("load pipeline: model_index.json: %w", err)
	}
	p := &Pipeline{}
	for name := range index {
		if strings.HasPrefix(name, "_") {
			continue
		}
		compDir := filepath.Join(dir, name)
		if st, err := os.Stat(compDir); err != nil || !st.IsDir() {
			continue
		}
		switch name {
		case "text_encoder":
			p.TextEncoder, err = LoadCLIPTextFolder(compDir)
		case "text_encoder_2":
			p.TextEncoder2, err = LoadCLIPTextFolder(compDir)
		case "unet":
			p.UNet, err = LoadUNetFolderWithOptions(compDir, unet)
		case "vae":
			p.VAE, err = LoadVAEFolderWithOptions(compDir, vae)
		}
		if err != nil {
			return nil, fmt.Errorf("load pipeline %s: %w", dir, err)
		}
	}
	if p.UNet == nil {
		return nil, fmt.Errorf("load pipeline %s: no unet", dir)
	}
	return p, nil
}

// SingleFileOptions supplies what an original-layout checkpoint cannot say
// about itself. All fields are optional.
type SingleFileOptions struct {
	// YAMLPath is the LDM inference config; by default a .yaml next to the
	// checkpoint with the same base name is used when present.
	YAMLPath string
	// TextEncoderConfig overrides the CLIP config inferred from shapes
	// (head count and token ids are not visible in the weights).
	TextEncoderConfig *CLIPTextConfig
	// TextEncoder2Config does the same for SDXL's second text encoder.
	TextEncoder2Config *CLIPTextConfig
	// Heads overrides the UNet attention head rule.
	Heads *UNetHeads
	// Part, when set, reads and builds only one component: "unet", "vae",
	// "text_encoder" or "text_encoder_2" (the model cache loads parts one at
	// a time; reading the others would cost their time and memory each time).
	Part string
}

// Components LoadSingleFile can build alone (SingleFileOptions.Part).
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
func buildSingleFileCLIP(sd StateDict, openCLIP bool, cfg *CLIPTextConfig) (*CLIPTextModel, error) {
	if sd == nil {
		return nil, nil
	}
	var c CLIPTextConfig
	if cfg != nil {
		c = *cfg
	} else {
		var err error
		if c, err = InferCLIPTextConfig(sd); err != nil {
			return nil, err
		}
		if openCLIP {
			c.HiddenAct, c.PadTokenID = "gelu", 0
		}
	}
	return NewCLIPTextModel(c, sd)
}

// LoadSingleFile loads an original-layout safetensors checkpoint (CompVis/LDM
// for SD-1.x/2.x, SGM for SDXL), converting its keys to diffusers names and
// inferring the architecture from tensor shapes and the optional yaml.
func LoadSingleFile(path string, opts SingleFileOptions) (*Pipeline, error) {
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
	p := &Pipeline{}
	sdxl := comps.SGM
	if want(PartUNet) {
		if comps.UNet == nil {
			return nil, fmt.Errorf("load %s: no model.diffusion_model weights", path)
		}
		heads := ldmCfg.Heads
		if opts.Heads != nil {
			heads = *opts.Heads
		}
		ucfg, err := InferUNetConfig(comps.UNet, heads, 0)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", path, err)
		}
		sdxl = sdxl || ucfg.AdditionEmbedType == "text_time"
		if p.UNet, err = NewUNet(ucfg, comps.UNet); err != nil {
			return nil, fmt.Errorf("load %s: %w", path, err)
		}
	}
	if want(PartVAE) && comps.VAE != nil {
		scale := ldmCfg.ScaleFactor
		if scale == 0 && sdxl {
			scale = sdxlScalingFactor
		}
		vcfg, err := InferVAEConfig(comps.VAE, scale)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", path, err)
		}
		if p.VAE, err = NewVAE(vcfg, comps.VAE); err != nil {
			return nil, fmt.Errorf("load %s: %w", path, err)
		}
	}
	if want(PartTextEncoder) {
		if p.TextEncoder, err = buildSingleFileCLIP(comps.TextEncoder, comps.TextEncoderOpenCLIP, opts.TextEncoderConfig); err != nil {
			return nil, fmt.Errorf("load %s: text encoder: %w", path, err)
		}
	}
	if want(PartTextEncoder2) {
		if p.TextEncoder2, err = buildSingleFileCLIP(comps.TextEncoder2, comps.TextEncoder2OpenCLIP, opts.TextEncoder2Config); err != nil {
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
func ReadSingleFile(path string, opts SingleFileOptions) (*LDMComponents, LDMConfig, error) {
	var ldmCfg LDMConfig
	yamlPath := opts.YAMLPath
	if yamlPath == "" {
		candidate := strings.TrimSuffix(path, filepath.Ext(path)) + ".yaml"
		if _, err := os.Stat(candidate); err == nil {
			yamlPath = candidate
		}
	}
	if yamlPath != "" {
		var err error
		if ldmCfg, err = LoadLDMConfigYAML(yamlPath); err != nil {
			return nil, ldmCfg, fmt.Errorf("load %s: %w", path, err)
		}
	}
	sgm := false
	ckpt, err := LoadStateDict(path, func(name string) bool {
		// Every name passes here, read or not: SDXL shows in its key layout.
		sgm = sgm || strings.HasPrefix(name, sgmEmbedderPrefix)
		return !isLDMModelKey(name) || (opts.Part != "" && ldmPart(name) != opts.Part)
	})
	if err != nil {
		return nil, ldmCfg, fmt.Errorf("load %s: %w", path, err)
	}
	comps, err := ConvertLDMCheckpoint(ckpt)
	if err != nil {
		return nil, ldmCfg, fmt.Errorf("load %s: %w", path, err)
	}
	comps.SGM = sgm
	return comps, ldmCfg, nil
}
