package core_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/invokego/invokego/internal/nodes"
	"github.com/invokego/invokego/internal/version"
)

// mdCtx adds the image metadata the queue's Context reads as the item's owner.
type mdCtx struct {
	*memCtx
	md map[string]nodes.MetadataField
}

func (c *mdCtx) ImageMetadata(name string) (nodes.MetadataField, error) {
	md, ok := c.md[name]
	if !ok {
		return nil, nodes.Errorf("FileNotFoundError", "no %s", name)
	}
	return md, nil
}

func metadataOut(t *testing.T, out map[string]json.RawMessage) map[string]any {
	t.Helper()
	var md map[string]any
	field(t, out, "metadata", &md)
	return md
}

func TestMetadataBuilders(t *testing.T) {
	reg, ctx := primRegistry()
	out, err := invoke(t, reg, ctx, "metadata_item", `{"label": "seed", "value": 42}`)
	if err != nil {
		t.Fatal(err)
	}
	var item map[string]any
	field(t, out, "item", &item)
	if item["label"] != "seed" || item["value"] != float64(42) {
		t.Errorf("item = %v", item)
	}
	// One item or a list of them; app_version is added as InvokeAI adds its own.
	for _, items := range []string{`{"label": "a", "value": "x"}`, `[{"label": "a", "value": "x"}, {"label": "b", "value": [1, 2]}]`} {
		out, err := invoke(t, reg, ctx, "metadata", `{"items": `+items+`}`)
		if err != nil {
			t.Fatal(err)
		}
		md := metadataOut(t, out)
		if md["a"] != "x" || md["app_version"] != version.Version {
			t.Errorf("metadata(%s) = %v", items, md)
		}
	}
	out, err = invoke(t, reg, ctx, "merge_metadata", `{"collection": [{"a": 1, "b": 2}, {"b": 3, "c": 4}]}`)
	if err != nil {
		t.Fatal(err)
	}
	if md := metadataOut(t, out); !reflect.DeepEqual(md, map[string]any{"a": 1.0, "b": 3.0, "c": 4.0}) {
		t.Errorf("merge = %v", md)
	}
	out, err = invoke(t, reg, ctx, "metadata_item_linked", `{"metadata": {"seed": 1, "steps": 5}, "label": "seed", "value": 7}`)
	if err != nil {
		t.Fatal(err)
	}
	if md := metadataOut(t, out); md["seed"] != 7.0 || md["steps"] != 5.0 {
		t.Errorf("linked = %v", md)
	}
	// A VAE connection stores the VAE's model identifier.
	out, err = invoke(t, reg, ctx, "metadata_item_linked", `{"label": "* CUSTOM LABEL *", "custom_label": "my_vae", "value": {"vae": {"key": "k", "name": "v"}, "seamless_axes": []}}`)
	if err != nil {
		t.Fatal(err)
	}
	if md := metadataOut(t, out); !reflect.DeepEqual(md["my_vae"], map[string]any{"key": "k", "name": "v"}) {
		t.Errorf("linked vae = %v", md)
	}
	if _, err := invoke(t, reg, ctx, "metadata_item_linked", `{"custom_label": "  ", "value": 1}`); err == nil {
		t.Error("a blank custom label was accepted")
	}
}

