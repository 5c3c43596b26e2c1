package diffusion

import (
	"encoding/json"
	"testing"
)

// denoise_latents_meta denoises exactly as denoise_latents and adds its parameters to the incoming metadata.
func TestDenoiseLatentsMeta(t *testing.T) {
	h := newHarness(t)
	loader := h.run("main_model_loader", map[string]any{"model": h.model})
	unet, clip := field(t, loader, "unet"), field(t, loader, "clip")
	pos := field(t, h.run("compel", map[string]any{"prompt": "a fox", "clip": clip}), "conditioning")
	neg := field(t, h.run("compel", map[string]any{"prompt": "", "clip": clip}), "conditioning")
	noise := field(t, h.run("noise", map[string]any{"seed": 11, "width": 64, "height": 48}), "noise")
	args := map[string]any{"positive_conditioning": pos, "negative_conditioning": neg, "noise": noise, "steps": 3,
		"cfg_scale": 4.5, "scheduler": "dpmpp_2m", "unet": unet, "denoising_end": 0.9}
	plain := h.run("denoise_latents", args)
	args["metadata"] = map[string]any{"positive_prompt": "a fox", "steps": 99}
	meta := h.run("denoise_latents_meta", args)
	latents := func(out map[string]json.RawMessage) []float32 {
		lat, err := h.store.Tensor(field(t, out, "latents").(map[string]any)["latents_name"].(string))
		if err != nil {
			t.Fatal(err)
		}
		return lat.Data
	}
	a, b := latents(plain), latents(meta)
	for i := range a {
		if a[i] != b[i] {
			t.Fatal("denoise_latents_meta denoised differently")
		}
	}
	if string(meta["width"]) != "64" || string(meta["height"]) != "48" {
		t.Errorf("size %s×%s", meta["width"], meta["height"])
	}
	var md map[string]any
	if err := json.Unmarshal(meta["metadata"], &md); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"positive_prompt": "a fox", "steps": 3.0, "width": 64.0, "height": 48.0, "cfg_scale": 4.5,
		"cfg_rescale_multiplier": 0.0, "denoising_start": 0.0, "denoising_end": 0.9, "scheduler": "dpmpp_2m", "seed": 11.0}
	for k, v := range want {
		if md[k] != v {
			t.Errorf("metadata %s = %v, want %v", k, md[k], v)
		}
	}
	model, _ := md["model"].(map[string]any)
	if model["key"] != h.model.Key || model["submodel_type"] != "unet" {
		t.Errorf("metadata model = %v", md["model"])
	}
	for _, absent := range []string{"controlnets", "ipAdapters", "t2iAdapters", "loras"} {
		if _, ok := md[absent]; ok {
			t.Errorf("metadata has %s without any", absent)
		}
	}
}
