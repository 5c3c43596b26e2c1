// Package core holds InvokeAI's non-ML nodes: primitives and their collections, rand_int, range, iterate,
// collect, core_metadata, and the image nodes that load, transform and save gallery images.
package core

import (
	"encoding/json"
	"math/rand/v2"

	"github.com/invokego/invokego/internal/nodes"
)

// Register adds every core node type to r.
func Register(r *nodes.Registry) {
	registerPrimitives(r)
	registerImages(r)
	registerMath(r)
	registerPrimMath(r)
	registerPrimStrings(r)
	registerPrimValues(r)
	registerPrimBatch(r)
	registerMetadata(r)
	r.Register(&DynamicPrompt{})
}

// Outputs.

// IntegerOutput is integer_output.
type IntegerOutput struct {
	Value int64 `json:"value" description:"The output integer"`
}

// OutputType implements nodes.Output.
func (IntegerOutput) OutputType() string { return "integer_output" }

// FloatOutput is float_output.
type FloatOutput struct {
	Value float64 `json:"value" description:"The output float"`
}

// OutputType implements nodes.Output.
func (FloatOutput) OutputType() string { return "float_output" }

// StringOutput is string_output.
type StringOutput struct {
	Value string `json:"value" description:"The output string"`
}

// OutputType implements nodes.Output.
func (StringOutput) OutputType() string { return "string_output" }

// BooleanOutput is boolean_output.
type BooleanOutput struct {
	Value bool `json:"value" description:"The output boolean"`
}

// OutputType implements nodes.Output.
func (BooleanOutput) OutputType() string { return "boolean_output" }

// IntegerCollectionOutput is integer_collection_output.
type IntegerCollectionOutput struct {
	Collection []int64 `json:"collection" description:"The int collection"`
}

// OutputType implements nodes.Output.
func (IntegerCollectionOutput) OutputType() string { return "integer_collection_output" }

// FloatCollectionOutput is float_collection_output.
type FloatCollectionOutput struct {
	Collection []float64 `json:"collection" description:"The float collection"`
}

// OutputType implements nodes.Output.
func (FloatCollectionOutput) OutputType() string { return "float_collection_output" }

// StringCollectionOutput is string_collection_output.
type StringCollectionOutput struct {
	Collection []string `json:"collection" description:"The output strings"`
}

// OutputType implements nodes.Output.
func (StringCollectionOutput) OutputType() string { return "string_collection_output" }

// BooleanCollectionOutput is boolean_collection_output.
type BooleanCollectionOutput struct {
	Collection []bool `json:"collection" description:"The output boolean collection"`
}

// OutputType implements nodes.Output.
func (BooleanCollectionOutput) OutputType() string { return "boolean_collection_output" }

// IterateInvocationOutput is iterate_output.
type IterateInvocationOutput struct {
	Item  any `json:"item" title:"Collection Item" description:"The item being iterated over" ui_type:"CollectionItemField"`
	Index int `json:"index" description:"The index of the item"`
	Total int `json:"total" description:"The total number of items"`
}

// OutputType implements nodes.Output.
func (IterateInvocationOutput) OutputType() string { return "iterate_output" }

// CollectInvocationOutput is collect_output.
type CollectInvocationOutput struct {
	Collection []any `json:"collection" description:"The collection of input items" ui_type:"CollectionField"`
}

// OutputType implements nodes.Output.
func (CollectInvocationOutput) OutputType() string { return "collect_output" }

// MetadataOutput is metadata_output.
type MetadataOutput struct {
	Metadata nodes.MetadataField `json:"metadata" description:"Metadata collected during generation"`
}

// OutputType implements nodes.Output.
func (MetadataOutput) OutputType() string { return "metadata_output" }

// Inputs.

// Integer is the integer primitive.
type Integer struct {
	Value int64 `json:"value" default:"0" description:"The integer value"`
}

// NodeInfo implements nodes.Node.
func (*Integer) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "integer",
		Title:       "Integer Primitive",
		Description: "An integer primitive value",
		Tags:        []string{"primitives", "integer"},
		Category:    "primitives",
		Version:     "1.0.1",
		Output:      IntegerOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *Integer) Invoke(nodes.Context) (nodes.Output, error) { return IntegerOutput{n.Value}, nil }

// Float is the float primitive.
type Float struct {
	Value float64 `json:"value" default:"0.0" description:"The float value"`
}

// NodeInfo implements nodes.Node.
func (*Float) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "float",
		Title:       "Float Primitive",
		Description: "A float primitive value",
		Tags:        []string{"primitives", "float"},
		Category:    "primitives",
		Version:     "1.0.1",
		Output:      FloatOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *Float) Invoke(nodes.Context) (nodes.Output, error) { return FloatOutput{n.Value}, nil }

