// Package nodeschema reads the node templates out of an OpenAPI document the way InvokeAI's web UI does (each
// invocation schema becomes a template: its inputs with type, default, required, input kind, bounds, options
// and ui_* hints; its outputs; the node's title, version, category, tags...), and compares two sets of
// templates field by field. Tests use it to hold invokego's /openapi.json to InvokeAI's.
//
// Descriptions are left out: they are prose that a client only displays, and invokego words its own.
package nodeschema

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// FieldType is a field's type as the UI derives it: a name (IntegerField, ImageField, EnumField, AnyField...)
// and a cardinality.
type FieldType struct {
	Name        string
	Cardinality string // SINGLE, COLLECTION, SINGLE_OR_COLLECTION
}

func (t FieldType) String() string { return t.Name + "/" + t.Cardinality }

// Field is one input or output of a template. Attributes hold the comparable properties as canonical strings,
// keyed by the names the schema uses (title, description, default, orig_required, input, ui_type, minimum...).
type Field struct {
	Type       FieldType
	Attributes map[string]string
}

// Template is one node type.
type Template struct {
	// Attributes: class (component name), title, description, version, category, tags, classification,
	// node_pack, output_type, use_cache.
	Attributes map[string]string
	Inputs     map[string]Field
	Outputs    map[string]Field
}

// reserved are the base fields every node has; the UI does not make templates of them.
var reserved = map[string]bool{"id": true, "type": true, "use_cache": true, "is_intermediate": true}

// Parse reads every invocation schema of an OpenAPI document into templates by node type.
func Parse(doc []byte) (map[string]Template, error) {
	var d struct {
		Components struct {
			Schemas map[string]map[string]any `json:"schemas"`
		} `json:"components"`
	}
	dec := json.NewDecoder(strings.NewReader(string(doc)))
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("openapi document: %w", err)
	}
	schemas := d.Components.Schemas
	out := map[string]Template{}
	for name, s := range schemas {
		if s["class"] != "invocation" {
			continue
		}
		props, _ := s["properties"].(map[string]any)
		typeProp, _ := props["type"].(map[string]any)
		typ, _ := typeProp["default"].(string)
		if typ == "" {
			return nil, fmt.Errorf("%s: no type discriminator", name)
		}
		t := Template{Attributes: map[string]string{}, Inputs: map[string]Field{}, Outputs: map[string]Field{}}
		t.Attributes["class"] = name
		for _, k := range []string{"title", "version", "category", "classification", "node_pack"} {
			t.Attributes[k] = canon(s[k])
		}
		if t.Attributes["tags"] = canon(s["tags"]); t.Attributes["tags"] == "" {
			t.Attributes["tags"] = "[]" // the UI reads absent tags as none
		}
		if uc, ok := props["use_cache"].(map[string]any); ok {
			t.Attributes["use_cache"] = canon(uc["default"])
		}
		t.Attributes["additional_properties"] = canon(s["additionalProperties"])
		for fname, p := range props {
			ps, ok := p.(map[string]any)
			if !ok || reserved[fname] || ps["field_kind"] == nil {
				continue
			}
			t.Inputs[fname] = inputField(fname, ps)
		}
		outRef, _ := s["output"].(map[string]any)
		outName := refName(outRef)
		outSchema, ok := schemas[outName]
		if !ok {
			return nil, fmt.Errorf("%s: output schema %q missing", name, outName)
		}
		outProps, _ := outSchema["properties"].(map[string]any)
		if tp, ok := outProps["type"].(map[string]any); ok {
			t.Attributes["output_type"] = canon(tp["default"])
		}
		t.Attributes["output_class"] = outName
		for fname, p := range outProps {
			ps, ok := p.(map[string]any)
			if !ok || fname == "type" {
				continue
			}
			t.Outputs[fname] = outputField(fname, ps)
		}
		out[typ] = t
	}
	return out, nil
}

func refName(s map[string]any) string {
	r, _ := s["$ref"].(string)
	return strings.TrimPrefix(r, "#/components/schemas/")
}

// primitive names the UI gives JSON-schema types.
var primitive = map[string]string{"integer": "IntegerField", "number": "FloatField", "string": "StringField", "boolean": "BooleanField"}

