// Package nodes is the node ("invocation") model: a Registry of node types built at start-up, the field
// metadata that InvokeAI publishes in /openapi.json for each of them, the decoding of a node's JSON into its Go
// input struct, and the execution Context a node runs with. Each node type describes itself (NodeInfo) beside
// its input struct; node packages register prototypes through an exported Register(r *nodes.Registry)
// function; there is no global registry.
package nodes

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"reflect"
	"sort"
	"sync"

	"github.com/invokego/invokego/internal/schema"
)

// Invocation is a node's input struct; running it produces an Output.
type Invocation interface {
	Invoke(ctx Context) (Output, error)
}

// Output is a node's result. OutputType is InvokeAI's discriminator, e.g. "image_output".
type Output interface {
	OutputType() string
}

// Info is what a node type says about itself, next to its input struct (see docs/architecture.md, "Add a
// node"): the names and labels InvokeAI publishes in /openapi.json, and how the engine treats the type.
type Info struct {
	// Type is the discriminator, e.g. "img_resize".
	Type string
	// Class is InvokeAI's class name, which names the schema component, e.g. "ImageResizeInvocation"; empty
	// means the Go type's name followed by "Invocation".
	Class       string
	Title       string
	Description string
	Tags        []string
	Category    string
	Version     string
	// Classification is "stable" unless given ("beta", "prototype", "deprecated", "internal", "special").
	Classification string
	// NoCache marks types whose output must never be memoised (random values, side effects).
	NoCache bool
	// AllowExtra accepts fields the input struct does not declare (InvokeAI's extra="allow", as on
	// core_metadata); they reach the node through ExtraReceiver.
	AllowExtra bool
	// Output is a zero value of the output type, for the schema and edge type checks.
	Output Output
}

// Node is a node type's input struct that describes itself. Register takes a pointer to a prototype: each run
// decodes into a fresh copy of it, so unexported fields (services the node uses) carry over.
type Node interface {
	Invocation
	NodeInfo() Info
}

// NodeType is a registered type with its field metadata resolved.
type NodeType struct {
	Info
	// New returns a fresh copy of the prototype.
	New     func() Invocation
	Inputs  []Field
	Outputs []Field
	inType  reflect.Type
	byName  map[string]*Field
	outByNm map[string]*Field
}

// Input returns the input field with that name.
func (t *NodeType) Input(name string) (*Field, bool) { f, ok := t.byName[name]; return f, ok }

// OutputField returns the output field with that name.
func (t *NodeType) OutputField(name string) (*Field, bool) { f, ok := t.outByNm[name]; return f, ok }

// Registry holds the node types of one server. It is safe for concurrent use, so that a feature (or a test)
// may register a type while the processor runs.
type Registry struct {
	mu          sync.RWMutex
	types       map[string]*NodeType
	unavailable map[string]string // type -> why a graph cannot use it
}

// NewRegistry makes an empty registry.
func NewRegistry() *Registry {
	return &Registry{types: map[string]*NodeType{}, unavailable: map[string]string{}}
}

// MarkUnavailable names InvokeAI node types that this server knows but cannot run (processors that need
// models of their own): they are not advertised, and a graph that uses one is refused with the reason
// instead of as an unknown type.
func (r *Registry) MarkUnavailable(reason string, types ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range types {
		r.unavailable[t] = reason
	}
}

// Unavailable returns why a known but unavailable type cannot be used.
func (r *Registry) Unavailable(typ string) (string, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	reason, ok := r.unavailable[typ]
	return reason, ok
}

// Register adds node types from their prototypes. It panics on a malformed or duplicate definition: both are
// programming errors that must stop start-up, not surface at request time.
func (r *Registry) Register(protos ...Node) {
	for _, p := range protos {
		nt, err := newNodeType(p)
		if err != nil {
			panic("nodes: " + err.Error())
		}
		r.mu.Lock()
		_, dup := r.types[nt.Type]
		if !dup {
			r.types[nt.Type] = nt
		}
		r.mu.Unlock()
		if dup {
			panic(fmt.Sprintf("nodes: type %q registered twice", nt.Type))
		}
	}
}

