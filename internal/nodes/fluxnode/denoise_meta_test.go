package fluxnode_test

import (
	"bytes"
	"image"
	"image/png"
	"net/http"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
)

// flux_denoise_meta denoises as flux_denoise does (the same latents) and adds its parameters to the metadata.
func TestFluxDenoiseMeta(t *testing.T) {
	env := apitest.New(t)
	dev := fixture(t, "models", "flux-dev-tiny")
	m := fluxModels{
		main: install(t, env, dev, map[string]any{}),
		t5:   install(t, env, dev, map[string]any{"type": "t5_encoder"}),
		clip: install(t, env, dev, map[string]any{"type": "clip_embed"}),
		vae:  install(t, env, fixture(t, "models", "ae-tiny.safetensors"), map[string]any{}),
	}
	g := txt2img(m, "a photo of a cat", 3, 2, 32, 3.5)
	nodes := g["nodes"].(map[string]any)
	nodes["meta"] = map[string]any{"id": "meta", "type": "flux_denoise_meta", "num_steps": 2, "guidance": 3.5,
		"seed": 3, "width": 32, "height": 32, "denoising_start": 0.0, "denoising_end": 1.0,
		"metadata": map[string]any{"positive_prompt": "a photo of a cat", "steps": 99}}
	nodes["decode_meta"] = map[string]any{"id": "decode_meta", "type": "flux_vae_decode", "is_intermediate": false}
	g["edges"] = append(g["edges"].([]any), edge("model", "transformer", "meta", "transformer"), edge("pos", "conditioning", "meta", "positive_text_conditioning"),
		edge("meta", "latents", "decode_meta", "latents"), edge("model", "vae", "decode_meta", "vae"))
	it := run(t, env, g)
	if it.Status != "completed" {
		t.Fatalf("%s: %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
	}
	var plain, meta map[string]any
	for _, r := range it.Session.Results {
		switch r["type"] {
		case "latents_output":
			plain = r
		case "latents_meta_output":
			meta = r
		}
	}
	if plain == nil || meta == nil {
		t.Fatalf("results %v", it.Session.Results)
	}
	if meta["width"] != plain["width"] || meta["height"] != plain["height"] {
		t.Errorf("meta output %v vs %v", meta, plain)
	}
	// Both latents decoded: the same image.
	var imgs []image.Image
	for _, r := range it.Session.Results {
		if r["type"] == "image_output" {
			name := r["image"].(map[string]any)["image_name"].(string)
			img, err := png.Decode(bytes.NewReader(env.Do("GET", "/api/v1/images/i/"+name+"/full").Expect(http.StatusOK).Body))
			if err != nil {
				t.Fatal(err)
			}
			imgs = append(imgs, img)
		}
	}
	if len(imgs) != 2 {
		t.Fatalf("%d images", len(imgs))
	}
	a, _ := imgs[0].(*image.RGBA)
	b, _ := imgs[1].(*image.RGBA)
	if a == nil || b == nil || !bytes.Equal(a.Pix, b.Pix) {
		t.Error("flux_denoise_meta denoised differently from flux_denoise")
	}
	md := meta["metadata"].(map[string]any)
	want := map[string]any{"positive_prompt": "a photo of a cat", "steps": 2.0, "guidance": 3.5, "seed": 3.0, "width": 32.0,
		"height": 32.0, "cfg_scale": 1.0, "cfg_scale_start_step": 0.0, "cfg_scale_end_step": -1.0, "denoising_start": 0.0, "denoising_end": 1.0}
	for k, v := range want {
		if md[k] != v {
			t.Errorf("metadata %s = %v, want %v", k, md[k], v)
		}
	}
	if model, _ := md["model"].(map[string]any); model["key"] != m.main["key"] {
		t.Errorf("metadata model %v", md["model"])
	}
}
