// Package diffusion holds InvokeAI's Stable Diffusion nodes (model loaders,
// prompts, noise, denoising, VAE decode/encode, masks and latent resizing)
// on top of the engine's pipeline package. Models come from the model
// manager's cache; latents and conditioning live in an ObjectStore under the
// names InvokeAI passes between nodes (latents_name, conditioning_name).
package diffusion

import "github.com/invokego/invokego/internal/nodes"

// Field types InvokeAI passes along graph edges, with its JSON names.

// ModelIdentifierField names an installed model (shared with core_metadata).
type ModelIdentifierField = nodes.ModelIdentifierField

// LoRAField is a LoRA applied to a model (carried through, not applied).
type LoRAField struct {
	LoRA   ModelIdentifierField `json:"lora"`
	Weight float64              `json:"weight"`
}

// UNetField is InvokeAI's UNetField.
type UNetField struct {
	UNet         ModelIdentifierField `json:"unet"`
	Scheduler    ModelIdentifierField `json:"scheduler"`
	LoRAs        []LoRAField          `json:"loras"`
	SeamlessAxes []string             `json:"seamless_axes"`
	FreeUConfig  *FreeUConfig         `json:"freeu_config"`
}

// CLIPField is InvokeAI's CLIPField.
type CLIPField struct {
	Tokenizer     ModelIdentifierField `json:"tokenizer"`
	TextEncoder   ModelIdentifierField `json:"text_encoder"`
	SkippedLayers int                  `json:"skipped_layers"`
	LoRAs         []LoRAField          `json:"loras"`
}

// VAEField is InvokeAI's VAEField.
type VAEField struct {
	VAE          ModelIdentifierField `json:"vae"`
	SeamlessAxes []string             `json:"seamless_axes"`
}

// LatentsField names stored latents.
type LatentsField struct {
	LatentsName string `json:"latents_name"`
	Seed        *int64 `json:"seed"`
}

// TensorField names a stored tensor (a regional prompt mask).
type TensorField struct {
	TensorName string `json:"tensor_name"`
}

// ConditioningField names stored conditioning.
type ConditioningField struct {
	ConditioningName string       `json:"conditioning_name"`
	Mask             *TensorField `json:"mask"`
}

// DenoiseMaskField names a stored inpainting mask.
type DenoiseMaskField struct {
	MaskName          string  `json:"mask_name"`
	MaskedLatentsName *string `json:"masked_latents_name"`
	Gradient          bool    `json:"gradient"`
}

// Outputs.

// ModelLoaderOutput is model_loader_output.
type ModelLoaderOutput struct {
	UNet UNetField `json:"unet" title:"UNet" description:"UNet (scheduler, LoRAs)"`
	CLIP CLIPField `json:"clip" title:"CLIP" description:"CLIP (tokenizer, text encoder, LoRAs) and skipped layer count"`
	VAE  VAEField  `json:"vae" title:"VAE" description:"VAE"`
}

// OutputType implements nodes.Output.
func (ModelLoaderOutput) OutputType() string { return "model_loader_output" }

// SDXLModelLoaderOutput is sdxl_model_loader_output.
type SDXLModelLoaderOutput struct {
	UNet  UNetField `json:"unet" title:"UNet" description:"UNet (scheduler, LoRAs)"`
	CLIP  CLIPField `json:"clip" title:"CLIP 1" description:"CLIP (tokenizer, text encoder, LoRAs) and skipped layer count"`
	CLIP2 CLIPField `json:"clip2" title:"CLIP 2" description:"CLIP (tokenizer, text encoder, LoRAs) and skipped layer count"`
	VAE   VAEField  `json:"vae" title:"VAE" description:"VAE"`
}

// OutputType implements nodes.Output.
func (SDXLModelLoaderOutput) OutputType() string { return "sdxl_model_loader_output" }

// VAEOutput is vae_output.
type VAEOutput struct {
	VAE VAEField `json:"vae" title:"VAE" description:"VAE"`
}

// OutputType implements nodes.Output.
func (VAEOutput) OutputType() string { return "vae_output" }

// CLIPSkipInvocationOutput is clip_skip_output.
type CLIPSkipInvocationOutput struct {
	CLIP *CLIPField `json:"clip" title:"CLIP" description:"CLIP (tokenizer, text encoder, LoRAs) and skipped layer count"`
}

// OutputType implements nodes.Output.
func (CLIPSkipInvocationOutput) OutputType() string { return "clip_skip_output" }

// ConditioningOutput is conditioning_output.
type ConditioningOutput struct {
	Conditioning ConditioningField `json:"conditioning" description:"Conditioning tensor"`
}

// OutputType implements nodes.Output.
func (ConditioningOutput) OutputType() string { return "conditioning_output" }

// NoiseOutput is noise_output.
type NoiseOutput struct {
	Noise  LatentsField `json:"noise" description:"Noise tensor"`
	Width  int          `json:"width" description:"Width of output (px)"`
	Height int          `json:"height" description:"Height of output (px)"`
}

// OutputType implements nodes.Output.
func (NoiseOutput) OutputType() string { return "noise_output" }

// LatentsOutput is latents_output.
type LatentsOutput struct {
	Latents LatentsField `json:"latents" description:"Latents tensor"`
	Width   int          `json:"width" description:"Width of output (px)"`
	Height  int          `json:"height" description:"Height of output (px)"`
}

// OutputType implements nodes.Output.
func (LatentsOutput) OutputType() string { return "latents_output" }

// DenoiseMaskOutput is denoise_mask_output.
type DenoiseMaskOutput struct {
	DenoiseMask DenoiseMaskField `json:"denoise_mask" description:"Mask for denoise model run"`
}

// OutputType implements nodes.Output.
func (DenoiseMaskOutput) OutputType() string { return "denoise_mask_output" }

// SeamlessModeOutput is seamless_output.
type SeamlessModeOutput struct {
	UNet *UNetField `json:"unet" title:"UNet" description:"UNet (scheduler, LoRAs)"`
	VAE  *VAEField  `json:"vae" title:"VAE" description:"VAE"`
}

// OutputType implements nodes.Output.
func (SeamlessModeOutput) OutputType() string { return "seamless_output" }
