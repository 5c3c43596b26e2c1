package diffusion

import (
	"context"
	"errors"
	"image"
	"math"

	"github.com/invokego/invokego/internal/engine/lora"
	"github.com/invokego/invokego/internal/engine/noise"
	"github.com/invokego/invokego/internal/engine/pipeline"
	"github.com/invokego/invokego/internal/engine/scheduler"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/tensor"
	"github.com/invokego/invokego/internal/engine/tokenizer"
	"github.com/invokego/invokego/internal/models"
	"github.com/invokego/invokego/internal/nodes"
)

// Deps are what the diffusion nodes need from the application.
type Deps struct {
	Records ModelRecords
	Cache   ModelCache
	Store   *ObjectStore
	// NoiseDType is the config's noise_dtype: float32 (InvokeAI on a CPU)
	// or float16 (InvokeAI's default on NVIDIA GPUs).
	NoiseDType noise.DType
	// Precision is the loader's build precision (sd.ResolvePrecision's
	// "fp32" or "bf16"; "" is fp32): with bf16, a VAE node's fp32 field
	// loads a float32 build of the VAE beside the bf16 one.
	Precision string
}

// seedMax is InvokeAI's SEED_MAX (seeds are taken modulo 2³²).
const seedMax = 1<<32 - 1

// latentScale is InvokeAI's LATENT_SCALE_FACTOR.
const latentScale = 8

// maxLatentSide is the largest latent side, that of a 16384-pixel image (the bound of the image size fields).
const maxLatentSide = 16384 / latentScale

// Register adds the diffusion node types to r.
func Register(r *nodes.Registry, deps Deps) {
	if deps.Store == nil {
		deps.Store = NewObjectStore(1 << 30)
	}
	m := modelAccess{records: deps.Records, cache: deps.Cache, precision: deps.Precision}
	r.Register(
		&MainModelLoader{models: m},
		&SDXLModelLoader{models: m},
		&VAELoader{models: m},
		&CLIPSkip{},
		&Compel{models: m, store: deps.Store},
		&SDXLCompelPrompt{models: m, store: deps.Store},
		&Noise{store: deps.Store, dtype: deps.NoiseDType},
		&DenoiseLatents{models: m, store: deps.Store, dtype: deps.NoiseDType},
		&TiledMultiDiffusionDenoiseLatents{models: m, store: deps.Store, dtype: deps.NoiseDType},
		&LatentsToImage{models: m, store: deps.Store},
		&ImageToLatents{models: m, store: deps.Store},
		&CreateDenoiseMask{models: m, store: deps.Store},
		&CreateGradientMask{models: m, store: deps.Store},
		&ResizeLatents{store: deps.Store},
		&ScaleLatents{store: deps.Store},
		&Seamless{},
		&ControlNetNode{},
		&T2IAdapterNode{},
		&IPAdapterNode{models: m},
		&LoRALoader{models: m},
		&SDXLLoRALoader{models: m},
		&LoRASelector{},
		&LoRACollectionLoader{models: m},
		&SDXLLoRACollectionLoader{models: m},
		&MetadataToLoRAs{models: m},
		&MetadataToSDXLLoRAs{models: m},
		&MetadataToLoRACollection{models: m},
		&MetadataToControlNets{models: m},
		&MetadataToIPAdapters{models: m},
		&MetadataToT2IAdapters{models: m},
	)
	registerCanvas(r, deps.Store)
	registerPrimNodes(r, m, deps.Store)
	r.Register(&FreeU{}, &SDXLRefinerModelLoader{models: m}, &SDXLRefinerCompelPrompt{models: m, store: deps.Store},
		&DenoiseLatentsMeta{DenoiseLatents: DenoiseLatents{models: m, store: deps.Store, dtype: deps.NoiseDType}})
}

func valueError(format string, args ...any) error { return nodes.Errorf("ValueError", format, args...) }

// nodeError passes cancellation and node errors through and names other
// failures as InvokeAI would report them.
func nodeError(err error) error {
	var ne *nodes.NodeError
	if err == nil || errors.As(err, &ne) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nodes.Errorf("RuntimeError", "%v", err)
}

// Model loaders.

// MainModelLoader is main_model_loader.
type MainModelLoader struct {
	Model  ModelIdentifierField `json:"model" ui_model_base:"sd-1,sd-2" ui_model_type:"main" description:"Main model (UNet, VAE, CLIP) to load"`
	models modelAccess
}

// NodeInfo implements nodes.Node.
func (*MainModelLoader) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:     "main_model_loader",
		Title:    "Main Model - SD1.5, SD2",
		Tags:     []string{"model"},
		Category: "model",
		Version:  "1.0.4",
		Output:   ModelLoaderOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *MainModelLoader) Invoke(ctx nodes.Context) (nodes.Output, error) {
	if _, err := n.models.config(ctx, n.Model); err != nil {
		return nil, valueError("Unknown model: %s", n.Model.Key)
	}
	return ModelLoaderOutput{
		UNet: UNetField{UNet: n.Model.WithSubmodel(SubUNet), Scheduler: n.Model.WithSubmodel(SubScheduler), LoRAs: []LoRAField{}, SeamlessAxes: []string{}},
		CLIP: CLIPField{Tokenizer: n.Model.WithSubmodel(SubTokenizer), TextEncoder: n.Model.WithSubmodel(SubTextEncoder), LoRAs: []LoRAField{}},
		VAE:  VAEField{VAE: n.Model.WithSubmodel(SubVAE), SeamlessAxes: []string{}},
	}, nil
}

