package diffusion_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/apitest"
)

// withLoRAs rewires InvokeAI's text-to-image graph the way its UI adds LoRAs:
// the model's UNet and the CLIP after clip_skip go through the loader node
// (id "lora"), whose outputs feed denoise_latents and both prompts.
func withLoRAs(g map[string]any, loader map[string]any, extra ...map[string]any) {
	var edges []any
	for _, e := range g["edges"].([]any) {
		m := e.(map[string]any)
		src := m["source"].(map[string]any)
		switch {
		case src["node_id"] == "model" && src["field"] == "unet",
			src["node_id"] == "clip_skip" && src["field"] == "clip":
			continue
		}
		edges = append(edges, e)
	}
	g["edges"] = edges
	addNode(g, loader,
		link("model", "unet", "lora", "unet"), link("clip_skip", "clip", "lora", "clip"),
		link("lora", "unet", "denoise", "unet"), link("lora", "clip", "pos", "clip"), link("lora", "clip", "neg", "clip"))
	for _, n := range extra {
		addNode(g, n)
	}
}

// TestE2ELoRAGoldens runs the sd-ext LoRA pipeline goldens (diffusers 0.25.1, LoRAs fused at their weights into
// the UNet and text encoder) through the HTTP API: the LoRA files installed with the model manager (base and
// format identified from the files), InvokeAI's lora_loader for one LoRA and lora_selector → collect →
// lora_collection_loader for two, 10 Euler steps, CFG 7.5, seed 0, 64×64; images within ±1. The latents of
// the same runs are pinned within 1e-3 in engine/pipeline's TestLoRAPipelineGoldens.
func TestE2ELoRAGoldens(t *testing.T) {
	env := apitest.New(t)
	model := installTinyModel(t, env)
	kohya := installSource(t, env, sdExtPath(t, "lora", "models", "sd15-locon-kohya.safetensors"), map[string]any{})
	peft := installSource(t, env, sdExtPath(t, "lora", "models", "sd15-lora-peft.safetensors"), map[string]any{})
	for _, m := range []map[string]any{kohya, peft} {
		if m["type"] != "lora" || m["base"] != "sd-1" {
			t.Fatalf("installed %v", m)
		}
	}

	t.Run("lora_loader", func(t *testing.T) {
		g := txt2imgGraph(model, "a photo of a cat", "", "euler", 10, 0, 64)
		withLoRAs(g, map[string]any{"id": "lora", "type": "lora_loader", "lora": kohya, "weight": 0.75})
		it := waitItem(t, env, enqueue(t, env, g), 2*time.Minute)
		if it.Status != "completed" {
			t.Fatalf("%s: %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
		}
		assertPNG(t, env, it, sdExtPath(t, "lora", "pipeline", "txt2img_kohya0.75.png"))
	})
	t.Run("lora_collection_loader", func(t *testing.T) {
		g := txt2imgGraph(model, "a photo of a cat", "", "euler", 10, 0, 64)
		withLoRAs(g, map[string]any{"id": "lora", "type": "lora_collection_loader"},
			map[string]any{"id": "sel1", "type": "lora_selector", "lora": kohya, "weight": 0.75},
			map[string]any{"id": "sel2", "type": "lora_selector", "lora": peft, "weight": 0.5},
			map[string]any{"id": "coll", "type": "collect"})
		g["edges"] = append(g["edges"].([]any), link("sel1", "lora", "coll", "item"), link("sel2", "lora", "coll", "item"),
			link("coll", "collection", "lora", "loras"))
		it := waitItem(t, env, enqueue(t, env, g), 2*time.Minute)
		if it.Status != "completed" {
			t.Fatalf("%s: %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
		}
		assertPNG(t, env, it, sdExtPath(t, "lora", "pipeline", "txt2img_stack_kohya0.75_peft0.5.png"))
	})
	t.Run("cached model unchanged", func(t *testing.T) {
		it := waitItem(t, env, enqueue(t, env, txt2imgGraph(model, "a photo of a cat", "", "euler", 10, 0, 64)), 2*time.Minute)
		if it.Status != "completed" {
			t.Fatalf("%s: %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
		}
		assertPNG(t, env, it, sdExtPath(t, "lora", "pipeline", "txt2img_base.png"))
	})
	t.Run("refusals", func(t *testing.T) {
		// An SDXL LoRA on an SD-1 model: refused at run time by base, naming both.
		xl := installSource(t, env, sdExtPath(t, "lora", "models", "sdxl-lora-kohya.safetensors"), map[string]any{})
		g := txt2imgGraph(model, "a photo of a cat", "", "euler", 2, 0, 64)
		withLoRAs(g, map[string]any{"id": "lora", "type": "lora_loader", "lora": xl, "weight": 0.75})
		it := waitItem(t, env, enqueue(t, env, g), time.Minute)
		if it.Status != "failed" || !strings.Contains(it.ErrorMessage, "sdxl") || !strings.Contains(it.ErrorMessage, "sd-1") {
			t.Errorf("SDXL LoRA on SD-1: %s %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
		}
		// The same LoRA twice on one model.
		g = txt2imgGraph(model, "a photo of a cat", "", "euler", 2, 0, 64)
		withLoRAs(g, map[string]any{"id": "lora", "type": "lora_loader", "lora": kohya, "weight": 0.75})
		addNode(g, map[string]any{"id": "lora2", "type": "lora_loader", "lora": kohya, "weight": 0.5}, link("lora", "unet", "lora2", "unet"))
		it = waitItem(t, env, enqueue(t, env, g), time.Minute)
		if it.Status != "failed" || !strings.Contains(it.ErrorMessage, "already applied to unet") {
			t.Errorf("a LoRA applied twice: %s %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
		}
		// An SD-1 LoRA in the SDXL collection loader.
		g = txt2imgGraph(model, "a photo of a cat", "", "euler", 2, 0, 64)
		withLoRAs(g, map[string]any{"id": "lora", "type": "lora_collection_loader"})
		addNode(g, map[string]any{"id": "xl", "type": "sdxl_lora_collection_loader", "loras": []any{map[string]any{"lora": kohya, "weight": 1}}},
			link("lora", "unet", "xl", "unet"))
		it = waitItem(t, env, enqueue(t, env, g), time.Minute)
		if it.Status != "failed" || !strings.Contains(it.ErrorMessage, "sd-1") {
			t.Errorf("SD-1 LoRA in the SDXL collection loader: %s %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
		}
	})
	var list struct {
		Models []map[string]any `json:"models"`
	}
	env.Do("GET", "/api/v2/models/?model_type=lora", apitest.JSON(nil)).Expect(http.StatusOK).Decode(&list)
	for _, m := range list.Models {
		if m["format"] != "lycoris" {
			t.Errorf("LoRA %v has format %v, want lycoris", m["name"], m["format"])
		}
	}
}

// TestE2ELoRAMetadataRoundTrip: the LoRAs and ControlNets a generation used, written to its image's metadata
// as InvokeAI's UI writes them (core_metadata's loras as {model, weight}, controlnets as ControlFields), come
// back through metadata_from_image and metadata_to_loras / metadata_to_lora_collection /
// metadata_to_controlnets and reproduce the golden images: the recalled graph is the same generation.
func TestE2ELoRAMetadataRoundTrip(t *testing.T) {
	env := apitest.New(t)
	model := installTinyModel(t, env)
	kohya := installSource(t, env, sdExtPath(t, "lora", "models", "sd15-locon-kohya.safetensors"), map[string]any{})
	cn := installSource(t, env, sdExtPath(t, "controlnet", "models", "sd15-controlnet"), map[string]any{})
	control := uploadPNG(t, env, sdExtPath(t, "controlnet", "inputs", "control_shapes64.png"))

	loras := []any{map[string]any{"model": kohya, "weight": 0.75}}
	controlnets := []any{map[string]any{"image": map[string]any{"image_name": control}, "control_model": cn, "control_weight": 0.8,
		"begin_step_percent": 0, "end_step_percent": 1, "control_mode": "balanced", "resize_mode": "just_resize"}}
	g := txt2imgGraph(model, "a photo of a cat", "", "euler", 2, 0, 64)
	withLoRAs(g, map[string]any{"id": "lora", "type": "lora_loader", "lora": kohya, "weight": 0.75})
	addNode(g, map[string]any{"id": "meta", "type": "core_metadata", "generation_mode": "txt2img", "positive_prompt": "a photo of a cat",
		"loras": loras, "controlnets": controlnets}, link("meta", "metadata", "l2i", "metadata"))
	it := waitItem(t, env, enqueue(t, env, g), time.Minute)
	if it.Status != "completed" {
		t.Fatalf("%s %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
	}
	source := imageName(t, it)
	var meta map[string]any
	env.Do("GET", "/api/v1/images/i/"+source+"/metadata").Expect(http.StatusOK).Decode(&meta)
	if !sameJSON(meta["loras"], loras) || !sameJSON(meta["controlnets"], controlnets) {
		t.Fatalf("metadata loras %v controlnets %v", meta["loras"], meta["controlnets"])
	}
	fromImage := map[string]any{"id": "md", "type": "metadata_from_image", "image": map[string]any{"image_name": source}}

	t.Run("metadata_to_loras", func(t *testing.T) {
		g := txt2imgGraph(model, "a photo of a cat", "", "euler", 10, 0, 64)
		withLoRAs(g, map[string]any{"id": "lora", "type": "metadata_to_loras"}, fromImage)
		g["edges"] = append(g["edges"].([]any), link("md", "metadata", "lora", "metadata"))
		it := waitItem(t, env, enqueue(t, env, g), 2*time.Minute)
		if it.Status != "completed" {
			t.Fatalf("%s: %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
		}
		assertPNG(t, env, it, sdExtPath(t, "lora", "pipeline", "txt2img_kohya0.75.png"))
	})
	t.Run("metadata_to_lora_collection", func(t *testing.T) {
		g := txt2imgGraph(model, "a photo of a cat", "", "euler", 10, 0, 64)
		withLoRAs(g, map[string]any{"id": "lora", "type": "lora_collection_loader"}, fromImage,
			map[string]any{"id": "coll", "type": "metadata_to_lora_collection"})
		g["edges"] = append(g["edges"].([]any), link("md", "metadata", "coll", "metadata"), link("coll", "lora", "lora", "loras"))
		it := waitItem(t, env, enqueue(t, env, g), 2*time.Minute)
		if it.Status != "completed" {
			t.Fatalf("%s: %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
		}
		assertPNG(t, env, it, sdExtPath(t, "lora", "pipeline", "txt2img_kohya0.75.png"))
	})
	t.Run("metadata_to_controlnets", func(t *testing.T) {
		g := txt2imgGraph(model, "a photo of a cat", "", "euler", 10, 0, 64)
		addNode(g, fromImage)
		addNode(g, map[string]any{"id": "cns", "type": "metadata_to_controlnets"},
			link("md", "metadata", "cns", "metadata"), link("cns", "control_list", "denoise", "control"))
		it := waitItem(t, env, enqueue(t, env, g), 2*time.Minute)
		if it.Status != "completed" {
			t.Fatalf("%s: %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
		}
		assertPNG(t, env, it, sdExtPath(t, "controlnet", "pipeline", "txt2img_cn0.8_0.0-1.0.png"))
	})
	t.Run("missing model", func(t *testing.T) {
		// A ControlNet in metadata that is not installed fails the node naming it (InvokeAI: "Unknown model").
		g := txt2imgGraph(model, "a photo of a cat", "", "euler", 2, 0, 64)
		md := map[string]any{"controlnets": []any{map[string]any{"image": map[string]any{"image_name": control},
			"control_model":  map[string]any{"key": "nope", "name": "not-installed", "base": "sd-1", "type": "controlnet", "hash": ""},
			"control_weight": 1, "begin_step_percent": 0, "end_step_percent": 1, "control_mode": "balanced", "resize_mode": "just_resize"}}}
		addNode(g, map[string]any{"id": "cns", "type": "metadata_to_controlnets", "metadata": md},
			link("cns", "control_list", "denoise", "control"))
		it := waitItem(t, env, enqueue(t, env, g), time.Minute)
		if it.Status != "failed" || !strings.Contains(it.ErrorMessage, "Unknown model") {
			t.Errorf("%s %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
		}
	})
}

// tiled_multi_diffusion_denoise_latents applies the UNet's LoRAs too: one tile covering the image is
// denoise_latents (TestE2ETiledMultiDiffusion), so with the kohya LoRA at 0.75 it gives the LoRA golden.
func TestE2ETiledMultiDiffusionLoRA(t *testing.T) {
	env := apitest.New(t)
	model := installTinyModel(t, env)
	kohya := installSource(t, env, sdExtPath(t, "lora", "models", "sd15-locon-kohya.safetensors"), map[string]any{})
	g := txt2imgGraph(model, "a photo of a cat", "", "euler", 10, 0, 64)
	withLoRAs(g, map[string]any{"id": "lora", "type": "lora_loader", "lora": kohya, "weight": 0.75})
	nodes := g["nodes"].(map[string]any)
	nodes["denoise"] = map[string]any{"id": "denoise", "type": "tiled_multi_diffusion_denoise_latents", "tile_width": 64,
		"tile_height": 64, "tile_overlap": 32, "steps": 10, "cfg_scale": 7.5, "scheduler": "euler"}
	it := waitItem(t, env, enqueue(t, env, g), 2*time.Minute)
	if it.Status != "completed" {
		t.Fatalf("%s: %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
	}
	assertPNG(t, env, it, sdExtPath(t, "lora", "pipeline", "txt2img_kohya0.75.png"))
}

// Embeddings in prompts as InvokeAI's compel node finds them: "<x>" names an installed embedding by key or
// by name (the same image either way), an embedding of another base is not used (the trigger stays plain
// text, as with none installed), and the prompt without the trigger is a different image.
func TestE2EEmbeddingTriggers(t *testing.T) {
	env := apitest.New(t)
	model := installTinyModel(t, env)
	ti := installSource(t, env, sdExtPath(t, "textual_inversion", "models", "tiny-ti.safetensors"), map[string]any{})
	image := func(prompt string) []byte {
		t.Helper()
		it := waitItem(t, env, enqueue(t, env, txt2imgGraph(model, prompt, "", "euler", 3, 0, 64)), time.Minute)
		if it.Status != "completed" {
			t.Fatalf("%q: %s %s: %s", prompt, it.Status, it.ErrorType, it.ErrorMessage)
		}
		return decodePix(t, env.Do("GET", "/api/v1/images/i/"+imageName(t, it)+"/full").Expect(http.StatusOK).Body)
	}
	byName := image("a photo of <tiny-ti> on a table")
	byKey := image("a photo of <" + ti["key"].(string) + "> on a table")
	if !bytes.Equal(byName, byKey) {
		t.Error("the embedding named by key gives another image than by name")
	}
	if bytes.Equal(byName, image("a photo of on a table")) {
		t.Error("the embedding changed nothing")
	}
	env.Do("PATCH", "/api/v2/models/i/"+ti["key"].(string), apitest.JSON(map[string]any{"base": "sd-2"})).Expect(http.StatusOK)
	otherBase := image("a photo of <tiny-ti> on a table ")
	env.Do("DELETE", "/api/v2/models/i/"+ti["key"].(string)).Expect(http.StatusNoContent)
	plain := image("a photo of <tiny-ti> on a table  ")
	if !bytes.Equal(otherBase, plain) {
		t.Error("an SD-2 embedding was used with an SD-1 model")
	}
	if bytes.Equal(otherBase, byName) {
		t.Error("the trigger as plain text gives the embedding's image")
	}
}
