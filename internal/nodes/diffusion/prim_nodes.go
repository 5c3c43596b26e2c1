package diffusion

import (
	"context"
	"math"
	"strings"

	"github.com/invokego/invokego/internal/models"
	"github.com/invokego/invokego/internal/nodes"
	"github.com/invokego/invokego/internal/store"
)

// Primitives over the diffusion field types (conditioning, latents), the scheduler and model pickers,
// ideal_size, and the metadata_to_* nodes that answer models and schedulers.

// ConditioningCollectionOutput is conditioning_collection_output.
type ConditioningCollectionOutput struct {
	Collection []ConditioningField `json:"collection" description:"The output conditioning tensors"`
}

// OutputType implements nodes.Output.
func (ConditioningCollectionOutput) OutputType() string { return "conditioning_collection_output" }

// LatentsCollectionOutput is latents_collection_output.
type LatentsCollectionOutput struct {
	Collection []LatentsField `json:"collection" description:"Latents tensor"`
}

// OutputType implements nodes.Output.
func (LatentsCollectionOutput) OutputType() string { return "latents_collection_output" }

// ConditioningPrimitive is conditioning.
type ConditioningPrimitive struct {
	Conditioning ConditioningField `json:"conditioning" input:"connection" description:"Conditioning tensor"`
}

