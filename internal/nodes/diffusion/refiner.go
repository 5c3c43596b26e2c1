package diffusion

import (
	"github.com/invokego/invokego/internal/engine/lora"
	"github.com/invokego/invokego/internal/engine/pipeline"
	"github.com/invokego/invokego/internal/models"
	"github.com/invokego/invokego/internal/nodes"
)

// The SDXL refiner: its loader and its prompt, which conditions on the second (OpenCLIP bigG) encoder alone
// with an aesthetic score among the time ids; denoise_latents runs it like the base (five time ids instead of
// six, docs/compatibility.md).

// SDXLRefinerModelLoaderOutput is sdxl_refiner_model_loader_output.
type SDXLRefinerModelLoaderOutput struct {
	UNet  UNetField `json:"unet" title:"UNet" description:"UNet (scheduler, LoRAs)"`
	CLIP2 CLIPField `json:"clip2" title:"CLIP 2" description:"CLIP (tokenizer, text encoder, LoRAs) and skipped layer count"`
	VAE   VAEField  `json:"vae" title:"VAE" description:"VAE"`
}

// OutputType implements nodes.Output.
func (SDXLRefinerModelLoaderOutput) OutputType() string { return "sdxl_refiner_model_loader_output" }

// SDXLRefinerModelLoader is sdxl_refiner_model_loader.
type SDXLRefinerModelLoader struct {
	Model  ModelIdentifierField `json:"model" ui_model_base:"sdxl-refiner" ui_model_type:"main" description:"SDXL Refiner Main Modde (UNet, VAE, CLIP2) to load"`
	models modelAccess
}

// NodeInfo implements nodes.Node.
func (*SDXLRefinerModelLoader) NodeInfo() nodes.Info {
	return nodes.Info{Type: "sdxl_refiner_model_loader", Title: "Refiner Model - SDXL",
		Description: "Loads an sdxl refiner model, outputting its submodels.", Tags: []string{"model", "sdxl", "refiner"},
		Category: "model", Version: "1.0.4", Output: SDXLRefinerModelLoaderOutput{}}
}

// Invoke implements nodes.Invocation: the refiner's UNet, scheduler, second tokenizer and encoder, and VAE.
func (n *SDXLRefinerModelLoader) Invoke(ctx nodes.Context) (nodes.Output, error) {
	cfg, err := n.models.config(ctx, n.Model)
	if err != nil {
		return nil, valueError("Unknown model: %s", n.Model.Key)
	}
	if cfg.Type != models.TypeMain {
		return nil, valueError("%s is not a main model", n.Model.Key)
	}
	m := n.Model
	return SDXLRefinerModelLoaderOutput{
		UNet:  UNetField{UNet: m.WithSubmodel(SubUNet), Scheduler: m.WithSubmodel(SubScheduler), LoRAs: []LoRAField{}, SeamlessAxes: []string{}},
		CLIP2: CLIPField{Tokenizer: m.WithSubmodel(SubTokenizer2), TextEncoder: m.WithSubmodel(SubTextEncoder2), LoRAs: []LoRAField{}},
		VAE:   VAEField{VAE: m.WithSubmodel(SubVAE), SeamlessAxes: []string{}},
	}, nil
}

// SDXLRefinerCompelPrompt is sdxl_refiner_compel_prompt.
type SDXLRefinerCompelPrompt struct {
	Style          string    `json:"style" default:"\"\"" ui_component:"textarea" description:"Prompt to be parsed by Compel to create a conditioning tensor"`
	OriginalWidth  int       `json:"original_width" default:"1024" description:""`
	OriginalHeight int       `json:"original_height" default:"1024" description:""`
	CropTop        int       `json:"crop_top" default:"0" description:""`
	CropLeft       int       `json:"crop_left" default:"0" description:""`
	AestheticScore float64   `json:"aesthetic_score" default:"6.0" description:"The aesthetic score to apply to the conditioning tensor"`
	CLIP2          CLIPField `json:"clip2" input:"connection" description:"CLIP (tokenizer, text encoder, LoRAs) and skipped layer count"`
	models         modelAccess
	store          *ObjectStore
}

// NodeInfo implements nodes.Node.
func (*SDXLRefinerCompelPrompt) NodeInfo() nodes.Info {
	return nodes.Info{Type: "sdxl_refiner_compel_prompt", Class: "SDXLRefinerCompelPromptInvocation",
		Title: "Prompt - SDXL Refiner", Description: "Parse prompt using compel package to conditioning.",
		Tags: []string{"sdxl", "compel", "prompt"}, Category: "conditioning", Version: "1.1.2", Output: ConditioningOutput{}}
}

// Invoke implements nodes.Invocation. InvokeAI names no LoRA prefix for the refiner's encoder, so no LoRA
// reaches it.
func (n *SDXLRefinerCompelPrompt) Invoke(ctx nodes.Context) (nodes.Output, error) {
	clip := n.CLIP2
	clip.LoRAs = nil
	enc, err := n.models.textEncoder(ctx, clip, lora.TextEncoder2, n.Style, 1)
	if err != nil {
		return nil, nodeError(err)
	}
	c, err := pipeline.EncodeSDXLRefinerPrompt(ctx, enc, pipeline.SDXLRefinerPrompt{
		Style: n.Style, OriginalWidth: n.OriginalWidth, OriginalHeight: n.OriginalHeight,
		CropTop: n.CropTop, CropLeft: n.CropLeft, AestheticScore: n.AestheticScore,
	})
	if err != nil {
		return nil, nodeError(err)
	}
	return ConditioningOutput{Conditioning: ConditioningField{ConditioningName: n.store.SaveConditioning(c)}}, nil
}
