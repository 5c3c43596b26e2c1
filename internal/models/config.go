// Package models is invokego's model manager: typed model records (InvokeAI's AnyModelConfig), the rules for
// changing and removing them, the models folder, starter models and the Hugging Face token. Identification
// lives in models/probe, downloads in models/download, install jobs in models/install and the in-memory model
// cache in models/cache.
package models

import (
	"encoding/json"

	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/schema"
)

// Base model types (InvokeAI's BaseModelType).
const (
	BaseAny         = "any"
	BaseSD1         = "sd-1"
	BaseSD2         = "sd-2"
	BaseSD3         = "sd-3"
	BaseSDXL        = "sdxl"
	BaseSDXLRefiner = "sdxl-refiner"
	BaseFlux        = "flux"
	BaseUnknown     = "unknown"
)

// BaseTypes lists every BaseModelType value the API accepts.
var BaseTypes = []string{"any", "sd-1", "sd-2", "sd-3", "sdxl", "sdxl-refiner", "flux", "flux2", "cogview4",
	"z-image", "qwen-image", "anima", "unknown"}

// Model types (InvokeAI's ModelType).
const (
	TypeMain       = "main"
	TypeVAE        = "vae"
	TypeLoRA       = "lora"
	TypeControlNet = "controlnet"
	TypeEmbedding  = "embedding"
	TypeUnknown    = "unknown"
)

// ModelTypes lists every ModelType value the API accepts.
var ModelTypes = []string{"onnx", "main", "vae", "lora", "control_lora", "controlnet", "embedding", "ip_adapter",
	"clip_vision", "clip_embed", "t2i_adapter", "t5_encoder", "qwen3_encoder", "spandrel_image_to_image", "siglip",
	"flux_redux", "llava_onevision", "unknown"}

// Model formats (InvokeAI's ModelFormat), those invokego produces plus the ones clients may send.
const (
	FormatDiffusers       = "diffusers"
	FormatCheckpoint      = "checkpoint"
	FormatLyCORIS         = "lycoris"
	FormatEmbeddingFile   = "embedding_file"
	FormatEmbeddingFolder = "embedding_folder"
	FormatUnknown         = "unknown"
)

// ModelFormats lists the ModelFormat values the API accepts.
var ModelFormats = []string{"omi", "diffusers", "checkpoint", "lycoris", "onnx", "olive", "embedding_file",
	"embedding_folder", "invokeai", "t5_encoder", "qwen3_encoder", "bnb_quantized_int8b", "bnb_quantized_nf4b",
	"gguf_quantized", "unknown"}

// Variants and prediction types.
const (
	VariantNormal  = "normal"
	VariantInpaint = "inpaint"
	VariantDepth   = "depth"

	PredictionEpsilon = "epsilon"
	PredictionV       = "v_prediction"
	PredictionSample  = "sample"

	RepoVariantDefault = ""
	RepoVariantFP16    = "fp16"
)

// Source types (InvokeAI's ModelSourceType).
const (
	SourcePath = "path"
	SourceURL  = "url"
	SourceHF   = "hf_repo_id"
)

// Submodel describes one loadable part of a diffusers pipeline folder.
type Submodel struct {
	PathOrPrefix string  `json:"path_or_prefix"`
	ModelType    string  `json:"model_type"`
	Variant      *string `json:"variant"`
}

// Config is one model record: InvokeAI's AnyModelConfig. Which type-specific fields appear in JSON depends on
// the type and format, as in InvokeAI's per-class configs (see MarshalJSON).
type Config struct {
	Key               string  `json:"key"`
	Hash              string  `json:"hash"`
	Path              string  `json:"path"`
	FileSize          int64   `json:"file_size"`
	Name              string  `json:"name"`
	Description       *string `json:"description"`
	Source            string  `json:"source"`
	SourceType        string  `json:"source_type"`
	SourceAPIResponse *string `json:"source_api_response"`
	SourceURL         *string `json:"source_url"`
	CoverImage        *string `json:"cover_image"`
	Base              string  `json:"base"`
	Type              string  `json:"type"`
	Format            string  `json:"format"`

	Variant         *string             `json:"variant,omitempty"`
	PredictionType  *string             `json:"prediction_type,omitempty"`
	RepoVariant     *string             `json:"repo_variant,omitempty"`
	ConfigPath      *string             `json:"config_path,omitempty"`
	UpcastAttention *bool               `json:"upcast_attention,omitempty"`
	DefaultSettings json.RawMessage     `json:"default_settings,omitempty"`
	TriggerPhrases  []string            `json:"trigger_phrases,omitempty"`
	Submodels       map[string]Submodel `json:"submodels,omitempty"`
	CPUOnly         *bool               `json:"cpu_only,omitempty"`
	// ImageEncoderModelID names an IP-Adapter folder's image encoder (format invokeai).
	ImageEncoderModelID *string `json:"image_encoder_model_id,omitempty"`
}