// String is the string primitive.
type String struct {
	Value string `json:"value" default:"\"\"" description:"The string value" ui_component:"textarea"`
}

// NodeInfo implements nodes.Node.
func (*String) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "string",
		Title:       "String Primitive",
		Description: "A string primitive value",
		Tags:        []string{"primitives", "string"},
		Category:    "primitives",
		Version:     "1.0.1",
		Output:      StringOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *String) Invoke(nodes.Context) (nodes.Output, error) { return StringOutput{n.Value}, nil }

// Boolean is the boolean primitive.
type Boolean struct {
	Value bool `json:"value" default:"false" description:"The boolean value"`
}

// NodeInfo implements nodes.Node.
func (*Boolean) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "boolean",
		Title:       "Boolean Primitive",
		Description: "A boolean primitive value",
		Tags:        []string{"primitives", "boolean"},
		Category:    "primitives",
		Version:     "1.0.1",
		Output:      BooleanOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *Boolean) Invoke(nodes.Context) (nodes.Output, error) { return BooleanOutput{n.Value}, nil }

// IntegerCollection is integer_collection.
type IntegerCollection struct {
	Collection []int64 `json:"collection" default:"[]" description:"The collection of integer values"`
}

// NodeInfo implements nodes.Node.
func (*IntegerCollection) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "integer_collection",
		Title:       "Integer Collection Primitive",
		Description: "A collection of integer primitive values",
		Tags:        []string{"primitives", "integer", "collection"},
		Category:    "primitives",
		Version:     "1.0.2",
		Output:      IntegerCollectionOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *IntegerCollection) Invoke(nodes.Context) (nodes.Output, error) {
	return IntegerCollectionOutput{orEmpty(n.Collection)}, nil
}

// FloatCollection is float_collection.
type FloatCollection struct {
	Collection []float64 `json:"collection" default:"[]" description:"The collection of float values"`
}

// NodeInfo implements nodes.Node.
func (*FloatCollection) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "float_collection",
		Title:       "Float Collection Primitive",
		Description: "A collection of float primitive values",
		Tags:        []string{"primitives", "float", "collection"},
		Category:    "primitives",
		Version:     "1.0.2",
		Output:      FloatCollectionOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *FloatCollection) Invoke(nodes.Context) (nodes.Output, error) {
	return FloatCollectionOutput{orEmpty(n.Collection)}, nil
}

// StringCollection is string_collection.
type StringCollection struct {
	Collection []string `json:"collection" default:"[]" description:"The collection of string values"`
}

// NodeInfo implements nodes.Node.
func (*StringCollection) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "string_collection",
		Title:       "String Collection Primitive",
		Description: "A collection of string primitive values",
		Tags:        []string{"primitives", "string", "collection"},
		Category:    "primitives",
		Version:     "1.0.2",
		Output:      StringCollectionOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *StringCollection) Invoke(nodes.Context) (nodes.Output, error) {
	return StringCollectionOutput{orEmpty(n.Collection)}, nil
}

// BooleanCollection is boolean_collection.
type BooleanCollection struct {
	Collection []bool `json:"collection" default:"[]" description:"The collection of boolean values"`
}

// NodeInfo implements nodes.Node.
func (*BooleanCollection) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "boolean_collection",
		Title:       "Boolean Collection Primitive",
		Description: "A collection of boolean primitive values",
		Tags:        []string{"primitives", "boolean", "collection"},
		Category:    "primitives",
		Version:     "1.0.2",
		Output:      BooleanCollectionOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *BooleanCollection) Invoke(nodes.Context) (nodes.Output, error) {
	return BooleanCollectionOutput{orEmpty(n.Collection)}, nil
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// RandInt is rand_int: a random integer in [low, high).
type RandInt struct {
	Low  int64 `json:"low" default:"0" description:"The inclusive low value"`
	High int64 `json:"high" default:"2147483647" description:"The exclusive high value"`
}

// NodeInfo implements nodes.Node.
func (*RandInt) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "rand_int",
		Class:       "RandomIntInvocation",
		Title:       "Random Integer",
		Description: "Outputs a single random integer.",
		Tags:        []string{"math", "random"},
		Category:    "math",
		Version:     "1.0.1",
		NoCache:     true,
		Output:      IntegerOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *RandInt) Invoke(nodes.Context) (nodes.Output, error) {
	if n.High <= n.Low {
		return nil, nodes.Errorf("ValueError", "high (%d) must be greater than low (%d)", n.High, n.Low)
	}
	return IntegerOutput{n.Low + rand.Int64N(n.High-n.Low)}, nil
}

