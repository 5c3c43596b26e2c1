package diffusion

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/invokego/invokego/internal/engine/controlnet"
	"github.com/invokego/invokego/internal/engine/imaging"
	"github.com/invokego/invokego/internal/engine/ipadapter"
	"github.com/invokego/invokego/internal/engine/pipeline"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/t2iadapter"
	"github.com/invokego/invokego/internal/engine/tensor"
	"github.com/invokego/invokego/internal/models"
	"github.com/invokego/invokego/internal/nodes"
	"github.com/invokego/invokego/internal/schema"
)

// ControlMode is InvokeAI's CONTROLNET_MODE_VALUES.
type ControlMode string

// LiteralValues implements schema.Literal.
func (ControlMode) LiteralValues() []string {
	return []string{"balanced", "more_prompt", "more_control", "unbalanced"}
}

// ControlResizeMode is InvokeAI's CONTROLNET_RESIZE_VALUES.
type ControlResizeMode string

// LiteralValues implements schema.Literal.
func (ControlResizeMode) LiteralValues() []string {
	return []string{pipeline.ResizeJust, pipeline.ResizeCrop, pipeline.ResizeFill, pipeline.ResizeJustSimple}
}

// CLIPVisionModelName names the image encoder a checkpoint IP-Adapter uses.
type CLIPVisionModelName string

// LiteralValues implements schema.Literal.
func (CLIPVisionModelName) LiteralValues() []string { return []string{"ViT-H", "ViT-G", "ViT-L"} }

// IPAdapterMethod is how an IP-Adapter is applied: to every cross-attention, or to the blocks that carry
// style or composition.
type IPAdapterMethod string

// LiteralValues implements schema.Literal.
func (IPAdapterMethod) LiteralValues() []string {
	return []string{"full", "style", "composition", "style_strong", "style_precise"}
}

// Weights is Union[float, list[float]] inside a field struct: one weight for every step, or one per step.
type Weights []float64

// UnmarshalJSON accepts a number or a list of numbers.
func (w *Weights) UnmarshalJSON(b []byte) error {
	var one float64
	if err := json.Unmarshal(b, &one); err == nil {
		*w = Weights{one}
		return nil
	}
	var many []float64
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("want a number or a list of numbers")
	}
	*w = many
	return nil
}

// OpenAPISchema implements schema.Provider.
func (Weights) OpenAPISchema(*schema.Components) map[string]any {
	return map[string]any{"anyOf": []any{map[string]any{"type": "number"},
		map[string]any{"type": "array", "items": map[string]any{"type": "number"}}}}
}

// ImageList is Union[ImageField, list[ImageField]] inside a field struct.
type ImageList []nodes.ImageField

// UnmarshalJSON accepts an image or a list of images.
func (l *ImageList) UnmarshalJSON(b []byte) error {
	var one nodes.ImageField
	if err := json.Unmarshal(b, &one); err == nil && len(bytes.TrimSpace(b)) > 0 && bytes.TrimSpace(b)[0] == '{' {
		*l = ImageList{one}
		return nil
	}
	var many []nodes.ImageField
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("want an image or a list of images")
	}
	*l = many
	return nil
}

// OpenAPISchema implements schema.Provider.
func (ImageList) OpenAPISchema(c *schema.Components) map[string]any {
	img := c.Of(reflect.TypeOf(nodes.ImageField{}))
	return map[string]any{"anyOf": []any{img, map[string]any{"type": "array", "items": img}}}
}

// ControlField is a ControlNet to apply.
type ControlField struct {
	Image            nodes.ImageField     `json:"image" description:"The control image"`
	ControlModel     ModelIdentifierField `json:"control_model" description:"The ControlNet model to use"`
	ControlWeight    Weights              `json:"control_weight" default:"1" title:"Control Weight" description:"The weight given to the ControlNet"`
	BeginStepPercent float64              `json:"begin_step_percent" default:"0" ge:"0" le:"1" title:"Begin Step Percent" description:"When the ControlNet is first applied (% of total steps)"`
	EndStepPercent   float64              `json:"end_step_percent" default:"1" ge:"0" le:"1" title:"End Step Percent" description:"When the ControlNet is last applied (% of total steps)"`
	ControlMode      ControlMode          `json:"control_mode" default:"balanced" title:"Control Mode" description:"The control mode to use"`
	ResizeMode       ControlResizeMode    `json:"resize_mode" default:"just_resize" title:"Resize Mode" description:"The resize mode to use"`
}

