package fluxnode_test

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/engine/safetensors"
)

func readGoldenPNG(t *testing.T, name string) image.Image {
	t.Helper()
	b, err := os.ReadFile(fixture(t, "pipeline", name))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// maxDiff is the largest channel difference between two images of one size, within columns [x0, x1).
func maxDiff(a, b image.Image, x0, x1 int) int {
	worst := 0
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X + x0; x < r.Min.X+x1; x++ {
			r1, g1, b1, _ := a.At(x, y).RGBA()
			r2, g2, b2, _ := b.At(x, y).RGBA()
			for _, d := range []int{int(r1>>8) - int(r2>>8), int(g1>>8) - int(g2>>8), int(b1>>8) - int(b2>>8)} {
				worst = max(worst, d, -d)
			}
		}
	}
	return worst
}

// encoders installs the shared encoders and VAE and the dev and schnell folders.
func encoders(t *testing.T, env *apitest.Env) (fluxModels, map[string]any) {
	dev := fixture(t, "models", "flux-dev-tiny")
	m := fluxModels{
		main: install(t, env, dev, map[string]any{}),
		t5:   install(t, env, dev, map[string]any{"type": "t5_encoder"}),
		clip: install(t, env, dev, map[string]any{"type": "clip_embed"}),
		vae:  install(t, env, fixture(t, "models", "ae-tiny.safetensors"), map[string]any{}),
	}
	return m, install(t, env, fixture(t, "models", "flux-schnell-tiny"), map[string]any{})
}

func nodesOf(g map[string]any) map[string]any { return g["nodes"].(map[string]any) }

// TestE2EFluxImageToImageAndInpaint runs image-to-image through flux_vae_encode and denoising_start, and
// inpainting through a denoise mask.
func TestE2EFluxImageToImageAndInpaint(t *testing.T) {
	env := apitest.New(t)
	m, _ := encoders(t, env)
	input := env.UploadPNG(readGoldenPNG(t, "invokeai_text_dev_cat_s0_64x64.png"))

	// Encode and decode alone: the VAE's round trip of the input.
	roundTrip := map[string]any{"id": "rt", "nodes": map[string]any{
		"model":  map[string]any{"id": "model", "type": "flux_model_loader", "model": m.main, "t5_encoder_model": m.t5, "clip_embed_model": m.clip, "vae_model": m.vae},
		"encode": map[string]any{"id": "encode", "type": "flux_vae_encode", "image": map[string]any{"image_name": input}},
		"decode": map[string]any{"id": "decode", "type": "flux_vae_decode", "is_intermediate": false},
	}, "edges": []any{edge("model", "vae", "encode", "vae"), edge("encode", "latents", "decode", "latents"), edge("model", "vae", "decode", "vae")}}
	it := run(t, env, roundTrip)
	if it.Status != "completed" {
		t.Fatalf("round trip: %s: %s", it.ErrorType, it.ErrorMessage)
	}
	rt := savedImage(t, env, it)

	img2img := func(start float64, mask bool) image.Image {
		g := txt2img(m, "a watercolor painting of a lighthouse", 5, 4, 64, 3.5)
		nodesOf(g)["encode"] = map[string]any{"id": "encode", "type": "flux_vae_encode", "image": map[string]any{"image_name": input}}
		nodesOf(g)["denoise"].(map[string]any)["denoising_start"] = start
		edges := append(g["edges"].([]any), edge("model", "vae", "encode", "vae"), edge("encode", "latents", "denoise", "latents"))
		if mask {
			// Keep the left half (white, 1), regenerate the right half.
			mimg := image.NewGray(image.Rect(0, 0, 64, 64))
			for y := range 64 {
				for x := range 32 {
					mimg.SetGray(x, y, color.Gray{Y: 255})
				}
			}
			nodesOf(g)["mask"] = map[string]any{"id": "mask", "type": "create_denoise_mask", "mask": map[string]any{"image_name": env.UploadPNG(mimg)}}
			edges = append(edges, edge("mask", "denoise_mask", "denoise", "denoise_mask"), edge("model", "vae", "mask", "vae"))
		}
		g["edges"] = edges
		it := run(t, env, g)
		if it.Status != "completed" {
			t.Fatalf("img2img from %v (mask %v): %s: %s", start, mask, it.ErrorType, it.ErrorMessage)
		}
		return savedImage(t, env, it)
	}
	// denoising_start 1 takes no step: the input comes back through the VAE.
	if d := maxDiff(img2img(1, false), rt, 0, 64); d > 1 {
		t.Errorf("denoising_start 1 differs from the VAE round trip by %d levels", d)
	}
	half := img2img(0.5, false)
	if d := maxDiff(half, rt, 0, 64); d < 3 {
		t.Errorf("denoising_start 0.5 changed the image by only %d levels", d)
	}
	// Inpainting the right half keeps the left half closer to the input than the regenerated right half.
	inp := img2img(0, true)
	left, right := maxDiff(inp, rt, 0, 16), maxDiff(inp, rt, 48, 64)
	t.Logf("inpainting: left columns differ by %d levels, right by %d", left, right)
	if left >= right {
		t.Errorf("inpainting: kept side differs by %d levels, regenerated side by %d", left, right)
	}
}

