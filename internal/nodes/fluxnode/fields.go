// Package fluxnode holds InvokeAI's FLUX.1 nodes (flux_model_loader, flux_text_encoder, flux_denoise,
// flux_vae_encode, flux_vae_decode, flux_lora_loader, flux_lora_collection_loader) on top of the engine's
// flux package, and the model-cache loader for the FLUX side of the model manager (FLUX main models in
// every format, T5 encoders, CLIP embed models, the FLUX VAE). Latents, masks and conditioning pass through
// the diffusion nodes' ObjectStore, so the generic latent and mask nodes work with FLUX graphs too.
package fluxnode

import "github.com/invokego/invokego/internal/nodes/diffusion"

// Submodel names of the FLUX side (InvokeAI's SubModelType values).
const (
	SubTransformer  = "transformer"
	SubTextEncoder  = "text_encoder"
	SubTextEncoder2 = "text_encoder_2"
	SubTokenizer    = "tokenizer"
	SubTokenizer2   = "tokenizer_2"
	SubVAE          = "vae"
	SubScheduler    = "scheduler"
)

// TransformerField is InvokeAI's TransformerField.
type TransformerField struct {
	Transformer diffusion.ModelIdentifierField `json:"transformer" description:"Info to load Transformer submodel"`
	LoRAs       []diffusion.LoRAField          `json:"loras" description:"LoRAs to apply on model loading"`
}

// T5EncoderField is InvokeAI's T5EncoderField.
type T5EncoderField struct {
	Tokenizer   diffusion.ModelIdentifierField `json:"tokenizer" description:"Info to load tokenizer submodel"`
	TextEncoder diffusion.ModelIdentifierField `json:"text_encoder" description:"Info to load text_encoder submodel"`
	LoRAs       []diffusion.LoRAField          `json:"loras" description:"LoRAs to apply on model loading"`
}

// FluxConditioningField names stored FLUX conditioning (T5 sequence and pooled CLIP vector).
type FluxConditioningField struct {
	ConditioningName string                 `json:"conditioning_name" description:"The name of conditioning tensor"`
	Mask             *diffusion.TensorField `json:"mask" default:"null" description:"The mask associated with this conditioning tensor. Excluded regions should be set to False, included regions should be set to True."`
}

// ControlLoRAField is InvokeAI's ControlLoRAField (accepted in graphs, refused when used).
type ControlLoRAField struct {
	LoRA   diffusion.ModelIdentifierField `json:"lora" description:"Info to load lora model"`
	Weight float64                        `json:"weight" description:"Weight to apply to lora model"`
	Img    any                            `json:"img" description:"Image to use in structural conditioning"`
}

// FluxModelLoaderOutput is flux_model_loader_output.
type FluxModelLoaderOutput struct {
	Transformer TransformerField    `json:"transformer" title:"Transformer" description:"Transformer"`
	CLIP        diffusion.CLIPField `json:"clip" title:"CLIP" description:"CLIP (tokenizer, text encoder, LoRAs) and skipped layer count"`
	T5Encoder   T5EncoderField      `json:"t5_encoder" title:"T5 Encoder" description:"T5 tokenizer and text encoder"`
	VAE         diffusion.VAEField  `json:"vae" title:"VAE" description:"VAE"`
	MaxSeqLen   T5MaxSeqLen         `json:"max_seq_len" title:"Max Seq Length" description:"The max sequence length to used for the T5 encoder. (256 for schnell transformer, 512 for dev transformer)"`
}

// OutputType implements nodes.Output.
func (FluxModelLoaderOutput) OutputType() string { return "flux_model_loader_output" }

// FluxConditioningOutput is flux_conditioning_output.
type FluxConditioningOutput struct {
	Conditioning FluxConditioningField `json:"conditioning" description:"Conditioning tensor"`
}

// OutputType implements nodes.Output.
func (FluxConditioningOutput) OutputType() string { return "flux_conditioning_output" }

// FluxLoRALoaderOutput is flux_lora_loader_output.
type FluxLoRALoaderOutput struct {
	Transformer *TransformerField    `json:"transformer" default:"null" title:"FLUX Transformer" description:"Transformer"`
	CLIP        *diffusion.CLIPField `json:"clip" default:"null" title:"CLIP" description:"CLIP (tokenizer, text encoder, LoRAs) and skipped layer count"`
	T5Encoder   *T5EncoderField      `json:"t5_encoder" default:"null" title:"T5 Encoder" description:"T5 tokenizer and text encoder"`
}

// OutputType implements nodes.Output.
func (FluxLoRALoaderOutput) OutputType() string { return "flux_lora_loader_output" }

// FluxScheduler is a FLUX sampler name.
type FluxScheduler string

// T5MaxSeqLen is the T5 encoder's sequence length: 256 for schnell, 512 for dev.
type T5MaxSeqLen int

// LiteralInts implements schema.IntLiteral.
func (T5MaxSeqLen) LiteralInts() []int64 { return []int64{256, 512} }

// LiteralValues implements schema.Literal.
func (FluxScheduler) LiteralValues() []string { return []string{"euler", "heun", "lcm"} }

// DyPEPreset is InvokeAI's dynamic-position-extrapolation preset.
type DyPEPreset string

// LiteralValues implements schema.Literal.
func (DyPEPreset) LiteralValues() []string { return []string{"off", "manual", "auto", "area", "4k"} }