// SDXLModelLoader is sdxl_model_loader.
type SDXLModelLoader struct {
	Model  ModelIdentifierField `json:"model" ui_model_base:"sdxl" ui_model_type:"main" description:"SDXL Main model (UNet, VAE, CLIP1, CLIP2) to load"`
	models modelAccess
}

// NodeInfo implements nodes.Node.
func (*SDXLModelLoader) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:     "sdxl_model_loader",
		Title:    "Main Model - SDXL",
		Tags:     []string{"model", "sdxl"},
		Category: "model",
		Version:  "1.0.4",
		Output:   SDXLModelLoaderOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *SDXLModelLoader) Invoke(ctx nodes.Context) (nodes.Output, error) {
	if _, err := n.models.config(ctx, n.Model); err != nil {
		return nil, valueError("Unknown model: %s", n.Model.Key)
	}
	return SDXLModelLoaderOutput{
		UNet:  UNetField{UNet: n.Model.WithSubmodel(SubUNet), Scheduler: n.Model.WithSubmodel(SubScheduler), LoRAs: []LoRAField{}, SeamlessAxes: []string{}},
		CLIP:  CLIPField{Tokenizer: n.Model.WithSubmodel(SubTokenizer), TextEncoder: n.Model.WithSubmodel(SubTextEncoder), LoRAs: []LoRAField{}},
		CLIP2: CLIPField{Tokenizer: n.Model.WithSubmodel(SubTokenizer2), TextEncoder: n.Model.WithSubmodel(SubTextEncoder2), LoRAs: []LoRAField{}},
		VAE:   VAEField{VAE: n.Model.WithSubmodel(SubVAE), SeamlessAxes: []string{}},
	}, nil
}

// VAELoader is vae_loader.
type VAELoader struct {
	VAEModel ModelIdentifierField `json:"vae_model" title:"VAE" ui_model_base:"sd-1,sd-2,sdxl,sd-3,flux,flux2" ui_model_type:"vae" description:"VAE model to load"`
	models   modelAccess
}

// NodeInfo implements nodes.Node.
func (*VAELoader) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:     "vae_loader",
		Title:    "VAE Model - SD1.5, SD2, SDXL, SD3, FLUX",
		Tags:     []string{"vae", "model"},
		Category: "model",
		Version:  "1.0.4",
		Output:   VAEOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *VAELoader) Invoke(ctx nodes.Context) (nodes.Output, error) {
	if _, err := n.models.config(ctx, n.VAEModel); err != nil {
		return nil, valueError("Unknown model: %s", n.VAEModel.Key)
	}
	return VAEOutput{VAE: VAEField{VAE: n.VAEModel, SeamlessAxes: []string{}}}, nil
}

// CLIPSkip is clip_skip: it adds to the layers removed from the end of the
// text encoder.
type CLIPSkip struct {
	CLIP          CLIPField `json:"clip" title:"CLIP" input:"connection" description:"CLIP (tokenizer, text encoder, LoRAs) and skipped layer count"`
	SkippedLayers int       `json:"skipped_layers" default:"0" ge:"0" description:"Number of layers to skip in text encoder"`
}

// NodeInfo implements nodes.Node.
func (*CLIPSkip) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:     "clip_skip",
		Title:    "Apply CLIP Skip - SD1.5, SDXL",
		Tags:     []string{"clipskip", "clip", "skip"},
		Category: "conditioning",
		Version:  "1.1.1",
		Output:   CLIPSkipInvocationOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *CLIPSkip) Invoke(nodes.Context) (nodes.Output, error) {
	clip := n.CLIP
	clip.SkippedLayers += n.SkippedLayers
	return CLIPSkipInvocationOutput{CLIP: &clip}, nil
}

// Prompts.

// textEncoder loads a CLIP field's tokenizer and encoder with what this
// call adds to them: the field's LoRAs for the encoder (comp names which of
// a LoRA's text encoders it is) and the textual-inversion embeddings that
// text names (encoder 0 or 1 picks an SDXL embedding's vectors).
func (m modelAccess) textEncoder(ctx nodes.Context, clip CLIPField, comp lora.Component, text string, encoder int) (pipeline.TextEncoder, error) {
	tok, err := load[*tokenizer.Tokenizer](ctx, m, clip.Tokenizer, SubTokenizer)
	if err != nil {
		return pipeline.TextEncoder{}, err
	}
	enc, err := load[*sd.CLIPTextModel](ctx, m, clip.TextEncoder, SubTextEncoder)
	if err != nil {
		return pipeline.TextEncoder{}, err
	}
	te := pipeline.TextEncoder{Tokenizer: tok, Model: enc, SkipLayers: clip.SkippedLayers}
	p, err := m.patcher(ctx, clip.TextEncoder, clip.LoRAs, comp, enc.LayerShapes())
	if err != nil {
		return pipeline.TextEncoder{}, err
	}
	te.Layers = asLayerPatcher(p)
	if tiTrigger.MatchString(text) {
		cfg, err := m.config(ctx, clip.TextEncoder)
		if err != nil {
			return pipeline.TextEncoder{}, err
		}
		if te.Embeddings, err = m.embeddings(ctx, text, cfg.Base, encoder, enc.Config.HiddenSize); err != nil {
			return pipeline.TextEncoder{}, err
		}
	}
	return te, nil
}

