package diffusion

import (
	"encoding/json"
	"fmt"
	"image"

	"github.com/invokego/invokego/internal/engine/lora"
	"github.com/invokego/invokego/internal/engine/noise"
	"github.com/invokego/invokego/internal/engine/pipeline"
	"github.com/invokego/invokego/internal/engine/scheduler"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/tiles"
	"github.com/invokego/invokego/internal/models"
	"github.com/invokego/invokego/internal/nodes"
)

// TiledMultiDiffusionDenoiseLatents is tiled_multi_diffusion_denoise_latents: the latents are cut into
// overlapping tiles (InvokeAI's tile grid in latent pixels: tile and overlap sizes over 8), every step
// denoises each tile on its own and blends the tiles back with linear ramps across the overlaps
// (pipeline.MultiDiffusionDenoise). It is how upscaling workflows re-add detail to images larger than a
// model's native size. ControlNets are prepared as denoise_latents prepares them (the control image
// resized to the whole latents ×8) and each tile sees its own crop of that image, as InvokeAI does, which
// is what a tile ControlNet needs.
type TiledMultiDiffusionDenoiseLatents struct {
	PositiveConditioning *ConditioningField                `json:"positive_conditioning" required:"true" input:"connection" description:"Positive conditioning tensor"`
	NegativeConditioning *ConditioningField                `json:"negative_conditioning" required:"true" input:"connection" description:"Negative conditioning tensor"`
	Noise                *LatentsField                     `json:"noise" input:"connection" description:"Noise tensor"`
	Latents              *LatentsField                     `json:"latents" input:"connection" description:"Latents tensor"`
	TileHeight           int                               `json:"tile_height" default:"1024" gt:"0" le:"8192" multiple_of:"8" description:"Height of the tiles in image space."`
	TileWidth            int                               `json:"tile_width" default:"1024" gt:"0" le:"8192" multiple_of:"8" description:"Width of the tiles in image space."`
	TileOverlap          int                               `json:"tile_overlap" default:"32" gt:"0" le:"8192" multiple_of:"8" description:"The overlap between adjacent tiles in pixel space. (Of course, tile merging is applied in latent space.) Tiles will be cropped during merging (if necessary) to ensure that they overlap by exactly this amount."`
	Steps                int                               `json:"steps" default:"18" gt:"0" le:"1000" description:"Number of steps to run"`
	CFGScale             []float64                         `json:"cfg_scale" poly:"true" default:"6.0" title:"CFG Scale" description:"Classifier-Free Guidance scale"`
	DenoisingStart       float64                           `json:"denoising_start" default:"0.0" ge:"0" le:"1" description:"When to start denoising, expressed a percentage of total steps"`
	DenoisingEnd         float64                           `json:"denoising_end" default:"1.0" ge:"0" le:"1" description:"When to stop denoising, expressed a percentage of total steps"`
	Scheduler            models.SchedulerName              `json:"scheduler" default:"euler" ui_type:"SchedulerField" description:"Scheduler to use during inference"`
	UNet                 *UNetField                        `json:"unet" title:"UNet" required:"true" input:"connection" description:"UNet (scheduler, LoRAs)"`
	CFGRescaleMultiplier float64                           `json:"cfg_rescale_multiplier" default:"0" ge:"0" lt:"1" title:"CFG Rescale Multiplier" description:"Rescale multiplier for CFG guidance, used for models trained with zero-terminal SNR"`
	Control              []nodes.Passthrough[ControlField] `json:"control" default:"null" poly:"true" input:"connection" title:"Control"`
	models               modelAccess
	store                *ObjectStore
	dtype                noise.DType
}

