package models

import "encoding/json"

// FLUX.1 records: InvokeAI's Main_{Diffusers,Checkpoint,GGUF}_FLUX_Config (base "flux", a FluxVariantType
// variant), VAE_Checkpoint_FLUX_Config, T5Encoder_T5Encoder_Config and CLIPEmbed_Diffusers_{L,G}_Config
// (base "any", with cpu_only). A T5 encoder in a GGUF file is recorded like the T5Encoder folder config with
// format gguf_quantized, which InvokeAI does not have (docs/compatibility.md).

// FLUX model types and formats.
const (
	TypeT5Encoder   = "t5_encoder"
	TypeCLIPEmbed   = "clip_embed"
	FormatT5Encoder = "t5_encoder"
	FormatGGUF      = "gguf_quantized"
)

// FLUX variants (InvokeAI's FluxVariantType).
const (
	VariantFluxDev     = "dev"
	VariantFluxSchnell = "schnell"
	VariantFluxDevFill = "dev_fill"
)

// fluxMainSettings are the default generation settings of a FLUX main model: 1024² for both; schnell is
// distilled to 4 steps and takes no guidance, dev runs 28 steps at guidance 3.5 (the values FLUX.1's
// authors publish, which InvokeAI's FLUX starter models and UI use).
func fluxMainSettings(variant string) json.RawMessage {
	size := 1024
	steps := 28
	settings := MainModelDefaultSettings{Width: &size, Height: &size, Steps: &steps}
	if variant == VariantFluxSchnell {
		steps = 4
	} else {
		settings.Guidance = Ptr(3.5)
	}
	return encodeSettings(&settings)
}

// fluxRecordFields adds the fields InvokeAI's FLUX-side config classes have beyond the common ones.
func fluxRecordFields(c Config, m map[string]any) {
	switch {
	case c.Format == FormatGGUF && c.Type == TypeMain:
		m["config_path"] = c.ConfigPath
	case c.Type == TypeT5Encoder || c.Type == TypeCLIPEmbed:
		m["cpu_only"] = c.CPUOnly
		if c.Type == TypeCLIPEmbed {
			m["variant"] = c.Variant
		}
	}
}

var (
	fluxT5Starter = StarterModel{Name: "t5_bf16_encoder", Base: BaseAny, Type: TypeT5Encoder,
		Source: "InvokeAI/t5-v1_1-xxl::bfloat16", Description: "T5-XXL text encoder (used in FLUX pipelines), bfloat16. ~9.5GB"}
	fluxCLIPStarter = StarterModel{Name: "clip-vit-large-patch14", Base: BaseAny, Type: TypeCLIPEmbed,
		Source: "InvokeAI/clip-vit-large-patch14-text-encoder::bfloat16", Description: "CLIP-L text encoder (used in FLUX pipelines). ~250MB"}
	fluxVAEStarter = StarterModel{Name: "FLUX.1-schnell_ae", Base: BaseFlux, Type: TypeVAE,
		Source: "black-forest-labs/FLUX.1-schnell::ae.safetensors", Description: "FLUX VAE compatible with both schnell and dev variants. ~335MB"}
)

// fluxStarters lists FLUX.1 as GGUF conversions (the transformer stays quantized in memory: ~6.8GB for
// Q4_K_S, ~12.7GB for Q8_0) with the encoders and VAE they need.
func fluxStarters() []StarterModel {
	deps := []StarterModel{fluxT5Starter, fluxCLIPStarter, fluxVAEStarter}
	gguf := func(variant, quant, size string) StarterModel {
		steps := map[string]string{"schnell": "4 steps, no guidance", "dev": "28 steps, guidance 3.5"}[variant]
		return StarterModel{Name: "FLUX.1 " + variant + " (GGUF " + quant + ")", Base: BaseFlux, Type: TypeMain,
			Source:      "city96/FLUX.1-" + variant + "-gguf::flux1-" + variant + "-" + quant + ".gguf",
			Description: "FLUX.1 [" + variant + "] transformer quantized to " + quant + " (" + steps + "). ~" + size,
			Format:      Ptr(FormatGGUF), Dependencies: deps}
	}
	return []StarterModel{
		gguf("schnell", "Q4_K_S", "6.8GB"),
		gguf("schnell", "Q8_0", "12.7GB"),
		gguf("dev", "Q4_K_S", "6.8GB"),
		gguf("dev", "Q8_0", "12.7GB"),
		fluxT5Starter, fluxCLIPStarter, fluxVAEStarter,
	}
}