// MarshalJSON writes the common fields always and the type-specific ones that InvokeAI's class for this
// type/format has, with null where unset (InvokeAI serializes nulls).
func (c Config) MarshalJSON() ([]byte, error) {
	m := map[string]any{
		"key": c.Key, "hash": c.Hash, "path": c.Path, "file_size": c.FileSize, "name": c.Name,
		"description": c.Description, "source": c.Source, "source_type": c.SourceType,
		"source_api_response": c.SourceAPIResponse, "source_url": c.SourceURL, "cover_image": c.CoverImage,
		"base": c.Base, "type": c.Type, "format": c.Format,
		// InvokeAI's Config_Base has these on every config; null unless set.
		"submodels": nil, "usage_info": nil,
	}
	if c.Submodels != nil {
		m["submodels"] = c.Submodels
	}
	var settings any
	if len(c.DefaultSettings) > 0 && !schema.IsNull(c.DefaultSettings) {
		settings = fillSettings(c.Type, c.DefaultSettings)
	}
	var triggers any
	if c.TriggerPhrases != nil {
		triggers = c.TriggerPhrases
	}
	switch c.Format {
	case FormatCheckpoint:
		if hasConfigPath(c.Type) {
			m["config_path"] = c.ConfigPath
		}
	case FormatDiffusers:
		rv := RepoVariantDefault
		if c.RepoVariant != nil {
			rv = *c.RepoVariant
		}
		m["repo_variant"] = rv
	}
	if settingsFor(c.Type) != nil {
		m["default_settings"] = settings
	}
	switch c.Type {
	case TypeMain:
		m["trigger_phrases"] = triggers
		if c.Variant != nil || isSDBase(c.Base) {
			m["variant"] = c.Variant
		}
		if isSDBase(c.Base) {
			m["prediction_type"] = c.PredictionType
		}
		if c.UpcastAttention != nil {
			m["upcast_attention"] = c.UpcastAttention
		}
	case TypeLoRA:
		m["trigger_phrases"] = triggers
	}
	if c.CPUOnly != nil {
		m["cpu_only"] = c.CPUOnly
	}
	fluxRecordFields(c, m)
	adapterRecordFields(c, m)
	return json.Marshal(m)
}

func isSDBase(base string) bool {
	return base == BaseSD1 || base == BaseSD2 || base == BaseSDXL || base == BaseSDXLRefiner
}

// Changes is InvokeAI's ModelRecordChanges: the fields a PATCH, or an install request's body, may set.
// Unset fields (nil) leave the record alone.
type Changes struct {
	Source            *string           `json:"source,omitempty"`
	SourceType        *ModelSourceType  `json:"source_type,omitempty"`
	SourceAPIResponse *string           `json:"source_api_response,omitempty"`
	Name              *string           `json:"name,omitempty"`
	Path              *string           `json:"path,omitempty"`
	Description       *string           `json:"description,omitempty"`
	Base              *BaseModelType    `json:"base,omitempty"`
	Type              *ModelType        `json:"type,omitempty"`
	Key               *string           `json:"key,omitempty"`
	Hash              *string           `json:"hash,omitempty"`
	FileSize          *int64            `json:"file_size,omitempty"`
	Format            *ModelFormat      `json:"format,omitempty"`
	TriggerPhrases    *[]string         `json:"trigger_phrases,omitempty"`
	DefaultSettings   SettingsChange    `json:"default_settings,omitempty"`
	CPUOnly           *bool             `json:"cpu_only,omitempty"`
	Variant           *ModelVariantType `json:"variant,omitempty"`
	PredictionType    *PredictionType   `json:"prediction_type,omitempty"`
	UpcastAttention   *bool             `json:"upcast_attention,omitempty"`
	ConfigPath        *string           `json:"config_path,omitempty"`
}

// Variants lists the variant values ModelRecordChanges accepts (InvokeAI's ModelVariantType, FluxVariantType
// and ClipVariantType).
var Variants = []string{VariantNormal, VariantInpaint, VariantDepth, "dev", "schnell", "dev_fill", "large", "large_patch14", "gigantic"}

// PredictionTypes lists InvokeAI's SchedulerPredictionType values.
var PredictionTypes = []string{PredictionEpsilon, PredictionV, PredictionSample}