// Compel is compel: an SD-1/2 prompt to conditioning.
type Compel struct {
	Prompt string       `json:"prompt" default:"\"\"" ui_component:"textarea" description:"Prompt to be parsed by Compel to create a conditioning tensor"`
	CLIP   CLIPField    `json:"clip" title:"CLIP" description:"CLIP (tokenizer, text encoder, LoRAs) and skipped layer count"`
	Mask   *TensorField `json:"mask" description:"A mask defining the region that this conditioning prompt applies to."`
	models modelAccess
	store  *ObjectStore
}

// NodeInfo implements nodes.Node.
func (*Compel) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:     "compel",
		Title:    "Prompt - SD1.5",
		Tags:     []string{"prompt", "compel"},
		Category: "conditioning",
		Version:  "1.2.1",
		Output:   ConditioningOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *Compel) Invoke(ctx nodes.Context) (nodes.Output, error) {
	enc, err := n.models.textEncoder(ctx, n.CLIP, lora.TextEncoder, n.Prompt, 0)
	if err != nil {
		return nil, nodeError(err)
	}
	z, err := pipeline.EncodePrompt(ctx, enc, n.Prompt, pipeline.LastHiddenNormalized)
	if err == nil {
		err = patchErr(enc.Layers)
	}
	if err != nil {
		return nil, nodeError(err)
	}
	name := n.store.SaveConditioning(&pipeline.Conditioning{Embeds: z})
	return ConditioningOutput{Conditioning: ConditioningField{ConditioningName: name, Mask: n.Mask}}, nil
}

// SDXLCompelPrompt is sdxl_compel_prompt.
type SDXLCompelPrompt struct {
	Prompt         string       `json:"prompt" default:"\"\"" ui_component:"textarea" description:"Prompt to be parsed by Compel to create a conditioning tensor"`
	Style          string       `json:"style" default:"\"\"" ui_component:"textarea" description:"Prompt to be parsed by Compel to create a conditioning tensor"`
	OriginalWidth  int          `json:"original_width" default:"1024"`
	OriginalHeight int          `json:"original_height" default:"1024"`
	CropTop        int          `json:"crop_top" default:"0"`
	CropLeft       int          `json:"crop_left" default:"0"`
	TargetWidth    int          `json:"target_width" default:"1024"`
	TargetHeight   int          `json:"target_height" default:"1024"`
	CLIP           CLIPField    `json:"clip" title:"CLIP 1" input:"connection" description:"CLIP (tokenizer, text encoder, LoRAs) and skipped layer count"`
	CLIP2          CLIPField    `json:"clip2" title:"CLIP 2" input:"connection" description:"CLIP (tokenizer, text encoder, LoRAs) and skipped layer count"`
	Mask           *TensorField `json:"mask" description:"A mask defining the region that this conditioning prompt applies to."`
	models         modelAccess
	store          *ObjectStore
}

// NodeInfo implements nodes.Node.
func (*SDXLCompelPrompt) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:     "sdxl_compel_prompt",
		Title:    "Prompt - SDXL",
		Tags:     []string{"sdxl", "compel", "prompt"},
		Category: "conditioning",
		Version:  "1.2.1",
		Output:   ConditioningOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *SDXLCompelPrompt) Invoke(ctx nodes.Context) (nodes.Output, error) {
	// Both encoders see the embeddings either text names (encoder 1 reads
	// the prompt, encoder 2 the style when there is one).
	text := n.Prompt + "\n" + n.Style
	enc1, err := n.models.textEncoder(ctx, n.CLIP, lora.TextEncoder, text, 0)
	if err != nil {
		return nil, nodeError(err)
	}
	enc2, err := n.models.textEncoder(ctx, n.CLIP2, lora.TextEncoder2, text, 1)
	if err != nil {
		return nil, nodeError(err)
	}
	c, err := pipeline.EncodeSDXLPrompt(ctx, enc1, enc2, pipeline.SDXLPrompt{
		Prompt: n.Prompt, Style: n.Style,
		OriginalWidth: n.OriginalWidth, OriginalHeight: n.OriginalHeight,
		CropTop: n.CropTop, CropLeft: n.CropLeft,
		TargetWidth: n.TargetWidth, TargetHeight: n.TargetHeight,
	})
	if err == nil {
		if err = patchErr(enc1.Layers); err == nil {
			err = patchErr(enc2.Layers)
		}
	}
	if err != nil {
		return nil, nodeError(err)
	}
	name := n.store.SaveConditioning(c)
	return ConditioningOutput{Conditioning: ConditioningField{ConditioningName: name, Mask: n.Mask}}, nil
}