// T2IAdapterField is a T2I-Adapter to apply.
type T2IAdapterField struct {
	Image            nodes.ImageField     `json:"image" description:"The T2I-Adapter image prompt."`
	T2IAdapterModel  ModelIdentifierField `json:"t2i_adapter_model" description:"The T2I-Adapter model to use."`
	Weight           Weights              `json:"weight" default:"1" title:"Weight" description:"The weight given to the T2I-Adapter"`
	BeginStepPercent float64              `json:"begin_step_percent" default:"0" ge:"0" le:"1" title:"Begin Step Percent" description:"When the T2I-Adapter is first applied (% of total steps)"`
	EndStepPercent   float64              `json:"end_step_percent" default:"1" ge:"0" le:"1" title:"End Step Percent" description:"When the T2I-Adapter is last applied (% of total steps)"`
	ResizeMode       ControlResizeMode    `json:"resize_mode" default:"just_resize" title:"Resize Mode" description:"The resize mode to use"`
}

// IPAdapterField is an IP-Adapter to apply, with the image encoder it needs.
type IPAdapterField struct {
	Image             ImageList            `json:"image" title:"Image" description:"The IP-Adapter image prompt(s)."`
	IPAdapterModel    ModelIdentifierField `json:"ip_adapter_model" description:"The IP-Adapter model to use."`
	ImageEncoderModel ModelIdentifierField `json:"image_encoder_model" description:"The name of the CLIP image encoder model."`
	Weight            Weights              `json:"weight" default:"1" title:"Weight" description:"The weight given to the IP-Adapter."`
	TargetBlocks      []string             `json:"target_blocks" default:"[]" title:"Target Blocks" description:"The IP Adapter blocks to apply"`
	Method            string               `json:"method" default:"full" title:"Method" description:"Weight apply method"`
	BeginStepPercent  float64              `json:"begin_step_percent" default:"0" ge:"0" le:"1" title:"Begin Step Percent" description:"When the IP-Adapter is first applied (% of total steps)"`
	EndStepPercent    float64              `json:"end_step_percent" default:"1" ge:"0" le:"1" title:"End Step Percent" description:"When the IP-Adapter is last applied (% of total steps)"`
	Mask              *TensorField         `json:"mask" default:"null" description:"The bool mask associated with this IP-Adapter. Excluded regions should be set to False, included regions should be set to True."`
}

// ControlOutput is control_output.
type ControlOutput struct {
	Control ControlField `json:"control" description:"ControlNet(s) to apply"`
}

// OutputType implements nodes.Output.
func (ControlOutput) OutputType() string { return "control_output" }

// T2IAdapterOutput is t2i_adapter_output.
type T2IAdapterOutput struct {
	T2IAdapter T2IAdapterField `json:"t2i_adapter" title:"T2I Adapter" description:"T2I-Adapter(s) to apply"`
}

// OutputType implements nodes.Output.
func (T2IAdapterOutput) OutputType() string { return "t2i_adapter_output" }

// IPAdapterOutput is ip_adapter_output.
type IPAdapterOutput struct {
	IPAdapter IPAdapterField `json:"ip_adapter" title:"IP-Adapter" description:"IP-Adapter to apply"`
}

// OutputType implements nodes.Output.
func (IPAdapterOutput) OutputType() string { return "ip_adapter_output" }

// checkWeights is InvokeAI's validate_weights: every weight within [-1, 2].
func checkWeights(w []float64) error {
	for _, v := range w {
		if v < -1 || v > 2 {
			return valueError("Control weights must be within -1 to 2 range")
		}
	}
	return nil
}

// checkBeginEnd is InvokeAI's validate_begin_end_step.
func checkBeginEnd(begin, end float64) error {
	if begin > end {
		return valueError("Begin step percent must be less than or equal to end step percent")
	}
	return nil
}

// ControlNetNode is controlnet: it gathers a ControlNet's settings for denoise_latents.
type ControlNetNode struct {
	Image            nodes.ImageField     `json:"image" description:"The control image"`
	ControlModel     ModelIdentifierField `json:"control_model" ui_model_base:"sd-1,sd-2,sdxl" ui_model_type:"controlnet" description:"ControlNet model to load"`
	ControlWeight    []float64            `json:"control_weight" poly:"true" default:"1.0" ge:"-1" le:"2" description:"The weight given to the ControlNet"`
	BeginStepPercent float64              `json:"begin_step_percent" default:"0" ge:"0" le:"1" description:"When the ControlNet is first applied (% of total steps)"`
	EndStepPercent   float64              `json:"end_step_percent" default:"1" ge:"0" le:"1" description:"When the ControlNet is last applied (% of total steps)"`
	ControlMode      ControlMode          `json:"control_mode" default:"balanced" description:"The control mode used"`
	ResizeMode       ControlResizeMode    `json:"resize_mode" default:"just_resize" description:"The resize mode used"`
}