// TestE2EFluxLoRA applies a kohya FLUX LoRA through flux_lora_loader: the image equals the one made by a
// checkpoint whose weights hold the LoRA merged in.
func TestE2EFluxLoRA(t *testing.T) {
	env := apitest.New(t)
	m, _ := encoders(t, env)
	dir := t.TempDir()
	loraPath, mergedPath := writeLoRAAndMerged(t, dir, 0.8)
	lora := install(t, env, loraPath, map[string]any{})
	if lora["type"] != "lora" || lora["base"] != "flux" {
		t.Fatalf("LoRA installed as %v", lora)
	}
	merged := install(t, env, mergedPath, map[string]any{})

	// As InvokeAI's Generate tab wires LoRAs: through a collection loader on the transformer and both
	// text encoders (this LoRA adapts only the transformer, so the encoders run unchanged).
	withLoRA := txt2img(m, "a photo of a cat", 0, 4, 64, 3.5)
	nodesOf(withLoRA)["lora"] = map[string]any{"id": "lora", "type": "flux_lora_collection_loader",
		"loras": []any{map[string]any{"lora": lora, "weight": 0.8}}}
	var edges []any
	for _, e := range withLoRA["edges"].([]any) {
		d := e.(map[string]any)["destination"].(map[string]any)
		if (d["node_id"] == "denoise" && d["field"] == "transformer") || (d["node_id"] == "pos" && (d["field"] == "clip" || d["field"] == "t5_encoder")) {
			continue
		}
		edges = append(edges, e)
	}
	withLoRA["edges"] = append(edges, edge("model", "transformer", "lora", "transformer"), edge("model", "clip", "lora", "clip"),
		edge("model", "t5_encoder", "lora", "t5_encoder"), edge("lora", "transformer", "denoise", "transformer"),
		edge("lora", "clip", "pos", "clip"), edge("lora", "t5_encoder", "pos", "t5_encoder"))
	a := run(t, env, withLoRA)
	if a.Status != "completed" {
		t.Fatalf("with LoRA: %s: %s", a.ErrorType, a.ErrorMessage)
	}
	mm := m
	mm.main = merged
	b := run(t, env, txt2img(mm, "a photo of a cat", 0, 4, 64, 3.5))
	c := run(t, env, txt2img(m, "a photo of a cat", 0, 4, 64, 3.5))
	if b.Status != "completed" || c.Status != "completed" {
		t.Fatalf("merged / plain runs: %s %s", b.ErrorMessage, c.ErrorMessage)
	}
	la, lb, lc := savedImage(t, env, a), savedImage(t, env, b), savedImage(t, env, c)
	if d := maxDiff(la, lb, 0, 64); d > 1 {
		t.Errorf("LoRA run differs from the merged checkpoint by %d levels", d)
	}
	if d := maxDiff(la, lc, 0, 64); d < 3 {
		t.Errorf("the LoRA changed the image by only %d levels", d)
	}

	// Applying the same LoRA twice is refused, as InvokeAI does.
	twice := txt2img(m, "a photo of a cat", 0, 4, 64, 3.5)
	nodesOf(twice)["lora"] = map[string]any{"id": "lora", "type": "flux_lora_loader", "lora": lora, "weight": 0.8}
	nodesOf(twice)["lora2"] = map[string]any{"id": "lora2", "type": "flux_lora_loader", "lora": lora, "weight": 0.5}
	edges = nil
	for _, e := range twice["edges"].([]any) {
		d := e.(map[string]any)["destination"].(map[string]any)
		if d["node_id"] == "denoise" && d["field"] == "transformer" {
			continue
		}
		edges = append(edges, e)
	}
	twice["edges"] = append(edges, edge("model", "transformer", "lora", "transformer"), edge("lora", "transformer", "lora2", "transformer"),
		edge("lora2", "transformer", "denoise", "transformer"))
	if it := run(t, env, twice); it.Status != "failed" || !strings.Contains(it.ErrorMessage, "already applied") {
		t.Errorf("the same LoRA twice: %s %s", it.Status, it.ErrorMessage)
	}
}

