package models

import (
	"encoding/json"
	"testing"

	"github.com/invokego/invokego/internal/models/probe"
)

// TestAdapterRecordShapes: control and image adapter records carry every property of InvokeAI 6.12's config
// class (as its OpenAPI schema lists them) and none that the class lacks, beyond the extras every record
// has (source_url, submodels, usage_info).
func TestAdapterRecordShapes(t *testing.T) {
	common := []string{"base", "cover_image", "description", "file_size", "format", "hash", "key", "name", "path",
		"source", "source_api_response", "source_type", "type", "source_url", "submodels", "usage_info"}
	cases := []struct {
		class string
		res   probe.Result
		extra []string
		want  map[string]any
	}{
		{"ControlNet_Diffusers_SD1_Config", probe.Result{Base: "sd-1", Type: "controlnet", Format: "diffusers"},
			[]string{"default_settings", "repo_variant"}, map[string]any{"default_settings": nil, "repo_variant": ""}},
		{"ControlNet_Checkpoint_SDXL_Config", probe.Result{Base: "sdxl", Type: "controlnet", Format: "checkpoint", ConfigPath: "/m/cn.yaml"},
			[]string{"config_path", "default_settings"}, map[string]any{"config_path": "/m/cn.yaml", "base": "sdxl"}},
		{"T2IAdapter_Diffusers_SDXL_Config", probe.Result{Base: "sdxl", Type: "t2i_adapter", Format: "diffusers"},
			[]string{"default_settings", "repo_variant"}, map[string]any{"type": "t2i_adapter"}},
		{"IPAdapter_Checkpoint_SD1_Config", probe.Result{Base: "sd-1", Type: "ip_adapter", Format: "checkpoint"},
			nil, map[string]any{"format": "checkpoint"}},
		{"IPAdapter_InvokeAI_SD2_Config", probe.Result{Base: "sd-2", Type: "ip_adapter", Format: "invokeai", ImageEncoder: "ip_adapter_sd_image_encoder"},
			[]string{"image_encoder_model_id"}, map[string]any{"image_encoder_model_id": "ip_adapter_sd_image_encoder"}},
		{"CLIPVision_Diffusers_Config", probe.Result{Base: "any", Type: "clip_vision", Format: "diffusers"},
			[]string{"cpu_only", "repo_variant"}, map[string]any{"base": "any", "cpu_only": nil}},
	}
	for _, c := range cases {
		res := c.res
		res.Name = "m"
		b, err := json.Marshal(FromProbe(&res))
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		allowed := map[string]bool{}
		for _, k := range append(append([]string{}, common...), c.extra...) {
			allowed[k] = true
			if _, ok := got[k]; !ok {
				t.Errorf("%s: no %q in %s", c.class, k, b)
			}
		}
		for k := range got {
			if !allowed[k] {
				t.Errorf("%s: unexpected %q in %s", c.class, k, b)
			}
		}
		for k, v := range c.want {
			if got[k] != v {
				t.Errorf("%s: %s = %v, want %v", c.class, k, got[k], v)
			}
		}
		// The record survives the store's round trip.
		var back Config
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if again, _ := json.Marshal(back); string(again) != string(b) {
			t.Errorf("%s: round trip changed %s into %s", c.class, b, again)
		}
	}
}
