package fluxnode

import (
	"context"
	"errors"
	"image"
	"math"
	"reflect"

	"github.com/invokego/invokego/internal/engine/flux"
	"github.com/invokego/invokego/internal/engine/imaging"
	"github.com/invokego/invokego/internal/engine/lora"
	"github.com/invokego/invokego/internal/engine/noise"
	"github.com/invokego/invokego/internal/engine/pipeline"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/sentencepiece"
	"github.com/invokego/invokego/internal/engine/t5"
	"github.com/invokego/invokego/internal/engine/tokenizer"
	"github.com/invokego/invokego/internal/models"
	"github.com/invokego/invokego/internal/nodes"
	"github.com/invokego/invokego/internal/nodes/diffusion"
)

// ModelCache hands out loaded models and forgets them on request (the model manager's cache).
type ModelCache interface {
	Get(ctx context.Context, cfg *models.Config, submodel string) (any, error)
	Drop(key string)
}

// Deps are what the FLUX nodes need from the application.
type Deps struct {
	Records diffusion.ModelRecords
	Cache   ModelCache
	// Store is the diffusion nodes' store, shared so that latents and masks flow between the two families.
	Store *diffusion.ObjectStore
	// MemAvailable reports the memory the system can still give (bytes; ok false when unknown). When the
	// transformer about to run would not fit, the text encoders are dropped from the cache first.
	MemAvailable func() (int64, bool)
	// PathOf resolves a record's path (for the size of a diffusers folder's transformer).
	PathOf func(p string) string
}

// Register adds the FLUX node types to r.
func Register(r *nodes.Registry, deps Deps) {
	if deps.Store == nil {
		deps.Store = diffusion.NewObjectStore(1 << 30)
	}
	m := &modelAccess{records: deps.Records, cache: deps.Cache, memAvailable: deps.MemAvailable, pathOf: deps.PathOf}
	r.Register(
		&ModelLoader{models: m},
		&TextEncoder{models: m, store: deps.Store},
		&Denoise{models: m, store: deps.Store},
		&DenoiseMeta{Denoise: Denoise{models: m, store: deps.Store}},
		&VAEEncode{models: m, store: deps.Store},
		&VAEDecode{models: m, store: deps.Store},
		&LoRALoader{models: m},
		&LoRACollectionLoader{models: m},
	)
}

func valueError(format string, args ...any) error { return nodes.Errorf("ValueError", format, args...) }

// nodeError passes cancellation and node errors through and names other failures as InvokeAI would.
func nodeError(err error) error {
	var ne *nodes.NodeError
	if err == nil || errors.As(err, &ne) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nodes.Errorf("RuntimeError", "%v", err)
}

// withSubmodel returns a copy of id naming one part of the model.
func withSubmodel(id diffusion.ModelIdentifierField, sub string) diffusion.ModelIdentifierField {
	id.SubmodelType = &sub
	return id
}

// ModelLoader is flux_model_loader.
type ModelLoader struct {
	Model          diffusion.ModelIdentifierField `json:"model" ui_model_base:"flux" ui_model_type:"main" description:"Flux model (Transformer) to load"`
	T5EncoderModel diffusion.ModelIdentifierField `json:"t5_encoder_model" title:"T5 Encoder" ui_model_type:"t5_encoder" description:"T5 tokenizer and text encoder"`
	CLIPEmbedModel diffusion.ModelIdentifierField `json:"clip_embed_model" title:"CLIP Embed" ui_model_type:"clip_embed" description:"CLIP Embed loader"`
	VAEModel       diffusion.ModelIdentifierField `json:"vae_model" title:"VAE" ui_model_base:"flux" ui_model_type:"vae" description:"VAE model to load"`
	models         *modelAccess
}