// writeLoRAAndMerged writes a kohya LoRA for the tiny dev transformer and the BFL checkpoint with
// weight·(alpha/rank)·up·down merged into the weights it adapts.
func writeLoRAAndMerged(t *testing.T, dir string, weight float32) (string, string) {
	t.Helper()
	const rank, alpha = 4, 2
	rng := rand.New(rand.NewPCG(3, 3))
	randv := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 0.2)
		}
		return v
	}
	type adapter struct {
		module   string
		out, in  int
		up, down []float32
	}
	ads := []adapter{{module: "double_blocks.0.img_attn.qkv", out: 192, in: 64}, {module: "single_blocks.1.linear1", out: 448, in: 64},
		{module: "double_blocks.1.txt_mlp.0", out: 256, in: 64}}
	loraTensors := map[string]safetensors.WriteTensor{}
	for i := range ads {
		a := &ads[i]
		a.up, a.down = randv(a.out*rank), randv(rank*a.in)
		stem := "lora_unet_" + strings.ReplaceAll(a.module, ".", "_")
		loraTensors[stem+".lora_up.weight"] = safetensors.F32Tensor([]int{a.out, rank}, a.up)
		loraTensors[stem+".lora_down.weight"] = safetensors.F32Tensor([]int{rank, a.in}, a.down)
		loraTensors[stem+".alpha"] = safetensors.F32Tensor([]int{}, []float32{alpha})
	}
	src, err := safetensors.Open(fixture(t, "models", "flux1-dev-tiny.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	merged := map[string]safetensors.WriteTensor{}
	for _, name := range src.Names() {
		v, shape, err := src.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range ads {
			if name != a.module+".weight" {
				continue
			}
			for o := range a.out {
				for i := range a.in {
					var d float32
					for r := range rank {
						d += a.up[o*rank+r] * a.down[r*a.in+i]
					}
					v[o*a.in+i] += weight * alpha / rank * d
				}
			}
		}
		merged[name] = safetensors.F32Tensor(shape, v)
	}
	write := func(name string, ts map[string]safetensors.WriteTensor) string {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := safetensors.Write(f, ts, nil); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("tiny-flux-lora.safetensors", loraTensors), write("flux1-dev-tiny-merged.safetensors", merged)
}

// TestE2EFluxSchedulers: heun and lcm run through the API (their numbers are checked against goldens in
// internal/engine/flux); each gives its own image, and lcm's fresh per-step noise comes from the seed, so a
// seed gives the same image twice.
func TestE2EFluxSchedulers(t *testing.T) {
	env := apitest.New(t)
	m, _ := encoders(t, env)
	images := map[string]image.Image{}
	for _, sched := range []string{"euler", "heun", "lcm", "lcm again"} {
		g := txt2img(m, "a cat", 5, 3, 32, 3.5)
		nodesOf(g)["denoise"].(map[string]any)["scheduler"] = strings.TrimSuffix(sched, " again")
		it := run(t, env, g)
		if it.Status != "completed" {
			t.Fatalf("%s: %s %s: %s", sched, it.Status, it.ErrorType, it.ErrorMessage)
		}
		images[sched] = savedImage(t, env, it)
	}
	same := func(a, b image.Image) bool {
		for y := range a.Bounds().Dy() {
			for x := range a.Bounds().Dx() {
				if a.At(x, y) != b.At(x, y) {
					return false
				}
			}
		}
		return true
	}
	if !same(images["lcm"], images["lcm again"]) {
		t.Error("lcm: the same seed gave two different images")
	}
	for _, pair := range [][2]string{{"euler", "heun"}, {"euler", "lcm"}, {"heun", "lcm"}} {
		if same(images[pair[0]], images[pair[1]]) {
			t.Errorf("%s and %s gave the same image", pair[0], pair[1])
		}
	}
}

// TestE2EFluxRefusals: sizes beyond the schema's bounds are refused at enqueue; inputs the engine does not
// run fail the node with a clear ValueError.
func TestE2EFluxRefusals(t *testing.T) {
	env := apitest.New(t)
	m, schnell := encoders(t, env)
	g := txt2img(m, "a cat", 0, 2, 64, 3.5)
	nodesOf(g)["denoise"].(map[string]any)["width"] = 8192
	var res map[string]any
	env.Do("POST", "/api/v1/queue/default/enqueue_batch", apitest.JSON(map[string]any{"batch": map[string]any{"graph": g, "runs": 1}})).
		Expect(http.StatusUnprocessableEntity).Decode(&res)
	g = txt2img(m, "a cat", 0, 2, 64, 3.5)
	nodesOf(g)["denoise"].(map[string]any)["width"] = 72 // not a multiple of 16
	env.Do("POST", "/api/v1/queue/default/enqueue_batch", apitest.JSON(map[string]any{"batch": map[string]any{"graph": g, "runs": 1}})).
		Expect(http.StatusUnprocessableEntity)
	g = txt2img(m, "a cat", 0, 2, 64, 3.5)
	nodesOf(g)["denoise"].(map[string]any)["scheduler"] = "dpmpp_2m" // not one of FLUX's schedulers
	env.Do("POST", "/api/v1/queue/default/enqueue_batch", apitest.JSON(map[string]any{"batch": map[string]any{"graph": g, "runs": 1}})).
		Expect(http.StatusUnprocessableEntity)

	for name, tweak := range map[string]func(map[string]any){
		"dype": func(g map[string]any) { nodesOf(g)["denoise"].(map[string]any)["dype_preset"] = "auto" },
		"cfg without negative": func(g map[string]any) {
			nodesOf(g)["denoise"].(map[string]any)["cfg_scale"] = 3.0
		},
		"vae as main": func(g map[string]any) { nodesOf(g)["model"].(map[string]any)["model"] = m.vae },
	} {
		g := txt2img(m, "a cat", 0, 2, 64, 3.5)
		tweak(g)
		it := run(t, env, g)
		if it.Status != "failed" || it.ErrorType != "ValueError" {
			t.Errorf("%s: %s %s: %s", name, it.Status, it.ErrorType, it.ErrorMessage)
		}
	}
	// Schnell takes T5 sequences of 256 (the loader says so), and runs without guidance.
	ms := m
	ms.main = schnell
	if it := run(t, env, txt2img(ms, "a cat", 1, 2, 32, 1)); it.Status != "completed" {
		t.Errorf("schnell: %s: %s", it.ErrorType, it.ErrorMessage)
	}
}

// TestE2EFluxEncoderLoRA: a kohya FLUX LoRA that also adapts CLIP-L (lora_te1_) and T5 (lora_te2_) runs
// through flux_lora_collection_loader into flux_text_encoder; its encoder layers change the image beyond
// what its transformer layers do, and they apply to that run only: the cached encoders give the plain image
// again afterwards. (The T5 layers' numbers are checked against merged weights in internal/engine/flux.)
func TestE2EFluxEncoderLoRA(t *testing.T) {
	env := apitest.New(t)
	m, _ := encoders(t, env)
	const rank = 4
	rng := rand.New(rand.NewPCG(9, 9))
	tensors := map[string]safetensors.WriteTensor{}
	for _, a := range []struct {
		stem    string
		out, in int
	}{
		{"lora_unet_double_blocks_0_img_attn_proj", 64, 64},
		{"lora_te1_text_model_encoder_layers_0_mlp_fc1", 37, 32},
		{"lora_te1_text_model_encoder_layers_1_self_attn_q_proj", 32, 32},
		{"lora_te2_encoder_block_0_layer_0_SelfAttention_q", 32, 32},
		{"lora_te2_encoder_block_1_layer_1_DenseReluDense_wi_0", 64, 32},
	} {
		for _, p := range []struct {
			name       string
			rows, cols int
		}{{".lora_up.weight", a.out, rank}, {".lora_down.weight", rank, a.in}} {
			v := make([]float32, p.rows*p.cols)
			for i := range v {
				v[i] = float32(rng.NormFloat64() * 0.5)
			}
			tensors[a.stem+p.name] = safetensors.F32Tensor([]int{p.rows, p.cols}, v)
		}
	}
	path := filepath.Join(t.TempDir(), "flux-encoder-lora.safetensors")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := safetensors.Write(f, tensors, nil); err != nil {
		t.Fatal(err)
	}
	f.Close()
	lora := install(t, env, path, map[string]any{})
	if lora["type"] != "lora" || lora["base"] != "flux" {
		t.Fatalf("LoRA installed as %v", lora)
	}

	// wired: the LoRA on the transformer and, when encoders is set, on both text encoders.
	wired := func(encoders bool) map[string]any {
		g := txt2img(m, "a photo of a cat", 0, 3, 32, 3.5)
		nodesOf(g)["lora"] = map[string]any{"id": "lora", "type": "flux_lora_collection_loader",
			"loras": []any{map[string]any{"lora": lora, "weight": 1.0}}}
		var edges []any
		for _, e := range g["edges"].([]any) {
			d := e.(map[string]any)["destination"].(map[string]any)
			if (d["node_id"] == "denoise" && d["field"] == "transformer") ||
				(encoders && d["node_id"] == "pos" && (d["field"] == "clip" || d["field"] == "t5_encoder")) {
				continue
			}
			edges = append(edges, e)
		}
		edges = append(edges, edge("model", "transformer", "lora", "transformer"), edge("lora", "transformer", "denoise", "transformer"))
		if encoders {
			edges = append(edges, edge("model", "clip", "lora", "clip"), edge("model", "t5_encoder", "lora", "t5_encoder"),
				edge("lora", "clip", "pos", "clip"), edge("lora", "t5_encoder", "pos", "t5_encoder"))
		}
		g["edges"] = edges
		return g
	}
	images := map[string]image.Image{}
	for _, c := range []struct {
		name  string
		graph map[string]any
	}{
		{"plain", txt2img(m, "a photo of a cat", 0, 3, 32, 3.5)},
		{"transformer only", wired(false)},
		{"all", wired(true)},
		{"plain again", txt2img(m, "a photo of a cat", 0, 3, 32, 3.5)},
	} {
		it := run(t, env, c.graph)
		if it.Status != "completed" {
			t.Fatalf("%s: %s %s: %s", c.name, it.Status, it.ErrorType, it.ErrorMessage)
		}
		images[c.name] = savedImage(t, env, it)
	}
	if d := maxDiff(images["all"], images["transformer only"], 0, 32); d < 3 {
		t.Errorf("the encoder layers changed the image by only %d levels", d)
	}
	if d := maxDiff(images["plain"], images["plain again"], 0, 32); d != 0 {
		t.Errorf("the encoders kept the LoRA: the plain image moved by %d levels", d)
	}
}