// Noise is noise: torch's CPU randn for the seed, bit for bit.
type Noise struct {
	Seed   int64 `json:"seed" default:"0" ge:"0" le:"4294967295" description:"Seed for random number generation"`
	Width  int   `json:"width" default:"512" gt:"0" multiple_of:"8" description:"Width of output (px)" le:"16384"`
	Height int   `json:"height" default:"512" gt:"0" multiple_of:"8" description:"Height of output (px)" le:"16384"`
	UseCPU bool  `json:"use_cpu" default:"true" description:"Use CPU for noise generation (for reproducible results across platforms)"`
	store  *ObjectStore
	dtype  noise.DType
}

// NodeInfo implements nodes.Node.
func (*Noise) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:     "noise",
		Title:    "Create Latent Noise",
		Tags:     []string{"latents", "noise"},
		Category: "latents",
		Version:  "1.0.3",
		Output:   NoiseOutput{},
	}
}

// SizeFields implements nodes.Sizer.
func (*Noise) SizeFields() []string { return []string{"width", "height"} }

// Allocation implements nodes.Sizer: the noise tensor.
func (n *Noise) Allocation() (string, int, []int) {
	return "the noise", 4, []int{1, 4, n.Height / latentScale, n.Width / latentScale}
}

// Invoke implements nodes.Invocation.
func (n *Noise) Invoke(ctx nodes.Context) (nodes.Output, error) {
	if n.Width%latentScale != 0 || n.Height%latentScale != 0 {
		return nil, valueError("width and height must be multiples of %d, got %dx%d", latentScale, n.Width, n.Height)
	}
	seed := n.Seed % (seedMax + 1)
	shape := []int{1, 4, n.Height / latentScale, n.Width / latentScale}
	data, err := noise.RandnIn(ctx, uint64(seed), n.dtype, shape...)
	if err != nil {
		return nil, err
	}
	t := tensor.FromData(data, shape...)
	name := n.store.SaveTensor("noise", t)
	return NoiseOutput{Noise: LatentsField{LatentsName: name, Seed: &seed}, Width: n.Width, Height: n.Height}, nil
}

// DenoiseLatents is denoise_latents.
type DenoiseLatents struct {
	PositiveConditioning []ConditioningField  `json:"positive_conditioning" poly:"true" input:"connection" ui_order:"0" description:"Positive conditioning tensor"`
	NegativeConditioning []ConditioningField  `json:"negative_conditioning" poly:"true" input:"connection" ui_order:"1" description:"Negative conditioning tensor"`
	Noise                *LatentsField        `json:"noise" input:"connection" ui_order:"3" description:"Noise tensor"`
	Steps                int                  `json:"steps" default:"10" gt:"0" description:"Number of steps to run" le:"1000"`
	CFGScale             []float64            `json:"cfg_scale" poly:"true" default:"7.5" title:"CFG Scale" description:"Classifier-Free Guidance scale"`
	DenoisingStart       float64              `json:"denoising_start" default:"0.0" ge:"0" le:"1" description:"When to start denoising, expressed a percentage of total steps"`
	DenoisingEnd         float64              `json:"denoising_end" default:"1.0" ge:"0" le:"1" description:"When to stop denoising, expressed a percentage of total steps"`
	Scheduler            models.SchedulerName `json:"scheduler" default:"euler" ui_type:"SchedulerField" description:"Scheduler to use during inference"`
	UNet                 UNetField            `json:"unet" title:"UNet" input:"connection" ui_order:"2" description:"UNet (scheduler, LoRAs)"`
	Control              []ControlField       `json:"control" default:"null" poly:"true" input:"connection" ui_order:"5" description:"ControlNet(s) to apply"`
	IPAdapter            []IPAdapterField     `json:"ip_adapter" default:"null" poly:"true" input:"connection" ui_order:"6" title:"IP-Adapter" description:"IP-Adapter to apply"`
	T2IAdapter           []T2IAdapterField    `json:"t2i_adapter" default:"null" poly:"true" input:"connection" ui_order:"7" title:"T2I-Adapter" description:"T2I-Adapter(s) to apply"`
	CFGRescaleMultiplier float64              `json:"cfg_rescale_multiplier" default:"0" ge:"0" lt:"1" title:"CFG Rescale Multiplier" description:"Rescale multiplier for CFG guidance, used for models trained with zero-terminal SNR"`
	Latents              *LatentsField        `json:"latents" input:"connection" ui_order:"4" description:"Latents tensor"`
	DenoiseMask          *DenoiseMaskField    `json:"denoise_mask" input:"connection" ui_order:"8" description:"A mask of the region to apply the denoising process to. Values of 0.0 represent the regions to be fully denoised, and 1.0 represent the regions to be preserved."`
	models               modelAccess
	store                *ObjectStore
	dtype                noise.DType
}