// NodeInfo implements nodes.Node.
func (*ModelLoader) NodeInfo() nodes.Info {
	return nodes.Info{Type: "flux_model_loader", Class: "FluxModelLoaderInvocation", Title: "Main Model - FLUX",
		Description: "Loads a flux base model, outputting its submodels.", Tags: []string{"model", "flux"},
		Category: "model", Version: "1.0.7", Output: FluxModelLoaderOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *ModelLoader) Invoke(ctx nodes.Context) (nodes.Output, error) {
	var main *models.Config
	for i, id := range []diffusion.ModelIdentifierField{n.Model, n.T5EncoderModel, n.CLIPEmbedModel, n.VAEModel} {
		cfg, err := n.models.config(ctx, id)
		if err != nil {
			return nil, valueError("Unknown model: %s", id.Key)
		}
		if i == 0 {
			main = cfg
		}
	}
	if main.Base != models.BaseFlux || main.Type != models.TypeMain {
		return nil, valueError("%s is a %s %s model, not a FLUX main model", main.Name, main.Base, main.Type)
	}
	maxSeqLen := 512
	if main.Variant != nil && *main.Variant == models.VariantFluxSchnell {
		maxSeqLen = 256
	}
	return FluxModelLoaderOutput{
		Transformer: TransformerField{Transformer: withSubmodel(n.Model, SubTransformer), LoRAs: []diffusion.LoRAField{}},
		CLIP: diffusion.CLIPField{Tokenizer: withSubmodel(n.CLIPEmbedModel, SubTokenizer),
			TextEncoder: withSubmodel(n.CLIPEmbedModel, SubTextEncoder), LoRAs: []diffusion.LoRAField{}},
		T5Encoder: T5EncoderField{Tokenizer: withSubmodel(n.T5EncoderModel, SubTokenizer2),
			TextEncoder: withSubmodel(n.T5EncoderModel, SubTextEncoder2), LoRAs: []diffusion.LoRAField{}},
		VAE:       diffusion.VAEField{VAE: withSubmodel(n.VAEModel, SubVAE), SeamlessAxes: []string{}},
		MaxSeqLen: T5MaxSeqLen(maxSeqLen),
	}, nil
}

// TextEncoder is flux_text_encoder: the T5 sequence and the pooled CLIP vector of a prompt.
type TextEncoder struct {
	CLIP        diffusion.CLIPField    `json:"clip" title:"CLIP" input:"connection" description:"CLIP (tokenizer, text encoder, LoRAs) and skipped layer count"`
	T5Encoder   T5EncoderField         `json:"t5_encoder" title:"T5Encoder" input:"connection" description:"T5 tokenizer and text encoder"`
	T5MaxSeqLen T5MaxSeqLen            `json:"t5_max_seq_len" title:"T5 Max Seq Len" description:"Max sequence length for the T5 encoder. Expected to be 256 for FLUX schnell models and 512 for FLUX dev models."`
	Prompt      string                 `json:"prompt" ui_component:"textarea" description:"Text prompt to encode."`
	Mask        *diffusion.TensorField `json:"mask" description:"A mask defining the region that this conditioning prompt applies to."`
	models      *modelAccess
	store       *diffusion.ObjectStore
}

// NodeInfo implements nodes.Node.
func (*TextEncoder) NodeInfo() nodes.Info {
	return nodes.Info{Type: "flux_text_encoder", Class: "FluxTextEncoderInvocation", Title: "Prompt - FLUX",
		Description: "Encodes and preps a prompt for a flux image.", Tags: []string{"prompt", "conditioning", "flux"},
		Category: "conditioning", Version: "1.1.2", Output: FluxConditioningOutput{}}
}

// clipLength is the CLIP token count FLUX pipelines encode.
const clipLength = 77

// Invoke implements nodes.Invocation.
func (n *TextEncoder) Invoke(ctx nodes.Context) (nodes.Output, error) {
	if n.T5MaxSeqLen != 256 && n.T5MaxSeqLen != 512 {
		return nil, valueError("t5_max_seq_len must be 256 or 512, got %d", n.T5MaxSeqLen)
	}
	// InvokeAI's FLUX graphs route every LoRA through both text encoders; each takes its own layers (CLIP-L:
	// kohya lora_te1_ / text_encoder., T5: lora_te2_ / text_encoder_2.) for this call only, as the SD text
	// encoders do, and ignores the transformer's.
	clipLoRAs, err := n.models.loraFiles(ctx, n.CLIP.LoRAs)
	if err != nil {
		return nil, err
	}
	t5LoRAs, err := n.models.loraFiles(ctx, n.T5Encoder.LoRAs)
	if err != nil {
		return nil, err
	}
	t5tok, err := load[*sentencepiece.T5](ctx, n.models, n.T5Encoder.Tokenizer, SubTokenizer2)
	if err != nil {
		return nil, nodeError(err)
	}
	t5enc, err := load[*t5.Encoder](ctx, n.models, n.T5Encoder.TextEncoder, SubTextEncoder2)
	if err != nil {
		return nil, nodeError(err)
	}
	enc, err := t5tok.Encode(n.Prompt, int(n.T5MaxSeqLen))
	if err != nil {
		return nil, valueError("T5 tokenizer: %v", err)
	}
	ctx.ReportProgress(nodes.Progress{Message: "Running T5 encoder"})
	t5Adapt, err := flux.NewT5LoRA(t5enc.LayerShapes(), t5LoRAs)
	if err != nil {
		return nil, valueError("%v", err)
	}
	var adapt t5.Adapter
	if t5Adapt != nil {
		adapt = t5Adapt.Adapt
	}
	t5out, err := t5enc.ForwardWith(ctx, enc.IDs, false, adapt)
	if err != nil {
		return nil, nodeError(err)
	}
	t5Embeds := t5out.LastHiddenState
	clipTok, err := load[*tokenizer.Tokenizer](ctx, n.models, n.CLIP.Tokenizer, SubTokenizer)
	if err != nil {
		return nil, nodeError(err)
	}
	clip, err := load[*sd.CLIPTextModel](ctx, n.models, n.CLIP.TextEncoder, SubTextEncoder)
	if err != nil {
		return nil, nodeError(err)
	}
	ctx.ReportProgress(nodes.Progress{Message: "Running CLIP encoder"})
	ws := make([]lora.Weighted, len(clipLoRAs))
	for i, l := range clipLoRAs {
		ws[i] = lora.Weighted{File: l.File, Weight: l.Weight}
	}
	patcher, err := lora.NewPatcher(lora.TextEncoder, clip.LayerShapes(), ws)
	if err != nil {
		return nil, valueError("%v", err)
	}
	var layers sd.LayerPatcher
	if patcher != nil {
		layers = patcher
	}
	out, err := clip.ForwardWith(ctx, [][]int{clipTok.EncodePadded(n.Prompt, clipLength, clipTok.PadID)}, sd.ForwardOptions{Layers: layers})
	if err != nil {
		return nil, nodeError(err)
	}
	if patcher != nil {
		if err := patcher.Err(); err != nil {
			return nil, nodeError(err)
		}
	}
	n.models.noteEncoder(n.T5Encoder.TextEncoder.Key, n.CLIP.TextEncoder.Key)
	name := n.store.SaveConditioning(&pipeline.Conditioning{Embeds: t5Embeds, PooledEmbeds: out.Pooled})
	return FluxConditioningOutput{Conditioning: FluxConditioningField{ConditioningName: name, Mask: n.Mask}}, nil
}

// Limits of flux_denoise beyond InvokeAI's schema: a 4096² image is 65 536 image tokens, whose activations
// alone take several GB.
const (
	maxSide  = 4096
	maxSteps = 1000
)

// Denoise is flux_denoise.
type Denoise struct {
	Latents                  *diffusion.LatentsField     `json:"latents" input:"connection" description:"Latents tensor"`
	DenoiseMask              *diffusion.DenoiseMaskField `json:"denoise_mask" input:"connection" description:"A mask of the region to apply the denoising process to. Values of 0.0 represent the regions to be fully denoised, and 1.0 represent the regions to be preserved."`
	DenoisingStart           float64                     `json:"denoising_start" default:"0.0" ge:"0" le:"1" description:"When to start denoising, expressed a percentage of total steps"`
	DenoisingEnd             float64                     `json:"denoising_end" default:"1.0" ge:"0" le:"1" description:"When to stop denoising, expressed a percentage of total steps"`
	AddNoise                 bool                        `json:"add_noise" default:"true" description:"Add noise based on denoising start."`
	Transformer              TransformerField            `json:"transformer" title:"Transformer" input:"connection" description:"Flux model (Transformer) to load"`
	ControlLoRA              *ControlLoRAField           `json:"control_lora" title:"Control LoRA" input:"connection" description:"Control LoRA model to load"`
	PositiveTextConditioning []FluxConditioningField     `json:"positive_text_conditioning" poly:"true" title:"Positive Text Conditioning" input:"connection" description:"Positive conditioning tensor"`
	NegativeTextConditioning *[]FluxConditioningField    `json:"negative_text_conditioning" poly:"true" title:"Negative Text Conditioning" input:"connection" description:"Negative conditioning tensor. Can be None if cfg_scale is 1.0."`
	ReduxConditioning        any                         `json:"redux_conditioning" default:"null" title:"Redux Conditioning" input:"connection" description:"FLUX Redux conditioning tensor."`
	FillConditioning         any                         `json:"fill_conditioning" default:"null" input:"connection" description:"FLUX Fill conditioning."`
	CFGScale                 []float64                   `json:"cfg_scale" poly:"true" default:"1.0" title:"CFG Scale" description:"Classifier-Free Guidance scale"`
	CFGScaleStartStep        int                         `json:"cfg_scale_start_step" default:"0" title:"CFG Scale Start Step" description:"Index of the first step to apply cfg_scale. Negative indices count backwards from the the last step (e.g. a value of -1 refers to the final step)."`
	CFGScaleEndStep          int                         `json:"cfg_scale_end_step" default:"-1" title:"CFG Scale End Step" description:"Index of the last step to apply cfg_scale. Negative indices count backwards from the last step (e.g. a value of -1 refers to the final step)."`
	Width                    int                         `json:"width" default:"1024" multiple_of:"16" gt:"0" le:"4096" description:"Width of the generated image."`
	Height                   int                         `json:"height" default:"1024" multiple_of:"16" gt:"0" le:"4096" description:"Height of the generated image."`
	NumSteps                 int                         `json:"num_steps" default:"4" gt:"0" le:"1000" description:"Number of diffusion steps. Recommended values are schnell: 4, dev: 50."`
	Scheduler                FluxScheduler               `json:"scheduler" default:"euler" ui_choice_labels:"{\"euler\":\"Euler\",\"heun\":\"Heun (2nd order)\",\"lcm\":\"LCM\"}" description:"Scheduler (sampler) for the denoising process. 'euler' is fast and standard. 'heun' is 2nd-order (better quality, 2x slower). 'lcm' is optimized for few steps."`
	Guidance                 float64                     `json:"guidance" default:"4.0" description:"The guidance strength. Higher values adhere more strictly to the prompt, and will produce less diverse images. FLUX dev only, ignored for schnell."`
	Seed                     int64                       `json:"seed" default:"0" description:"Randomness seed for reproducibility."`
	Control                  any                         `json:"control" default:"null" input:"connection" description:"ControlNet models."`
	ControlNetVAE            *diffusion.VAEField         `json:"controlnet_vae" input:"connection" description:"VAE"`
	IPAdapter                any                         `json:"ip_adapter" default:"null" title:"IP-Adapter" input:"connection" description:"IP-Adapter to apply"`
	KontextConditioning      any                         `json:"kontext_conditioning" default:"null" title:"Kontext Conditioning" input:"connection" description:"FLUX Kontext conditioning (reference image)."`
	DyPEPreset               DyPEPreset                  `json:"dype_preset" default:"off" ui_order:"100" ui_choice_labels:"{\"off\":\"Off\",\"manual\":\"Manual\",\"auto\":\"Auto (>1536px)\",\"area\":\"Area (auto)\",\"4k\":\"4K Optimized\"}" description:"DyPE preset for high-resolution generation. 'auto' enables automatically for resolutions > 1536px. 'area' enables automatically based on image area. '4k' uses optimized settings for 4K output."`
	DyPEScale                *float64                    `json:"dype_scale" ge:"0" le:"8" ui_order:"101" description:"DyPE magnitude (λs). Higher values = stronger extrapolation. Only used when dype_preset is not 'off'."`
	DyPEExponent             *float64                    `json:"dype_exponent" ge:"0" le:"1000" ui_order:"102" description:"DyPE decay speed (λt). Controls transition from low to high frequency detail. Only used when dype_preset is not 'off'."`
	models                   *modelAccess
	store                    *diffusion.ObjectStore
}

// NodeInfo implements nodes.Node.
func (*Denoise) NodeInfo() nodes.Info {
	return nodes.Info{Type: "flux_denoise", Class: "FluxDenoiseInvocation", Title: "FLUX Denoise",
		Description: "Run denoising process with a FLUX transformer model.", Tags: []string{"image", "flux"},
		Category: "image", Version: "4.5.1", Output: diffusion.LatentsOutput{}}
}

// unsupported names the inputs of InvokeAI's node this engine does not run.
func (n *Denoise) unsupported() error {
	set := func(v any) bool {
		if v == nil {
			return false
		}
		rv := reflect.ValueOf(v)
		switch rv.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
			return !rv.IsNil() && !(rv.Kind() == reflect.Slice && rv.Len() == 0)
		}
		return true
	}
	for _, in := range []struct {
		name string
		v    any
	}{{"control_lora", n.ControlLoRA}, {"redux_conditioning", n.ReduxConditioning}, {"fill_conditioning", n.FillConditioning},
		{"control", n.Control}, {"ip_adapter", n.IPAdapter}, {"kontext_conditioning", n.KontextConditioning}} {
		if set(in.v) {
			return valueError("%s is not supported by invokego's FLUX engine yet", in.name)
		}
	}
	if n.DyPEPreset != "" && n.DyPEPreset != "off" {
		return valueError("dype_preset %q is not supported by invokego's FLUX engine yet (use off)", n.DyPEPreset)
	}
	return nil
}