// Range is range: integers from start to stop by step.
type Range struct {
	Start int64 `json:"start" default:"0" description:"The start of the range"`
	Stop  int64 `json:"stop" default:"10" description:"The stop of the range"`
	Step  int64 `json:"step" default:"1" description:"The step of the range"`
}

// NodeInfo implements nodes.Node.
func (*Range) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "range",
		Title:       "Integer Range",
		Description: "Creates a range of numbers from start to stop with step",
		Tags:        []string{"collection", "integer", "range"},
		Category:    "collections",
		Version:     "1.0.0",
		Output:      IntegerCollectionOutput{},
	}
}

// maxRange bounds the collection a range node may build.
const maxRange = 1 << 20

// Invoke implements nodes.Invocation.
func (n *Range) Invoke(nodes.Context) (nodes.Output, error) {
	if n.Step == 0 {
		return nil, nodes.Errorf("ValueError", "range step must not be zero")
	}
	out := []int64{}
	for v := n.Start; (n.Step > 0 && v < n.Stop) || (n.Step < 0 && v > n.Stop); v += n.Step {
		if len(out) >= maxRange {
			return nil, nodes.Errorf("ValueError", "range has more than %d values", maxRange)
		}
		out = append(out, v)
	}
	return IntegerCollectionOutput{out}, nil
}

// Iterate is iterate: the runner fans it out, one prepared copy per item.
type Iterate struct {
	Collection []any `json:"collection" default:"[]" description:"The list of items to iterate over" ui_type:"CollectionField"`
	Index      int   `json:"index" default:"0" ui_hidden:"true" description:"The index, will be provided on executed iterators"`
}

// NodeInfo implements nodes.Node.
func (*Iterate) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "iterate",
		Title:       "IterateInvocation", // InvokeAI gives it no title, so its UI shows the class name
		Description: "Iterates over a list of items",
		Version:     "1.1.0",
		Output:      IterateInvocationOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *Iterate) Invoke(nodes.Context) (nodes.Output, error) {
	if n.Index < 0 || n.Index >= len(n.Collection) {
		return nil, nodes.Errorf("IndexError", "iterate index %d out of range for %d items", n.Index, len(n.Collection))
	}
	return IterateInvocationOutput{Item: n.Collection[n.Index], Index: n.Index, Total: len(n.Collection)}, nil
}

// Collect is collect: the runner gathers the items of every prepared copy upstream.
type Collect struct {
	Item       any   `json:"item" default:"null" input:"connection" title:"Collection Item" description:"The item to collect (all inputs must be of the same type)" ui_type:"CollectionItemField"`
	Collection []any `json:"collection" default:"[]" ui_hidden:"true" description:"The collection, will be provided on execution"`
}

// NodeInfo implements nodes.Node.
func (*Collect) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "collect",
		Title:       "CollectInvocation", // as iterate
		Description: "Collects values into a collection",
		Version:     "1.0.0",
		Output:      CollectInvocationOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *Collect) Invoke(nodes.Context) (nodes.Output, error) {
	return CollectInvocationOutput{orEmpty(n.Collection)}, nil
}