func newNodeType(proto Node) (*NodeType, error) {
	info := proto.NodeInfo()
	pv := reflect.ValueOf(proto)
	if pv.Kind() != reflect.Pointer || pv.Elem().Kind() != reflect.Struct || pv.IsNil() {
		return nil, fmt.Errorf("%q: register a pointer to a struct", info.Type)
	}
	if info.Type == "" || info.Output == nil {
		return nil, fmt.Errorf("%s: NodeInfo needs Type and Output", pv.Type())
	}
	if info.Classification == "" {
		info.Classification = "stable"
	}
	if info.Version == "" {
		info.Version = "1.0.0"
	}
	if info.Class == "" {
		info.Class = pv.Elem().Type().Name() + "Invocation"
	}
	inType := pv.Elem().Type()
	// A shallow copy of the prototype per run: decoding sets every declared field, so only the unexported
	// dependencies are shared.
	snapshot := reflect.New(inType)
	snapshot.Elem().Set(pv.Elem())
	newFn := func() Invocation {
		v := reflect.New(inType)
		v.Elem().Set(snapshot.Elem())
		return v.Interface().(Invocation)
	}
	inputs, err := fieldsOf(inType, true)
	if err != nil {
		return nil, fmt.Errorf("%q inputs: %w", info.Type, err)
	}
	outT := reflect.TypeOf(info.Output)
	for outT.Kind() == reflect.Pointer {
		outT = outT.Elem()
	}
	outputs, err := fieldsOf(outT, false)
	if err != nil {
		return nil, fmt.Errorf("%q outputs: %w", info.Type, err)
	}
	nt := &NodeType{Info: info, New: newFn, Inputs: inputs, Outputs: outputs, inType: inType, byName: map[string]*Field{}, outByNm: map[string]*Field{}}
	for i := range nt.Inputs {
		if reserved[nt.Inputs[i].Name] && nt.Inputs[i].Name != "metadata" && nt.Inputs[i].Name != "board" {
			return nil, fmt.Errorf("%q: field name %q is reserved", info.Type, nt.Inputs[i].Name)
		}
		nt.byName[nt.Inputs[i].Name] = &nt.Inputs[i]
	}
	for i := range nt.Outputs {
		nt.outByNm[nt.Outputs[i].Name] = &nt.Outputs[i]
	}
	return nt, nil
}

// reserved names belong to the node base (InvokeAI refuses them as field names).
var reserved = map[string]bool{"id": true, "type": true, "is_intermediate": true, "use_cache": true, "workflow": true,
	"bottleneck": true, "metadata": true, "board": true}

// Lookup returns a registered type.
func (r *Registry) Lookup(typ string) (*NodeType, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.types[typ]
	return t, ok
}

// Types lists the registered types in name order.
func (r *Registry) Types() []*NodeType {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*NodeType, 0, len(r.types))
	for _, t := range r.types {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}

// ImageField references a gallery image.
type ImageField struct {
	ImageName string `json:"image_name"`
}

// FieldTypeName implements TypeNamer.
func (ImageField) FieldTypeName() string { return "ImageField" }

// BoardField names the board a node saves into.
type BoardField struct {
	BoardID string `json:"board_id"`
}

// FieldTypeName implements TypeNamer.
func (BoardField) FieldTypeName() string { return "BoardField" }

// MetadataField is a free-form metadata object embedded into saved images.
type MetadataField map[string]any

// FieldTypeName implements TypeNamer.
func (MetadataField) FieldTypeName() string { return "MetadataField" }

// OpenAPISchema implements schema.Provider: a component, as InvokeAI's root model over a dict.
func (MetadataField) OpenAPISchema(c *schema.Components) map[string]any {
	if !c.Has("MetadataField") {
		c.Add("MetadataField", map[string]any{"type": "object", "title": "MetadataField", "additionalProperties": true})
	}
	return schema.Ref("MetadataField")
}

// ModelIdentifierField names an installed model (and, on loader outputs, the part of it a consumer needs).
type ModelIdentifierField struct {
	Key          string  `json:"key" description:"The model's unique key"`
	Hash         string  `json:"hash" description:"The model's BLAKE3 hash"`
	Name         string  `json:"name" description:"The model's name"`
	Base         string  `json:"base" description:"The model's base model type"`
	Type         string  `json:"type" description:"The model's type"`
	SubmodelType *string `json:"submodel_type" description:"The submodel to load, if this is a main model"`
}