// Invoke implements nodes.Invocation.
func (n *Denoise) Invoke(ctx nodes.Context) (nodes.Output, error) {
	if err := n.unsupported(); err != nil {
		return nil, err
	}
	if n.Width%16 != 0 || n.Height%16 != 0 || n.Width < 16 || n.Height < 16 || n.Width > maxSide || n.Height > maxSide {
		return nil, valueError("width and height must be multiples of 16 in [16, %d], got %dx%d", maxSide, n.Width, n.Height)
	}
	if n.NumSteps < 1 || n.NumSteps > maxSteps {
		return nil, valueError("num_steps must be in [1, %d], got %d", maxSteps, n.NumSteps)
	}
	if n.DenoisingStart < 0 || n.DenoisingEnd > 1 || n.DenoisingStart > n.DenoisingEnd {
		return nil, valueError("denoising_start %v and denoising_end %v must satisfy 0 ≤ start ≤ end ≤ 1", n.DenoisingStart, n.DenoisingEnd)
	}
	if math.IsNaN(n.Guidance) || math.IsInf(n.Guidance, 0) {
		return nil, valueError("guidance must be a finite number")
	}
	pos, err := n.conditioning(n.PositiveTextConditioning, "positive")
	if err != nil {
		return nil, err
	}
	var neg *flux.Conditioning
	if n.NegativeTextConditioning != nil && len(*n.NegativeTextConditioning) > 0 {
		if neg, err = n.conditioning(*n.NegativeTextConditioning, "negative"); err != nil {
			return nil, err
		}
	}

	cfg, err := n.models.config(ctx, n.Transformer.Transformer)
	if err != nil {
		return nil, valueError("Unknown model: %s", n.Transformer.Transformer.Key)
	}
	schnell := cfg.Variant != nil && *cfg.Variant == models.VariantFluxSchnell
	n.models.makeRoom(ctx, cfg)
	transformer, err := load[*flux.Transformer](ctx, n.models, n.Transformer.Transformer, SubTransformer)
	if err != nil {
		return nil, nodeError(err)
	}
	if transformer.Config.InChannels != 4*flux.LatentChannels {
		return nil, valueError("%s takes %d input channels (FLUX Fill?); only text-to-image models run here", cfg.Name, transformer.Config.InChannels)
	}
	loras, err := n.models.loras(ctx, transformer, n.Transformer.LoRAs)
	if err != nil {
		return nil, err
	}

	noiseT, err := flux.Noise(uint64(n.Seed), n.Height, n.Width, noise.Float16)
	if err != nil {
		return nil, valueError("%v", err)
	}
	lh, lw := noiseT.Shape[2], noiseT.Shape[3]
	full, err := flux.InvokeAISchedule(n.NumSteps, (lh/2)*(lw/2), !schnell)
	if err != nil {
		return nil, valueError("%v", err)
	}
	schedule, err := flux.ClipSchedule(full, n.DenoisingStart, n.DenoisingEnd)
	if err != nil {
		return nil, valueError("%v", err)
	}
	sampler, err := flux.ParseSampler(string(n.Scheduler))
	if err != nil {
		return nil, valueError("%v", err)
	}
	params := flux.DenoiseParams{Transformer: transformer, Positive: *pos, Negative: neg, Guidance: float32(n.Guidance),
		Schedule: schedule, Noise: noiseT, AddNoise: n.AddNoise, Call: flux.CallOptions{LoRA: loras},
		Sampler: sampler, Seed: uint64(n.Seed)}
	if n.Latents != nil {
		init, err := n.store.Tensor(n.Latents.LatentsName)
		if err != nil {
			return nil, valueError("latents: %v", err)
		}
		if len(init.Shape) != 4 || init.Shape[1] != flux.LatentChannels || init.Shape[2] != lh || init.Shape[3] != lw {
			return nil, valueError("latents of shape %v do not fit a %dx%d FLUX image ([1, 16, %d, %d])", init.Shape, n.Width, n.Height, lh, lw)
		}
		params.InitLatents = init
	} else if n.DenoisingStart > 1e-5 {
		return nil, valueError("denoising_start should be 0 when initial latents are not provided.")
	}
	if n.DenoiseMask != nil {
		if params.InpaintMask, err = n.store.Tensor(n.DenoiseMask.MaskName); err != nil {
			return nil, valueError("denoise mask: %v", err)
		}
		if params.InitLatents == nil {
			return nil, valueError("a denoise mask needs latents to inpaint")
		}
	}
	steps := len(schedule) - 1
	if steps >= 1 {
		if params.CFGScale, err = flux.CFGSchedule(n.CFGScale, steps, n.CFGScaleStartStep, n.CFGScaleEndStep); err != nil {
			return nil, valueError("%v", err)
		}
		for _, c := range params.CFGScale {
			if c != 1 && neg == nil {
				return nil, valueError("Negative text conditioning is required when cfg_scale is not 1.0.")
			}
		}
	}
	params.OnStep = func(s flux.StepInfo) error {
		preview, err := flux.PreviewImage(s.Preview)
		if err != nil {
			return err
		}
		pct := float64(s.Step) / float64(s.TotalSteps)
		size := image.Pt(s.Preview.Shape[3]*8, s.Preview.Shape[2]*8)
		ctx.ReportProgress(nodes.Progress{Message: "Denoising", Percentage: &pct, Preview: preview, PreviewSize: size})
		return nil
	}
	result, err := flux.Denoise(ctx, params)
	if err != nil {
		return nil, nodeError(err)
	}
	name := n.store.SaveTensor("latents", result)
	return diffusion.LatentsOutput{Latents: diffusion.LatentsField{LatentsName: name},
		Width: result.Shape[3] * 8, Height: result.Shape[2] * 8}, nil
}