func TestMetadataToValuesConvertAsPython(t *testing.T) {
	reg, ctx := primRegistry()
	md := `{"seed": 12.7, "cfg_scale": "7.5", "steps": 30, "positive_prompt": "a cat", "seamless_x": "", "mine": [1, 2.5, true],
		"f": 0.1, "big": 1e20, "tiny": 0.00001, "none": null, "d": {"k": "v", "n": 1}}`
	cases := []struct {
		typ, fields, want string
	}{
		{"metadata_to_integer", `"label": "seed", "default_value": 0`, `12`},
		{"metadata_to_integer", `"label": "steps", "default_value": 0`, `30`},
		{"metadata_to_integer", `"label": "width", "default_value": 512`, `512`},
		{"metadata_to_float", `"label": "cfg_scale", "default_value": 1`, `7.5`},
		{"metadata_to_float", `"label": "guidance", "default_value": 3.5`, `3.5`},
		{"metadata_to_string", `"label": "positive_prompt", "default_value": "x"`, `"a cat"`},
		{"metadata_to_string", `"label": "* CUSTOM LABEL *", "custom_label": "steps", "default_value": "x"`, `"30"`},
		{"metadata_to_string", `"label": "* CUSTOM LABEL *", "custom_label": "f", "default_value": "x"`, `"0.1"`},
		{"metadata_to_string", `"label": "* CUSTOM LABEL *", "custom_label": "big", "default_value": "x"`, `"1e+20"`},
		{"metadata_to_string", `"label": "* CUSTOM LABEL *", "custom_label": "tiny", "default_value": "x"`, `"1e-05"`},
		{"metadata_to_string", `"label": "* CUSTOM LABEL *", "custom_label": "none", "default_value": "x"`, `"None"`},
		{"metadata_to_string", `"label": "* CUSTOM LABEL *", "custom_label": "mine", "default_value": "x"`, `"[1, 2.5, True]"`},
		{"metadata_to_string", `"label": "* CUSTOM LABEL *", "custom_label": "d", "default_value": "x"`, `"{'k': 'v', 'n': 1}"`},
		{"metadata_to_bool", `"label": "seamless_x", "default_value": true`, `false`},
		{"metadata_to_bool", `"label": "seamless_y", "default_value": true`, `true`},
		{"metadata_to_bool", `"label": "* CUSTOM LABEL *", "custom_label": "positive_prompt", "default_value": false`, `true`},
		{"metadata_to_float_collection", `"label": "* CUSTOM LABEL *", "custom_label": "mine", "default_value": []`, `[1,2.5,1]`},
		{"metadata_to_integer_collection", `"label": "* CUSTOM LABEL *", "custom_label": "mine", "default_value": []`, `[1,2,1]`},
		{"metadata_to_string_collection", `"label": "* CUSTOM LABEL *", "custom_label": "mine", "default_value": []`, `["1","2.5","True"]`},
		{"metadata_to_bool_collection", `"label": "* CUSTOM LABEL *", "custom_label": "mine", "default_value": []`, `[true,true,true]`},
		{"metadata_to_bool_collection", `"label": "* CUSTOM LABEL *", "custom_label": "absent", "default_value": [false, true]`, `[false,true]`},
	}
	for _, c := range cases {
		out, err := invoke(t, reg, ctx, c.typ, `{"metadata": `+md+`, `+c.fields+`}`)
		if err != nil {
			t.Errorf("%s {%s}: %v", c.typ, c.fields, err)
			continue
		}
		got := out["value"]
		if got == nil {
			got = out["collection"]
		}
		if string(got) != c.want {
			t.Errorf("%s {%s} = %s, want %s", c.typ, c.fields, got, c.want)
		}
	}
	// Without metadata the default answers.
	out, err := invoke(t, reg, ctx, "metadata_to_integer", `{"label": "seed", "default_value": 9}`)
	if err != nil || string(out["value"]) != "9" {
		t.Errorf("no metadata: %s, %v", out["value"], err)
	}
	for _, bad := range []string{
		`{"metadata": {"x": "abc"}, "label": "* CUSTOM LABEL *", "custom_label": "x", "default_value": 0}`,
		`{"metadata": {"x": null}, "label": "* CUSTOM LABEL *", "custom_label": "x", "default_value": 0}`,
		`{"metadata": {}, "label": "* CUSTOM LABEL *", "default_value": 0}`,
	} {
		var ne *nodes.NodeError
		if _, err := invoke(t, reg, ctx, "metadata_to_integer", bad); !errors.As(err, &ne) {
			t.Errorf("%s: %v, want a node error", bad, err)
		}
	}
}

func TestMetadataFromImages(t *testing.T) {
	reg, mem := primRegistry()
	ctx := &mdCtx{memCtx: mem, md: map[string]nodes.MetadataField{
		"a.png": {"positive_prompt": "a fox", "seed": 3.0}, "plain.png": nil}}
	out, err := invoke(t, reg, ctx, "metadata_from_image", `{"image": {"image_name": "a.png"}}`)
	if err != nil {
		t.Fatal(err)
	}
	if md := metadataOut(t, out); md["positive_prompt"] != "a fox" || md["seed"] != 3.0 {
		t.Errorf("metadata_from_image = %v", md)
	}
	out, err = invoke(t, reg, ctx, "metadata_from_image", `{"image": {"image_name": "plain.png"}}`)
	if err != nil || string(out["metadata"]) != "{}" {
		t.Errorf("no metadata: %s, %v", out["metadata"], err)
	}
	// An image the owner may not read fails the node (the context refuses it).
	if _, err := invoke(t, reg, ctx, "metadata_from_image", `{"image": {"image_name": "other.png"}}`); err == nil {
		t.Error("an unreadable image's metadata was read")
	}
	out, err = invoke(t, reg, ctx, "metadata_field_extractor", `{"image": {"image_name": "a.png"}, "key": "positive_prompt"}`)
	if err != nil || string(out["value"]) != `"a fox"` {
		t.Errorf("extractor = %s, %v", out["value"], err)
	}
	for _, bad := range []string{
		`{"image": {"image_name": "a.png"}, "key": "seed"}`,
		`{"image": {"image_name": "a.png"}, "key": "missing"}`,
		`{"image": {"image_name": "plain.png"}, "key": "x"}`,
	} {
		var ne *nodes.NodeError
		if _, err := invoke(t, reg, ctx, "metadata_field_extractor", bad); !errors.As(err, &ne) || ne.Type != "ValueError" {
			t.Errorf("%s: %v", bad, err)
		}
	}
	// A context that cannot read metadata (no gallery) is an error, not a panic.
	if _, err := invoke(t, reg, mem, "metadata_from_image", `{"image": {"image_name": "a.png"}}`); err == nil {
		t.Error("metadata read without a gallery")
	}
}