// NodeInfo implements nodes.Node.
func (*DenoiseLatents) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:     "denoise_latents",
		Title:    "Denoise - SD1.5, SDXL",
		Tags:     []string{"latents", "denoise", "txt2img", "t2i", "t2l", "img2img", "i2i", "l2l"},
		Category: "latents",
		Version:  "1.5.4",
		Output:   LatentsOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *DenoiseLatents) Invoke(ctx nodes.Context) (nodes.Output, error) {
	seamX, seamY, err := seamlessAxes(n.UNet.SeamlessAxes)
	if err != nil {
		return nil, err
	}
	if !scheduler.Implemented(string(n.Scheduler)) {
		return nil, valueError("unknown scheduler %q", n.Scheduler)
	}
	params := pipeline.DenoiseParams{
		SchedulerName:        string(n.Scheduler),
		Steps:                n.Steps,
		CFGScale:             n.CFGScale,
		CFGRescaleMultiplier: n.CFGRescaleMultiplier,
		DenoisingStart:       n.DenoisingStart,
		DenoisingEnd:         n.DenoisingEnd,
	}
	if len(params.CFGScale) == 0 {
		params.CFGScale = []float64{7.5}
	}
	for _, s := range params.CFGScale {
		if s < 1 {
			return nil, valueError("cfg_scale must be at least 1, got %v", s)
		}
	}
	// InvokeAI's prepare_noise_and_latents: the seed comes from the noise,
	// else from the latents, else 0.
	var seed int64
	if n.Noise != nil {
		if params.Noise, err = n.store.Tensor(n.Noise.LatentsName); err != nil {
			return nil, valueError("noise: %v", err)
		}
		if n.Noise.Seed != nil {
			seed = *n.Noise.Seed
		}
	}
	if n.Latents != nil {
		if params.Latents, err = n.store.Tensor(n.Latents.LatentsName); err != nil {
			return nil, valueError("latents: %v", err)
		}
		if n.Noise == nil && n.Latents.Seed != nil {
			seed = *n.Latents.Seed
		}
	}
	if params.Noise == nil && params.Latents == nil {
		return nil, valueError("'latents' or 'noise' must be provided!")
	}
	params.Seed = uint32(seed)
	if n.DenoiseMask != nil {
		mask, err := n.store.Tensor(n.DenoiseMask.MaskName)
		if err != nil {
			return nil, valueError("denoise mask: %v", err)
		}
		params.Mask = &pipeline.DenoiseMask{Mask: mask, Gradient: n.DenoiseMask.Gradient}
	}
	if params.UNet, err = load[*sd.UNet](ctx, n.models, n.UNet.UNet, SubUNet); err != nil {
		return nil, nodeError(err)
	}
	params.UNetOptions.Seamless = sd.Seamless{X: seamX, Y: seamY}
	params.UNetOptions.FreeU = n.UNet.FreeUConfig.engine()
	up, err := n.models.patcher(ctx, n.UNet.UNet, n.UNet.LoRAs, lora.UNet, params.UNet.LayerShapes())
	if err != nil {
		return nil, err
	}
	params.UNetOptions.Layers = asLayerPatcher(up)
	shape := params.Noise
	if shape == nil {
		shape = params.Latents
	}
	if len(shape.Shape) != 4 {
		return nil, valueError("latents of shape %v", shape.Shape)
	}
	if params.Positive, params.PositiveRegions, err = n.conditioning(n.PositiveConditioning, "positive", shape.Shape[2], shape.Shape[3]); err != nil {
		return nil, err
	}
	if params.Negative, params.NegativeRegions, err = n.conditioning(n.NegativeConditioning, "negative", shape.Shape[2], shape.Shape[3]); err != nil {
		return nil, err
	}
	if err := n.adapterParams(ctx, &params, shape.Shape[2], shape.Shape[3]); err != nil {
		return nil, err
	}
	schedCfg, err := load[SchedulerConfig](ctx, n.models, n.UNet.Scheduler, SubScheduler)
	if err != nil {
		return nil, nodeError(err)
	}
	params.SchedulerConfig = schedCfg
	factors := pipeline.SD1LatentRGBFactors
	if params.UNet.Config.AdditionEmbedType == "text_time" {
		factors = pipeline.SDXLLatentRGBFactors
	}
	params.OnStep = func(s pipeline.StepInfo) error {
		preview, err := pipeline.PreviewImage(s.Latents, factors)
		if err != nil {
			return err
		}
		pct := float64(s.Step+1) / float64(s.TotalSteps)
		// Latents are an eighth of the image's size on each side.
		size := image.Pt(s.Latents.Shape[3]*8, s.Latents.Shape[2]*8)
		ctx.ReportProgress(nodes.Progress{Message: "Denoising", Percentage: &pct, Preview: preview, PreviewSize: size})
		return nil
	}
	result, err := pipeline.Denoise(ctx, params)
	if err == nil {
		err = patchErr(params.UNetOptions.Layers)
	}
	if err != nil {
		return nil, nodeError(err)
	}
	name := n.store.SaveTensor("latents", result)
	return LatentsOutput{Latents: LatentsField{LatentsName: name}, Width: result.Shape[3] * latentScale, Height: result.Shape[2] * latentScale}, nil
}

// conditioning reads one side's conditionings: one, or several (regional prompts, InvokeAI's
// _get_text_embeddings_and_masks and _concat_regional_text_embeddings), concatenated, with the regions of
// those that carry a mask; h×w is the latents' size.
func (n *DenoiseLatents) conditioning(fields []ConditioningField, side string, h, w int) (*pipeline.Conditioning, *pipeline.TextRegions, error) {
	if len(fields) == 0 {
		return nil, nil, valueError("no %s conditioning", side)
	}
	conds := make([]*pipeline.Conditioning, len(fields))
	masks := make([]*tensor.Tensor, len(fields))
	for i, f := range fields {
		c, err := n.store.Conditioning(f.ConditioningName)
		if err != nil {
			return nil, nil, valueError("%s conditioning: %v", side, err)
		}
		conds[i] = c
		if f.Mask != nil {
			if masks[i], err = n.store.Tensor(f.Mask.TensorName); err != nil {
				return nil, nil, valueError("%s conditioning mask: %v", side, err)
			}
		}
	}
	if len(conds) == 1 && masks[0] == nil {
		return conds[0], nil, nil
	}
	c, regions, err := pipeline.RegionalConditioning(conds, masks, h, w)
	if err != nil {
		return nil, nil, valueError("%s conditioning: %v", side, err)
	}
	return c, regions, nil
}