// parseType derives a field's type from its schema as the UI does: $ref names, anyOf without null, T | list[T]
// as SINGLE_OR_COLLECTION, arrays as COLLECTION, enums as EnumField, an empty schema as AnyField.
func parseType(s map[string]any) FieldType {
	if n := refName(s); n != "" {
		return FieldType{n, "SINGLE"}
	}
	if all, ok := s["allOf"].([]any); ok && len(all) == 1 {
		if m, ok := all[0].(map[string]any); ok {
			return parseType(m)
		}
	}
	if alts, ok := s["anyOf"].([]any); ok {
		var rest []map[string]any
		for _, a := range alts {
			m, _ := a.(map[string]any)
			if m["type"] == "null" {
				continue
			}
			rest = append(rest, m)
		}
		switch len(rest) {
		case 0:
			return FieldType{"AnyField", "SINGLE"}
		case 1:
			return parseType(rest[0])
		case 2:
			a, b := parseType(rest[0]), parseType(rest[1])
			if a.Name == b.Name && a.Cardinality == "SINGLE" && b.Cardinality == "COLLECTION" {
				return FieldType{a.Name, "SINGLE_OR_COLLECTION"}
			}
			if a.Name == b.Name && b.Cardinality == "SINGLE" && a.Cardinality == "COLLECTION" {
				return FieldType{a.Name, "SINGLE_OR_COLLECTION"}
			}
		}
		var names []string
		for _, r := range rest {
			names = append(names, parseType(r).String())
		}
		return FieldType{"Union[" + strings.Join(names, ",") + "]", "SINGLE"}
	}
	if _, ok := s["enum"]; ok {
		return FieldType{"EnumField", "SINGLE"}
	}
	if _, ok := s["const"]; ok {
		return FieldType{"EnumField", "SINGLE"}
	}
	switch t := s["type"].(type) {
	case string:
		if t == "array" {
			items, _ := s["items"].(map[string]any)
			it := parseType(items)
			if it.Cardinality != "SINGLE" {
				return FieldType{"list[" + it.String() + "]", "COLLECTION"}
			}
			return FieldType{it.Name, "COLLECTION"}
		}
		if p, ok := primitive[t]; ok {
			return FieldType{p, "SINGLE"}
		}
		if t == "object" {
			return FieldType{"DictField", "SINGLE"}
		}
		return FieldType{t, "SINGLE"}
	}
	return FieldType{"AnyField", "SINGLE"}
}

// constraint finds a JSON-schema keyword at the top of a field schema or in its non-null alternative, where
// pydantic writes the constraints of an Optional field.
func constraint(s map[string]any, key string) any {
	if v, ok := s[key]; ok {
		return v
	}
	alts, _ := s["anyOf"].([]any)
	for _, a := range alts {
		if m, ok := a.(map[string]any); ok {
			if v, ok := m[key]; ok {
				return v
			}
		}
	}
	return nil
}

// options are the allowed strings of an enum field, wherever the schema lists them.
func options(s map[string]any) any {
	if v := constraint(s, "enum"); v != nil {
		return v
	}
	if items, ok := s["items"].(map[string]any); ok {
		return items["enum"]
	}
	return nil
}

func inputField(name string, s map[string]any) Field {
	f := Field{Type: parseType(s), Attributes: map[string]string{}}
	title := canon(s["title"])
	if s["title"] == nil {
		title = canon(startCase(name))
	}
	f.Attributes["title"] = title
	f.Attributes["orig_required"] = canon(s["orig_required"])
	for _, k := range []string{"default", "orig_default", "input", "field_kind", "ui_type", "ui_component", "ui_order",
		"ui_model_base", "ui_model_type", "ui_model_format", "ui_model_variant", "ui_choice_labels"} {
		f.Attributes[k] = canon(s[k])
	}
	f.Attributes["ui_hidden"] = canon(orFalse(s["ui_hidden"]))
	for _, k := range []string{"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength",
		"maxLength", "minItems", "maxItems"} {
		f.Attributes[k] = canon(constraint(s, k))
	}
	f.Attributes["options"] = canon(options(s))
	return f
}

func outputField(name string, s map[string]any) Field {
	f := Field{Type: parseType(s), Attributes: map[string]string{}}
	title := canon(s["title"])
	if s["title"] == nil {
		title = canon(startCase(name))
	}
	f.Attributes["title"] = title
	f.Attributes["field_kind"] = canon(s["field_kind"])
	f.Attributes["ui_hidden"] = canon(orFalse(s["ui_hidden"]))
	for _, k := range []string{"ui_type", "ui_order"} {
		f.Attributes[k] = canon(s[k])
	}
	return f
}

