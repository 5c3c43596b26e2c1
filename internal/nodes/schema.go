package nodes

import (
	"encoding/json"
	"reflect"
	"strings"
)

// Schemas returns the OpenAPI component schemas of every registered node type and output, named as InvokeAI
// names them (<Class>Invocation, <Name>Output) and carrying its UI extensions (field_kind, input, ui_*,
// orig_default, orig_required, class, output, version...), so that a client builds node templates from them.
func (r *Registry) Schemas() map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, t := range r.Types() {
		outName := outputSchemaName(t.Output)
		out[t.Class+"Invocation"] = t.invocationSchema(outName, out)
		if _, done := out[outName]; !done {
			out[outName] = outputSchema(t, out)
		}
	}
	return out
}

func outputSchemaName(o Output) string {
	t := reflect.TypeOf(o)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

// typeSchema is the JSON schema of a Go field type; named structs become components.
func typeSchema(t reflect.Type, comps map[string]map[string]any) map[string]any {
	if t.Kind() == reflect.Pointer {
		return map[string]any{"anyOf": []any{typeSchema(t.Elem(), comps), map[string]any{"type": "null"}}}
	}
	if t.Implements(typeNamer) {
		name := reflect.Zero(t).Interface().(TypeNamer).FieldTypeName()
		if _, ok := comps[name]; !ok {
			comps[name] = map[string]any{}
			if t.Kind() == reflect.Struct {
				comps[name] = structSchema(t, name, comps)
			} else {
				comps[name] = map[string]any{"type": "object", "title": name, "additionalProperties": true}
			}
		}
		return ref(name)
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32:
		return map[string]any{"type": "integer"}
	case reflect.Float64, reflect.Float32:
		return map[string]any{"type": "number"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": typeSchema(t.Elem(), comps)}
	case reflect.Struct:
		if _, ok := comps[t.Name()]; !ok {
			comps[t.Name()] = map[string]any{}
			comps[t.Name()] = structSchema(t, t.Name(), comps)
		}
		return ref(t.Name())
	}
	return map[string]any{}
}

func structSchema(t reflect.Type, title string, comps map[string]map[string]any) map[string]any {
	props := map[string]any{}
	var required []string
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if !sf.IsExported() || name == "" || name == "-" {
			continue
		}
		s := typeSchema(sf.Type, comps)
		s["title"] = titleCase(name)
		for _, b := range []string{"ge", "le"} {
			if v := sf.Tag.Get(b); v != "" {
				key := map[string]string{"ge": "minimum", "le": "maximum"}[b]
				s[key] = json.RawMessage(v)
			}
		}
		props[name] = s
		if sf.Type.Kind() != reflect.Pointer {
			required = append(required, name)
		}
	}
	out := map[string]any{"type": "object", "title": title, "properties": props}
	if len(required) > 0 {
		out["required"] = required
	}
	return out
}

func (f *Field) schema(comps map[string]map[string]any) map[string]any {
	var s map[string]any
	if f.Type.Poly {
		elem := typeSchema(f.goType.Elem(), comps)
		s = map[string]any{"anyOf": []any{elem, map[string]any{"type": "array", "items": elem}}}
	} else {
		s = typeSchema(f.goType, comps)
	}
	if f.goType.Kind() == reflect.Interface {
		s = map[string]any{}
	}
	s["title"] = f.Title
	if f.Description != "" {
		s["description"] = f.Description
	}
	s["field_kind"] = f.Kind
	if f.Kind != "output" {
		s["input"] = f.Input
		s["orig_required"] = f.Required
		if !f.Required {
			s["default"] = f.Default
			s["orig_default"] = f.Default
		}
	}
	s["ui_hidden"] = f.UIHidden
	if f.UIType != "" {
		s["ui_type"] = f.UIType
	}
	if f.UIOrder != nil {
		s["ui_order"] = *f.UIOrder
	}
	if f.UIComponent != "" {
		s["ui_component"] = f.UIComponent
	}
	if len(f.Enum) > 0 {
		s["enum"] = f.Enum
		s["type"] = "string"
	}
	names := map[string]string{"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}
	for b, v := range f.Bounds {
		s[names[b]] = v
	}
	return s
}

func constSchema(value string) map[string]any {
	return map[string]any{"type": "string", "const": value, "enum": []string{value}, "default": value, "title": titleCase("type"),
		"field_kind": "node_attribute"}
}

func (t *NodeType) invocationSchema(outName string, comps map[string]map[string]any) map[string]any {
	props := map[string]any{
		"id": map[string]any{"type": "string", "title": "Id", "field_kind": "node_attribute",
			"description": "The id of this instance of an invocation. Must be unique among all instances of invocations."},
		"is_intermediate": map[string]any{"type": "boolean", "title": "Is Intermediate", "default": false, "field_kind": "node_attribute",
			"input": "direct", "ui_type": "IsIntermediate", "orig_required": true, "description": "Whether or not this is an intermediate invocation."},
		"use_cache": map[string]any{"type": "boolean", "title": "Use Cache", "default": !t.NoCache, "field_kind": "node_attribute",
			"input": "direct", "orig_required": true, "description": "Whether or not to use the cache"},
		"type": constSchema(t.Type),
	}
	for i := range t.Inputs {
		props[t.Inputs[i].Name] = t.Inputs[i].schema(comps)
	}
	s := map[string]any{
		"type": "object", "title": t.Title, "properties": props, "required": []string{"type", "id"},
		"tags": t.Tags, "category": t.Category, "version": t.Version, "classification": t.Classification,
		"node_pack": "invokeai", "class": "invocation", "output": ref(outName),
	}
	if t.Description != "" {
		s["description"] = t.Description
	}
	if t.AllowExtra {
		s["additionalProperties"] = true
	}
	if t.Tags == nil {
		s["tags"] = []string{}
	}
	return s
}

func outputSchema(t *NodeType, comps map[string]map[string]any) map[string]any {
	props := map[string]any{"type": constSchema(t.Output.OutputType())}
	required := []string{}
	for i := range t.Outputs {
		f := &t.Outputs[i]
		props[f.Name] = f.schema(comps)
		if !f.Optional {
			required = append(required, f.Name)
		}
	}
	required = append(required, "type")
	return map[string]any{"type": "object", "title": outputSchemaName(t.Output), "properties": props,
		"required": required, "class": "output"}
}
