package nodeschema

import (
	"encoding/json"
	"strings"
	"testing"
)

// doc builds a minimal OpenAPI document with one node type whose "width" input and "value" output are given.
func doc(t *testing.T, node map[string]any, width map[string]any) []byte {
	t.Helper()
	inv := map[string]any{"class": "invocation", "title": "Thing", "version": "1.0.0", "category": "image", "tags": []any{"a"},
		"node_pack": "invokeai", "classification": "stable", "output": map[string]any{"$ref": "#/components/schemas/ThingOutput"},
		"properties": map[string]any{
			"id":        map[string]any{"type": "string", "field_kind": "node_attribute"},
			"type":      map[string]any{"const": "thing", "default": "thing", "field_kind": "node_attribute"},
			"use_cache": map[string]any{"default": true, "field_kind": "node_attribute"},
			"width":     width,
			"image": map[string]any{"anyOf": []any{map[string]any{"$ref": "#/components/schemas/ImageField"}, map[string]any{"type": "null"}},
				"default": nil, "field_kind": "input", "input": "any", "orig_required": true},
		}}
	for k, v := range node {
		inv[k] = v
	}
	out := map[string]any{"class": "output", "properties": map[string]any{
		"type":  map[string]any{"const": "thing_output", "default": "thing_output"},
		"value": map[string]any{"type": "integer", "field_kind": "output", "ui_hidden": false},
	}}
	b, err := json.Marshal(map[string]any{"components": map[string]any{"schemas": map[string]any{"ThingInvocation": inv, "ThingOutput": out}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func width(extra map[string]any) map[string]any {
	w := map[string]any{"type": "integer", "default": 512, "field_kind": "input", "input": "any", "orig_required": false,
		"orig_default": 512, "exclusiveMinimum": 0, "multipleOf": 8, "title": "Width"}
	for k, v := range extra {
		if v == nil {
			delete(w, k)
			continue
		}
		w[k] = v
	}
	return w
}

func TestParseReadsTemplates(t *testing.T) {
	ts, err := Parse(doc(t, nil, width(nil)))
	if err != nil {
		t.Fatal(err)
	}
	th, ok := ts["thing"]
	if !ok {
		t.Fatalf("templates %v", ts)
	}
	if th.Attributes["output_type"] != `"thing_output"` || th.Attributes["use_cache"] != "true" {
		t.Fatalf("node attributes %v", th.Attributes)
	}
	w := th.Inputs["width"]
	if w.Type != (FieldType{"IntegerField", "SINGLE"}) || w.Attributes["multipleOf"] != "8" || w.Attributes["default"] != "512" {
		t.Fatalf("width %+v", w)
	}
	img := th.Inputs["image"]
	if img.Type != (FieldType{"ImageField", "SINGLE"}) || img.Attributes["title"] != `"Image"` || img.Attributes["orig_required"] != "true" {
		t.Fatalf("image %+v", img)
	}
	if th.Outputs["value"].Type.Name != "IntegerField" {
		t.Fatalf("outputs %+v", th.Outputs)
	}
}

// Each kind of change is found, keyed where it is; equal values written differently (8 and 8.0, a derived
// title and the same title given) are not differences.
func TestCompareFindsDifferences(t *testing.T) {
	ref, err := Parse(doc(t, nil, width(nil)))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		node  map[string]any
		width map[string]any
		want  string
	}{
		{nil, width(map[string]any{"multipleOf": 8.0, "title": nil}), ""},
		{nil, width(map[string]any{"maximum": 16384}), "thing.inputs.width.maximum"},
		{nil, width(map[string]any{"default": 64}), "thing.inputs.width.default"},
		{nil, width(map[string]any{"type": "number"}), "thing.inputs.width.type"},
		{nil, width(map[string]any{"input": "connection"}), "thing.inputs.width.input"},
		{nil, width(map[string]any{"ui_model_base": []any{"sd-1"}}), "thing.inputs.width.ui_model_base"},
		{nil, width(map[string]any{"orig_required": true}), "thing.inputs.width.orig_required"},
		{map[string]any{"version": "1.0.1"}, width(nil), "thing.version"},
		{map[string]any{"tags": []any{"a", "b"}}, width(nil), "thing.tags"},
	}
	for _, c := range cases {
		got, err := Parse(doc(t, c.node, c.width))
		if err != nil {
			t.Fatal(err)
		}
		diffs := Compare(ref, got)
		var keys []string
		for _, d := range diffs {
			keys = append(keys, d.Key)
		}
		if strings.Join(keys, ",") != c.want {
			t.Errorf("%v %v: differences %v, want %q", c.node, c.width, diffs, c.want)
		}
	}
	// A node type the reference lacks is one difference.
	got, _ := Parse(doc(t, nil, width(nil)))
	got["other"] = got["thing"]
	if diffs := Compare(ref, got); len(diffs) != 1 || diffs[0].Key != "other" {
		t.Fatalf("extra type: %v", diffs)
	}
}

func TestParseTypes(t *testing.T) {
	ref := func(n string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + n} }
	null := map[string]any{"type": "null"}
	cases := []struct {
		schema map[string]any
		want   FieldType
	}{
		{map[string]any{"anyOf": []any{ref("ControlField"), map[string]any{"type": "array", "items": ref("ControlField")}, null}}, FieldType{"ControlField", "SINGLE_OR_COLLECTION"}},
		{map[string]any{"type": "array", "items": map[string]any{"type": "number"}}, FieldType{"FloatField", "COLLECTION"}},
		{map[string]any{"anyOf": []any{map[string]any{"type": "string", "enum": []any{"a"}}, null}}, FieldType{"EnumField", "SINGLE"}},
		{map[string]any{"anyOf": []any{map[string]any{}, null}}, FieldType{"AnyField", "SINGLE"}},
		{map[string]any{}, FieldType{"AnyField", "SINGLE"}},
	}
	for _, c := range cases {
		if got := parseType(c.schema); got != c.want {
			t.Errorf("%v: %v, want %v", c.schema, got, c.want)
		}
	}
	if startCase("clip2") != "Clip 2" || startCase("vae_model") != "Vae Model" || startCase("ipAdapters") != "Ip Adapters" {
		t.Fatal("startCase")
	}
}