// NodeInfo implements nodes.Node.
func (*ConditioningPrimitive) NodeInfo() nodes.Info {
	return nodes.Info{Type: "conditioning", Class: "ConditioningInvocation", Title: "Conditioning Primitive",
		Description: "A conditioning tensor primitive value", Tags: []string{"primitives", "conditioning"},
		Category: "primitives", Version: "1.0.1", Output: ConditioningOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *ConditioningPrimitive) Invoke(nodes.Context) (nodes.Output, error) {
	return ConditioningOutput{n.Conditioning}, nil
}

// ConditioningCollection is conditioning_collection.
type ConditioningCollection struct {
	Collection []ConditioningField `json:"collection" default:"[]" description:"The collection of conditioning tensors"`
}

// NodeInfo implements nodes.Node.
func (*ConditioningCollection) NodeInfo() nodes.Info {
	return nodes.Info{Type: "conditioning_collection", Title: "Conditioning Collection Primitive",
		Description: "A collection of conditioning tensor primitive values",
		Tags:        []string{"primitives", "conditioning", "collection"}, Category: "primitives", Version: "1.0.2",
		Output: ConditioningCollectionOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *ConditioningCollection) Invoke(nodes.Context) (nodes.Output, error) {
	if n.Collection == nil {
		n.Collection = []ConditioningField{}
	}
	return ConditioningCollectionOutput{n.Collection}, nil
}

// LatentsPrimitive is latents.
type LatentsPrimitive struct {
	Latents LatentsField `json:"latents" input:"connection" description:"The latents tensor"`
	store   *ObjectStore
}

// NodeInfo implements nodes.Node.
func (*LatentsPrimitive) NodeInfo() nodes.Info {
	return nodes.Info{Type: "latents", Class: "LatentsInvocation", Title: "Latents Primitive",
		Description: "A latents tensor primitive value", Tags: []string{"primitives", "latents"},
		Category: "primitives", Version: "1.0.2", Output: LatentsOutput{}}
}

// Invoke implements nodes.Invocation: the latents with their size in pixels, as InvokeAI reads it off the tensor.
func (n *LatentsPrimitive) Invoke(nodes.Context) (nodes.Output, error) {
	t, err := n.store.Tensor(n.Latents.LatentsName)
	if err != nil {
		return nil, nodeError(err)
	}
	s := t.Shape
	return LatentsOutput{Latents: n.Latents, Width: s[len(s)-1] * latentScale, Height: s[len(s)-2] * latentScale}, nil
}

// LatentsCollection is latents_collection.
type LatentsCollection struct {
	Collection []LatentsField `json:"collection" description:"The collection of latents tensors"`
}

// NodeInfo implements nodes.Node.
func (*LatentsCollection) NodeInfo() nodes.Info {
	return nodes.Info{Type: "latents_collection", Title: "Latents Collection Primitive",
		Description: "A collection of latents tensor primitive values",
		Tags:        []string{"primitives", "latents", "collection"}, Category: "primitives", Version: "1.0.1",
		Output: LatentsCollectionOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *LatentsCollection) Invoke(nodes.Context) (nodes.Output, error) {
	return LatentsCollectionOutput{n.Collection}, nil
}

// SchedulerOutput is scheduler_output.
type SchedulerOutput struct {
	Scheduler models.SchedulerName `json:"scheduler" ui_type:"SchedulerField" description:"Scheduler to use during inference"`
}

// OutputType implements nodes.Output.
func (SchedulerOutput) OutputType() string { return "scheduler_output" }

// SchedulerNode is scheduler.
type SchedulerNode struct {
	Scheduler models.SchedulerName `json:"scheduler" default:"euler" ui_type:"SchedulerField" description:"Scheduler to use during inference"`
}

// NodeInfo implements nodes.Node.
func (*SchedulerNode) NodeInfo() nodes.Info {
	return nodes.Info{Type: "scheduler", Class: "SchedulerInvocation", Title: "Scheduler",
		Description: "Selects a scheduler.", Tags: []string{"scheduler"}, Category: "latents", Version: "1.0.0",
		Output: SchedulerOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *SchedulerNode) Invoke(nodes.Context) (nodes.Output, error) {
	return SchedulerOutput{n.Scheduler}, nil
}

// ModelIdentifierOutput is model_identifier_output.
type ModelIdentifierOutput struct {
	Model ModelIdentifierField `json:"model" description:"Model identifier"`
}

// OutputType implements nodes.Output.
func (ModelIdentifierOutput) OutputType() string { return "model_identifier_output" }

// ModelIdentifierNode is model_identifier ("Any Model").
type ModelIdentifierNode struct {
	Model  ModelIdentifierField `json:"model" description:"The model to select"`
	models modelAccess
}

// NodeInfo implements nodes.Node.
func (*ModelIdentifierNode) NodeInfo() nodes.Info {
	return nodes.Info{Type: "model_identifier", Class: "ModelIdentifierInvocation", Title: "Any Model",
		Description: "Selects any model, outputting it its identifier. Be careful with this one! The identifier will be accepted as\ninput for any model, even if the model types don't match. If you connect this to a mismatched input, you'll get an\nerror.",
		Tags:        []string{"model"}, Category: "model", Version: "1.0.1", Output: ModelIdentifierOutput{}}
}

// Invoke implements nodes.Invocation: the model must exist.
func (n *ModelIdentifierNode) Invoke(ctx nodes.Context) (nodes.Output, error) {
	if _, err := n.models.config(ctx, n.Model); err != nil {
		return nil, valueError("Unknown model: %s", n.Model.Key)
	}
	return ModelIdentifierOutput{n.Model}, nil
}

// IdealSizeOutput is ideal_size_output.
type IdealSizeOutput struct {
	Width  int64 `json:"width" description:"The ideal width of the image (in pixels)"`
	Height int64 `json:"height" description:"The ideal height of the image (in pixels)"`
}

// OutputType implements nodes.Output.
func (IdealSizeOutput) OutputType() string { return "ideal_size_output" }

// IdealSize is ideal_size: the size closest to the requested aspect whose area is the model's training area.
type IdealSize struct {
	Width      int64     `json:"width" default:"1024" le:"16384" description:"Final image width"`
	Height     int64     `json:"height" default:"576" le:"16384" description:"Final image height"`
	UNet       UNetField `json:"unet" description:"UNet (scheduler, LoRAs)"`
	Multiplier float64   `json:"multiplier" default:"1.0" description:"Amount to multiply the model's dimensions by when calculating the ideal size (may result in initial generation artifacts if too large)"`
	models     modelAccess
}

// NodeInfo implements nodes.Node.
func (*IdealSize) NodeInfo() nodes.Info {
	return nodes.Info{Type: "ideal_size", Title: "Ideal Size - SD1.5, SDXL",
		Description: "Calculates the ideal size for generation to avoid duplication",
		Tags:        []string{"latents", "math", "ideal_size"}, Version: "1.0.6", Output: IdealSizeOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *IdealSize) Invoke(ctx nodes.Context) (nodes.Output, error) {
	cfg, err := n.models.config(ctx, n.UNet.UNet)
	if err != nil {
		return nil, valueError("Unknown model: %s", n.UNet.UNet.Key)
	}
	if n.Height == 0 {
		return nil, nodes.Errorf("ZeroDivisionError", "division by zero")
	}
	w, h, err := idealSize(cfg.Base, float64(n.Width), float64(n.Height), n.Multiplier)
	if err != nil {
		return nil, err
	}
	return IdealSizeOutput{Width: w, Height: h}, nil
}

// idealSize is InvokeAI's computation: the model's square training side times the multiplier gives the
// area; the side along the shorter axis is at least half the training side; both are floored, then trimmed
// to a multiple of 8.
func idealSize(base string, width, height, multiplier float64) (int64, int64, error) {
	var dimension float64
	switch base {
	case models.BaseSD1:
		dimension = 512
	case models.BaseSD2:
		dimension = 768
	case models.BaseSDXL, "flux", "sd-3":
		dimension = 1024
	default:
		return 0, 0, valueError("Unsupported model type: %s", base)
	}
	aspect := width / height
	dimension *= multiplier
	minDim := math.Floor(dimension * 0.5)
	area := dimension * dimension
	var w, h float64
	if aspect > 1 {
		h = math.Max(minDim, math.Sqrt(area/aspect))
		w = h * aspect
	} else {
		w = math.Max(minDim, math.Sqrt(area*aspect))
		h = w / aspect
	}
	fw, fh := math.Floor(w), math.Floor(h)
	if math.IsNaN(fw) || math.IsNaN(fh) || math.Abs(fw) > 1<<53 || math.Abs(fh) > 1<<53 {
		return 0, 0, valueError("ideal size out of range")
	}
	trim := func(x int64) int64 { return x - ((x%latentScale)+latentScale)%latentScale }
	return trim(int64(fw)), trim(int64(fh)), nil
}

// Metadata to models and schedulers.

// customLabel is the label choice that means "use custom_label".
const customLabel = "* CUSTOM LABEL *"

// SchedulerLabel is metadata_to_scheduler's label.
type SchedulerLabel string

// LiteralValues implements schema.Literal.
func (SchedulerLabel) LiteralValues() []string { return []string{customLabel, "scheduler"} }

// ModelLabel is the label of metadata_to_model and metadata_to_sdxl_model.
type ModelLabel string

// LiteralValues implements schema.Literal.
func (ModelLabel) LiteralValues() []string { return []string{customLabel, "model"} }

// VAELabel is metadata_to_vae's label.
type VAELabel string

// LiteralValues implements schema.Literal.
func (VAELabel) LiteralValues() []string { return []string{customLabel, "vae"} }

func metadataLabel(label string, custom *string) (string, error) {
	if label != customLabel {
		return label, nil
	}
	if custom == nil || strings.TrimSpace(*custom) == "" {
		return "", valueError("You must enter a Custom Label")
	}
	return *custom, nil
}

// modelLister finds models by name (the model manager's records offer it).
type modelLister interface {
	List(ctx context.Context, f store.ModelFilter) ([]*models.Config, error)
}

// modelKeyFromMetadata is the key of the model metadata[label] names, as InvokeAI resolves it: its key when that
// model is installed, else the first installed model of the type with its "name" (then "model_name"), else def.
func (m modelAccess) modelKeyFromMetadata(ctx context.Context, md *nodes.MetadataField, label, def, typ string) string {
	if md == nil {
		return def
	}
	entry, ok := (*md)[label].(map[string]any)
	if !ok {
		return def
	}
	if key, ok := entry["key"].(string); ok && m.records != nil {
		if _, err := m.records.Get(ctx, key); err == nil {
			return key
		}
	}
	lister, ok := m.records.(modelLister)
	if !ok {
		return def
	}
	for _, field := range []string{"name", "model_name"} {
		name, ok := entry[field].(string)
		if !ok {
			continue
		}
		if found, err := lister.List(ctx, store.ModelFilter{Name: name, Type: typ}); err == nil && len(found) > 0 {
			return found[0].Key
		}
	}
	return def
}

// identifierOf is ModelIdentifierField.from_config.
func identifierOf(cfg *models.Config) ModelIdentifierField {
	return ModelIdentifierField{Key: cfg.Key, Hash: cfg.Hash, Name: cfg.Name, Base: cfg.Base, Type: cfg.Type}
}

func (m modelAccess) modelByKey(ctx context.Context, key string) (ModelIdentifierField, error) {
	if m.records == nil {
		return ModelIdentifierField{}, nodes.Errorf("Exception", "Unknown model: %s", key)
	}
	cfg, err := m.records.Get(ctx, key)
	if err != nil {
		return ModelIdentifierField{}, nodes.Errorf("Exception", "Unknown model: %s", key)
	}
	return identifierOf(cfg), nil
}

// MetadataToScheduler is metadata_to_scheduler.
type MetadataToScheduler struct {
	nodes.WithMetadata
	Label        SchedulerLabel       `json:"label" default:"scheduler" input:"direct" description:"Label for this metadata item"`
	CustomLabel  *string              `json:"custom_label" default:"null" input:"direct" description:"Label for this metadata item"`
	DefaultValue models.SchedulerName `json:"default_value" default:"euler" ui_type:"SchedulerField" description:"The default scheduler to use if not found in the metadata"`
}

// NodeInfo implements nodes.Node.
func (*MetadataToScheduler) NodeInfo() nodes.Info {
	return nodes.Info{Type: "metadata_to_scheduler", Title: "Metadata To Scheduler",
		Description: "Extracts a Scheduler value of a label from metadata", Tags: []string{"metadata"},
		Category: "metadata", Version: "1.0.1", Classification: "beta", Output: SchedulerOutput{}}
}

// Invoke implements nodes.Invocation: the scheduler must be one InvokeAI knows.
func (n *MetadataToScheduler) Invoke(nodes.Context) (nodes.Output, error) {
	k, err := metadataLabel(string(n.Label), n.CustomLabel)
	if err != nil {
		return nil, err
	}
	out := n.DefaultValue
	if n.Metadata != nil {
		if v, ok := (*n.Metadata)[k]; ok {
			s, _ := v.(string)
			known := false
			for _, name := range out.LiteralValues() {
				known = known || name == s
			}
			if !known {
				return nil, valueError("scheduler: input should be one of InvokeAI's scheduler names, not %v", v)
			}
			out = models.SchedulerName(s)
		}
	}
	return SchedulerOutput{out}, nil
}

// MetadataToModelOutput is metadata_to_model_output.
type MetadataToModelOutput struct {
	Model ModelIdentifierField `json:"model" title:"Model" description:"Main model (UNet, VAE, CLIP) to load"`
	Name  string               `json:"name" title:"Name" description:"Model Name"`
	UNet  UNetField            `json:"unet" title:"UNet" description:"UNet (scheduler, LoRAs)"`
	VAE   VAEField             `json:"vae" title:"VAE" description:"VAE"`
	CLIP  CLIPField            `json:"clip" title:"CLIP" description:"CLIP (tokenizer, text encoder, LoRAs) and skipped layer count"`
}

// OutputType implements nodes.Output.
func (MetadataToModelOutput) OutputType() string { return "metadata_to_model_output" }

// MetadataToSDXLModelOutput is metadata_to_sdxl_model_output.
type MetadataToSDXLModelOutput struct {
	Model ModelIdentifierField `json:"model" title:"Model" description:"Main model (UNet, VAE, CLIP) to load"`
	Name  string               `json:"name" title:"Name" description:"Model Name"`
	UNet  UNetField            `json:"unet" title:"UNet" description:"UNet (scheduler, LoRAs)"`
	CLIP  CLIPField            `json:"clip" title:"CLIP 1" description:"CLIP (tokenizer, text encoder, LoRAs) and skipped layer count"`
	CLIP2 CLIPField            `json:"clip2" title:"CLIP 2" description:"CLIP (tokenizer, text encoder, LoRAs) and skipped layer count"`
	VAE   VAEField             `json:"vae" title:"VAE" description:"VAE"`
}

// OutputType implements nodes.Output.
func (MetadataToSDXLModelOutput) OutputType() string { return "metadata_to_sdxl_model_output" }

// MetadataToModel is metadata_to_model.
type MetadataToModel struct {
	nodes.WithMetadata
	Label        ModelLabel           `json:"label" default:"model" input:"direct" description:"Label for this metadata item"`
	CustomLabel  *string              `json:"custom_label" default:"null" input:"direct" description:"Label for this metadata item"`
	DefaultValue ModelIdentifierField `json:"default_value" ui_model_type:"main" description:"The default model to use if not found in the metadata"`
	models       modelAccess
}

// NodeInfo implements nodes.Node.
func (*MetadataToModel) NodeInfo() nodes.Info {
	return nodes.Info{Type: "metadata_to_model", Title: "Metadata To Model",
		Description: "Extracts a Model value of a label from metadata", Tags: []string{"metadata"},
		Category: "metadata", Version: "1.3.0", Classification: "beta", Output: MetadataToModelOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *MetadataToModel) Invoke(ctx nodes.Context) (nodes.Output, error) {
	k, err := metadataLabel(string(n.Label), n.CustomLabel)
	if err != nil {
		return nil, err
	}
	m, err := n.models.modelByKey(ctx, n.models.modelKeyFromMetadata(ctx, n.Metadata, k, n.DefaultValue.Key, models.TypeMain))
	if err != nil {
		return nil, err
	}
	return MetadataToModelOutput{
		Model: m, Name: m.Base + ": " + m.Name,
		UNet: UNetField{UNet: m.WithSubmodel(SubUNet), Scheduler: m.WithSubmodel(SubScheduler), LoRAs: []LoRAField{}, SeamlessAxes: []string{}},
		CLIP: CLIPField{Tokenizer: m.WithSubmodel(SubTokenizer), TextEncoder: m.WithSubmodel(SubTextEncoder), LoRAs: []LoRAField{}},
		VAE:  VAEField{VAE: m.WithSubmodel(SubVAE), SeamlessAxes: []string{}},
	}, nil
}

// MetadataToSDXLModel is metadata_to_sdxl_model.
type MetadataToSDXLModel struct {
	nodes.WithMetadata
	Label        ModelLabel           `json:"label" default:"model" input:"direct" description:"Label for this metadata item"`
	CustomLabel  *string              `json:"custom_label" default:"null" input:"direct" description:"Label for this metadata item"`
	DefaultValue ModelIdentifierField `json:"default_value" ui_model_base:"sdxl" ui_model_type:"main" description:"The default SDXL Model to use if not found in the metadata"`
	models       modelAccess
}

// NodeInfo implements nodes.Node.
func (*MetadataToSDXLModel) NodeInfo() nodes.Info {
	return nodes.Info{Type: "metadata_to_sdxl_model", Title: "Metadata To SDXL Model",
		Description: "Extracts a SDXL Model value of a label from metadata", Tags: []string{"metadata"},
		Category: "metadata", Version: "1.3.0", Classification: "beta", Output: MetadataToSDXLModelOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *MetadataToSDXLModel) Invoke(ctx nodes.Context) (nodes.Output, error) {
	k, err := metadataLabel(string(n.Label), n.CustomLabel)
	if err != nil {
		return nil, err
	}
	m, err := n.models.modelByKey(ctx, n.models.modelKeyFromMetadata(ctx, n.Metadata, k, n.DefaultValue.Key, models.TypeMain))
	if err != nil {
		return nil, err
	}
	return MetadataToSDXLModelOutput{
		Model: m, Name: m.Base + ": " + m.Name,
		UNet:  UNetField{UNet: m.WithSubmodel(SubUNet), Scheduler: m.WithSubmodel(SubScheduler), LoRAs: []LoRAField{}, SeamlessAxes: []string{}},
		CLIP:  CLIPField{Tokenizer: m.WithSubmodel(SubTokenizer), TextEncoder: m.WithSubmodel(SubTextEncoder), LoRAs: []LoRAField{}},
		CLIP2: CLIPField{Tokenizer: m.WithSubmodel(SubTokenizer2), TextEncoder: m.WithSubmodel(SubTextEncoder2), LoRAs: []LoRAField{}},
		VAE:   VAEField{VAE: m.WithSubmodel(SubVAE), SeamlessAxes: []string{}},
	}, nil
}

// MetadataToVAE is metadata_to_vae.
type MetadataToVAE struct {
	nodes.WithMetadata
	Label        VAELabel `json:"label" default:"vae" input:"direct" description:"Label for this metadata item"`
	CustomLabel  *string  `json:"custom_label" default:"null" input:"direct" description:"Label for this metadata item"`
	DefaultValue VAEField `json:"default_value" description:"The default VAE to use if not found in the metadata"`
	models       modelAccess
}

// NodeInfo implements nodes.Node.
func (*MetadataToVAE) NodeInfo() nodes.Info {
	return nodes.Info{Type: "metadata_to_vae", Title: "Metadata To VAE",
		Description: "Extracts a VAE value of a label from metadata", Tags: []string{"metadata"},
		Category: "metadata", Version: "1.2.1", Classification: "beta", Output: VAEOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *MetadataToVAE) Invoke(ctx nodes.Context) (nodes.Output, error) {
	k, err := metadataLabel(string(n.Label), n.CustomLabel)
	if err != nil {
		return nil, err
	}
	m, err := n.models.modelByKey(ctx, n.models.modelKeyFromMetadata(ctx, n.Metadata, k, n.DefaultValue.VAE.Key, models.TypeVAE))
	if err != nil {
		return nil, err
	}
	return VAEOutput{VAEField{VAE: m.WithSubmodel(SubVAE), SeamlessAxes: []string{}}}, nil
}

func registerPrimNodes(r *nodes.Registry, m modelAccess, objects *ObjectStore) {
	r.Register(&ConditioningPrimitive{}, &ConditioningCollection{}, &LatentsPrimitive{store: objects},
		&LatentsCollection{}, &SchedulerNode{}, &ModelIdentifierNode{models: m}, &IdealSize{models: m},
		&MetadataToScheduler{}, &MetadataToModel{models: m}, &MetadataToSDXLModel{models: m}, &MetadataToVAE{models: m})
}
