package models

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/invokego/invokego/internal/apperr"
)

// SchedulerNames is InvokeAI's SCHEDULER_NAME_VALUES (the keys of its SCHEDULER_MAP, in that order): the
// values a main model's default scheduler may take.
var SchedulerNames = []string{"ddim", "ddpm", "deis", "deis_k", "lms", "lms_k", "pndm", "heun", "heun_k", "euler",
	"euler_k", "euler_a", "kdpm_2", "kdpm_2_k", "kdpm_2_a", "kdpm_2_a_k", "dpmpp_2s", "dpmpp_2s_k", "dpmpp_sde",
	"dpmpp_sde_k", "dpmpp_2m", "dpmpp_2m_k", "dpmpp_2m_sde", "dpmpp_2m_sde_k", "dpmpp_3m", "dpmpp_3m_k", "unipc",
	"unipc_k", "lcm", "tcd"}

// settingKind is the Python type of a default-settings field.
type settingKind int

const (
	kindStr settingKind = iota
	kindLiteral
	kindInt
	kindFloat
	kindBool
)

// bound is a numeric constraint of a pydantic Field (gt, ge, lt, le).
type bound struct {
	op    string // "gt", "ge", "lt" or "le"
	limit float64
}

// settingField is one field of a default-settings class. Every field is Optional (null allowed).
type settingField struct {
	name       string
	kind       settingKind
	literals   []string // kindLiteral: the allowed strings
	bounds     []bound
	multipleOf int64
	// required is true for fields declared without a default (ControlAdapterDefaultSettings.preprocessor).
	required bool
}

// settingsShape is one of InvokeAI's *DefaultSettings pydantic classes (all extra="forbid").
type settingsShape struct {
	class  string
	fields []settingField
}

var (
	mainSettingsShape = settingsShape{class: "MainModelDefaultSettings", fields: []settingField{
		{name: "vae", kind: kindStr},
		{name: "vae_precision", kind: kindLiteral, literals: []string{"fp16", "fp32"}},
		{name: "scheduler", kind: kindLiteral, literals: SchedulerNames},
		{name: "steps", kind: kindInt, bounds: []bound{{"gt", 0}}},
		{name: "cfg_scale", kind: kindFloat, bounds: []bound{{"ge", 1}}},
		{name: "cfg_rescale_multiplier", kind: kindFloat, bounds: []bound{{"ge", 0}, {"lt", 1}}},
		{name: "width", kind: kindInt, multipleOf: 8, bounds: []bound{{"ge", 64}}},
		{name: "height", kind: kindInt, multipleOf: 8, bounds: []bound{{"ge", 64}}},
		{name: "guidance", kind: kindFloat, bounds: []bound{{"ge", 1}}},
		{name: "cpu_only", kind: kindBool},
	}}
	loraSettingsShape = settingsShape{class: "LoraModelDefaultSettings", fields: []settingField{
		{name: "weight", kind: kindFloat, bounds: []bound{{"ge", -1}, {"le", 2}}},
	}}
	controlAdapterSettingsShape = settingsShape{class: "ControlAdapterDefaultSettings", fields: []settingField{
		{name: "preprocessor", kind: kindStr, required: true},
	}}
	// changesSettingsShapes is the union ModelRecordChanges.default_settings accepts, in declaration order.
	changesSettingsShapes = []settingsShape{mainSettingsShape, loraSettingsShape, controlAdapterSettingsShape}
)

// settingsShapeFor is the default-settings class a model type's config has, or nil when it has none.
func settingsShapeFor(modelType string) *settingsShape {
	switch modelType {
	case TypeMain:
		return &mainSettingsShape
	case TypeLoRA:
		return &loraSettingsShape
	case TypeControlNet, "t2i_adapter", "control_lora":
		return &controlAdapterSettingsShape
	}
	return nil
}

// settingValue is a validated field value: nil for null, else string, int64, float64 or bool.
type settingValue any

