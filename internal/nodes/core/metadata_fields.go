package core

import "github.com/invokego/invokego/internal/nodes"

// The shapes of the typed entries of core_metadata, for the schema only: the values themselves travel as
// nodes.Passthrough, exactly as the client sent them, into the image's metadata.

// GenerationMode is how an image was made (core_metadata.generation_mode).
type GenerationMode string

// LiteralValues implements schema.Literal.
func (GenerationMode) LiteralValues() []string {
	var out []string
	for _, family := range []string{"", "sdxl_", "flux_", "flux2_", "sd3_", "cogview4_", "z_image_"} {
		for _, mode := range []string{"txt2img", "img2img", "inpaint", "outpaint"} {
			out = append(out, family+mode)
		}
	}
	return out
}

// ControlAdapterMode is how a control adapter weighs the prompt against the control image.
type ControlAdapterMode string

// LiteralValues implements schema.Literal.
func (ControlAdapterMode) LiteralValues() []string {
	return []string{"balanced", "more_prompt", "more_control", "unbalanced"}
}

// ControlResizeMode is how a control image is fitted to the output.
type ControlResizeMode string

// LiteralValues implements schema.Literal.
func (ControlResizeMode) LiteralValues() []string {
	return []string{"just_resize", "crop_resize", "fill_resize", "just_resize_simple"}
}

// CLIPVisionModel names an IP adapter's image encoder.
type CLIPVisionModel string

// LiteralValues implements schema.Literal.
func (CLIPVisionModel) LiteralValues() []string { return []string{"ViT-L", "ViT-H", "ViT-G"} }

// IPAdapterMethod is what an IP adapter transfers.
type IPAdapterMethod string

// LiteralValues implements schema.Literal.
func (IPAdapterMethod) LiteralValues() []string {
	return []string{"full", "style", "composition", "style_strong", "style_precise"}
}

// ControlNetMetadataField is one ControlNet of a generation.
type ControlNetMetadataField struct {
	Image            nodes.ImageField           `json:"image" description:"The control image"`
	ProcessedImage   *nodes.ImageField          `json:"processed_image" description:"The control image, after processing."`
	ControlModel     nodes.ModelIdentifierField `json:"control_model" description:"The ControlNet model to use"`
	ControlWeight    []float64                  `json:"control_weight" default:"1" description:"The weight given to the ControlNet"`
	BeginStepPercent float64                    `json:"begin_step_percent" default:"0" ge:"0" le:"1" description:"When the ControlNet is first applied (% of total steps)"`
	EndStepPercent   float64                    `json:"end_step_percent" default:"1" ge:"0" le:"1" description:"When the ControlNet is last applied (% of total steps)"`
	ControlMode      ControlAdapterMode         `json:"control_mode" default:"balanced" description:"The control mode to use"`
	ResizeMode       ControlResizeMode          `json:"resize_mode" default:"just_resize" description:"The resize mode to use"`
}

// IPAdapterMetadataField is one IP adapter of a generation.
type IPAdapterMetadataField struct {
	Image            nodes.ImageField           `json:"image" description:"The IP-Adapter image prompt."`
	IPAdapterModel   nodes.ModelIdentifierField `json:"ip_adapter_model" description:"The IP-Adapter model."`
	CLIPVisionModel  CLIPVisionModel            `json:"clip_vision_model" description:"The CLIP Vision model"`
	Method           IPAdapterMethod            `json:"method" description:"Method to apply IP Weights with"`
	Weight           []float64                  `json:"weight" description:"The weight given to the IP-Adapter"`
	BeginStepPercent float64                    `json:"begin_step_percent" description:"When the IP-Adapter is first applied (% of total steps)"`
	EndStepPercent   float64                    `json:"end_step_percent" description:"When the IP-Adapter is last applied (% of total steps)"`
}

// T2IAdapterMetadataField is one T2I adapter of a generation.
type T2IAdapterMetadataField struct {
	Image            nodes.ImageField           `json:"image" description:"The control image."`
	ProcessedImage   *nodes.ImageField          `json:"processed_image" description:"The control image, after processing."`
	T2IAdapterModel  nodes.ModelIdentifierField `json:"t2i_adapter_model" description:"The T2I-Adapter model to use."`
	Weight           []float64                  `json:"weight" default:"1" description:"The weight given to the T2I-Adapter"`
	BeginStepPercent float64                    `json:"begin_step_percent" default:"0" ge:"0" le:"1" description:"When the T2I-Adapter is first applied (% of total steps)"`
	EndStepPercent   float64                    `json:"end_step_percent" default:"1" ge:"0" le:"1" description:"When the T2I-Adapter is last applied (% of total steps)"`
	ResizeMode       ControlResizeMode          `json:"resize_mode" default:"just_resize" description:"The resize mode to use"`
}

// LoRAMetadataField is one LoRA of a generation.
type LoRAMetadataField struct {
	Model  nodes.ModelIdentifierField `json:"model" description:"LoRA model to load"`
	Weight float64                    `json:"weight" description:"The weight at which the LoRA is applied to each model"`
}
