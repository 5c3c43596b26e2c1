package nodes

import (
	"reflect"

	"github.com/invokego/invokego/internal/schema"
)

// Schemas adds to c the OpenAPI component schemas of every registered node type and output, named and shaped
// as InvokeAI's (its class name, <Name>Output, field types as $ref components, optional values as anyOf with
// null) and carrying its UI extensions (field_kind, input, ui_*, orig_default, orig_required, class, output,
// version...), so that a client builds the same node templates from them.
func (r *Registry) Schemas(c *schema.Components) {
	for _, t := range r.Types() {
		outName := outputSchemaName(t.Output)
		c.Add(t.Class, t.invocationSchema(outName, c))
		if !c.Has(outName) {
			c.Add(outName, outputSchema(t, c))
		}
	}
}

func outputSchemaName(o Output) string {
	t := reflect.TypeOf(o)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

// isRef reports whether a schema is a component reference, alone or as an alternative: pydantic then leaves out
// the derived title (a list of components keeps it).
func isRef(s map[string]any) bool {
	if _, ok := s["$ref"]; ok {
		return true
	}
	alts, _ := s["anyOf"].([]any)
	for _, a := range alts {
		if m, ok := a.(map[string]any); ok && m["$ref"] != nil {
			return true
		}
	}
	return false
}

// nullable adds null to a schema's alternatives.
func nullable(s map[string]any) map[string]any {
	if alts, ok := s["anyOf"].([]any); ok {
		for _, a := range alts {
			if m, ok := a.(map[string]any); ok && m["type"] == "null" {
				return s
			}
		}
		out := map[string]any{}
		for k, v := range s {
			out[k] = v
		}
		out["anyOf"] = append(append([]any{}, alts...), map[string]any{"type": "null"})
		return out
	}
	return map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
}

// valueSchema is the schema of the field's values with its rules, before the node extras: the rules go into
// the first alternative of an anyOf, as pydantic writes constraints of an Optional field.
func (f *Field) valueSchema(c *schema.Components) map[string]any {
	var s map[string]any
	switch {
	case f.goType.Kind() == reflect.Interface || (f.goType.Kind() == reflect.Slice && f.goType.Elem().Kind() == reflect.Interface):
		if f.goType.Kind() == reflect.Slice {
			s = map[string]any{"type": "array", "items": map[string]any{}}
		} else {
			s = map[string]any{}
		}
	case f.Type.Poly:
		slice := f.goType
		for slice.Kind() == reflect.Pointer { // an optional poly input (*[]T)
			slice = slice.Elem()
		}
		elem := c.Of(slice.Elem())
		alts := []any{elem, map[string]any{"type": "array", "items": elem}}
		if f.goType.Kind() == reflect.Pointer {
			alts = append(alts, map[string]any{"type": "null"})
		}
		s = map[string]any{"anyOf": alts}
		// pydantic cannot put bounds inside a Union[T, list[T]], so it writes them beside it (ge, le, gt, lt).
		for key, n := range map[string]*schema.Number{"ge": f.Rules.Ge, "gt": f.Rules.Gt, "le": f.Rules.Le, "lt": f.Rules.Lt} {
			if n != nil {
				s[key] = n.JSON()
			}
		}
		rules := *f.Rules
		rules.Title, rules.Description, rules.Default = "", "", nil
		rules.Ge, rules.Gt, rules.Le, rules.Lt = nil, nil, nil, nil
		rules.Apply(s, false)
		return s
	default:
		s = c.Of(f.goType)
	}
	rules := *f.Rules
	rules.Title, rules.Description, rules.Default = "", "", nil
	target := s
	if alts, ok := s["anyOf"].([]any); ok && len(alts) > 0 {
		if first, ok := alts[0].(map[string]any); ok && first["$ref"] == nil {
			cp := map[string]any{}
			for k, v := range first {
				cp[k] = v
			}
			alts = append([]any{cp}, alts[1:]...)
			s["anyOf"] = alts
			target = cp
		}
	}
	if _, isRef := target["$ref"]; !isRef {
		rules.Apply(target, f.goType.Kind() == reflect.Slice && !f.Type.Poly)
	}
	return s
}

func (f *Field) schema(c *schema.Components) map[string]any {
	s := f.valueSchema(c)
	switch {
	case f.Kind != "output" && f.Required && f.Input != "direct":
		// A required input that a connection may fill is Optional in the schema; orig_required keeps the truth.
		s = nullable(s)
		s["default"] = nil
	case f.Kind != "output" && string(f.Default) == "null":
		s = nullable(s)
	}
	if f.titleSet || !isRef(s) {
		s["title"] = f.Title
	}
	if f.Description != "" {
		s["description"] = f.Description
	}
	s["field_kind"] = f.Kind
	if f.Kind == "output" {
		s["ui_hidden"] = f.UIHidden
	} else {
		s["input"] = f.Input
		s["orig_required"] = f.Required
		if !f.Required {
			s["default"] = f.Default
			s["orig_default"] = f.Default
		}
		if f.UIHidden || f.Kind == "internal" {
			s["ui_hidden"] = f.UIHidden
		}
	}
	if f.UIType != "" {
		s["ui_type"] = f.UIType
	}
	if f.UIOrder != nil {
		s["ui_order"] = *f.UIOrder
	}
	if f.UIComponent != "" {
		s["ui_component"] = f.UIComponent
	}
	if f.UIChoiceLabels != nil {
		s["ui_choice_labels"] = f.UIChoiceLabels
	}
	for key, vals := range map[string][]string{"ui_model_base": f.UIModelBase, "ui_model_type": f.UIModelType, "ui_model_format": f.UIModelFormat} {
		if vals != nil {
			s[key] = vals
		}
	}
	return s
}

func constSchema(value string) map[string]any {
	return map[string]any{"type": "string", "const": value, "default": value, "title": "type", "field_kind": "node_attribute"}
}

func (t *NodeType) invocationSchema(outName string, c *schema.Components) map[string]any {
	props := map[string]any{
		"id": map[string]any{"type": "string", "title": "Id", "field_kind": "node_attribute",
			"description": "The id of this instance of an invocation. Must be unique among all instances of invocations."},
		"is_intermediate": map[string]any{"type": "boolean", "title": "Is Intermediate", "default": false, "field_kind": "node_attribute",
			"input": "direct", "ui_type": "IsIntermediate", "ui_hidden": false, "orig_required": true, "description": "Whether or not this is an intermediate invocation."},
		"use_cache": map[string]any{"type": "boolean", "title": "Use Cache", "default": !t.NoCache, "field_kind": "node_attribute",
			"description": "Whether or not to use the cache"},
		"type": constSchema(t.Type),
	}
	for i := range t.Inputs {
		props[t.Inputs[i].Name] = t.Inputs[i].schema(c)
	}
	tags := t.Tags
	if tags == nil {
		tags = []string{}
	}
	s := map[string]any{
		"type": "object", "title": t.Title, "properties": props, "required": []string{"type", "id"},
		"tags": tags, "version": t.Version, "classification": t.Classification,
		"node_pack": "invokeai", "class": "invocation", "output": schema.Ref(outName),
	}
	if t.Category != "" {
		s["category"] = t.Category
	}
	if t.Description != "" {
		s["description"] = t.Description
	}
	if t.AllowExtra {
		s["additionalProperties"] = true
	}
	return s
}

func outputSchema(t *NodeType, c *schema.Components) map[string]any {
	props := map[string]any{"type": constSchema(t.Output.OutputType())}
	var required []string
	for i := range t.Outputs {
		f := &t.Outputs[i]
		props[f.Name] = f.schema(c)
		if !f.Optional {
			required = append(required, f.Name)
		}
	}
	required = append(required, "type")
	return map[string]any{"type": "object", "title": outputSchemaName(t.Output), "properties": props,
		"required": required, "class": "output"}
}
