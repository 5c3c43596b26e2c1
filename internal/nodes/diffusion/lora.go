package diffusion

import (
	"context"
	"regexp"

	"github.com/invokego/invokego/internal/engine/lora"
	"github.com/invokego/invokego/internal/engine/pipeline"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/textinv"
	"github.com/invokego/invokego/internal/models"
	"github.com/invokego/invokego/internal/nodes"
)

// LoRA and textual-inversion nodes and their application. The loaders only
// append LoRAFields to the UNet and CLIP fields they pass on (InvokeAI's
// lora_loader and friends); denoise_latents and the prompt nodes apply the
// listed LoRAs for their own call, beside the cached weights (lora.Patcher),
// so a cached model is never changed (docs/architecture.md, "A model").

// maxLoRAs bounds the LoRAs one model may carry in a run.
const maxLoRAs = 64

// LoRALoaderOutput is lora_loader_output.
type LoRALoaderOutput struct {
	UNet *UNetField `json:"unet" default:"null" title:"UNet" description:"UNet (scheduler, LoRAs)"`
	CLIP *CLIPField `json:"clip" default:"null" title:"CLIP" description:"CLIP (tokenizer, text encoder, LoRAs) and skipped layer count"`
}

// OutputType implements nodes.Output.
func (LoRALoaderOutput) OutputType() string { return "lora_loader_output" }

// SDXLLoRALoaderOutput is sdxl_lora_loader_output.
type SDXLLoRALoaderOutput struct {
	UNet  *UNetField `json:"unet" default:"null" title:"UNet" description:"UNet (scheduler, LoRAs)"`
	CLIP  *CLIPField `json:"clip" default:"null" title:"CLIP 1" description:"CLIP (tokenizer, text encoder, LoRAs) and skipped layer count"`
	CLIP2 *CLIPField `json:"clip2" default:"null" title:"CLIP 2" description:"CLIP (tokenizer, text encoder, LoRAs) and skipped layer count"`
}

// OutputType implements nodes.Output.
func (SDXLLoRALoaderOutput) OutputType() string { return "sdxl_lora_loader_output" }

// LoRASelectorOutput is lora_selector_output.
type LoRASelectorOutput struct {
	LoRA LoRAField `json:"lora" title:"LoRA" description:"LoRA model and weight"`
}

// OutputType implements nodes.Output.
func (LoRASelectorOutput) OutputType() string { return "lora_selector_output" }

func hasLoRAKey(list []LoRAField, key string) bool {
	for _, l := range list {
		if l.LoRA.Key == key {
			return true
		}
	}
	return false
}

// copyUNet and copyCLIP are the deep copies InvokeAI's loaders make before appending.
func copyUNet(u *UNetField) *UNetField {
	if u == nil {
		return nil
	}
	c := *u
	c.LoRAs = append([]LoRAField{}, u.LoRAs...)
	c.SeamlessAxes = append([]string{}, u.SeamlessAxes...)
	return &c
}

func copyCLIP(c *CLIPField) *CLIPField {
	if c == nil {
		return nil
	}
	out := *c
	out.LoRAs = append([]LoRAField{}, c.LoRAs...)
	return &out
}

// appendLoRA adds l to each field that is set.
func appendLoRA(l LoRAField, u *UNetField, clips ...*CLIPField) {
	if u != nil {
		u.LoRAs = append(u.LoRAs, l)
	}
	for _, c := range clips {
		if c != nil {
			c.LoRAs = append(c.LoRAs, l)
		}
	}
}

// LoRALoader is lora_loader.
type LoRALoader struct {
	LoRA   ModelIdentifierField `json:"lora" title:"LoRA" ui_model_base:"sd-1" ui_model_type:"lora" description:"LoRA model to load"`
	Weight float64              `json:"weight" default:"0.75" description:"The weight at which the LoRA is applied to each model"`
	UNet   *UNetField           `json:"unet" title:"UNet" input:"connection" description:"UNet (scheduler, LoRAs)"`
	CLIP   *CLIPField           `json:"clip" title:"CLIP" input:"connection" description:"CLIP (tokenizer, text encoder, LoRAs) and skipped layer count"`
	models modelAccess
}