// NodeInfo implements nodes.Node.
func (*TiledMultiDiffusionDenoiseLatents) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:  "tiled_multi_diffusion_denoise_latents",
		Class: "TiledMultiDiffusionDenoiseLatents",
		Title: "Tiled Multi-Diffusion Denoise - SD1.5, SDXL",
		Description: "Tiled Multi-Diffusion denoising.\n\nThis node handles automatically tiling the input image, and is primarily intended for global refinement of images\n" +
			"in tiled upscaling workflows. Future Multi-Diffusion nodes should allow the user to specify custom regions with\n" +
			"different parameters for each region to harness the full power of Multi-Diffusion.\n\n" +
			"This node has a similar interface to the `DenoiseLatents` node, but it has a reduced feature set (no IP-Adapter,\nT2I-Adapter, masking, etc.).",
		Tags:     []string{"upscale", "denoise"},
		Category: "latents",
		Version:  "1.0.1",
		Output:   LatentsOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *TiledMultiDiffusionDenoiseLatents) Invoke(ctx nodes.Context) (nodes.Output, error) {
	if n.UNet == nil || n.PositiveConditioning == nil || n.NegativeConditioning == nil {
		return nil, valueError("unet, positive_conditioning and negative_conditioning are required")
	}
	for _, v := range []int{n.TileHeight, n.TileWidth, n.TileOverlap} {
		if v <= 0 || v%latentScale != 0 {
			return nil, valueError("tile sizes and overlap must be positive multiples of 8")
		}
	}
	if !scheduler.Implemented(string(n.Scheduler)) {
		return nil, valueError("unknown scheduler %q", n.Scheduler)
	}
	seamX, seamY, err := seamlessAxes(n.UNet.SeamlessAxes)
	if err != nil {
		return nil, err
	}
	// The prompt handling (and its checks) are denoise_latents'.
	d := &DenoiseLatents{models: n.models, store: n.store, dtype: n.dtype}
	if n.PositiveConditioning.Mask != nil || n.NegativeConditioning.Mask != nil {
		return nil, valueError("regional (masked) conditioning is not supported by tiled denoising")
	}
	pos, _, err := d.conditioning([]ConditioningField{*n.PositiveConditioning}, "positive", 0, 0)
	if err != nil {
		return nil, err
	}
	neg, _, err := d.conditioning([]ConditioningField{*n.NegativeConditioning}, "negative", 0, 0)
	if err != nil {
		return nil, err
	}
	params := pipeline.DenoiseParams{
		SchedulerName: string(n.Scheduler), Steps: n.Steps, CFGScale: n.CFGScale, CFGRescaleMultiplier: n.CFGRescaleMultiplier,
		DenoisingStart: n.DenoisingStart, DenoisingEnd: n.DenoisingEnd, Positive: pos, Negative: neg,
	}
	if len(params.CFGScale) == 0 {
		params.CFGScale = []float64{6}
	}
	for _, s := range params.CFGScale {
		if s < 1 {
			return nil, valueError("cfg_scale must be at least 1, got %v", s)
		}
	}
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
	ref := params.Noise
	if ref == nil {
		ref = params.Latents
	}
	if ref == nil {
		return nil, valueError("'latents' or 'noise' must be provided!")
	}
	if len(ref.Shape) != 4 {
		return nil, valueError("latents of shape %v", ref.Shape)
	}
	params.Seed = uint32(seed)
	grid, err := tiles.Grid(ref.Shape[2], ref.Shape[3], n.TileHeight/latentScale, n.TileWidth/latentScale, n.TileOverlap/latentScale)
	if err != nil {
		return nil, valueError("%v", err)
	}
	for _, raw := range n.Control {
		if raw.RawMessage == nil || string(raw.RawMessage) == "null" {
			continue
		}
		var c ControlField
		if err := json.Unmarshal(raw.RawMessage, &c); err != nil {
			return nil, valueError("control: %v", err)
		}
		d.Control = append(d.Control, c)
	}
	d.UNet = *n.UNet
	if err := d.adapterParams(ctx, &params, ref.Shape[2], ref.Shape[3]); err != nil {
		return nil, err
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
		size := image.Pt(s.Latents.Shape[3]*latentScale, s.Latents.Shape[2]*latentScale)
		ctx.ReportProgress(nodes.Progress{Message: "Denoising", Percentage: &pct, Preview: preview, PreviewSize: size})
		return nil
	}
	if len(grid) > 1 {
		// Progress per tile between the per-step previews: the share of all tile passes done so far.
		params.OnRegion = func(step, steps, region, regions int) error {
			pct := float64(step*regions+region+1) / float64(steps*regions)
			ctx.ReportProgress(nodes.Progress{Message: fmt.Sprintf("Denoising tile %d/%d, step %d/%d", region+1, regions, step+1, steps), Percentage: &pct})
			return nil
		}
	}
	result, err := pipeline.MultiDiffusionDenoise(ctx, params, grid)
	if err == nil {
		err = patchErr(params.UNetOptions.Layers)
	}
	if err != nil {
		return nil, nodeError(err)
	}
	name := n.store.SaveTensor("latents", result)
	return LatentsOutput{Latents: LatentsField{LatentsName: name}, Width: result.Shape[3] * latentScale, Height: result.Shape[2] * latentScale}, nil
}