func orFalse(v any) any {
	if v == nil {
		return false
	}
	return v
}

// startCase is lodash's startCase, which the UI uses for a field without a title: words split at underscores,
// case changes and digits, each capitalised.
func startCase(s string) string {
	var words []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			words = append(words, string(cur))
			cur = nil
		}
	}
	rs := []rune(s)
	for i, r := range rs {
		switch {
		case r == '_' || r == '-' || r == ' ':
			flush()
			continue
		case i > 0 && unicode.IsUpper(r) && unicode.IsLower(rs[i-1]):
			flush()
		case i > 0 && unicode.IsDigit(r) != unicode.IsDigit(rs[i-1]):
			flush()
		}
		cur = append(cur, r)
	}
	flush()
	for i, w := range words {
		words[i] = strings.ToUpper(w[:1]) + w[1:]
	}
	return strings.Join(words, " ")
}

// canon writes a JSON value canonically: numbers by value (1 and 1.0 are equal), object keys sorted; absent
// is "".
func canon(v any) string {
	if v == nil {
		return ""
	}
	var b strings.Builder
	writeCanon(&b, v)
	return b.String()
}

func writeCanon(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			b.WriteString(x.String())
			return
		}
		b.WriteString(num(f))
	case float64:
		b.WriteString(num(x))
	case int:
		b.WriteString(num(float64(x)))
	case json.RawMessage:
		dec := json.NewDecoder(strings.NewReader(string(x)))
		dec.UseNumber()
		var inner any
		if dec.Decode(&inner) != nil {
			b.WriteString(string(x))
			return
		}
		writeCanon(b, inner)
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Quote(k))
			b.WriteByte(':')
			writeCanon(b, x[k])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			writeCanon(b, e)
		}
		b.WriteByte(']')
	default:
		enc, _ := json.Marshal(x)
		b.Write(enc)
	}
}

func num(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// Difference is one attribute that differs between the reference (InvokeAI) and the candidate (invokego).
type Difference struct {
	// Key locates it: "node", "node.attribute", "node.inputs.field", "node.inputs.field.attribute",
	// "node.outputs.field.attribute"; "type" is the field type's attribute.
	Key       string
	Reference string
	Candidate string
}

func (d Difference) String() string {
	return fmt.Sprintf("%s: InvokeAI %s, invokego %s", d.Key, show(d.Reference), show(d.Candidate))
}

func show(s string) string {
	if s == "" {
		return "(absent)"
	}
	return s
}

// Compare lists the differences of every candidate template from the reference template of the same type,
// sorted by key. A candidate type the reference lacks is one difference keyed by the type alone.
func Compare(reference, candidate map[string]Template) []Difference {
	var out []Difference
	for typ, c := range candidate {
		r, ok := reference[typ]
		if !ok {
			out = append(out, Difference{Key: typ, Reference: "", Candidate: "node type"})
			continue
		}
		out = append(out, diffAttrs(typ, r.Attributes, c.Attributes)...)
		out = append(out, diffFields(typ+".inputs", r.Inputs, c.Inputs)...)
		out = append(out, diffFields(typ+".outputs", r.Outputs, c.Outputs)...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func diffAttrs(prefix string, r, c map[string]string) []Difference {
	var out []Difference
	keys := map[string]bool{}
	for k := range r {
		keys[k] = true
	}
	for k := range c {
		keys[k] = true
	}
	for k := range keys {
		if r[k] != c[k] {
			out = append(out, Difference{Key: prefix + "." + k, Reference: r[k], Candidate: c[k]})
		}
	}
	return out
}

func diffFields(prefix string, r, c map[string]Field) []Difference {
	var out []Difference
	for name, rf := range r {
		cf, ok := c[name]
		if !ok {
			out = append(out, Difference{Key: prefix + "." + name, Reference: "field", Candidate: ""})
			continue
		}
		if rf.Type != cf.Type {
			out = append(out, Difference{Key: prefix + "." + name + ".type", Reference: rf.Type.String(), Candidate: cf.Type.String()})
		}
		out = append(out, diffAttrs(prefix+"."+name, rf.Attributes, cf.Attributes)...)
	}
	for name := range c {
		if _, ok := r[name]; !ok {
			out = append(out, Difference{Key: prefix + "." + name, Reference: "", Candidate: "field"})
		}
	}
	return out
}
