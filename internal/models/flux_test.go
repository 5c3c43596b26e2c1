package models

import (
	"encoding/json"
	"testing"

	"github.com/invokego/invokego/internal/models/probe"
)

// TestFluxRecordShapes checks that FLUX-side records carry every property of InvokeAI 6.12's config class
// for their kind (the class's property names as its OpenAPI schema lists them), with the right constants.
func TestFluxRecordShapes(t *testing.T) {
	common := []string{"base", "cover_image", "description", "file_size", "format", "hash", "key", "name", "path",
		"source", "source_api_response", "source_type", "type"}
	cases := []struct {
		class string
		res   probe.Result
		extra []string
		want  map[string]any
	}{
		{"Main_Diffusers_FLUX_Config", probe.Result{Base: "flux", Type: "main", Format: "diffusers", Variant: "dev"},
			[]string{"default_settings", "repo_variant", "trigger_phrases", "variant"},
			map[string]any{"variant": "dev", "repo_variant": ""}},
		{"Main_Checkpoint_FLUX_Config", probe.Result{Base: "flux", Type: "main", Format: "checkpoint", Variant: "schnell"},
			[]string{"config_path", "default_settings", "trigger_phrases", "variant"},
			map[string]any{"variant": "schnell", "config_path": nil}},
		{"Main_GGUF_FLUX_Config", probe.Result{Base: "flux", Type: "main", Format: "gguf_quantized", Variant: "dev"},
			[]string{"config_path", "default_settings", "trigger_phrases", "variant"},
			map[string]any{"format": "gguf_quantized", "config_path": nil}},
		{"VAE_Checkpoint_FLUX_Config", probe.Result{Base: "flux", Type: "vae", Format: "checkpoint"},
			[]string{"config_path"}, map[string]any{"base": "flux"}},
		{"T5Encoder_T5Encoder_Config", probe.Result{Base: "any", Type: "t5_encoder", Format: "t5_encoder"},
			[]string{"cpu_only"}, map[string]any{"cpu_only": nil, "format": "t5_encoder"}},
		{"CLIPEmbed_Diffusers_L_Config", probe.Result{Base: "any", Type: "clip_embed", Format: "diffusers", Variant: "large"},
			[]string{"cpu_only", "repo_variant", "variant"}, map[string]any{"variant": "large", "cpu_only": nil}},
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
		for _, k := range append(append([]string{}, common...), c.extra...) {
			if _, ok := got[k]; !ok {
				t.Errorf("%s: no %q in %s", c.class, k, b)
			}
		}
		for k, v := range c.want {
			if got[k] != v {
				t.Errorf("%s: %s = %v, want %v", c.class, k, got[k], v)
			}
		}
	}
}

func TestFluxDefaultSettings(t *testing.T) {
	for variant, want := range map[string]map[string]any{
		"schnell": {"steps": 4.0, "guidance": nil, "width": 1024.0, "height": 1024.0},
		"dev":     {"steps": 28.0, "guidance": 3.5, "width": 1024.0, "height": 1024.0},
	} {
		c := FromProbe(&probe.Result{Base: "flux", Type: "main", Format: "checkpoint", Variant: variant, Name: "m"})
		b, _ := json.Marshal(c)
		var got struct {
			DefaultSettings map[string]any `json:"default_settings"`
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		for k, v := range want {
			if got.DefaultSettings[k] != v {
				t.Errorf("%s: default_settings.%s = %v, want %v", variant, k, got.DefaultSettings[k], v)
			}
		}
	}
}
