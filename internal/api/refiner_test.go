package api_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/engine/safetensors"
)

// tinyRefinerFolder turns the tiny SDXL folder into a refiner-shaped one, as the SDXL refiner differs from the
// base: no first text encoder, cross-attention on the second encoder's states alone, and five time ids (the
// target size's gives way to the aesthetic score). The UNet keeps the base's weights, sliced to those shapes.
func tinyRefinerFolder(t *testing.T) string {
	t.Helper()
	dir := tinySDXLFolder(t)
	for _, sub := range []string{"text_encoder", "tokenizer"} {
		if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
			t.Fatal(err)
		}
	}
	rewriteJSON := func(path string, edit func(map[string]any)) {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		out, _ := json.Marshal(m)
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rewriteJSON(filepath.Join(dir, "model_index.json"), func(m map[string]any) {
		m["_class_name"] = "StableDiffusionXLImg2ImgPipeline"
		m["text_encoder"], m["tokenizer"] = []any{nil, nil}, []any{nil, nil}
	})
	var te2 struct {
		HiddenSize int `json:"hidden_size"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "text_encoder_2", "config.json"))
	if err != nil || json.Unmarshal(raw, &te2) != nil || te2.HiddenSize == 0 {
		t.Fatalf("text_encoder_2 config: %v", err)
	}
	var timeDim, oldContext int
	rewriteJSON(filepath.Join(dir, "unet", "config.json"), func(m map[string]any) {
		timeDim, oldContext = int(m["addition_time_embed_dim"].(float64)), int(m["cross_attention_dim"].(float64))
		m["cross_attention_dim"] = te2.HiddenSize
		m["projection_class_embeddings_input_dim"] = m["projection_class_embeddings_input_dim"].(float64) - float64(timeDim)
	})
	weights := filepath.Join(dir, "unet", "diffusion_pytorch_model.safetensors")
	f, err := safetensors.Open(weights)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]safetensors.WriteTensor{}
	for _, name := range f.Names() {
		data, shape, err := f.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		cols := func(from, to int) {
			rows, n := shape[0], shape[1]
			kept := make([]float32, 0, rows*(to-from))
			for r := 0; r < rows; r++ {
				kept = append(kept, data[r*n+from:r*n+to]...)
			}
			data, shape = kept, []int{rows, to - from}
		}
		switch {
		case (strings.HasSuffix(name, "attn2.to_k.weight") || strings.HasSuffix(name, "attn2.to_v.weight")) && shape[1] == oldContext:
			cols(oldContext-te2.HiddenSize, oldContext) // the second encoder's part of the base's context
		case name == "add_embedding.linear_1.weight":
			cols(0, shape[1]-timeDim) // pooled embedding and the first five time ids
		}
		out[name] = safetensors.F32Tensor(shape, data)
	}
	w, err := os.Create(weights + ".new")
	if err != nil {
		t.Fatal(err)
	}
	if err := safetensors.Write(w, out, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(weights+".new", weights); err != nil {
		t.Fatal(err)
	}
	return dir
}

// An SDXL refiner installs as sdxl-refiner and runs as InvokeAI's refiner graph does: its loader, refiner
// prompts (the second encoder with an aesthetic score), noise, denoise_latents and l2i. Refiner conditioning
// on the base UNet is refused before it runs.
func TestSDXLRefinerRuns(t *testing.T) {
	env := apitest.New(t)
	refiner := installModel(t, env, tinyRefinerFolder(t))
	if refiner["base"] != "sdxl-refiner" {
		t.Fatalf("the refiner installed as %v", refiner["base"])
	}
	e := func(a, b, c, d string) map[string]any {
		return map[string]any{"source": map[string]any{"node_id": a, "field": b}, "destination": map[string]any{"node_id": c, "field": d}}
	}
	graph := func(loader map[string]any) map[string]any {
		return map[string]any{"id": "refiner", "nodes": map[string]any{
			"m":     loader,
			"pos":   map[string]any{"id": "pos", "type": "sdxl_refiner_compel_prompt", "style": "a red fox", "aesthetic_score": 6},
			"neg":   map[string]any{"id": "neg", "type": "sdxl_refiner_compel_prompt", "style": "", "aesthetic_score": 2.5},
			"noise": map[string]any{"id": "noise", "type": "noise", "seed": 7, "width": 64, "height": 64},
			"dn":    map[string]any{"id": "dn", "type": "denoise_latents", "steps": 3, "cfg_scale": 5, "scheduler": "euler"},
			"l2i":   map[string]any{"id": "l2i", "type": "l2i", "is_intermediate": false},
		}, "edges": []any{e("m", "clip2", "pos", "clip2"), e("m", "clip2", "neg", "clip2"), e("pos", "conditioning", "dn", "positive_conditioning"),
			e("neg", "conditioning", "dn", "negative_conditioning"), e("noise", "noise", "dn", "noise"), e("m", "unet", "dn", "unet"),
			e("dn", "latents", "l2i", "latents"), e("m", "vae", "l2i", "vae")}}
	}
	img := runGraph(t, env, graph(map[string]any{"id": "m", "type": "sdxl_refiner_model_loader", "model": refiner}), nil)
	if b := img.Bounds(); b.Dx() != 64 || b.Dy() != 64 {
		t.Fatalf("refined image %v", b)
	}

	base := installModel(t, env, tinySDXLFolder(t))
	var enq struct {
		ItemIDs []int `json:"item_ids"`
	}
	env.Do("POST", "/api/v1/queue/default/enqueue_batch", apitest.JSON(map[string]any{"batch": map[string]any{
		"graph": graph(map[string]any{"id": "m", "type": "sdxl_model_loader", "model": base})}})).Expect(http.StatusOK).Decode(&enq)
	it := waitStatus(t, env, "", int64(enq.ItemIDs[0]), "failed")
	if it.ErrorMessage == nil || !strings.Contains(*it.ErrorMessage, "SDXL conditioning") {
		t.Errorf("refiner conditioning on the base UNet: %v", deref(it.ErrorMessage))
	}
}
