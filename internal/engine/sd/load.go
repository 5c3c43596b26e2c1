package sd

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/invokego/invokego/internal/engine/safetensors"
)

// findWeights returns the safetensors weight file of a diffusers component folder.
func findWeights(dir string) (string, error) {
	for _, name := range []string{"diffusion_pytorch_model.safetensors", "model.safetensors"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no safetensors weights in %s", dir)
}

// LoadUNetFolder loads a diffusers unet/ folder (config.json + weights).
func LoadUNetFolder(dir string) (*UNet, error) { return LoadUNetFolderWithOptions(dir, Options{}) }

// LoadUNetFolderWithOptions is LoadUNetFolder with build options.
func LoadUNetFolderWithOptions(dir string, opts Options) (*UNet, error) {
	cfg, err := LoadUNetConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("load unet: %w", err)
	}
	path, err := findWeights(dir)
	if err != nil {
		return nil, fmt.Errorf("load unet: %w", err)
	}
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load unet: %w", err)
	}
	defer f.Close()
	r, err := opts.fileReader(f)
	if err != nil {
		return nil, fmt.Errorf("load unet: %w", err)
	}
	u, err := newUNet(cfg, r)
	if err != nil {
		return nil, fmt.Errorf("load unet %s: %w", dir, err)
	}
	return u, nil
}

// LoadVAEFolder loads a diffusers vae/ folder.
func LoadVAEFolder(dir string) (*VAE, error) { return LoadVAEFolderWithOptions(dir, Options{}) }

// LoadVAEFolderWithOptions is LoadVAEFolder with build options.
func LoadVAEFolderWithOptions(dir string, opts Options) (*VAE, error) {
	cfg, err := LoadVAEConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("load vae: %w", err)
	}
	path, err := findWeights(dir)
	if err != nil {
		return nil, fmt.Errorf("load vae: %w", err)
	}
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load vae: %w", err)
	}
	defer f.Close()
	r, err := opts.fileReader(f)
	if err != nil {
		return nil, fmt.Errorf("load vae: %w", err)
	}
	v, err := newVAE(cfg, r)
	if err != nil {
		return nil, fmt.Errorf("load vae %s: %w", dir, err)
	}
	return v, nil
}

// LoadCLIPTextFolder loads a transformers text_encoder/ folder.
func LoadCLIPTextFolder(dir string) (*CLIPTextModel, error) {
	return LoadCLIPTextFolderWithOptions(dir, Options{})
}

// LoadCLIPTextFolderWithOptions is LoadCLIPTextFolder with build options.
func LoadCLIPTextFolderWithOptions(dir string, opts Options) (*CLIPTextModel, error) {
	cfg, err := LoadCLIPTextConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("load text encoder: %w", err)
	}
	path, err := findWeights(dir)
	if err != nil {
		return nil, fmt.Errorf("load text encoder: %w", err)
	}
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load text encoder: %w", err)
	}
	defer f.Close()
	r, err := opts.fileReader(f)
	if err != nil {
		return nil, fmt.Errorf("load text encoder: %w", err)
	}
	m, err := newCLIPTextModel(cfg, r)
	if err != nil {
		return nil, fmt.Errorf("load text encoder %s: %w", dir, err)
	}
	return m, nil
}
