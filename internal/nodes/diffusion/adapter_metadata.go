package diffusion

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/invokego/invokego/internal/models"
	"github.com/invokego/invokego/internal/nodes"
)

// The metadata_to_* nodes for LoRAs and control adapters (InvokeAI's metadata-linked nodes): they read the
// lists InvokeAI writes into an image's metadata ("loras" as {model, weight}, "controlnets", "ipAdapters",
// "t2iAdapters" as the adapter fields) and turn them back into the fields the loaders and denoise_latents
// take. A model named in metadata resolves by key when that model is installed, else by name among the
// installed models of its type (modelKeyFromMetadata).

// maxMetadataItems bounds the entries one metadata list may turn into.
const maxMetadataItems = 256

// metadataEntries returns metadata[key] as a list of objects ([] when absent).
func metadataEntries(md *nodes.MetadataField, key string) ([]map[string]any, error) {
	if md == nil {
		return nil, nil
	}
	v, ok := (*md)[key]
	if !ok || v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, valueError("metadata %q is not a list", key)
	}
	if len(list) > maxMetadataItems {
		return nil, valueError("metadata %q has %d entries (at most %d)", key, len(list), maxMetadataItems)
	}
	out := make([]map[string]any, 0, len(list))
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, valueError("metadata %q entry %d is not an object", key, i)
		}
		out = append(out, m)
	}
	return out, nil
}

// entryModelKey is the installed model an entry's field names, "" for none.
func (m modelAccess) entryModelKey(ctx context.Context, entry map[string]any, field, typ string) string {
	md := nodes.MetadataField(entry)
	return m.modelKeyFromMetadata(ctx, &md, field, "", typ)
}

// entryWeight reads an entry's LoRA weight (a number, as Python's float() takes it).
func entryWeight(entry map[string]any) (float64, error) {
	switch w := entry["weight"].(type) {
	case float64:
		return w, nil
	case json.Number:
		return w.Float64()
	}
	return 0, valueError("metadata LoRA weight %v is not a number", entry["weight"])
}

// metadataLoRAs resolves the "loras" of metadata: each entry's model (installed, by key or name) and weight.
// Entries naming no installed LoRA are skipped, as InvokeAI does.
func (m modelAccess) metadataLoRAs(ctx context.Context, md *nodes.MetadataField, key string, fallbackField bool) ([]LoRAField, error) {
	entries, err := metadataEntries(md, key)
	if err != nil {
		return nil, err
	}
	var out []LoRAField
	for _, e := range entries {
		k := m.entryModelKey(ctx, e, "model", models.TypeLoRA)
		if k == "" && fallbackField {
			k = m.entryModelKey(ctx, e, "lora", models.TypeLoRA)
		}
		if k == "" {
			continue
		}
		model, err := m.modelByKey(ctx, k)
		if err != nil {
			return nil, err
		}
		w, err := entryWeight(e)
		if err != nil {
			return nil, err
		}
		out = append(out, LoRAField{LoRA: model, Weight: w})
	}
	return out, nil
}

// addLoRAOnce appends l to a model's LoRAs unless that LoRA is already there (InvokeAI logs and skips).
func addLoRAOnce(list *[]LoRAField, l LoRAField) {
	if !hasLoRAKey(*list, l.LoRA.Key) {
		*list = append(*list, l)
	}
}

// MetadataToLoRAs is metadata_to_loras.
type MetadataToLoRAs struct {
	nodes.WithMetadata
	UNet   *UNetField `json:"unet" title:"UNet" input:"connection" description:"UNet (scheduler, LoRAs)"`
	CLIP   *CLIPField `json:"clip" title:"CLIP" input:"connection" description:"CLIP (tokenizer, text encoder, LoRAs) and skipped layer count"`
	models modelAccess
}

// NodeInfo implements nodes.Node.
func (*MetadataToLoRAs) NodeInfo() nodes.Info {
	return nodes.Info{Type: "metadata_to_loras", Class: "MetadataToLorasInvocation", Title: "Metadata To LoRAs",
		Description: "Extracts a Loras value of a label from metadata", Tags: []string{"metadata"}, Category: "metadata",
		Version: "1.1.1", Classification: "beta", Output: LoRALoaderOutput{}}
}

// Invoke implements nodes.Invocation: the metadata's LoRAs added to the UNet and CLIP given.
func (n *MetadataToLoRAs) Invoke(ctx nodes.Context) (nodes.Output, error) {
	loras, err := n.models.metadataLoRAs(ctx, n.Metadata, "loras", false)
	if err != nil {
		return nil, err
	}
	out := LoRALoaderOutput{UNet: copyUNet(n.UNet), CLIP: copyCLIP(n.CLIP)}
	for _, l := range loras {
		if out.UNet != nil {
			addLoRAOnce(&out.UNet.LoRAs, l)
		}
		if out.CLIP != nil {
			addLoRAOnce(&out.CLIP.LoRAs, l)
		}
	}
	return out, nil
}