// validate checks a decoded JSON value against the shape, as pydantic would in lax mode. It returns the
// normalised values by field name and the errors located under loc.
func (s settingsShape) validate(raw any, loc []any) (map[string]settingValue, []apperr.ValidationItem) {
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, []apperr.ValidationItem{{Type: "model_type", Loc: loc,
			Msg: "Input should be a valid dictionary or instance of " + s.class, Input: raw}}
	}
	var items []apperr.ValidationItem
	out := map[string]settingValue{}
	known := map[string]bool{}
	for _, f := range s.fields {
		known[f.name] = true
		fieldLoc := appendLoc(loc, f.name)
		v, present := obj[f.name]
		if !present {
			if f.required {
				items = append(items, apperr.ValidationItem{Type: "missing", Loc: fieldLoc, Msg: "Field required", Input: raw})
			}
			out[f.name] = nil
			continue
		}
		if v == nil {
			out[f.name] = nil
			continue
		}
		val, item := f.coerce(v)
		if item == nil {
			item = f.check(val)
		}
		if item != nil {
			item.Loc, item.Input = fieldLoc, v
			items = append(items, *item)
			continue
		}
		out[f.name] = val
	}
	// Extra keys, in a stable order so that error lists are reproducible.
	var extras []string
	for k := range obj {
		if !known[k] {
			extras = append(extras, k)
		}
	}
	sort.Strings(extras)
	for _, k := range extras {
		items = append(items, apperr.ValidationItem{Type: "extra_forbidden", Loc: appendLoc(loc, k),
			Msg: "Extra inputs are not permitted", Input: obj[k]})
	}
	return out, items
}

// coerce converts a JSON value to the field's type with pydantic's lax rules for JSON input.
func (f settingField) coerce(v any) (settingValue, *apperr.ValidationItem) {
	bad := func(typ, msg string) (settingValue, *apperr.ValidationItem) {
		return nil, &apperr.ValidationItem{Type: typ, Msg: msg}
	}
	switch f.kind {
	case kindStr:
		if s, ok := v.(string); ok {
			return s, nil
		}
		return bad("string_type", "Input should be a valid string")
	case kindLiteral:
		if s, ok := v.(string); ok {
			for _, l := range f.literals {
				if s == l {
					return s, nil
				}
			}
		}
		return bad("literal_error", "Input should be "+apperr.Choices(f.literals))
	case kindInt:
		switch x := v.(type) {
		case json.Number:
			if n, err := x.Int64(); err == nil {
				return n, nil
			}
			fl, err := x.Float64()
			if err != nil || math.IsInf(fl, 0) {
				return bad("int_type", "Input should be a valid integer")
			}
			if fl != math.Trunc(fl) {
				return bad("int_from_float", "Input should be a valid integer, got a number with a fractional part")
			}
			if math.Abs(fl) >= math.MaxInt64 {
				return bad("int_parsing_size", "Unable to parse input string as an integer, exceeded maximum size")
			}
			return int64(fl), nil
		case string:
			n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
			if err != nil {
				return bad("int_parsing", "Input should be a valid integer, unable to parse string as an integer")
			}
			return n, nil
		case bool:
			if x {
				return int64(1), nil
			}
			return int64(0), nil
		}
		return bad("int_type", "Input should be a valid integer")
	case kindFloat:
		switch x := v.(type) {
		case json.Number:
			fl, err := x.Float64()
			if err != nil {
				return bad("float_type", "Input should be a valid number")
			}
			return fl, nil
		case string:
			fl, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			if err != nil {
				return bad("float_parsing", "Input should be a valid number, unable to parse string as a number")
			}
			return fl, nil
		case bool:
			if x {
				return 1.0, nil
			}
			return 0.0, nil
		}
		return bad("float_type", "Input should be a valid number")
	case kindBool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case json.Number:
			switch x.String() {
			case "0", "0.0":
				return false, nil
			case "1", "1.0":
				return true, nil
			}
			return bad("bool_parsing", "Input should be a valid boolean, unable to interpret input")
		case string:
			switch strings.ToLower(x) {
			case "0", "off", "f", "false", "n", "no":
				return false, nil
			case "1", "on", "t", "true", "y", "yes":
				return true, nil
			}
			return bad("bool_parsing", "Input should be a valid boolean, unable to interpret input")
		}
		return bad("bool_type", "Input should be a valid boolean")
	}
	return bad("value_error", "unsupported field type")
}

