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
	return loadDiffusersPipeline(dir, Options{}, unet, vae)
}

// LoadDiffusersPipelineAll is LoadDiffusersPipeline with the same build
// options for every network: text encoders, UNet and VAE (what the
// precision setting asks for).
func LoadDiffusersPipelineAll(dir string, opts Options) (*Pipeline, error) {
	return loadDiffusersPipeline(dir, opts, opts, opts)
}

func loadDiffusersPipeline(dir string, text, unet, vae Options) (*Pipeline, error) {
	b, err := readConfigFile(filepath.Join(dir, "model_index.json"))
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
			p.TextEncoder, err = LoadCLIPTextFolderWithOptions(compDir, text)
		case "text_encoder_2":
			p.TextEncoder2, err = LoadCLIPTextFolderWithOptions(compDir, text)
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