// SourceTypes lists InvokeAI's ModelSourceType values.
var SourceTypes = []string{SourcePath, SourceURL, SourceHF}

// BaseModelType is InvokeAI's BaseModelType enum, for fields the API validates (records keep plain strings).
type BaseModelType string

// EnumValues implements schema.Enum.
func (BaseModelType) EnumValues() []string { return BaseTypes }

// ModelType is InvokeAI's ModelType enum.
type ModelType string

// EnumValues implements schema.Enum.
func (ModelType) EnumValues() []string { return ModelTypes }

// ModelFormat is InvokeAI's ModelFormat enum.
type ModelFormat string

// EnumValues implements schema.Enum.
func (ModelFormat) EnumValues() []string { return ModelFormats }

// ModelSourceType is InvokeAI's ModelSourceType enum.
type ModelSourceType string

// EnumValues implements schema.Enum.
func (ModelSourceType) EnumValues() []string { return SourceTypes }

// ModelVariantType is a model variant: the values of InvokeAI's ModelVariantType, FluxVariantType and
// ClipVariantType together.
type ModelVariantType string

// EnumValues implements schema.Enum.
func (ModelVariantType) EnumValues() []string { return Variants }

// PredictionType is InvokeAI's SchedulerPredictionType enum.
type PredictionType string

// EnumValues implements schema.Enum.
func (PredictionType) EnumValues() []string { return PredictionTypes }

// Strs converts a list of enum values to plain strings.
func Strs[T ~string](vals []T) []string {
	if vals == nil {
		return nil
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = string(v)
	}
	return out
}

// Validate checks the changes as pydantic validates ModelRecordChanges: an enum field with a value outside
// its enum, or default_settings that fit none of the settings classes, is a 422 whose detail lists every
// problem located under "body", in field order. Values pydantic accepts but InvokeAI then refuses are a 409.
func (ch *Changes) Validate() error {
	if items := schema.CheckSet(ch, []any{"body"}); len(items) > 0 {
		return apperr.Invalid(items...)
	}
	if ch.Name != nil && *ch.Name == "" {
		return apperr.Conflict("name must not be empty")
	}
	return nil
}

// Apply copies the set fields onto c. Identity fields (key) are applied too: callers that must keep the key
// clear it first. Default settings are stored in the shape of the model type's settings class, with every
// field present; settings that class refuses are an error (409) and leave c as it was.
func (ch *Changes) Apply(c *Config) error {
	var settings json.RawMessage
	if len(ch.DefaultSettings) > 0 {
		typ := c.Type
		if ch.Type != nil {
			typ = string(*ch.Type)
		}
		var err error
		if settings, err = normalizeSettingsFor(typ, json.RawMessage(ch.DefaultSettings)); err != nil {
			return apperr.Conflict(err.Error())
		}
	}
	setS := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	setS(&c.Source, ch.Source)
	setE(&c.SourceType, ch.SourceType)
	if ch.SourceAPIResponse != nil {
		c.SourceAPIResponse = ch.SourceAPIResponse
	}
	setS(&c.Name, ch.Name)
	setS(&c.Path, ch.Path)
	if ch.Description != nil {
		c.Description = ch.Description
	}
	setE(&c.Base, ch.Base)
	setE(&c.Type, ch.Type)
	setS(&c.Key, ch.Key)
	setS(&c.Hash, ch.Hash)
	if ch.FileSize != nil {
		c.FileSize = *ch.FileSize
	}
	setE(&c.Format, ch.Format)
	if ch.TriggerPhrases != nil {
		c.TriggerPhrases = append([]string{}, (*ch.TriggerPhrases)...)
	}
	if len(ch.DefaultSettings) > 0 {
		c.DefaultSettings = settings // nil when the change is null: the settings are cleared
	}
	if ch.CPUOnly != nil {
		c.CPUOnly = ch.CPUOnly
	}
	if ch.Variant != nil {
		c.Variant = Ptr(string(*ch.Variant))
	}
	if ch.PredictionType != nil {
		c.PredictionType = Ptr(string(*ch.PredictionType))
	}
	if ch.UpcastAttention != nil {
		c.UpcastAttention = ch.UpcastAttention
	}
	if ch.ConfigPath != nil {
		c.ConfigPath = ch.ConfigPath
	}
	return nil
}

// setE copies a set enum value onto a record's string field.
func setE[T ~string](dst *string, v *T) {
	if v != nil {
		*dst = string(*v)
	}
}

// Ptr returns a pointer to v (for optional fields).
func Ptr[T any](v T) *T { return &v }