// NodeInfo implements nodes.Node.
func (*ControlNetNode) NodeInfo() nodes.Info {
	return nodes.Info{Type: "controlnet", Class: "ControlNetInvocation", Title: "ControlNet - SD1.5, SD2, SDXL",
		Description: "Collects ControlNet info to pass to other nodes", Tags: []string{"controlnet"},
		Category: "controlnet", Version: "1.1.3", Output: ControlOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *ControlNetNode) Invoke(nodes.Context) (nodes.Output, error) {
	if err := checkWeights(n.ControlWeight); err != nil {
		return nil, err
	}
	if err := checkBeginEnd(n.BeginStepPercent, n.EndStepPercent); err != nil {
		return nil, err
	}
	return ControlOutput{Control: ControlField{Image: n.Image, ControlModel: n.ControlModel, ControlWeight: n.ControlWeight,
		BeginStepPercent: n.BeginStepPercent, EndStepPercent: n.EndStepPercent, ControlMode: n.ControlMode, ResizeMode: n.ResizeMode}}, nil
}

// T2IAdapterNode is t2i_adapter.
type T2IAdapterNode struct {
	Image            nodes.ImageField     `json:"image" description:"The IP-Adapter image prompt."`
	T2IAdapterModel  ModelIdentifierField `json:"t2i_adapter_model" title:"T2I-Adapter Model" ui_order:"-1" ui_model_base:"sd-1,sdxl" ui_model_type:"t2i_adapter" description:"The T2I-Adapter model."`
	Weight           []float64            `json:"weight" poly:"true" default:"1" ge:"0" description:"The weight given to the T2I-Adapter"`
	BeginStepPercent float64              `json:"begin_step_percent" default:"0" ge:"0" le:"1" description:"When the T2I-Adapter is first applied (% of total steps)"`
	EndStepPercent   float64              `json:"end_step_percent" default:"1" ge:"0" le:"1" description:"When the T2I-Adapter is last applied (% of total steps)"`
	ResizeMode       ControlResizeMode    `json:"resize_mode" default:"just_resize" description:"The resize mode applied to the T2I-Adapter input image so that it matches the target output size."`
}

// NodeInfo implements nodes.Node.
func (*T2IAdapterNode) NodeInfo() nodes.Info {
	return nodes.Info{Type: "t2i_adapter", Class: "T2IAdapterInvocation", Title: "T2I-Adapter - SD1.5, SDXL",
		Description: "Collects T2I-Adapter info to pass to other nodes.", Tags: []string{"t2i_adapter", "control"},
		Category: "t2i_adapter", Version: "1.0.4", Output: T2IAdapterOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *T2IAdapterNode) Invoke(nodes.Context) (nodes.Output, error) {
	if err := checkWeights(n.Weight); err != nil {
		return nil, err
	}
	if err := checkBeginEnd(n.BeginStepPercent, n.EndStepPercent); err != nil {
		return nil, err
	}
	return T2IAdapterOutput{T2IAdapter: T2IAdapterField{Image: n.Image, T2IAdapterModel: n.T2IAdapterModel, Weight: n.Weight,
		BeginStepPercent: n.BeginStepPercent, EndStepPercent: n.EndStepPercent, ResizeMode: n.ResizeMode}}, nil
}

// IPAdapterNode is ip_adapter: it picks the image encoder the adapter needs and the blocks its method
// targets.
type IPAdapterNode struct {
	Image            []nodes.ImageField   `json:"image" poly:"true" title:"Image" ui_order:"1" description:"The IP-Adapter image prompt(s)."`
	IPAdapterModel   ModelIdentifierField `json:"ip_adapter_model" title:"IP-Adapter Model" ui_order:"-1" ui_model_base:"sd-1,sdxl" ui_model_type:"ip_adapter" description:"The IP-Adapter model."`
	CLIPVisionModel  CLIPVisionModelName  `json:"clip_vision_model" default:"ViT-H" ui_order:"2" description:"CLIP Vision model to use. Overrides model settings. Mandatory for checkpoint models."`
	Weight           []float64            `json:"weight" poly:"true" default:"1" title:"Weight" description:"The weight given to the IP-Adapter"`
	Method           IPAdapterMethod      `json:"method" default:"full" description:"The method to apply the IP-Adapter"`
	BeginStepPercent float64              `json:"begin_step_percent" default:"0" ge:"0" le:"1" description:"When the IP-Adapter is first applied (% of total steps)"`
	EndStepPercent   float64              `json:"end_step_percent" default:"1" ge:"0" le:"1" description:"When the IP-Adapter is last applied (% of total steps)"`
	Mask             *TensorField         `json:"mask" description:"A mask defining the region that this IP-Adapter applies to."`
	models           modelAccess
}

// NodeInfo implements nodes.Node.
func (*IPAdapterNode) NodeInfo() nodes.Info {
	return nodes.Info{Type: "ip_adapter", Class: "IPAdapterInvocation", Title: "IP-Adapter - SD1.5, SDXL",
		Description: "Collects IP-Adapter info to pass to other nodes.", Tags: []string{"ip_adapter", "control"},
		Category: "ip_adapter", Version: "1.5.1", Output: IPAdapterOutput{}}
}

// clipVisionStarters are the image encoders InvokeAI's starter models install for each clip_vision_model
// choice (name, and the source that installs it).
var clipVisionStarters = map[CLIPVisionModelName][2]string{
	"ViT-H": {"ip_adapter_sd_image_encoder", "InvokeAI/ip_adapter_sd_image_encoder"},
	"ViT-G": {"ip_adapter_sdxl_image_encoder", "InvokeAI/ip_adapter_sdxl_image_encoder"},
	"ViT-L": {"clip-vit-large-patch14", "InvokeAI/clip-vit-large-patch14"},
}

// ipTargetBlocks is InvokeAI's choice of blocks per method and base.
func ipTargetBlocks(method IPAdapterMethod, base string) ([]string, error) {
	sd1 := map[IPAdapterMethod][]string{
		"style":         {"up_blocks.1"},
		"composition":   {"down_blocks.2", "mid_block"},
		"style_precise": {"up_blocks.1", "down_blocks.2", "mid_block"},
		"style_strong":  {"up_blocks.0", "up_blocks.1", "up_blocks.2", "down_blocks.0", "down_blocks.1"},
	}
	sdxl := map[IPAdapterMethod][]string{
		"style":         {"up_blocks.0.attentions.1"},
		"composition":   {"down_blocks.2.attentions.1"},
		"style_precise": {"up_blocks.0.attentions.1", "down_blocks.2.attentions.1"},
		"style_strong": {"up_blocks.0.attentions.1", "up_blocks.1.attentions.1", "up_blocks.2.attentions.1",
			"up_blocks.0.attentions.2", "up_blocks.1.attentions.2", "up_blocks.2.attentions.2", "up_blocks.0.attentions.0",
			"up_blocks.1.attentions.0", "up_blocks.2.attentions.0", "down_blocks.0.attentions.0", "down_blocks.0.attentions.1",
			"down_blocks.0.attentions.2", "down_blocks.1.attentions.0", "down_blocks.1.attentions.1", "down_blocks.1.attentions.2",
			"down_blocks.2.attentions.0", "down_blocks.2.attentions.2"},
	}
	if method == "full" || method == "" {
		return []string{"block"}, nil
	}
	var table map[IPAdapterMethod][]string
	switch base {
	case models.BaseSD1:
		table = sd1
	case models.BaseSDXL:
		table = sdxl
	default:
		return nil, valueError("Unsupported IP-Adapter base type: '%s'.", base)
	}
	blocks, ok := table[method]
	if !ok {
		return nil, valueError("Unexpected IP-Adapter method: '%s'.", method)
	}
	return blocks, nil
}

// recordSearch finds installed models by name (the model manager's records).
type recordSearch interface {
	ByAttrs(ctx context.Context, name, typ, base string) (*models.Config, error)
}

// Invoke implements nodes.Invocation.
func (n *IPAdapterNode) Invoke(ctx nodes.Context) (nodes.Output, error) {
	if err := checkWeights(n.Weight); err != nil {
		return nil, err
	}
	if err := checkBeginEnd(n.BeginStepPercent, n.EndStepPercent); err != nil {
		return nil, err
	}
	info, err := n.models.config(ctx, n.IPAdapterModel)
	if err != nil {
		return nil, nodeError(err)
	}
	if info.Type != models.TypeIPAdapter {
		return nil, valueError("%s is a %s model, not an IP-Adapter", info.Name, info.Type)
	}
	var name, source string
	if info.Format == models.FormatInvokeAI && info.ImageEncoderModelID != nil {
		id := *info.ImageEncoderModelID
		name, source = strings.TrimSpace(id[strings.LastIndex(id, "/")+1:]), id
	} else {
		starter := clipVisionStarters[n.CLIPVisionModel]
		name, source = starter[0], starter[1]
	}
	search, ok := n.models.records.(recordSearch)
	if !ok {
		return nil, valueError("the model manager cannot search models")
	}
	enc, err := search.ByAttrs(ctx, name, models.TypeCLIPVision, models.BaseAny)
	if err != nil {
		// InvokeAI downloads the encoder here; invokego does not install models during a run.
		return nil, valueError("The image encoder required by this IP Adapter (%s) is not installed; install it from %s", name, source)
	}
	blocks, err := ipTargetBlocks(n.Method, info.Base)
	if err != nil {
		return nil, err
	}
	return IPAdapterOutput{IPAdapter: IPAdapterField{Image: n.Image, IPAdapterModel: n.IPAdapterModel,
		ImageEncoderModel: ModelIdentifierField{Key: enc.Key, Hash: enc.Hash, Name: enc.Name, Base: enc.Base, Type: enc.Type},
		Weight:            n.Weight, TargetBlocks: blocks, Method: string(n.Method), BeginStepPercent: n.BeginStepPercent,
		EndStepPercent: n.EndStepPercent, Mask: n.Mask}}, nil
}

// maxAdapters bounds how many of each kind one denoise run takes.
const maxAdapters = 16

// loadAdapter checks that an adapter was made for the UNet's base model and loads it.
func loadAdapter[T any](ctx nodes.Context, m modelAccess, id ModelIdentifierField, kind, wantType, unetBase string) (T, error) {
	var zero T
	cfg, err := m.config(ctx, id)
	if err != nil {
		return zero, err
	}
	if cfg.Type != wantType {
		return zero, valueError("%s is a %s model, not a %s", cfg.Name, cfg.Type, kind)
	}
	if unetBase != "" && cfg.Base != unetBase {
		return zero, valueError("The %s %s is for %s models and cannot be used with a %s model", kind, cfg.Name, cfg.Base, unetBase)
	}
	return load[T](ctx, m, id, "")
}

// adapterParams loads the run's ControlNets, T2I-Adapters and IP-Adapters and prepares their inputs as
// InvokeAI's denoise_latents does: control images resized to the latents' size ×8, T2I-Adapter inputs to the
// size that makes the adapter's features the UNet's, IP-Adapter images through the CLIP image encoder.
func (n *DenoiseLatents) adapterParams(ctx nodes.Context, p *pipeline.DenoiseParams, latentH, latentW int) error {
	controls, t2is, ips := n.Control, n.T2IAdapter, n.IPAdapter
	if len(controls) == 0 && len(t2is) == 0 && len(ips) == 0 {
		return nil
	}
	if len(controls) > maxAdapters || len(t2is) > maxAdapters || len(ips) > maxAdapters {
		return valueError("at most %d ControlNets, T2I-Adapters and IP-Adapters each", maxAdapters)
	}
	unetCfg, err := n.models.config(ctx, n.UNet.UNet)
	if err != nil {
		return nodeError(err)
	}
	base := unetCfg.Base
	for _, c := range controls {
		if err := checkWeights(c.ControlWeight); err != nil {
			return err
		}
		cn, err := loadAdapter[*controlnet.ControlNet](ctx, n.models, c.ControlModel, "ControlNet", models.TypeControlNet, base)
		if err != nil {
			return nodeError(err)
		}
		img, err := ctx.LoadImage(c.Image.ImageName)
		if err != nil {
			return err
		}
		prepared, err := pipeline.PrepareControlImage(img, latentW*latentScale, latentH*latentScale, string(c.ResizeMode), 3)
		if err != nil {
			return valueError("control image: %v", err)
		}
		p.Controls = append(p.Controls, pipeline.Control{Model: cn, Image: prepared, Weight: c.ControlWeight,
			BeginStepPercent: c.BeginStepPercent, EndStepPercent: c.EndStepPercent, Mode: string(c.ControlMode)})
	}
	for _, a := range t2is {
		ad, err := loadAdapter[*t2iadapter.Adapter](ctx, n.models, a.T2IAdapterModel, "T2I-Adapter", models.TypeT2IAdapter, base)
		if err != nil {
			return nodeError(err)
		}
		img, err := ctx.LoadImage(a.Image.ImageName)
		if err != nil {
			return err
		}
		// InvokeAI sizes the input so that the adapter's features match the UNet's blocks: latents ÷ the
		// UNet's deepest downscaling (8 for SD-1, 4 for SDXL) × the adapter's total downscale. That constant
		// is the adapter's total downscale ÷ 8 for every adapter type (64/8 for SD-1's, 32/8 for SDXL's), which
		// is how it is taken here, so that it holds for any adapter paired with its UNet.
		total := ad.TotalDownscale()
		down := max(total/latentScale, 1)
		h, w := latentH/down*total, latentW/down*total
		if h < 1 || w < 1 {
			return valueError("the latents (%dx%d) are too small for the T2I-Adapter", latentW, latentH)
		}
		prepared, err := pipeline.PrepareControlImage(img, w, h, string(a.ResizeMode), ad.Config.InChannels)
		if err != nil {
			return valueError("t2i adapter image: %v", err)
		}
		features, err := ad.Forward(prepared)
		if err != nil {
			return nodeError(err)
		}
		p.Adapters = append(p.Adapters, pipeline.Adapter{Features: features, Weight: a.Weight,
			BeginStepPercent: a.BeginStepPercent, EndStepPercent: a.EndStepPercent})
	}
	for _, ipf := range ips {
		var mask *tensor.Tensor
		if ipf.Mask != nil {
			// A regional reference image: the adapter counts only inside the mask (pipeline.IPAdapter.Mask).
			m, err := n.store.Tensor(ipf.Mask.TensorName)
			if err != nil {
				return valueError("ip adapter mask: %v", err)
			}
			if sh := m.Shape; !(len(sh) == 2 || (len(sh) == 3 && sh[0] == 1)) {
				return valueError("ip adapter mask of shape %v: want [1, H, W] or [H, W]", sh)
			}
			mask = m
		}
		if len(ipf.Image) == 0 || len(ipf.Image) > maxAdapters {
			return valueError("an IP-Adapter needs 1 to %d images", maxAdapters)
		}
		ip, err := loadAdapter[*ipadapter.Adapter](ctx, n.models, ipf.IPAdapterModel, "IP-Adapter", models.TypeIPAdapter, base)
		if err != nil {
			return nodeError(err)
		}
		enc, err := loadAdapter[*sd.CLIPVisionModel](ctx, n.models, ipf.ImageEncoderModel, "image encoder", models.TypeCLIPVision, "")
		if err != nil {
			return nodeError(err)
		}
		var pixels []*tensor.Tensor
		for _, im := range ipf.Image {
			img, err := ctx.LoadImage(im.ImageName)
			if err != nil {
				return err
			}
			px, err := imaging.CLIPPixels(img, enc.Config.ImageSize)
			if err != nil {
				return valueError("ip adapter image: %v", err)
			}
			pixels = append(pixels, px)
		}
		cond, uncond, err := ip.ImageTokens(ctx, enc, concatBatch(pixels))
		if err != nil {
			return nodeError(err)
		}
		blocks := ipf.TargetBlocks
		if len(blocks) == 1 && blocks[0] == "block" {
			blocks = nil // every processor name contains "block"
		}
		p.IPAdapters = append(p.IPAdapters, pipeline.IPAdapter{Model: ip, Cond: cond, Uncond: uncond, Weight: ipf.Weight,
			BeginStepPercent: ipf.BeginStepPercent, EndStepPercent: ipf.EndStepPercent, TargetBlocks: blocks, Mask: mask})
	}
	return nil
}

// concatBatch stacks [1, …] tensors into one batch.
func concatBatch(ts []*tensor.Tensor) *tensor.Tensor {
	if len(ts) == 1 {
		return ts[0]
	}
	shape := append([]int{len(ts)}, ts[0].Shape[1:]...)
	out := tensor.New(shape...)
	per := len(ts[0].Data)
	for i, t := range ts {
		copy(out.Data[i*per:], t.Data)
	}
	return out
}