// VAE nodes.

// vae loads the field's VAE. Like InvokeAI, only decoding honours the
// field's seamless axes (see LatentsToImage); encoders ignore them. fp32 is
// the node's fp32 field: where the precision setting builds bf16 networks it
// asks the cache for the VAE's float32 build (cached beside the bf16 one),
// so fp32: true gives the float32 image whatever the setting.
func (m modelAccess) vae(ctx nodes.Context, f VAEField, fp32 bool) (*sd.VAE, error) {
	id := f.VAE
	if fp32 && m.precision != "" && m.precision != "fp32" {
		sub := SubVAE
		if id.SubmodelType != nil && *id.SubmodelType != "" {
			sub = *id.SubmodelType
		}
		if sub == SubVAE {
			sub += VariantFP32
			id.SubmodelType = &sub
		}
	}
	return load[*sd.VAE](ctx, m, id, SubVAE)
}

// seamlessAxes reads a field's seamless_axes ("x", "y").
func seamlessAxes(axes []string) (x, y bool, err error) {
	for _, a := range axes {
		switch a {
		case "x":
			x = true
		case "y":
			y = true
		default:
			return false, false, valueError("seamless axis %q: want \"x\" or \"y\"", a)
		}
	}
	return x, y, nil
}

// LatentsToImage is l2i: it decodes latents and saves the image.
type LatentsToImage struct {
	nodes.WithMetadata
	nodes.WithBoard
	Latents  LatentsField `json:"latents" input:"connection" description:"Latents tensor"`
	VAE      VAEField     `json:"vae" input:"connection" description:"VAE"`
	Tiled    bool         `json:"tiled" default:"false" description:"Processing using overlapping tiles (reduce memory consumption)"`
	TileSize int          `json:"tile_size" default:"0" multiple_of:"8" description:"The tile size for VAE tiling in pixels (image space). If set to 0, the default tile size for the model will be used. Larger tile sizes generally produce better results at the cost of higher memory usage." le:"4096"`
	FP32     bool         `json:"fp32" default:"false" description:"Whether or not to use full float32 precision"`
	models   modelAccess
	store    *ObjectStore
}

// NodeInfo implements nodes.Node.
func (*LatentsToImage) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:     "l2i",
		Title:    "Latents to Image - SD1.5, SDXL",
		Tags:     []string{"latents", "image", "vae", "l2i"},
		Category: "latents",
		Version:  "1.3.2",
		Output:   nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation. fp32 decodes with the VAE's float32
// build where the precision setting is bf16; the engine decodes whole
// images, so the tiling options change nothing.
func (n *LatentsToImage) Invoke(ctx nodes.Context) (nodes.Output, error) {
	latents, err := n.store.Tensor(n.Latents.LatentsName)
	if err != nil {
		return nil, valueError("latents: %v", err)
	}
	seamX, seamY, err := seamlessAxes(n.VAE.SeamlessAxes)
	if err != nil {
		return nil, err
	}
	vae, err := n.models.vae(ctx, n.VAE, n.FP32)
	if err != nil {
		return nil, nodeError(err)
	}
	ctx.ReportProgress(nodes.Progress{Message: "Running VAE decoder"})
	decoded, err := pipeline.DecodeLatents(ctx, vae, latents, sd.VAEOptions{Seamless: sd.Seamless{X: seamX, Y: seamY}})
	if err != nil {
		return nil, nodeError(err)
	}
	img, err := pipeline.ToImage(decoded)
	if err != nil {
		return nil, nodeError(err)
	}
	return ctx.SaveImage(img, nodes.SaveImageOptions{Board: n.Board, Metadata: n.Metadata})
}

// ImageToLatents is i2l.
type ImageToLatents struct {
	Image             nodes.ImageField  `json:"image" description:"The image to encode"`
	VAE               VAEField          `json:"vae" input:"connection" description:"VAE"`
	Tiled             bool              `json:"tiled" default:"false" description:"Processing using overlapping tiles (reduce memory consumption)"`
	TileSize          int               `json:"tile_size" default:"0" multiple_of:"8" description:"The tile size for VAE tiling in pixels (image space). If set to 0, the default tile size for the model will be used. Larger tile sizes generally produce better results at the cost of higher memory usage." le:"4096"`
	FP32              bool              `json:"fp32" default:"false" description:"Whether or not to use full float32 precision"`
	ColorCompensation ColorCompensation `json:"color_compensation" default:"None" description:"Apply VAE scaling compensation when encoding images (reduces color drift)."`
	models            modelAccess
	store             *ObjectStore
}

