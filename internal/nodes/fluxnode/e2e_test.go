package fluxnode_test

import (
	"bytes"
	"image"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/engine/goldens"
)

// fixture is a path under testdata/flux-tiny.
func fixture(t *testing.T, elem ...string) string {
	t.Helper()
	p, err := goldens.Path(append([]string{"flux-tiny"}, elem...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// install installs a model through the model manager API (copied into the models folder, with optional record changes such
// as a type hint) and returns its identifier as nodes take it.
func install(t *testing.T, env *apitest.Env, src string, changes map[string]any) map[string]any {
	t.Helper()
	var job struct {
		ID        int            `json:"id"`
		Status    string         `json:"status"`
		Error     string         `json:"error"`
		ConfigOut map[string]any `json:"config_out"`
	}
	env.Do("POST", "/api/v2/models/install?source="+url.QueryEscape(src), apitest.JSON(changes)).Expect(http.StatusCreated).Decode(&job)
	deadline := time.Now().Add(2 * time.Minute)
	for job.Status != "completed" {
		if job.Status == "error" || job.Status == "cancelled" || time.Now().After(deadline) {
			t.Fatalf("installing %s: status %q, error %q", src, job.Status, job.Error)
		}
		time.Sleep(50 * time.Millisecond)
		env.Do("GET", "/api/v2/models/install/"+strconv.Itoa(job.ID)).Expect(http.StatusOK).Decode(&job)
	}
	c := job.ConfigOut
	return map[string]any{"key": c["key"], "hash": c["hash"], "name": c["name"], "base": c["base"], "type": c["type"]}
}

// fluxModels are the models a FLUX graph names.
type fluxModels struct{ main, t5, clip, vae map[string]any }

func edge(from, field, to, toField string) map[string]any {
	return map[string]any{"source": map[string]any{"node_id": from, "field": field},
		"destination": map[string]any{"node_id": to, "field": toField}}
}

// txt2img is InvokeAI's FLUX text-to-image graph (as its Generate tab builds it, without metadata).
func txt2img(m fluxModels, prompt string, seed int64, steps, size int, guidance float64) map[string]any {
	return map[string]any{
		"id": "flux_txt2img",
		"nodes": map[string]any{
			"model": map[string]any{"id": "model", "type": "flux_model_loader", "is_intermediate": true, "model": m.main,
				"t5_encoder_model": m.t5, "clip_embed_model": m.clip, "vae_model": m.vae},
			"pos": map[string]any{"id": "pos", "type": "flux_text_encoder", "prompt": prompt},
			"denoise": map[string]any{"id": "denoise", "type": "flux_denoise", "num_steps": steps, "guidance": guidance,
				"seed": seed, "width": size, "height": size, "denoising_start": 0.0, "denoising_end": 1.0},
			"decode": map[string]any{"id": "decode", "type": "flux_vae_decode", "is_intermediate": false},
		},
		"edges": []any{
			edge("model", "transformer", "denoise", "transformer"),
			edge("model", "clip", "pos", "clip"),
			edge("model", "t5_encoder", "pos", "t5_encoder"),
			edge("model", "max_seq_len", "pos", "t5_max_seq_len"),
			edge("pos", "conditioning", "denoise", "positive_text_conditioning"),
			edge("denoise", "latents", "decode", "latents"),
			edge("model", "vae", "decode", "vae"),
		},
	}
}

func run(t *testing.T, env *apitest.Env, graph map[string]any) apitest.QueueItem {
	t.Helper()
	return env.RunGraph(graph, 3*time.Minute)
}

// savedImage fetches the image a finished session saved.
func savedImage(t *testing.T, env *apitest.Env, it apitest.QueueItem) image.Image {
	t.Helper()
	for _, out := range it.Session.Results {
		if out["type"] != "image_output" {
			continue
		}
		name := out["image"].(map[string]any)["image_name"].(string)
		resp := env.Do("GET", "/api/v1/images/i/"+name+"/full").Expect(http.StatusOK)
		img, err := png.Decode(bytes.NewReader(resp.Body))
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	t.Fatal("no image_output in the session")
	return nil
}

// compareGolden checks an image against a golden PNG within one level per channel.
func compareGolden(t *testing.T, got image.Image, golden string) {
	t.Helper()
	f, err := os.Open(fixture(t, "pipeline", golden))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if got.Bounds() != want.Bounds() {
		t.Fatalf("image bounds %v, golden %v", got.Bounds(), want.Bounds())
	}
	worst, off := 0, 0
	b := want.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r1, g1, b1, _ := got.At(x, y).RGBA()
			r2, g2, b2, _ := want.At(x, y).RGBA()
			for _, d := range []int{int(r1>>8) - int(r2>>8), int(g1>>8) - int(g2>>8), int(b1>>8) - int(b2>>8)} {
				d = max(d, -d)
				worst = max(worst, d)
				if d > 0 {
					off++
				}
			}
		}
	}
	t.Logf("%s: max %d levels, %d values differ", golden, worst, off)
	if worst > 1 {
		t.Errorf("image differs from %s by up to %d levels (%d values)", golden, worst, off)
	}
}

// TestE2EFluxGoldens installs the tiny FLUX models through the model manager (a diffusers folder, a GGUF
// file, the T5 and CLIP encoders, the BFL VAE file) and generates InvokeAI-style text-to-image runs through
// the HTTP API, comparing the saved images with the fixture's goldens.
func TestE2EFluxGoldens(t *testing.T) {
	env := apitest.New(t)
	dev := fixture(t, "models", "flux-dev-tiny")
	shared := fluxModels{
		t5:   install(t, env, dev, map[string]any{"type": "t5_encoder"}),
		clip: install(t, env, dev, map[string]any{"type": "clip_embed"}),
		vae:  install(t, env, fixture(t, "models", "ae-tiny.safetensors"), map[string]any{}),
	}
	if shared.t5["type"] != "t5_encoder" || shared.clip["type"] != "clip_embed" || shared.vae["base"] != "flux" {
		t.Fatalf("encoders installed as %v, %v, %v", shared.t5, shared.clip, shared.vae)
	}
	mains := map[string]map[string]any{
		"dev":          install(t, env, dev, map[string]any{}),
		"schnell":      install(t, env, fixture(t, "models", "flux-schnell-tiny"), map[string]any{}),
		"dev-Q8_0":     install(t, env, fixture(t, "gguf", "flux1-dev-tiny-Q8_0.gguf"), map[string]any{}),
		"schnell-Q4_K": install(t, env, fixture(t, "gguf", "flux1-schnell-tiny-Q4_K_S.gguf"), map[string]any{}),
	}
	bus, stop := env.App.Events.Subscribe(4096)
	defer stop()
	cat, cafe := "a photo of a cat", "A cozy café on 5th Avenue at 3:45 PM — rain, neon reflections, 35mm film!"
	for _, c := range []struct {
		main, prompt string
		seed         int64
		steps        int
		golden       string
	}{
		{"dev", cat, 0, 10, "invokeai_text_dev_cat_s0_64x64.png"},
		{"schnell", cat, 0, 4, "invokeai_text_schnell_cat_s0_64x64.png"},
		{"dev", cafe, 3, 10, "invokeai_text_dev_cafe_s3_64x64.png"},
		{"dev-Q8_0", cat, 0, 10, "invokeai_text_dev_cat_s0_64x64.gguf_Q8_0.png"},
		{"schnell-Q4_K", cat, 0, 4, "invokeai_text_schnell_cat_s0_64x64.gguf_Q4_K_S.png"},
	} {
		t.Run(c.golden, func(t *testing.T) {
			m := shared
			m.main = mains[c.main]
			it := run(t, env, txt2img(m, c.prompt, c.seed, c.steps, 64, 3.5))
			if it.Status != "completed" {
				t.Fatalf("item %s: %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
			}
			compareGolden(t, savedImage(t, env, it), c.golden)
		})
	}
	// Every denoising step reported progress with a preview standing for the 64×64 image.
	previews := 0
	for drained := false; !drained; {
		select {
		case e := <-bus:
			if e.Name == "invocation_progress" && e.Payload["image"] != nil {
				previews++
				if img := e.Payload["image"].(map[string]any); img["width"] != 64 || img["height"] != 64 {
					t.Errorf("progress image size %v×%v, want 64×64", img["width"], img["height"])
				}
			}
		default:
			drained = true
		}
	}
	if want := 10 + 4 + 10 + 10 + 4; previews < want {
		t.Errorf("%d progress events with a preview, want at least %d", previews, want)
	}
	// Each encoder, transformer and VAE was loaded once and reused.
	if st := env.App.Models.Cache.Stats(); st.Hits == 0 {
		t.Errorf("model cache: %d misses and no hits", st.Misses)
	}
}