// WithSubmodel returns a copy naming one part of the model.
func (m ModelIdentifierField) WithSubmodel(s string) ModelIdentifierField {
	m.SubmodelType = &s
	return m
}

// Passthrough is a JSON object kept exactly as the client sent it (so nothing of it is lost when it is passed
// on, as metadata is), whose schema is the component that S describes: S is a struct used only for its shape.
type Passthrough[S any] struct{ json.RawMessage }

// FieldTypeName implements TypeNamer: S's name.
func (Passthrough[S]) FieldTypeName() string { return reflect.TypeOf((*S)(nil)).Elem().Name() }

// OpenAPISchema implements schema.Provider.
func (Passthrough[S]) OpenAPISchema(c *schema.Components) map[string]any {
	return c.Of(reflect.TypeOf((*S)(nil)).Elem())
}

// MarshalJSON implements json.Marshaler.
func (p Passthrough[S]) MarshalJSON() ([]byte, error) {
	if p.RawMessage == nil {
		return []byte("null"), nil
	}
	return p.RawMessage, nil
}

// UnmarshalJSON implements json.Unmarshaler: the value must be an object.
func (p *Passthrough[S]) UnmarshalJSON(b []byte) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil || obj == nil {
		return fmt.Errorf("%s: want an object", p.FieldTypeName())
	}
	p.RawMessage = append(json.RawMessage(nil), b...)
	return nil
}

// ColorField is an RGBA colour.
type ColorField struct {
	R int `json:"r" ge:"0" le:"255"`
	G int `json:"g" ge:"0" le:"255"`
	B int `json:"b" ge:"0" le:"255"`
	A int `json:"a" ge:"0" le:"255"`
}

// FieldTypeName implements TypeNamer.
func (ColorField) FieldTypeName() string { return "ColorField" }

// WithMetadata is embedded by nodes that accept metadata for the images they save.
type WithMetadata struct {
	Metadata *MetadataField `json:"metadata" input:"connection" field_kind:"internal" description:"Optional metadata to be saved with the image"`
}

// WithBoard is embedded by nodes that save images to a board.
type WithBoard struct {
	Board *BoardField `json:"board" input:"direct" field_kind:"internal" description:"The board to save the image to"`
}

// ImageOutput is InvokeAI's image_output.
type ImageOutput struct {
	Image  ImageField `json:"image" description:"The output image"`
	Width  int        `json:"width" description:"The width of the image in pixels"`
	Height int        `json:"height" description:"The height of the image in pixels"`
}

// OutputType implements Output.
func (ImageOutput) OutputType() string { return "image_output" }

// Item identifies the queue item and node a Context runs for.
type Item struct {
	QueueID      string
	ItemID       int64
	BatchID      string
	SessionID    string
	UserID       string
	NodeID       string // the prepared (execution) node id
	SourceNodeID string
}

// SaveImageOptions are what a node adds when it saves an image; the rest (owner, session, node, workflow,
// graph, intermediate flag) comes from the Context.
type SaveImageOptions struct {
	Board    *BoardField
	Metadata *MetadataField
	// Category defaults to "general".
	Category string
}

// Progress is one progress report.
type Progress struct {
	Message    string
	Percentage *float64 // 0..1
	Preview    image.Image
	// PreviewSize is the size of the image the preview stands for, which InvokeAI reports as the preview's
	// width and height (a denoising preview is drawn at latent size); zero means the preview's own size.
	PreviewSize image.Point
}

// Context is what a node sees while it runs. It is a context.Context cancelled when the queue item is
// cancelled: long nodes check Err between steps.
type Context interface {
	context.Context
	Item() Item
	// SaveImage stores an image owned by the queue item's owner; a board the owner may not write fails it.
	SaveImage(img image.Image, opts SaveImageOptions) (ImageOutput, error)
	// LoadImage decodes an image the queue item's owner may read.
	LoadImage(name string) (image.Image, error)
	// ReportProgress emits invocation_progress.
	ReportProgress(p Progress)
}

// NodeError is a failure a node reports with InvokeAI's error type name (e.g. "ValueError").
type NodeError struct {
	Type    string
	Message string
}

func (e *NodeError) Error() string { return e.Type + ": " + e.Message }

// Errorf builds a NodeError.
func Errorf(typ, format string, args ...any) error {
	return &NodeError{Type: typ, Message: fmt.Sprintf(format, args...)}
}
