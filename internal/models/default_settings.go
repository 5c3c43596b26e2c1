package models

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/engine/scheduler"
	"github.com/invokego/invokego/internal/schema"
)

// SchedulerName is a scheduler name (a typing.Literal in InvokeAI).
type SchedulerName string

// LiteralValues implements schema.Literal: InvokeAI's SCHEDULER_NAME_VALUES.
func (SchedulerName) LiteralValues() []string { return scheduler.InvokeAINames() }

// VAEPrecision is the precision a VAE runs at.
type VAEPrecision string

// LiteralValues implements schema.Literal.
func (VAEPrecision) LiteralValues() []string { return []string{"fp16", "fp32"} }

// MainModelDefaultSettings is InvokeAI's class of the same name (extra="forbid", every field optional).
type MainModelDefaultSettings struct {
	VAE                  *string        `json:"vae" description:"Default VAE for this model (model key)"`
	VAEPrecision         *VAEPrecision  `json:"vae_precision" description:"Default VAE precision for this model"`
	Scheduler            *SchedulerName `json:"scheduler" description:"Default scheduler for this model"`
	Steps                *int           `json:"steps" gt:"0" description:"Default number of steps for this model"`
	CfgScale             *float64       `json:"cfg_scale" ge:"1" description:"Default CFG Scale for this model"`
	CfgRescaleMultiplier *float64       `json:"cfg_rescale_multiplier" ge:"0" lt:"1" description:"Default CFG Rescale Multiplier for this model"`
	Width                *int           `json:"width" multiple_of:"8" ge:"64" description:"Default width for this model"`
	Height               *int           `json:"height" multiple_of:"8" ge:"64" description:"Default height for this model"`
	Guidance             *float64       `json:"guidance" ge:"1" description:"Default Guidance for this model"`
	CPUOnly              *bool          `json:"cpu_only" description:"Whether this model should run on CPU only"`
}

// LoraModelDefaultSettings is InvokeAI's class of the same name.
type LoraModelDefaultSettings struct {
	Weight *float64 `json:"weight" ge:"-1" le:"2" description:"Default weight for this model"`
}

// ControlAdapterDefaultSettings is InvokeAI's class of the same name; preprocessor must be present (it may be
// null).
type ControlAdapterDefaultSettings struct {
	Preprocessor *string `json:"preprocessor" required:"true"`
}

// settingsClasses is the union ModelRecordChanges.default_settings accepts, in declaration order.
func settingsClasses() []any {
	return []any{&MainModelDefaultSettings{}, &LoraModelDefaultSettings{}, &ControlAdapterDefaultSettings{}}
}

// settingsFor is a fresh settings value of a model type's class, or nil when the type has none.
func settingsFor(modelType string) any {
	switch modelType {
	case TypeMain:
		return &MainModelDefaultSettings{}
	case TypeLoRA:
		return &LoraModelDefaultSettings{}
	case TypeControlNet, "t2i_adapter", "control_lora":
		return &ControlAdapterDefaultSettings{}
	}
	return nil
}

// SettingsChange is ModelRecordChanges.default_settings: absent (nil), the literal null (clear them) or an
// object that one of the settings classes accepts.
type SettingsChange json.RawMessage

// MarshalJSON implements json.Marshaler.
func (s SettingsChange) MarshalJSON() ([]byte, error) {
	if s == nil {
		return []byte("null"), nil
	}
	return s, nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (s *SettingsChange) UnmarshalJSON(b []byte) error {
	*s = append((*s)[:0], b...)
	return nil
}

// OpenAPISchema implements schema.Provider: the union of the settings classes, or null.
func (SettingsChange) OpenAPISchema(c *schema.Components) map[string]any {
	var union []any
	for _, cls := range settingsClasses() {
		union = append(union, c.Of(reflect.TypeOf(cls).Elem()))
	}
	return map[string]any{"anyOf": append(union, map[string]any{"type": "null"})}
}

// ValidateField implements schema.Validator. As pydantic's smart union, it succeeds when any class accepts the
// value, and otherwise reports every class's errors with the class name in the location.
func (s SettingsChange) ValidateField(loc []any) []apperr.ValidationItem {
	if len(s) == 0 || schema.IsNull(json.RawMessage(s)) {
		return nil
	}
	v, err := decodeSettings(json.RawMessage(s))
	if err != nil {
		return []apperr.ValidationItem{{Type: "json_invalid", Loc: loc, Msg: "JSON decode error", Input: nil}}
	}
	var all []apperr.ValidationItem
	for _, cls := range settingsClasses() {
		items := schema.DecodeLax(v, cls, append(append([]any{}, loc...), reflect.TypeOf(cls).Elem().Name()))
		if len(items) == 0 {
			return nil
		}
		all = append(all, items...)
	}
	return all
}

// encodeSettings writes a settings value with every field present (null when unset), as pydantic dumps a
// model; floats keep a decimal point as Python's json does.
func encodeSettings(settings any) json.RawMessage {
	v := reflect.ValueOf(settings).Elem()
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range schema.Fields(v.Type()) {
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := schema.JSONName(f)
		enc, _ := json.Marshal(name)
		b.Write(enc)
		b.WriteByte(':')
		fv := v.FieldByIndex(f.Index)
		switch {
		case fv.IsNil():
			b.WriteString("null")
		case fv.Elem().Kind() == reflect.Float64:
			b.WriteString(pythonFloat(fv.Elem().Float()))
		default:
			enc, _ := json.Marshal(fv.Interface())
			b.Write(enc)
		}
	}
	b.WriteByte('}')
	return b.Bytes()
}

func pythonFloat(f float64) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return "null"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return s
}

// decodeSettings parses raw default_settings JSON keeping numbers exact (json.Number).
func decodeSettings(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// normalizeSettingsFor validates default_settings against the class of a model type and returns them with
// every field present. A type without default settings, or values its class refuses, is an error (InvokeAI
// raises a ValueError when the assignment to the record fails validation).
func normalizeSettingsFor(modelType string, raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 || schema.IsNull(raw) {
		return nil, nil
	}
	settings := settingsFor(modelType)
	if settings == nil {
		return nil, fmt.Errorf("%s models have no default_settings", modelType)
	}
	v, err := decodeSettings(raw)
	if err != nil {
		return nil, fmt.Errorf("default_settings: %w", err)
	}
	if items := schema.DecodeLax(v, settings, []any{"default_settings"}); len(items) > 0 {
		it := items[0]
		return nil, fmt.Errorf("default_settings do not fit %s (%s: %s)", reflect.TypeOf(settings).Elem().Name(), locString(it.Loc), it.Msg)
	}
	return encodeSettings(settings), nil
}

// fillSettings rewrites stored settings with every field of the type's class present, leaving values that do
// not validate (records from before validation existed) as they are.
func fillSettings(modelType string, raw json.RawMessage) json.RawMessage {
	if out, err := normalizeSettingsFor(modelType, raw); err == nil && out != nil {
		return out
	}
	return raw
}

func locString(loc []any) string {
	parts := make([]string, len(loc))
	for i, p := range loc {
		parts[i] = fmt.Sprint(p)
	}
	return strings.Join(parts, ".")
}
