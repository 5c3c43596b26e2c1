package models

import "context"

// StarterModel is one entry of the starter list: a model a new user installs with one click or command.
type StarterModel struct {
	Description   string         `json:"description"`
	Source        string         `json:"source"`
	Name          string         `json:"name"`
	Base          string         `json:"base"`
	Type          string         `json:"type"`
	Format        *string        `json:"format"`
	IsInstalled   bool           `json:"is_installed"`
	PreviousNames []string       `json:"previous_names"`
	Dependencies  []StarterModel `json:"dependencies"`
}

// StarterBundle groups the starter models of one base.
type StarterBundle struct {
	Name   string         `json:"name"`
	Models []StarterModel `json:"models"`
}

// StarterList is the starter_models response.
type StarterList struct {
	StarterModels  []StarterModel           `json:"starter_models"`
	StarterBundles map[string]StarterBundle `json:"starter_bundles"`
}

var (
	sd15VAE = StarterModel{Name: "sd-vae-ft-mse", Base: BaseSD1, Type: TypeVAE, Source: "stabilityai/sd-vae-ft-mse",
		Description: "Fine-tuned SD 1.x VAE with sharper decodes (MSE loss). ~335MB"}
	sdxlVAE = StarterModel{Name: "sdxl-vae-fp16-fix", Base: BaseSDXL, Type: TypeVAE, Source: "madebyollin/sdxl-vae-fp16-fix",
		Description: "SDXL VAE fixed to run in fp16 without producing NaNs. ~335MB"}
)

// starterModels lists the SD 1.5, SD 2.1 and SDXL checkpoints and VAEs invokego runs, then the control
// adapters, upscalers and FLUX models.
func starterModels() []StarterModel {
	deps := func(m ...StarterModel) []StarterModel { return m }
	return append([]StarterModel{
		{Name: "Stable Diffusion v1.5", Base: BaseSD1, Type: TypeMain, Source: "stable-diffusion-v1-5/stable-diffusion-v1-5",
			Description: "The classic SD 1.5 base model, 512x512. ~4.3GB", Dependencies: deps(sd15VAE)},
		{Name: "Stable Diffusion v1.5 Inpainting", Base: BaseSD1, Type: TypeMain,
			Source: "stable-diffusion-v1-5/stable-diffusion-inpainting", Description: "SD 1.5 inpainting model. ~4.3GB"},
		{Name: "Stable Diffusion v2.1", Base: BaseSD2, Type: TypeMain, Source: "stabilityai/stable-diffusion-2-1",
			Description: "SD 2.1 768x768 (v-prediction). ~5.2GB"},
		{Name: "Stable Diffusion XL Base 1.0", Base: BaseSDXL, Type: TypeMain, Source: "stabilityai/stable-diffusion-xl-base-1.0:fp16",
			Description: "SDXL base model, 1024x1024. ~6.9GB", Dependencies: deps(sdxlVAE)},
		{Name: "Stable Diffusion XL Refiner 1.0", Base: BaseSDXLRefiner, Type: TypeMain,
			Source: "stabilityai/stable-diffusion-xl-refiner-1.0:fp16", Description: "SDXL refiner for the last denoising steps. ~6.2GB"},
		sd15VAE,
		sdxlVAE,
	}, append(append(adapterStarters(), spandrelStarters()...), fluxStarters()...)...)
}

// Starters returns the starter list with is_installed computed from the records' sources.
func (s *Service) Starters(ctx context.Context) (*StarterList, error) {
	sources, err := s.InstalledSources(ctx)
	if err != nil {
		return nil, err
	}
	mark := func(m StarterModel) StarterModel {
		m.IsInstalled = sources[m.Source]
		if m.PreviousNames == nil {
			m.PreviousNames = []string{}
		}
		var deps []StarterModel
		for _, d := range m.Dependencies {
			d.IsInstalled = sources[d.Source]
			d.PreviousNames = []string{}
			deps = append(deps, d)
		}
		m.Dependencies = deps
		return m
	}
	out := &StarterList{StarterBundles: map[string]StarterBundle{}}
	bundles := map[string]string{BaseSD1: "Stable Diffusion 1.5", BaseSD2: "Stable Diffusion 2.1", BaseSDXL: "SDXL"}
	for _, m := range starterModels() {
		m = mark(m)
		out.StarterModels = append(out.StarterModels, m)
		if name, ok := bundles[m.Base]; ok {
			b := out.StarterBundles[m.Base]
			b.Name = name
			b.Models = append(b.Models, m)
			out.StarterBundles[m.Base] = b
		}
	}
	return out, nil
}