// CoreMetadata is core_metadata: it gathers generation parameters into a metadata object.
type CoreMetadata struct {
	GenerationMode       *GenerationMode                                `json:"generation_mode" description:"The generation mode that output this image"`
	PositivePrompt       *string                                        `json:"positive_prompt" description:"The positive prompt parameter"`
	NegativePrompt       *string                                        `json:"negative_prompt" description:"The negative prompt parameter"`
	Width                *int64                                         `json:"width" description:"The width parameter"`
	Height               *int64                                         `json:"height" description:"The height parameter"`
	Seed                 *int64                                         `json:"seed" description:"The seed used for noise generation"`
	RandDevice           *string                                        `json:"rand_device" description:"The device used for random number generation"`
	CfgScale             *float64                                       `json:"cfg_scale" description:"The classifier-free guidance scale parameter"`
	CfgRescaleMultiplier *float64                                       `json:"cfg_rescale_multiplier" description:"Rescale multiplier for CFG guidance, used for models trained with zero-terminal SNR"`
	Steps                *int64                                         `json:"steps" description:"The number of steps used for inference"`
	Scheduler            *string                                        `json:"scheduler" description:"The scheduler used for inference"`
	SeamlessX            *bool                                          `json:"seamless_x" description:"Whether seamless tiling was used on the X axis"`
	SeamlessY            *bool                                          `json:"seamless_y" description:"Whether seamless tiling was used on the Y axis"`
	ClipSkip             *int64                                         `json:"clip_skip" description:"The number of skipped CLIP layers"`
	Model                *nodes.Passthrough[nodes.ModelIdentifierField] `json:"model" description:"The main model used for inference"`
	Controlnets          *[]nodes.Passthrough[ControlNetMetadataField]  `json:"controlnets" description:"The ControlNets used for inference"`
	IPAdapters           *[]nodes.Passthrough[IPAdapterMetadataField]   `json:"ipAdapters" description:"The IP Adapters used for inference"`
	T2IAdapters          *[]nodes.Passthrough[T2IAdapterMetadataField]  `json:"t2iAdapters" description:"The T2I Adapters used for inference"`
	Loras                *[]nodes.Passthrough[LoRAMetadataField]        `json:"loras" description:"The LoRAs used for inference"`
	Strength             *float64                                       `json:"strength" description:"The strength used for latents-to-latents"`
	InitImage            *string                                        `json:"init_image" description:"The name of the initial image"`
	VAE                  *nodes.Passthrough[nodes.ModelIdentifierField] `json:"vae" description:"The VAE used for decoding, if the main model's default was not used"`
	Qwen3Encoder         *nodes.Passthrough[nodes.ModelIdentifierField] `json:"qwen3_encoder" description:"The Qwen3 text encoder model used"`
	HRFEnabled           *bool                                          `json:"hrf_enabled" description:"Whether or not high resolution fix was enabled."`
	HRFMethod            *string                                        `json:"hrf_method" description:"The high resolution fix upscale method."`
	HRFStrength          *float64                                       `json:"hrf_strength" description:"The high resolution fix img2img strength used in the upscale pass."`
	PositiveStylePrompt  *string                                        `json:"positive_style_prompt" description:"The positive style prompt parameter"`
	NegativeStylePrompt  *string                                        `json:"negative_style_prompt" description:"The negative style prompt parameter"`
	RefinerModel         *nodes.Passthrough[nodes.ModelIdentifierField] `json:"refiner_model" description:"The SDXL Refiner model used"`
	RefinerCfgScale      *float64                                       `json:"refiner_cfg_scale" description:"The classifier-free guidance scale parameter used for the refiner"`
	RefinerSteps         *int64                                         `json:"refiner_steps" description:"The number of steps used for the refiner"`
	RefinerScheduler     *string                                        `json:"refiner_scheduler" description:"The scheduler used for the refiner"`
	RefinerPositiveAS    *float64                                       `json:"refiner_positive_aesthetic_score" description:"The aesthetic score used for the refiner"`
	RefinerNegativeAS    *float64                                       `json:"refiner_negative_aesthetic_score" description:"The aesthetic score used for the refiner"`
	RefinerStart         *float64                                       `json:"refiner_start" description:"The start value used for refiner denoising"`
	// extra holds the undeclared fields the frontend adds (app_version, canvas metadata...), kept as given.
	extra map[string]json.RawMessage
}

// NodeInfo implements nodes.Node.
func (*CoreMetadata) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:           "core_metadata",
		Title:          "Core Metadata",
		Description:    "Used internally by Invoke to collect metadata for generations.",
		Tags:           []string{"metadata"},
		Category:       "metadata",
		Version:        "2.1.0",
		Classification: "internal", AllowExtra: true,
		Output: MetadataOutput{},
	}
}

// SetExtra implements nodes.ExtraReceiver.
func (n *CoreMetadata) SetExtra(fields map[string]json.RawMessage) { n.extra = fields }

// MarshalJSON includes the extra fields, so that they reach the metadata and the cache key.
func (n *CoreMetadata) MarshalJSON() ([]byte, error) {
	type declared CoreMetadata
	b, err := json.Marshal((*declared)(n))
	if err != nil || len(n.extra) == 0 {
		return b, err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, err
	}
	for k, v := range n.extra {
		all[k] = v
	}
	return json.Marshal(all)
}

// Invoke implements nodes.Invocation: the set fields become the metadata object.
func (n *CoreMetadata) Invoke(nodes.Context) (nodes.Output, error) {
	md, err := structToMap(n)
	if err != nil {
		return nil, err
	}
	return MetadataOutput{Metadata: md}, nil
}

func registerPrimitives(r *nodes.Registry) {
	r.Register(&Integer{}, &Float{}, &String{}, &Boolean{},
		&IntegerCollection{}, &FloatCollection{}, &StringCollection{}, &BooleanCollection{},
		&RandInt{}, &Range{}, &Iterate{}, &Collect{}, &CoreMetadata{})
}