// conditioning reads the single conditioning of one side. Regional prompts (several, or masked) are not
// supported yet.
func (n *Denoise) conditioning(fields []FluxConditioningField, side string) (*flux.Conditioning, error) {
	switch {
	case len(fields) == 0:
		return nil, valueError("no %s text conditioning", side)
	case len(fields) > 1 || fields[0].Mask != nil:
		return nil, valueError("regional (masked or multiple) %s FLUX conditioning is not supported yet", side)
	}
	c, err := n.store.Conditioning(fields[0].ConditioningName)
	if err != nil {
		return nil, valueError("%s conditioning: %v", side, err)
	}
	if c.Embeds == nil || c.PooledEmbeds == nil || len(c.Embeds.Shape) != 3 || len(c.PooledEmbeds.Shape) != 2 {
		return nil, valueError("%s conditioning is not FLUX conditioning (made by flux_text_encoder)", side)
	}
	return &flux.Conditioning{T5: c.Embeds, Pooled: c.PooledEmbeds}, nil
}

// VAEEncode is flux_vae_encode.
type VAEEncode struct {
	Image  nodes.ImageField   `json:"image" description:"The image to encode."`
	VAE    diffusion.VAEField `json:"vae" input:"connection" description:"VAE"`
	models *modelAccess
	store  *diffusion.ObjectStore
}