// check applies the numeric constraints of the field, multiple_of first as pydantic-core does.
func (f settingField) check(v settingValue) *apperr.ValidationItem {
	if n, ok := v.(int64); ok && f.multipleOf > 0 && n%f.multipleOf != 0 {
		return &apperr.ValidationItem{Type: "multiple_of", Msg: fmt.Sprintf("Input should be a multiple of %d", f.multipleOf)}
	}
	var x float64
	switch n := v.(type) {
	case int64:
		x = float64(n)
	case float64:
		x = n
	default:
		return nil
	}
	for _, b := range f.bounds {
		lim := formatLimit(b.limit)
		switch {
		case b.op == "gt" && !(x > b.limit):
			return &apperr.ValidationItem{Type: "greater_than", Msg: "Input should be greater than " + lim}
		case b.op == "ge" && !(x >= b.limit):
			return &apperr.ValidationItem{Type: "greater_than_equal", Msg: "Input should be greater than or equal to " + lim}
		case b.op == "lt" && !(x < b.limit):
			return &apperr.ValidationItem{Type: "less_than", Msg: "Input should be less than " + lim}
		case b.op == "le" && !(x <= b.limit):
			return &apperr.ValidationItem{Type: "less_than_equal", Msg: "Input should be less than or equal to " + lim}
		}
	}
	return nil
}

// encode writes the values in field order with every field present (null when unset), as pydantic dumps a
// model; floats keep a decimal point as Python's json does.
func (s settingsShape) encode(vals map[string]settingValue) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range s.fields {
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(f.name)
		b.Write(name)
		b.WriteByte(':')
		switch v := vals[f.name].(type) {
		case nil:
			b.WriteString("null")
		case float64:
			b.WriteString(pythonFloat(v))
		default:
			enc, _ := json.Marshal(v)
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

func formatLimit(f float64) string {
	if f == math.Trunc(f) {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func appendLoc(loc []any, parts ...any) []any {
	return append(append([]any{}, loc...), parts...)
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

// isNullJSON reports whether raw is the JSON literal null.
func isNullJSON(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// validateChangesSettings checks default_settings against ModelRecordChanges' union of settings classes.
// As pydantic's smart union, it succeeds when any class accepts the value, and otherwise reports every
// class's errors with the class name in the location.
func validateChangesSettings(raw json.RawMessage, loc []any) []apperr.ValidationItem {
	if len(raw) == 0 || isNullJSON(raw) {
		return nil
	}
	v, err := decodeSettings(raw)
	if err != nil {
		return []apperr.ValidationItem{{Type: "json_invalid", Loc: loc, Msg: "JSON decode error", Input: nil}}
	}
	var all []apperr.ValidationItem
	for _, shape := range changesSettingsShapes {
		_, items := shape.validate(v, appendLoc(loc, shape.class))
		if len(items) == 0 {
			return nil
		}
		all = append(all, items...)
	}
	return all
}

// normalizeSettingsFor validates default_settings against the class of a model type and returns them with
// every field present. A type without default settings, or values its class refuses, is an error (InvokeAI
// raises a ValueError when the assignment to the record fails validation).
func normalizeSettingsFor(modelType string, raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 || isNullJSON(raw) {
		return nil, nil
	}
	shape := settingsShapeFor(modelType)
	if shape == nil {
		return nil, fmt.Errorf("%s models have no default_settings", modelType)
	}
	v, err := decodeSettings(raw)
	if err != nil {
		return nil, fmt.Errorf("default_settings: %w", err)
	}
	vals, items := shape.validate(v, []any{"default_settings"})
	if len(items) > 0 {
		it := items[0]
		return nil, fmt.Errorf("default_settings do not fit %s (%s: %s)", shape.class, locString(it.Loc), it.Msg)
	}
	return shape.encode(vals), nil
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
