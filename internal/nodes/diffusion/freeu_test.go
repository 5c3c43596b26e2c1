package diffusion

import (
	"encoding/json"
	"testing"

	"github.com/invokego/invokego/internal/engine/tensor"
)

// freeu sets the UNet's factors and denoise_latents runs the UNet with them (the engine's FreeU is checked
// against torch in internal/engine/sd).
func TestFreeUNodeReachesTheUNet(t *testing.T) {
	h := newHarness(t)
	loader := h.run("main_model_loader", map[string]any{"model": h.model})
	unet, clip := field(t, loader, "unet"), field(t, loader, "clip")
	out := h.run("freeu", map[string]any{"unet": unet, "b1": 1.3, "b2": 1.5, "s1": 0.8, "s2": 0.3})
	var fu UNetField
	if err := json.Unmarshal(out["unet"], &fu); err != nil {
		t.Fatal(err)
	}
	if c := fu.FreeUConfig; c == nil || c.B1 != 1.3 || c.B2 != 1.5 || c.S1 != 0.8 || c.S2 != 0.3 || fu.UNet.Key != h.model.Key {
		t.Fatalf("freeu output %s", out["unet"])
	}
	pos := field(t, h.run("compel", map[string]any{"prompt": "a fox", "clip": clip}), "conditioning")
	neg := field(t, h.run("compel", map[string]any{"prompt": "", "clip": clip}), "conditioning")
	noise := field(t, h.run("noise", map[string]any{"seed": 5, "width": 64, "height": 64}), "noise")
	denoise := func(u any) *tensor.Tensor {
		out := h.run("denoise_latents", map[string]any{"positive_conditioning": pos, "negative_conditioning": neg,
			"noise": noise, "steps": 3, "cfg_scale": 5.0, "scheduler": "euler", "unet": u})
		lat, err := h.store.Tensor(field(t, out, "latents").(map[string]any)["latents_name"].(string))
		if err != nil {
			t.Fatal(err)
		}
		return lat
	}
	plain, freeu := denoise(unet), denoise(fu)
	differs := false
	for i := range plain.Data {
		differs = differs || plain.Data[i] != freeu.Data[i]
	}
	if !differs {
		t.Fatal("FreeU changed nothing")
	}
	// Factors of one leave the UNet as it is: the config reaches the engine as given.
	ones := field(t, h.run("freeu", map[string]any{"unet": unet, "b1": 1, "b2": 1, "s1": 1, "s2": 1}), "unet")
	same := denoise(ones)
	for i := range plain.Data {
		if plain.Data[i] != same.Data[i] {
			t.Fatal("FreeU with factors of one changed the result")
		}
	}
}

// tiled_multi_diffusion_denoise_latents applies FreeU too, as InvokeAI's does.
func TestFreeUReachesTiledMultiDiffusion(t *testing.T) {
	h := newHarness(t)
	loader := h.run("main_model_loader", map[string]any{"model": h.model})
	unet, clip := field(t, loader, "unet"), field(t, loader, "clip")
	pos := field(t, h.run("compel", map[string]any{"prompt": "a fox", "clip": clip}), "conditioning")
	neg := field(t, h.run("compel", map[string]any{"prompt": "", "clip": clip}), "conditioning")
	noise := field(t, h.run("noise", map[string]any{"seed": 5, "width": 64, "height": 64}), "noise")
	tiled := func(u any) []float32 {
		out := h.run("tiled_multi_diffusion_denoise_latents", map[string]any{"positive_conditioning": pos, "negative_conditioning": neg,
			"noise": noise, "steps": 2, "cfg_scale": 5.0, "scheduler": "euler", "unet": u, "tile_width": 32, "tile_height": 32, "tile_overlap": 8})
		lat, err := h.store.Tensor(field(t, out, "latents").(map[string]any)["latents_name"].(string))
		if err != nil {
			t.Fatal(err)
		}
		return lat.Data
	}
	plain := tiled(unet)
	fu := tiled(field(t, h.run("freeu", map[string]any{"unet": unet}), "unet"))
	same := true
	for i := range plain {
		same = same && plain[i] == fu[i]
	}
	if same {
		t.Error("FreeU changed nothing in tiled multi-diffusion")
	}
}