// NodeInfo implements nodes.Node.
func (*LoRALoader) NodeInfo() nodes.Info {
	return nodes.Info{Type: "lora_loader", Title: "Apply LoRA - SD1.5", Description: "Apply selected lora to unet and text_encoder.",
		Tags: []string{"model"}, Category: "model", Version: "1.0.4", Output: LoRALoaderOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *LoRALoader) Invoke(ctx nodes.Context) (nodes.Output, error) {
	key := n.LoRA.Key
	if _, err := n.models.config(ctx, n.LoRA); err != nil {
		return nil, valueError("Unknown lora: %s!", key)
	}
	if n.UNet != nil && hasLoRAKey(n.UNet.LoRAs, key) {
		return nil, valueError("LoRA \"%s\" already applied to unet.", key)
	}
	if n.CLIP != nil && hasLoRAKey(n.CLIP.LoRAs, key) {
		return nil, valueError("LoRA \"%s\" already applied to clip.", key)
	}
	out := LoRALoaderOutput{UNet: copyUNet(n.UNet), CLIP: copyCLIP(n.CLIP)}
	appendLoRA(LoRAField{LoRA: n.LoRA, Weight: n.Weight}, out.UNet, out.CLIP)
	return out, nil
}

// SDXLLoRALoader is sdxl_lora_loader.
type SDXLLoRALoader struct {
	LoRA   ModelIdentifierField `json:"lora" title:"LoRA" ui_model_base:"sdxl" ui_model_type:"lora" description:"LoRA model to load"`
	Weight float64              `json:"weight" default:"0.75" description:"The weight at which the LoRA is applied to each model"`
	UNet   *UNetField           `json:"unet" title:"UNet" input:"connection" description:"UNet (scheduler, LoRAs)"`
	CLIP   *CLIPField           `json:"clip" title:"CLIP 1" input:"connection" description:"CLIP (tokenizer, text encoder, LoRAs) and skipped layer count"`
	CLIP2  *CLIPField           `json:"clip2" title:"CLIP 2" input:"connection" description:"CLIP (tokenizer, text encoder, LoRAs) and skipped layer count"`
	models modelAccess
}

// NodeInfo implements nodes.Node.
func (*SDXLLoRALoader) NodeInfo() nodes.Info {
	return nodes.Info{Type: "sdxl_lora_loader", Class: "SDXLLoRALoaderInvocation", Title: "Apply LoRA - SDXL",
		Description: "Apply selected lora to unet and text_encoder.", Tags: []string{"lora", "model"}, Category: "model",
		Version: "1.0.5", Output: SDXLLoRALoaderOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *SDXLLoRALoader) Invoke(ctx nodes.Context) (nodes.Output, error) {
	key := n.LoRA.Key
	if _, err := n.models.config(ctx, n.LoRA); err != nil {
		return nil, valueError("Unknown lora: %s!", key)
	}
	if n.UNet != nil && hasLoRAKey(n.UNet.LoRAs, key) {
		return nil, valueError("LoRA \"%s\" already applied to unet.", key)
	}
	if n.CLIP != nil && hasLoRAKey(n.CLIP.LoRAs, key) {
		return nil, valueError("LoRA \"%s\" already applied to clip.", key)
	}
	if n.CLIP2 != nil && hasLoRAKey(n.CLIP2.LoRAs, key) {
		return nil, valueError("LoRA \"%s\" already applied to clip2.", key)
	}
	out := SDXLLoRALoaderOutput{UNet: copyUNet(n.UNet), CLIP: copyCLIP(n.CLIP), CLIP2: copyCLIP(n.CLIP2)}
	appendLoRA(LoRAField{LoRA: n.LoRA, Weight: n.Weight}, out.UNet, out.CLIP, out.CLIP2)
	return out, nil
}

// LoRASelector is lora_selector.
type LoRASelector struct {
	LoRA   ModelIdentifierField `json:"lora" title:"LoRA" ui_model_type:"lora" description:"LoRA model to load"`
	Weight float64              `json:"weight" default:"0.75" description:"The weight at which the LoRA is applied to each model"`
}

// NodeInfo implements nodes.Node.
func (*LoRASelector) NodeInfo() nodes.Info {
	return nodes.Info{Type: "lora_selector", Title: "Select LoRA", Description: "Selects a LoRA model and weight.",
		Tags: []string{"model"}, Category: "model", Version: "1.0.3", Output: LoRASelectorOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *LoRASelector) Invoke(nodes.Context) (nodes.Output, error) {
	return LoRASelectorOutput{LoRA: LoRAField{LoRA: n.LoRA, Weight: n.Weight}}, nil
}

// collect adds each LoRA of list once, in order, after checking it exists
// and is for one of bases (InvokeAI asserts the base).
func collectLoRAs(ctx context.Context, m modelAccess, list *[]LoRAField, bases []string, add func(LoRAField)) error {
	if list == nil {
		return nil
	}
	if len(*list) > maxLoRAs {
		return valueError("at most %d LoRAs", maxLoRAs)
	}
	added := map[string]bool{}
	for _, l := range *list {
		if added[l.LoRA.Key] {
			continue
		}
		cfg, err := m.config(ctx, l.LoRA)
		if err != nil {
			return valueError("Unknown lora: %s!", l.LoRA.Key)
		}
		ok := false
		for _, b := range bases {
			ok = ok || cfg.Base == b
		}
		if !ok {
			return valueError("The LoRA %s is for %s models; this loader applies %v LoRAs", cfg.Name, cfg.Base, bases)
		}
		added[l.LoRA.Key] = true
		add(l)
	}
	return nil
}

// LoRACollectionLoader is lora_collection_loader.
type LoRACollectionLoader struct {
	LoRAs  *[]LoRAField `json:"loras" poly:"true" title:"LoRAs" description:"LoRA models and weights. May be a single LoRA or collection."`
	UNet   *UNetField   `json:"unet" title:"UNet" input:"connection" description:"UNet (scheduler, LoRAs)"`
	CLIP   *CLIPField   `json:"clip" title:"CLIP" input:"connection" description:"CLIP (tokenizer, text encoder, LoRAs) and skipped layer count"`
	models modelAccess
}

// NodeInfo implements nodes.Node.
func (*LoRACollectionLoader) NodeInfo() nodes.Info {
	return nodes.Info{Type: "lora_collection_loader", Class: "LoRACollectionLoader", Title: "Apply LoRA Collection - SD1.5",
		Description: "Applies a collection of LoRAs to the provided UNet and CLIP models.", Tags: []string{"model"},
		Category: "model", Version: "1.1.2", Output: LoRALoaderOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *LoRACollectionLoader) Invoke(ctx nodes.Context) (nodes.Output, error) {
	out := LoRALoaderOutput{UNet: copyUNet(n.UNet), CLIP: copyCLIP(n.CLIP)}
	err := collectLoRAs(ctx, n.models, n.LoRAs, []string{models.BaseSD1, models.BaseSD2}, func(l LoRAField) {
		appendLoRA(l, out.UNet, out.CLIP)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SDXLLoRACollectionLoader is sdxl_lora_collection_loader.
type SDXLLoRACollectionLoader struct {
	LoRAs  *[]LoRAField `json:"loras" poly:"true" title:"LoRAs" description:"LoRA models and weights. May be a single LoRA or collection."`
	UNet   *UNetField   `json:"unet" title:"UNet" input:"connection" description:"UNet (scheduler, LoRAs)"`
	CLIP   *CLIPField   `json:"clip" title:"CLIP" input:"connection" description:"CLIP (tokenizer, text encoder, LoRAs) and skipped layer count"`
	CLIP2  *CLIPField   `json:"clip2" title:"CLIP 2" input:"connection" description:"CLIP (tokenizer, text encoder, LoRAs) and skipped layer count"`
	models modelAccess
}

// NodeInfo implements nodes.Node.
func (*SDXLLoRACollectionLoader) NodeInfo() nodes.Info {
	return nodes.Info{Type: "sdxl_lora_collection_loader", Class: "SDXLLoRACollectionLoader", Title: "Apply LoRA Collection - SDXL",
		Description: "Applies a collection of SDXL LoRAs to the provided UNet and CLIP models.", Tags: []string{"model"},
		Category: "model", Version: "1.1.2", Output: SDXLLoRALoaderOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *SDXLLoRACollectionLoader) Invoke(ctx nodes.Context) (nodes.Output, error) {
	out := SDXLLoRALoaderOutput{UNet: copyUNet(n.UNet), CLIP: copyCLIP(n.CLIP), CLIP2: copyCLIP(n.CLIP2)}
	err := collectLoRAs(ctx, n.models, n.LoRAs, []string{models.BaseSDXL}, func(l LoRAField) {
		appendLoRA(l, out.UNet, out.CLIP, out.CLIP2)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Applying them.

// patcher loads the LoRAs of a model field and resolves them onto the
// network (comp, with its layer shapes) for one call; nil when none apply.
// A LoRA made for another base is refused by name before anything loads;
// one whose layers do not fit the network (a mislabelled file) fails in
// the resolution with the module it could not place.
func (m modelAccess) patcher(ctx context.Context, model ModelIdentifierField, fields []LoRAField, comp lora.Component, shapes map[string][]int) (*lora.Patcher, error) {
	if len(fields) == 0 {
		return nil, nil
	}
	if len(fields) > maxLoRAs {
		return nil, valueError("at most %d LoRAs", maxLoRAs)
	}
	mainCfg, err := m.config(ctx, model)
	if err != nil {
		return nil, nodeError(err)
	}
	ws := make([]lora.Weighted, 0, len(fields))
	for _, f := range fields {
		cfg, err := m.config(ctx, f.LoRA)
		if err != nil {
			return nil, valueError("Unknown lora: %s!", f.LoRA.Key)
		}
		if cfg.Type != models.TypeLoRA {
			return nil, valueError("%s is a %s model, not a LoRA", cfg.Name, cfg.Type)
		}
		if cfg.Base != mainCfg.Base {
			return nil, valueError("The LoRA %s is for %s models and cannot be used with the %s model %s", cfg.Name, cfg.Base, mainCfg.Base, mainCfg.Name)
		}
		file, err := load[*lora.File](ctx, m, f.LoRA, "")
		if err != nil {
			return nil, nodeError(err)
		}
		ws = append(ws, lora.Weighted{File: file, Weight: float32(f.Weight)})
	}
	p, err := lora.NewPatcher(comp, shapes, ws)
	if err != nil {
		return nil, valueError("%v", err)
	}
	return p, nil
}

// asLayerPatcher keeps a nil *Patcher a nil interface.
func asLayerPatcher(p *lora.Patcher) sd.LayerPatcher {
	if p == nil {
		return nil
	}
	return p
}

// patchErr reports a layer a run's patcher could not patch (it then ran
// unpatched, so the result must not be used). Resolve checks every shape
// first, so this is a safeguard.
func patchErr(l sd.LayerPatcher) error {
	if p, ok := l.(interface{ Err() error }); ok && p != nil {
		return p.Err()
	}
	return nil
}

// tiTrigger is InvokeAI's pattern for an embedding named in a prompt.
var tiTrigger = regexp.MustCompile(`<[a-zA-Z0-9., _-]+>`)

// recordsByAttrs finds a record by name, type and base (the model manager's service).
type recordsByAttrs interface {
	ByAttrs(ctx context.Context, name, typ, base string) (*models.Config, error)
}

// embeddings finds the textual-inversion embeddings a prompt names, as
// InvokeAI's generate_ti_list does: each "<x>" names an installed
// embedding by key, else by name among the embeddings for the text
// encoder's base; a trigger that names none (or one for another base) stays
// plain text. encoder picks the vectors (0: the first or only text encoder,
// 1: SDXL's second) and width is the encoder's.
func (m modelAccess) embeddings(ctx context.Context, text, base string, encoder, width int) ([]pipeline.TextEmbedding, error) {
	var out []pipeline.TextEmbedding
	seen := map[string]bool{}
	for _, trigger := range tiTrigger.FindAllString(text, -1) {
		if seen[trigger] {
			continue
		}
		seen[trigger] = true
		if len(out) >= maxLoRAs {
			return nil, valueError("at most %d embeddings in one prompt", maxLoRAs)
		}
		name := trigger[1 : len(trigger)-1]
		cfg, err := m.records.Get(ctx, name)
		if err != nil || cfg == nil || cfg.Type != models.TypeEmbedding {
			cfg = nil
			if r, ok := m.records.(recordsByAttrs); ok {
				if c, err := r.ByAttrs(ctx, name, models.TypeEmbedding, base); err == nil {
					cfg = c
				}
			}
		}
		if cfg == nil || cfg.Base != base {
			continue
		}
		e, err := load[*textinv.Embedding](ctx, m, ModelIdentifierField{Key: cfg.Key}, "")
		if err != nil {
			return nil, nodeError(err)
		}
		v := e.For(encoder)
		if v == nil {
			continue
		}
		if v.Dim != width {
			return nil, valueError("Cannot load embedding for %s. It was trained on a model with token dimension %d, but the current model has token dimension %d.", trigger, v.Dim, width)
		}
		vecs := make([][]float32, v.N)
		for i := range vecs {
			vecs[i] = v.Row(i)
		}
		out = append(out, pipeline.TextEmbedding{Trigger: trigger, Vectors: vecs})
	}
	return out, nil
}