// NodeInfo implements nodes.Node.
func (*ImageToLatents) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:     "i2l",
		Title:    "Image to Latents - SD1.5, SDXL",
		Tags:     []string{"latents", "image", "vae", "i2l"},
		Category: "latents",
		Version:  "1.2.0",
		Output:   LatentsOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *ImageToLatents) Invoke(ctx nodes.Context) (nodes.Output, error) {
	img, err := ctx.LoadImage(n.Image.ImageName)
	if err != nil {
		return nil, err
	}
	vae, err := n.models.vae(ctx, n.VAE, n.FP32)
	if err != nil {
		return nil, nodeError(err)
	}
	g, err := gridImage(img, false)
	if err != nil {
		return nil, err
	}
	x := pipeline.FromImage(g)
	if n.ColorCompensation == "SDXL" {
		cfg, err := n.models.config(ctx, n.VAE.VAE)
		if err == nil && cfg.Base == models.BaseSDXL {
			for i, v := range x.Data {
				x.Data[i] = v*1.015 - 0.002
			}
		}
	}
	ctx.ReportProgress(nodes.Progress{Message: "Running VAE encoder"})
	latents, err := pipeline.EncodeImage(ctx, vae, x, 0)
	if err != nil {
		return nil, nodeError(err)
	}
	name := n.store.SaveTensor("latents", latents)
	return LatentsOutput{Latents: LatentsField{LatentsName: name}, Width: latents.Shape[3] * latentScale, Height: latents.Shape[2] * latentScale}, nil
}

// CreateDenoiseMask is create_denoise_mask.
type CreateDenoiseMask struct {
	VAE    VAEField          `json:"vae" input:"connection" ui_order:"0" description:"VAE"`
	Image  *nodes.ImageField `json:"image" ui_order:"1" description:"Image which will be masked"`
	Mask   nodes.ImageField  `json:"mask" ui_order:"2" description:"The mask to use when pasting"`
	Tiled  bool              `json:"tiled" default:"false" ui_order:"3" description:"Processing using overlapping tiles (reduce memory consumption)"`
	FP32   bool              `json:"fp32" default:"false" ui_order:"4" description:"Whether or not to use full float32 precision"`
	models modelAccess
	store  *ObjectStore
}

// NodeInfo implements nodes.Node.
func (*CreateDenoiseMask) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:     "create_denoise_mask",
		Title:    "Create Denoise Mask",
		Tags:     []string{"mask", "denoise"},
		Category: "latents",
		Version:  "1.0.2",
		Output:   DenoiseMaskOutput{},
	}
}

// Invoke implements nodes.Invocation: the mask (1 = keep) is stored, and,
// with an image, the latents of the image with the masked-out area blanked
// (used by inpainting models).
func (n *CreateDenoiseMask) Invoke(ctx nodes.Context) (nodes.Output, error) {
	maskImg, err := ctx.LoadImage(n.Mask.ImageName)
	if err != nil {
		return nil, err
	}
	gm, err := gridImage(maskImg, true)
	if err != nil {
		return nil, err
	}
	mask := pipeline.MaskFromImage(gm)
	out := DenoiseMaskField{}
	if n.Image != nil {
		img, err := ctx.LoadImage(n.Image.ImageName)
		if err != nil {
			return nil, err
		}
		g, err := gridImage(img, false)
		if err != nil {
			return nil, err
		}
		x := pipeline.FromImage(g)
		imgMask, err := pipeline.ResizeIn(ctx, mask, x.Shape[2], x.Shape[3], "bilinear")
		if err != nil {
			return nil, nodeError(err)
		}
		plane := x.Shape[2] * x.Shape[3]
		for i := range x.Data {
			if imgMask.Data[i%plane] < 0.5 {
				x.Data[i] = 0
			}
		}
		vae, err := n.models.vae(ctx, n.VAE, n.FP32)
		if err != nil {
			return nil, nodeError(err)
		}
		latents, err := pipeline.EncodeImage(ctx, vae, x, 0)
		if err != nil {
			return nil, nodeError(err)
		}
		name := n.store.SaveTensor("masked_latents", latents)
		out.MaskedLatentsName = &name
	}
	out.MaskName = n.store.SaveTensor("mask", mask)
	return DenoiseMaskOutput{DenoiseMask: out}, nil
}

// Latent resizing.

func resizeLatents(ctx context.Context, store *ObjectStore, f LatentsField, h, w int, mode string, antialias bool) (nodes.Output, error) {
	latents, err := store.Tensor(f.LatentsName)
	if err != nil {
		return nil, valueError("latents: %v", err)
	}
	if antialias && (h < latents.Shape[2] || w < latents.Shape[3]) && (mode == "bilinear" || mode == "bicubic") {
		return nil, valueError("antialiased downscaling is not supported yet")
	}
	if mode == "trilinear" || mode == "linear" {
		return nil, valueError("mode %q needs 3-D or 1-D input; latents are 2-D", mode)
	}
	// The schema bounds lresize's sizes and lscale's factor; a scaled latent can still outgrow them.
	if h < 1 || w < 1 || h > maxLatentSide || w > maxLatentSide {
		return nil, valueError("the resized latents would be %dx%d; at most %d per side", w, h, maxLatentSide)
	}
	out, err := pipeline.ResizeIn(ctx, latents, h, w, mode)
	var se *tensor.SizeError
	if errors.As(err, &se) {
		return nil, err // the run's memory budget refused it
	}
	if err != nil {
		return nil, valueError("%v", err)
	}
	name := store.SaveTensor("latents", out)
	return LatentsOutput{Latents: LatentsField{LatentsName: name, Seed: f.Seed}, Width: w * latentScale, Height: h * latentScale}, nil
}