// MetadataToSDXLLoRAs is metadata_to_sdlx_loras (InvokeAI's spelling).
type MetadataToSDXLLoRAs struct {
	nodes.WithMetadata
	UNet   *UNetField `json:"unet" title:"UNet" input:"connection" description:"UNet (scheduler, LoRAs)"`
	CLIP   *CLIPField `json:"clip" title:"CLIP 1" input:"connection" description:"CLIP (tokenizer, text encoder, LoRAs) and skipped layer count"`
	CLIP2  *CLIPField `json:"clip2" title:"CLIP 2" input:"connection" description:"CLIP (tokenizer, text encoder, LoRAs) and skipped layer count"`
	models modelAccess
}

// NodeInfo implements nodes.Node.
func (*MetadataToSDXLLoRAs) NodeInfo() nodes.Info {
	return nodes.Info{Type: "metadata_to_sdlx_loras", Class: "MetadataToSDXLLorasInvocation", Title: "Metadata To SDXL LoRAs",
		Description: "Extracts a SDXL Loras value of a label from metadata", Tags: []string{"metadata"}, Category: "metadata",
		Version: "1.1.1", Classification: "beta", Output: SDXLLoRALoaderOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *MetadataToSDXLLoRAs) Invoke(ctx nodes.Context) (nodes.Output, error) {
	loras, err := n.models.metadataLoRAs(ctx, n.Metadata, "loras", false)
	if err != nil {
		return nil, err
	}
	out := SDXLLoRALoaderOutput{UNet: copyUNet(n.UNet), CLIP: copyCLIP(n.CLIP), CLIP2: copyCLIP(n.CLIP2)}
	for _, l := range loras {
		if out.UNet != nil {
			addLoRAOnce(&out.UNet.LoRAs, l)
		}
		for _, c := range []*CLIPField{out.CLIP, out.CLIP2} {
			if c != nil {
				addLoRAOnce(&c.LoRAs, l)
			}
		}
	}
	return out, nil
}

// MetadataToLorasCollectionOutput is metadata_to_lora_collection_output.
type MetadataToLorasCollectionOutput struct {
	LoRA []LoRAField `json:"lora" title:"LoRAs" description:"Collection of LoRA model and weights"`
}

// OutputType implements nodes.Output.
func (MetadataToLorasCollectionOutput) OutputType() string {
	return "metadata_to_lora_collection_output"
}

// MetadataToLoRACollection is metadata_to_lora_collection.
type MetadataToLoRACollection struct {
	nodes.WithMetadata
	CustomLabel string       `json:"custom_label" default:"loras" input:"direct" description:"Label for this metadata item"`
	LoRAs       *[]LoRAField `json:"loras" poly:"true" default:"[]" title:"LoRAs" description:"LoRA models and weights. May be a single LoRA or collection."`
	models      modelAccess
}

// NodeInfo implements nodes.Node.
func (*MetadataToLoRACollection) NodeInfo() nodes.Info {
	return nodes.Info{Type: "metadata_to_lora_collection", Class: "MetadataToLorasCollectionInvocation",
		Title: "Metadata To LoRA Collection", Description: "Extracts Lora(s) from metadata into a collection",
		Tags: []string{"metadata"}, Category: "metadata", Version: "1.1.0", Classification: "beta",
		Output: MetadataToLorasCollectionOutput{}}
}

// Invoke implements nodes.Invocation: the LoRAs given (each once), then the metadata's under the label
// ("loras" when blank), an entry naming its model under "model" or "lora". A metadata LoRA already given is
// skipped. (InvokeAI 6.12 asserts on any connected LoRA through a wrong type test; the collection the node
// is meant to build is built here.)
func (n *MetadataToLoRACollection) Invoke(ctx nodes.Context) (nodes.Output, error) {
	key := strings.TrimSpace(n.CustomLabel)
	if key == "" {
		key = "loras"
	}
	out := MetadataToLorasCollectionOutput{LoRA: []LoRAField{}}
	var given []string
	if n.LoRAs != nil {
		if len(*n.LoRAs) > maxMetadataItems {
			return nil, valueError("at most %d LoRAs", maxMetadataItems)
		}
		for _, l := range *n.LoRAs {
			if slices.Contains(given, l.LoRA.Key) {
				continue
			}
			out.LoRA = append(out.LoRA, l)
			given = append(given, l.LoRA.Key)
		}
	}
	loras, err := n.models.metadataLoRAs(ctx, n.Metadata, key, true)
	if err != nil {
		return nil, err
	}
	for _, l := range loras {
		if !slices.Contains(given, l.LoRA.Key) {
			out.LoRA = append(out.LoRA, l)
		}
	}
	return out, nil
}

// entryInto decodes an adapter's metadata entry into a field struct (its own JSON names).
func entryInto(entry map[string]any, kind string, v any) error {
	b, err := json.Marshal(entry)
	if err != nil {
		return valueError("metadata %s: %v", kind, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return valueError("metadata %s: %v", kind, err)
	}
	return nil
}

func checkLiteral(name, v string, allowed []string) error {
	if !slices.Contains(allowed, v) {
		return valueError("%s %q: want one of %v", name, v, allowed)
	}
	return nil
}

// MDControlListOutput is md_control_list_output.
type MDControlListOutput struct {
	ControlList *[]ControlField `json:"control_list" poly:"true" title:"ControlNet-List" description:"ControlNet(s) to apply"`
}

// OutputType implements nodes.Output.
func (MDControlListOutput) OutputType() string { return "md_control_list_output" }

// MetadataToControlNets is metadata_to_controlnets.
type MetadataToControlNets struct {
	nodes.WithMetadata
	ControlList *[]ControlField `json:"control_list" poly:"true" title:"ControlNet-List" input:"connection"`
	models      modelAccess
}

// NodeInfo implements nodes.Node.
func (*MetadataToControlNets) NodeInfo() nodes.Info {
	return nodes.Info{Type: "metadata_to_controlnets", Class: "MetadataToControlnetsInvocation", Title: "Metadata To ControlNets",
		Description: "Extracts a Controlnets value of a label from metadata", Tags: []string{"metadata"}, Category: "metadata",
		Version: "1.2.0", Classification: "beta", Output: MDControlListOutput{}}
}

// Invoke implements nodes.Invocation: the ControlNets given, then one per metadata "controlnets" entry, each
// checked as the controlnet node checks its inputs; an entry whose model is not installed fails the node.
func (n *MetadataToControlNets) Invoke(ctx nodes.Context) (nodes.Output, error) {
	entries, err := metadataEntries(n.Metadata, "controlnets")
	if err != nil {
		return nil, err
	}
	list := []ControlField{}
	if n.ControlList != nil {
		list = append(list, *n.ControlList...)
	}
	for _, e := range entries {
		model, err := n.models.modelByKey(ctx, n.models.entryModelKey(ctx, e, "control_model", models.TypeControlNet))
		if err != nil {
			return nil, err
		}
		c := ControlField{ControlWeight: Weights{1}, EndStepPercent: 1, ControlMode: "balanced", ResizeMode: "just_resize"}
		if err := entryInto(e, "controlnet", &c); err != nil {
			return nil, err
		}
		if err := checkLiteral("control_mode", string(c.ControlMode), c.ControlMode.LiteralValues()); err != nil {
			return nil, err
		}
		if err := checkLiteral("resize_mode", string(c.ResizeMode), c.ResizeMode.LiteralValues()); err != nil {
			return nil, err
		}
		node := ControlNetNode{Image: c.Image, ControlModel: model, ControlWeight: c.ControlWeight, BeginStepPercent: c.BeginStepPercent,
			EndStepPercent: c.EndStepPercent, ControlMode: c.ControlMode, ResizeMode: c.ResizeMode}
		o, err := node.Invoke(ctx)
		if err != nil {
			return nil, err
		}
		list = append(list, o.(ControlOutput).Control)
	}
	return MDControlListOutput{ControlList: &list}, nil
}

// MDIPAdapterListOutput is md_ip_adapter_list_output.
type MDIPAdapterListOutput struct {
	IPAdapterList *[]IPAdapterField `json:"ip_adapter_list" poly:"true" title:"IP-Adapter-List" description:"IP-Adapter to apply"`
}

// OutputType implements nodes.Output.
func (MDIPAdapterListOutput) OutputType() string { return "md_ip_adapter_list_output" }

// MetadataToIPAdapters is metadata_to_ip_adapters.
type MetadataToIPAdapters struct {
	nodes.WithMetadata
	IPAdapterList *[]IPAdapterField `json:"ip_adapter_list" poly:"true" title:"IP-Adapter-List" input:"connection" description:"IP-Adapter to apply"`
	models        modelAccess
}

// NodeInfo implements nodes.Node.
func (*MetadataToIPAdapters) NodeInfo() nodes.Info {
	return nodes.Info{Type: "metadata_to_ip_adapters", Class: "MetadataToIPAdaptersInvocation", Title: "Metadata To IP-Adapters",
		Description: "Extracts a IP-Adapters value of a label from metadata", Tags: []string{"metadata"}, Category: "metadata",
		Version: "1.2.0", Classification: "beta", Output: MDIPAdapterListOutput{}}
}

// Invoke implements nodes.Invocation: the IP-Adapters given, then one per metadata "ipAdapters" entry through
// the ip_adapter node with the entry's image, weight and begin/end (InvokeAI passes only those: the method
// and the image encoder choice take the node's defaults).
func (n *MetadataToIPAdapters) Invoke(ctx nodes.Context) (nodes.Output, error) {
	entries, err := metadataEntries(n.Metadata, "ipAdapters")
	if err != nil {
		return nil, err
	}
	list := []IPAdapterField{}
	if n.IPAdapterList != nil {
		list = append(list, *n.IPAdapterList...)
	}
	for _, e := range entries {
		model, err := n.models.modelByKey(ctx, n.models.entryModelKey(ctx, e, "ip_adapter_model", models.TypeIPAdapter))
		if err != nil {
			return nil, err
		}
		f := IPAdapterField{Weight: Weights{1}, EndStepPercent: 1}
		if err := entryInto(map[string]any{"image": e["image"], "weight": e["weight"], "begin_step_percent": e["begin_step_percent"],
			"end_step_percent": e["end_step_percent"]}, "IP-Adapter", &f); err != nil {
			return nil, err
		}
		node := IPAdapterNode{Image: f.Image, IPAdapterModel: model, CLIPVisionModel: "ViT-H", Weight: f.Weight, Method: "full",
			BeginStepPercent: f.BeginStepPercent, EndStepPercent: f.EndStepPercent, models: n.models}
		o, err := node.Invoke(ctx)
		if err != nil {
			return nil, err
		}
		list = append(list, o.(IPAdapterOutput).IPAdapter)
	}
	return MDIPAdapterListOutput{IPAdapterList: &list}, nil
}

// MDT2IAdapterListOutput is md_ip_adapters_output (InvokeAI's name for the T2I-Adapter list).
type MDT2IAdapterListOutput struct {
	T2IAdapterList *[]T2IAdapterField `json:"t2i_adapter_list" poly:"true" title:"T2I Adapter-List" description:"T2I-Adapter(s) to apply"`
}

// OutputType implements nodes.Output.
func (MDT2IAdapterListOutput) OutputType() string { return "md_ip_adapters_output" }

// MetadataToT2IAdapters is metadata_to_t2i_adapters.
type MetadataToT2IAdapters struct {
	nodes.WithMetadata
	T2IAdapterList *[]T2IAdapterField `json:"t2i_adapter_list" poly:"true" title:"T2I-Adapter" input:"connection" description:"IP-Adapter to apply"`
	models         modelAccess
}

// NodeInfo implements nodes.Node.
func (*MetadataToT2IAdapters) NodeInfo() nodes.Info {
	return nodes.Info{Type: "metadata_to_t2i_adapters", Class: "MetadataToT2IAdaptersInvocation", Title: "Metadata To T2I-Adapters",
		Description: "Extracts a T2I-Adapters value of a label from metadata", Tags: []string{"metadata"}, Category: "metadata",
		Version: "1.2.0", Classification: "beta", Output: MDT2IAdapterListOutput{}}
}

// Invoke implements nodes.Invocation: the T2I-Adapters given, then one per metadata "t2iAdapters" entry.
func (n *MetadataToT2IAdapters) Invoke(ctx nodes.Context) (nodes.Output, error) {
	entries, err := metadataEntries(n.Metadata, "t2iAdapters")
	if err != nil {
		return nil, err
	}
	list := []T2IAdapterField{}
	if n.T2IAdapterList != nil {
		list = append(list, *n.T2IAdapterList...)
	}
	for _, e := range entries {
		model, err := n.models.modelByKey(ctx, n.models.entryModelKey(ctx, e, "t2i_adapter_model", models.TypeT2IAdapter))
		if err != nil {
			return nil, err
		}
		f := T2IAdapterField{Weight: Weights{1}, EndStepPercent: 1, ResizeMode: "just_resize"}
		if err := entryInto(map[string]any{"image": e["image"], "weight": e["weight"], "begin_step_percent": e["begin_step_percent"],
			"end_step_percent": e["end_step_percent"], "resize_mode": e["resize_mode"]}, "T2I-Adapter", &f); err != nil {
			return nil, err
		}
		if err := checkLiteral("resize_mode", string(f.ResizeMode), f.ResizeMode.LiteralValues()); err != nil {
			return nil, err
		}
		node := T2IAdapterNode{Image: f.Image, T2IAdapterModel: model, Weight: f.Weight, BeginStepPercent: f.BeginStepPercent,
			EndStepPercent: f.EndStepPercent, ResizeMode: f.ResizeMode}
		o, err := node.Invoke(ctx)
		if err != nil {
			return nil, err
		}
		list = append(list, o.(T2IAdapterOutput).T2IAdapter)
	}
	return MDT2IAdapterListOutput{T2IAdapterList: &list}, nil
}