// NodeInfo implements nodes.Node.
func (*VAEEncode) NodeInfo() nodes.Info {
	return nodes.Info{Type: "flux_vae_encode", Class: "FluxVaeEncodeInvocation", Title: "Image to Latents - FLUX",
		Description: "Encodes an image into latents.", Tags: []string{"latents", "image", "vae", "i2l", "flux"},
		Category: "latents", Version: "1.0.1", Output: diffusion.LatentsOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *VAEEncode) Invoke(ctx nodes.Context) (nodes.Output, error) {
	img, err := ctx.LoadImage(n.Image.ImageName)
	if err != nil {
		return nil, err
	}
	vae, err := load[*flux.VAE](ctx, n.models, n.VAE.VAE, SubVAE)
	if err != nil {
		return nil, nodeError(err)
	}
	grid, err := imageToGrid(img, imaging.ModeRGB)
	if err != nil {
		return nil, valueError("%v", err)
	}
	x := pipeline.FromImage(grid)
	if x.Shape[2] < 8 || x.Shape[3] < 8 {
		return nil, valueError("the image is smaller than 8x8 pixels")
	}
	ctx.ReportProgress(nodes.Progress{Message: "Running VAE encoder"})
	// InvokeAI samples the encoder's distribution with a generator seeded with 0.
	lat, err := vae.Encode(ctx, x, flux.EncodeNoise(x.Shape[2], x.Shape[3]))
	if err != nil {
		return nil, nodeError(err)
	}
	name := n.store.SaveTensor("latents", lat)
	return diffusion.LatentsOutput{Latents: diffusion.LatentsField{LatentsName: name}, Width: lat.Shape[3] * 8, Height: lat.Shape[2] * 8}, nil
}

// imageToGrid is InvokeAI's image_resized_to_grid_as_tensor sizing of the image converted to the mode
// ("RGB" for an image, "L" for a mask): sides that are not multiples of 8 are cut down to the nearest ones
// and the image resized there with Pillow's Lanczos filter.
func imageToGrid(img image.Image, mode imaging.Mode) (image.Image, error) {
	pic, err := imaging.FromImage(img).Convert(mode)
	if err != nil {
		return nil, err
	}
	if pic, err = pic.TrimToGrid(8); err != nil {
		return nil, err
	}
	return pic.Image()
}

// VAEDecode is flux_vae_decode.
type VAEDecode struct {
	nodes.WithBoard
	nodes.WithMetadata
	Latents diffusion.LatentsField `json:"latents" input:"connection" description:"Latents tensor"`
	VAE     diffusion.VAEField     `json:"vae" input:"connection" description:"VAE"`
	models  *modelAccess
	store   *diffusion.ObjectStore
}

// NodeInfo implements nodes.Node.
func (*VAEDecode) NodeInfo() nodes.Info {
	return nodes.Info{Type: "flux_vae_decode", Class: "FluxVaeDecodeInvocation", Title: "Latents to Image - FLUX",
		Description: "Generates an image from latents.", Tags: []string{"latents", "image", "vae", "l2i", "flux"},
		Category: "latents", Version: "1.0.2", Output: nodes.ImageOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *VAEDecode) Invoke(ctx nodes.Context) (nodes.Output, error) {
	latents, err := n.store.Tensor(n.Latents.LatentsName)
	if err != nil {
		return nil, valueError("latents: %v", err)
	}
	if len(latents.Shape) != 4 || latents.Shape[0] != 1 || latents.Shape[1] != flux.LatentChannels {
		return nil, valueError("latents of shape %v are not FLUX latents [1, 16, h, w]", latents.Shape)
	}
	vae, err := load[*flux.VAE](ctx, n.models, n.VAE.VAE, SubVAE)
	if err != nil {
		return nil, nodeError(err)
	}
	ctx.ReportProgress(nodes.Progress{Message: "Running VAE decoder"})
	img, err := flux.DecodeImage(ctx, vae, latents)
	if err != nil {
		return nil, nodeError(err)
	}
	return ctx.SaveImage(img, nodes.SaveImageOptions{Board: n.Board, Metadata: n.Metadata})
}

// LoRALoader is flux_lora_loader.
type LoRALoader struct {
	LoRA        diffusion.ModelIdentifierField `json:"lora" title:"LoRA" ui_model_base:"flux" ui_model_type:"lora" description:"LoRA model to load"`
	Weight      float64                        `json:"weight" default:"0.75" description:"The weight at which the LoRA is applied to each model"`
	Transformer *TransformerField              `json:"transformer" title:"FLUX Transformer" input:"connection" description:"Transformer"`
	CLIP        *diffusion.CLIPField           `json:"clip" title:"CLIP" input:"connection" description:"CLIP (tokenizer, text encoder, LoRAs) and skipped layer count"`
	T5Encoder   *T5EncoderField                `json:"t5_encoder" title:"T5 Encoder" input:"connection" description:"T5 tokenizer and text encoder"`
	models      *modelAccess
}

// NodeInfo implements nodes.Node.
func (*LoRALoader) NodeInfo() nodes.Info {
	return nodes.Info{Type: "flux_lora_loader", Class: "FluxLoRALoaderInvocation", Title: "Apply LoRA - FLUX",
		Description: "Apply a LoRA model to a FLUX transformer and/or text encoder.", Tags: []string{"lora", "model", "flux"},
		Category: "model", Version: "1.2.1", Output: FluxLoRALoaderOutput{}}
}

func hasLoRA(list []diffusion.LoRAField, key string) bool {
	for _, l := range list {
		if l.LoRA.Key == key {
			return true
		}
	}
	return false
}

// Invoke implements nodes.Invocation.
func (n *LoRALoader) Invoke(ctx nodes.Context) (nodes.Output, error) {
	key := n.LoRA.Key
	if _, err := n.models.config(ctx, n.LoRA); err != nil {
		return nil, valueError("Unknown lora: %s!", key)
	}
	if n.Transformer != nil && hasLoRA(n.Transformer.LoRAs, key) {
		return nil, valueError("LoRA \"%s\" already applied to transformer.", key)
	}
	if n.CLIP != nil && hasLoRA(n.CLIP.LoRAs, key) {
		return nil, valueError("LoRA \"%s\" already applied to CLIP encoder.", key)
	}
	if n.T5Encoder != nil && hasLoRA(n.T5Encoder.LoRAs, key) {
		return nil, valueError("LoRA \"%s\" already applied to T5 encoder.", key)
	}
	out := copyTargets(n.Transformer, n.CLIP, n.T5Encoder)
	out.add(diffusion.LoRAField{LoRA: n.LoRA, Weight: n.Weight})
	return out, nil
}

// copyTargets copies the models a LoRA loader passes on, so that appending never touches the input.
func copyTargets(tr *TransformerField, clip *diffusion.CLIPField, t5 *T5EncoderField) FluxLoRALoaderOutput {
	var out FluxLoRALoaderOutput
	if tr != nil {
		c := *tr
		c.LoRAs = append([]diffusion.LoRAField{}, tr.LoRAs...)
		out.Transformer = &c
	}
	if clip != nil {
		c := *clip
		c.LoRAs = append([]diffusion.LoRAField{}, clip.LoRAs...)
		out.CLIP = &c
	}
	if t5 != nil {
		c := *t5
		c.LoRAs = append([]diffusion.LoRAField{}, t5.LoRAs...)
		out.T5Encoder = &c
	}
	return out
}

func (o *FluxLoRALoaderOutput) add(l diffusion.LoRAField) {
	if o.Transformer != nil {
		o.Transformer.LoRAs = append(o.Transformer.LoRAs, l)
	}
	if o.CLIP != nil {
		o.CLIP.LoRAs = append(o.CLIP.LoRAs, l)
	}
	if o.T5Encoder != nil {
		o.T5Encoder.LoRAs = append(o.T5Encoder.LoRAs, l)
	}
}

// LoRACollectionLoader is flux_lora_collection_loader.
type LoRACollectionLoader struct {
	LoRAs       *[]diffusion.LoRAField `json:"loras" poly:"true" title:"LoRAs" description:"LoRA models and weights. May be a single LoRA or collection."`
	Transformer *TransformerField      `json:"transformer" title:"Transformer" input:"connection" description:"Transformer"`
	CLIP        *diffusion.CLIPField   `json:"clip" title:"CLIP" input:"connection" description:"CLIP (tokenizer, text encoder, LoRAs) and skipped layer count"`
	T5Encoder   *T5EncoderField        `json:"t5_encoder" title:"T5 Encoder" input:"connection" description:"T5 tokenizer and text encoder"`
	models      *modelAccess
}

// NodeInfo implements nodes.Node.
func (*LoRACollectionLoader) NodeInfo() nodes.Info {
	return nodes.Info{Type: "flux_lora_collection_loader", Class: "FLUXLoRACollectionLoader", Title: "Apply LoRA Collection - FLUX",
		Description: "Applies a collection of LoRAs to a FLUX transformer.", Tags: []string{"lora", "model", "flux"},
		Category: "model", Version: "1.3.1", Output: FluxLoRALoaderOutput{}}
}

// Invoke implements nodes.Invocation: each LoRA once, in order.
func (n *LoRACollectionLoader) Invoke(ctx nodes.Context) (nodes.Output, error) {
	out := copyTargets(n.Transformer, n.CLIP, n.T5Encoder)
	added := map[string]bool{}
	var list []diffusion.LoRAField
	if n.LoRAs != nil {
		list = *n.LoRAs
	}
	for _, l := range list {
		if added[l.LoRA.Key] {
			continue
		}
		if _, err := n.models.config(ctx, l.LoRA); err != nil {
			return nil, valueError("Unknown lora: %s!", l.LoRA.Key)
		}
		added[l.LoRA.Key] = true
		out.add(l)
	}
	return out, nil
}