// ResizeLatents is lresize.
type ResizeLatents struct {
	Latents   LatentsField            `json:"latents" input:"connection" description:"Latents tensor"`
	Width     int                     `json:"width" ge:"64" multiple_of:"8" description:"Width of output (px)" le:"16384"`
	Height    int                     `json:"height" ge:"64" multiple_of:"8" description:"Height of output (px)" le:"16384"`
	Mode      LatentInterpolationMode `json:"mode" default:"bilinear" description:"Interpolation mode"`
	Antialias bool                    `json:"antialias" default:"false" description:"Whether or not to apply antialiasing (bilinear or bicubic only)"`
	store     *ObjectStore
}

// NodeInfo implements nodes.Node.
func (*ResizeLatents) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:     "lresize",
		Title:    "Resize Latents",
		Tags:     []string{"latents", "resize"},
		Category: "latents",
		Version:  "1.0.2",
		Output:   LatentsOutput{},
	}
}

// SizeFields implements nodes.Sizer.
func (*ResizeLatents) SizeFields() []string { return []string{"width", "height"} }

// Allocation implements nodes.Sizer: the resized latents, four channels at least.
func (n *ResizeLatents) Allocation() (string, int, []int) {
	return "the resized latents", 4, []int{1, 4, n.Height / latentScale, n.Width / latentScale}
}

// Invoke implements nodes.Invocation.
func (n *ResizeLatents) Invoke(ctx nodes.Context) (nodes.Output, error) {
	if n.Width%latentScale != 0 || n.Height%latentScale != 0 {
		return nil, valueError("width and height must be multiples of %d", latentScale)
	}
	return resizeLatents(ctx, n.store, n.Latents, n.Height/latentScale, n.Width/latentScale, string(n.Mode), n.Antialias)
}

// ScaleLatents is lscale.
type ScaleLatents struct {
	Latents     LatentsField            `json:"latents" input:"connection" description:"Latents tensor"`
	ScaleFactor float64                 `json:"scale_factor" gt:"0" description:"The factor by which to scale" le:"8"`
	Mode        LatentInterpolationMode `json:"mode" default:"bilinear" description:"Interpolation mode"`
	Antialias   bool                    `json:"antialias" default:"false" description:"Whether or not to apply antialiasing (bilinear or bicubic only)"`
	store       *ObjectStore
}

// NodeInfo implements nodes.Node.
func (*ScaleLatents) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:     "lscale",
		Title:    "Scale Latents",
		Tags:     []string{"latents", "resize"},
		Category: "latents",
		Version:  "1.0.2",
		Output:   LatentsOutput{},
	}
}

// Invoke implements nodes.Invocation. The output size is floor(size·scale),
// as torch's interpolate(scale_factor=…) makes it.
func (n *ScaleLatents) Invoke(ctx nodes.Context) (nodes.Output, error) {
	latents, err := n.store.Tensor(n.Latents.LatentsName)
	if err != nil {
		return nil, valueError("latents: %v", err)
	}
	h := int(math.Floor(float64(latents.Shape[2]) * n.ScaleFactor))
	w := int(math.Floor(float64(latents.Shape[3]) * n.ScaleFactor))
	if h < 1 || w < 1 {
		return nil, valueError("scale factor %v leaves no latents", n.ScaleFactor)
	}
	return resizeLatents(ctx, n.store, n.Latents, h, w, string(n.Mode), n.Antialias)
}

// Seamless is seamless: it records the axes on the UNet and VAE fields;
// denoise_latents and l2i then pad every convolution circularly along them.
type Seamless struct {
	UNet      *UNetField `json:"unet" input:"connection" title:"UNet" description:"UNet (scheduler, LoRAs)"`
	VAE       *VAEField  `json:"vae" input:"connection" title:"VAE" description:"VAE model to load"`
	SeamlessY bool       `json:"seamless_y" default:"true" description:"Specify whether Y axis is seamless"`
	SeamlessX bool       `json:"seamless_x" default:"true" description:"Specify whether X axis is seamless"`
}

// NodeInfo implements nodes.Node.
func (*Seamless) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:     "seamless",
		Class:    "SeamlessModeInvocation",
		Title:    "Apply Seamless - SD1.5, SDXL",
		Tags:     []string{"seamless", "model"},
		Category: "model",
		Version:  "1.0.2",
		Output:   SeamlessModeOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *Seamless) Invoke(nodes.Context) (nodes.Output, error) {
	var axes []string
	if n.SeamlessX {
		axes = append(axes, "x")
	}
	if n.SeamlessY {
		axes = append(axes, "y")
	}
	out := SeamlessModeOutput{}
	if n.UNet != nil {
		u := *n.UNet
		u.SeamlessAxes = axes
		out.UNet = &u
	}
	if n.VAE != nil {
		v := *n.VAE
		v.SeamlessAxes = axes
		out.VAE = &v
	}
	return out, nil
}
