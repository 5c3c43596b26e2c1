package e2e

import (
	"encoding/json"
	"image"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/engine/goldens/goldtest"
)

// installModel installs a model from a path through the model manager API (body: record changes such as a name or a
// type hint) and returns its record.
func installModel(t *testing.T, env *apitest.Env, src string, body map[string]any) map[string]any {
	t.Helper()
	var job struct {
		ID        int            `json:"id"`
		Status    string         `json:"status"`
		Error     string         `json:"error"`
		ConfigOut map[string]any `json:"config_out"`
	}
	env.Do("POST", "/api/v2/models/install?source="+url.QueryEscape(src), apitest.JSON(body)).Expect(http.StatusCreated).Decode(&job)
	deadline := time.Now().Add(3 * time.Minute)
	for job.Status != "completed" {
		if job.Status == "error" || job.Status == "cancelled" || time.Now().After(deadline) {
			t.Fatalf("installing %s: status %q, error %q", src, job.Status, job.Error)
		}
		time.Sleep(200 * time.Millisecond)
		env.Do("GET", "/api/v2/models/install/"+strconv.Itoa(job.ID)).Expect(http.StatusOK).Decode(&job)
	}
	return job.ConfigOut
}

func boardImageNames(t *testing.T, env *apitest.Env, boardID string) []string {
	t.Helper()
	var names []string
	env.Do("GET", "/api/v1/boards/"+boardID+"/image_names").Expect(http.StatusOK).Decode(&names)
	return names
}

// newBoardImage waits for an image on the board that is not among known and returns its name.
func newBoardImage(t *testing.T, env *apitest.Env, boardID string, known []string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		for _, n := range boardImageNames(t, env, boardID) {
			if !slices.Contains(known, n) {
				return n
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new image on the board after %v", within)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func imageMetadata(t *testing.T, env *apitest.Env, name string) map[string]any {
	t.Helper()
	var md map[string]any
	env.Do("GET", "/api/v1/images/i/"+name+"/metadata").Expect(http.StatusOK).Decode(&md)
	return md
}

// sameAsGolden compares an image with a golden PNG: every channel within one level (the fixtures' 8-bit rule).
func sameAsGolden(t *testing.T, got image.Image, golden string) {
	t.Helper()
	f, err := os.Open(golden)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if got.Bounds() != want.Bounds() {
		t.Fatalf("image %v, golden %s %v", got.Bounds(), golden, want.Bounds())
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
		t.Errorf("the UI's image differs from %s by up to %d levels (%d values)", golden, worst, off)
	}
}

// A ControlNet and an IP-Adapter generation driven through the Generate screen on the sd-ext fixtures: the control image
// is uploaded in the Control panel, previewed through the canny processor (an edge map: only 0 and 255), then used as
// is; the IP-Adapter's reference image comes from the gallery. Each run matches the fixture's diffusers golden (10 Euler
// steps, CFG 7.5, seed 0, 64×64, "a photo of a cat"), and the metadata carries the adapters as InvokeAI writes them.
func TestE2EGenerateControlNetAndIPAdapter(t *testing.T) {
	b := newBrowser(t)
	env := apitest.New(t)
	for _, typ := range []string{"controlnet", "ip_adapter", "canny_edge_detection", "collect"} {
		if !hasInvocation(t, env, typ) {
			t.Fatalf("node type %q is not registered", typ)
		}
	}
	installModel(t, env, tinyModelPath(), map[string]any{})
	cn := installModel(t, env, goldtest.Path(t, "sd-ext", "controlnet", "models", "sd15-controlnet"), map[string]any{})
	ip := installModel(t, env, goldtest.Path(t, "sd-ext", "ip_adapter", "models", "ip-adapter_sd15-tiny.safetensors"), map[string]any{})
	// The tiny image encoder under the name of the ViT-H encoder a checkpoint IP-Adapter asks for.
	installModel(t, env, goldtest.Path(t, "sd-ext", "ip_adapter", "models", "image_encoder"), map[string]any{"name": "ip_adapter_sd_image_encoder"})

	var bd struct {
		BoardID string `json:"board_id"`
	}
	env.Do("POST", "/api/v1/boards/?board_name=Adapters").Expect(http.StatusCreated).Decode(&bd)
	code, ref := uploadAPI(t, env, "", bd.BoardID, goldtest.Path(t, "sd-ext", "ip_adapter", "inputs", "ip_in224.png"))
	if code != http.StatusCreated {
		t.Fatalf("upload the reference image: %d %v", code, ref)
	}
	refName := ref["image_name"].(string)

	p := b.newPage("adapters", env.URL)
	p.open("/generate")
	p.waitFor("the Invoke button", `document.querySelector('[data-testid="invoke-button"]')`)
	p.fill("Prompt", "a photo of a cat")
	p.fill("Negative Prompt", "")
	p.fill("Width", "64")
	p.fill("Height", "64")
	p.fill("Steps", "10")
	p.fill("CFG Scale", "7.5")
	p.selectOption("Scheduler", "Euler")
	p.check("Random Seed", false)
	p.fill("Seed", "0")
	p.selectOption("Board", "Adapters")

	// Control: upload the control image, preview it through canny, then feed it unprocessed at weight 0.8.
	const layer = `[data-testid="control-layer"]`
	p.click("Control", `[data-testid="control-panel"]`)
	p.click("Add Control", `[data-testid="control-panel"]`)
	p.waitFor("the control layer", `document.querySelector('`+layer+`')`)
	p.selectOption("Control Model", cn["name"].(string))
	p.upload(layer+` input[type="file"]`, goldtest.Path(t, "sd-ext", "controlnet", "inputs", "control_shapes64.png"))
	p.waitFor("the canny preview", `document.querySelector('[data-testid="processed-preview"]')?.complete && document.querySelector('[data-testid="processed-preview"]').naturalWidth > 0`)
	js[bool](p, `(document.querySelector('[data-testid="processed-preview"]').scrollIntoView({block: 'end'}), true)`)
	p.screenshot("generate-control-canny-1280")
	processed := js[string](p, `decodeURIComponent(document.querySelector('[data-testid="processed-preview"]').src.split('/api/v1/images/i/')[1].split('/')[0])`)
	edges := fetchPNG(t, env, processed)
	white := 0
	eb := edges.Bounds()
	for y := eb.Min.Y; y < eb.Max.Y; y++ {
		for x := eb.Min.X; x < eb.Max.X; x++ {
			r, g, bl, _ := edges.At(x, y).RGBA()
			if r>>8 != g>>8 || g>>8 != bl>>8 || (r>>8 != 0 && r>>8 != 255) {
				t.Fatalf("the canny preview has a non-edge pixel (%d,%d,%d) at %d,%d", r>>8, g>>8, bl>>8, x, y)
			}
			if r>>8 == 255 {
				white++
			}
		}
	}
	if white == 0 || eb.Dx() != 64 || eb.Dy() != 64 {
		t.Fatalf("the canny preview is %v with %d edge pixels", eb, white)
	}
	// Every other processor runs through the queue too and previews its own picture.
	previewName := `(() => { const im = document.querySelector('[data-testid="processed-preview"]'); return im && im.complete && im.naturalWidth > 0 ? decodeURIComponent(im.src.split('/api/v1/images/i/')[1].split('/')[0]) : ''; })()`
	seen := []string{processed}
	for _, proc := range []string{"Content Shuffle", "Color Map", "Blur", "Tile (resample)"} {
		p.selectOption("Processor", proc)
		seenJS, _ := json.Marshal(seen)
		p.waitFor(proc+"'s preview", `(() => { const n = `+previewName+`; return n && !`+string(seenJS)+`.includes(n); })()`)
		name := js[string](p, previewName)
		seen = append(seen, name)
		if img := fetchPNG(t, env, name); img.Bounds().Dx() != 64 || img.Bounds().Dy() != 64 {
			t.Errorf("%s preview is %v, want 64×64", proc, img.Bounds())
		}
	}
	p.selectOption("Processor", "None")
	p.fill("Weight", "80", layer)
	known := boardImageNames(t, env, bd.BoardID) // the reference and the uploaded control image
	p.click("Invoke")
	cnImage := newBoardImage(t, env, bd.BoardID, known, 5*time.Minute)
	md := imageMetadata(t, env, cnImage)
	cns, _ := md["controlnets"].([]any)
	if len(cns) != 1 {
		t.Fatalf("metadata controlnets = %v", md["controlnets"])
	}
	c0 := cns[0].(map[string]any)
	if c0["control_weight"] != 0.8 || c0["control_mode"] != "balanced" || c0["control_model"].(map[string]any)["key"] != cn["key"] {
		t.Errorf("metadata controlnet = %v", c0)
	}
	sameAsGolden(t, fetchPNG(t, env, cnImage), goldtest.Path(t, "sd-ext", "controlnet", "pipeline", "txt2img_cn0.8_0.0-1.0.png"))

	// IP-Adapter alone: the control layer switched off, the reference image picked from the gallery.
	p.check("Enable Control 1", false)
	p.click("IP-Adapter", `[data-testid="ip-adapter-panel"]`)
	p.click("Add IP-Adapter", `[data-testid="ip-adapter-panel"]`)
	const ipLayer = `[data-testid="ip-adapter-layer"]`
	p.waitFor("the IP-Adapter layer", `document.querySelector('`+ipLayer+`')`)
	p.selectOption("IP-Adapter Model", ip["name"].(string))
	p.fill("Weight", "60", ipLayer)
	p.click("From Gallery", ipLayer)
	p.click("Use "+refName, ipLayer)
	p.waitFor("the chosen reference image", `document.querySelector('`+ipLayer+` [data-testid="chosen-image"]')`)
	js[bool](p, `(document.querySelector('`+ipLayer+`').scrollIntoView({block: 'end'}), true)`)
	p.screenshot("generate-ip-adapter-1280")
	known = boardImageNames(t, env, bd.BoardID)
	p.click("Invoke")
	ipImage := newBoardImage(t, env, bd.BoardID, known, 5*time.Minute)
	md = imageMetadata(t, env, ipImage)
	ips, _ := md["ipAdapters"].([]any)
	if len(ips) != 1 || md["controlnets"] != nil {
		t.Fatalf("metadata ipAdapters = %v, controlnets = %v", md["ipAdapters"], md["controlnets"])
	}
	i0 := ips[0].(map[string]any)
	if i0["weight"] != 0.6 || i0["method"] != "full" || i0["clip_vision_model"] != "ViT-H" || i0["image"].(map[string]any)["image_name"] != refName {
		t.Errorf("metadata ip adapter = %v", i0)
	}
	sameAsGolden(t, fetchPNG(t, env, ipImage), goldtest.Path(t, "sd-ext", "ip_adapter", "pipeline", "txt2img_ip0.6.png"))
	p.waitFor("the result", `document.querySelector('[data-testid="latest-image"]')`)
	p.screenshot("generate-adapters-result-1280")
}

// FLUX through the Generate screen: a tiny schnell GGUF (Q4_K_S) installed from its path with its T5, CLIP-L and VAE;
// picking it applies schnell's defaults (4 steps, no guidance field), and the image lands in the gallery equal to the
// fixture's InvokeAI golden for the same seed and prompt.
func TestE2EGenerateFlux(t *testing.T) {
	b := newBrowser(t)
	env := apitest.New(t)
	for _, typ := range []string{"flux_model_loader", "flux_text_encoder", "flux_denoise", "flux_vae_decode"} {
		if !hasInvocation(t, env, typ) {
			t.Fatalf("node type %q is not registered", typ)
		}
	}
	dev := goldtest.Path(t, "flux-tiny", "models", "flux-dev-tiny")
	installModel(t, env, dev, map[string]any{"type": "t5_encoder"})
	installModel(t, env, dev, map[string]any{"type": "clip_embed"})
	installModel(t, env, goldtest.Path(t, "flux-tiny", "models", "ae-tiny.safetensors"), map[string]any{})
	schnell := installModel(t, env, goldtest.Path(t, "flux-tiny", "gguf", "flux1-schnell-tiny-Q4_K_S.gguf"), map[string]any{})
	if schnell["base"] != "flux" || schnell["variant"] != "schnell" {
		t.Fatalf("the GGUF installed as %v", schnell)
	}
	dev8 := installModel(t, env, goldtest.Path(t, "flux-tiny", "gguf", "flux1-dev-tiny-Q8_0.gguf"), map[string]any{})
	if dev8["variant"] != "dev" {
		t.Fatalf("the dev GGUF installed as %v", dev8)
	}
	var bd struct {
		BoardID string `json:"board_id"`
	}
	env.Do("POST", "/api/v1/boards/?board_name=Flux").Expect(http.StatusCreated).Decode(&bd)

	p := b.newPage("flux", env.URL)
	p.open("/generate")
	// Settled: the app has picked a FLUX model by itself and its encoders.
	const encoders = `document.querySelector('[data-testid="flux-models"]') && [...document.querySelectorAll('[data-testid="flux-models"] select')].every((s) => s.value)`
	p.waitFor("the FLUX encoders", encoders)
	p.fill("Steps", "30")
	p.selectOption("Model", schnell["name"].(string))
	p.waitFor("the FLUX encoders", encoders)
	if got := p.value("Steps"); got != "4" {
		t.Errorf("schnell's steps = %q, want 4", got)
	}
	for _, hidden := range []string{"Guidance", "CFG Scale", "Negative Prompt"} {
		if p.value(hidden) != "<missing>" {
			t.Errorf("%s is shown for FLUX schnell", hidden)
		}
	}
	p.fill("Prompt", "a photo of a cat")
	p.fill("Width", "64")
	p.fill("Height", "64")
	p.check("Random Seed", false)
	p.fill("Seed", "0")
	p.selectOption("Board", "Flux")
	p.screenshot("generate-flux-1280")
	p.click("Invoke")
	old := waitTimeoutOverride(5 * time.Minute)
	p.waitFor("the finished image", `document.querySelector('[data-testid="latest-image"]')`)
	waitTimeoutOverride(old)
	p.screenshot("generate-flux-result-1280")
	name := newBoardImage(t, env, bd.BoardID, nil, time.Minute)
	md := imageMetadata(t, env, name)
	if md["generation_mode"] != "flux_txt2img" || md["steps"] != float64(4) || md["guidance"] != nil {
		t.Errorf("metadata = %v", md)
	}
	sameAsGolden(t, fetchPNG(t, env, name), goldtest.Path(t, "flux-tiny", "pipeline", "invokeai_text_schnell_cat_s0_64x64.gguf_Q4_K_S.png"))

	// FLUX dev (Q8_0): 28 steps and guidance 3.5 when picked; 10 steps here, as the golden was made.
	p.click("Generate")
	p.selectOption("Model", dev8["name"].(string))
	if got := p.value("Steps"); got != "28" {
		t.Errorf("dev's steps = %q, want 28", got)
	}
	if got := p.value("Guidance"); got != "3.5" {
		t.Errorf("dev's guidance = %q, want 3.5", got)
	}
	p.fill("Steps", "10")
	p.fill("Width", "64")
	p.fill("Height", "64")
	p.click("Invoke")
	devName := newBoardImage(t, env, bd.BoardID, []string{name}, 5*time.Minute)
	md = imageMetadata(t, env, devName)
	if md["guidance"] != 3.5 || md["steps"] != float64(10) {
		t.Errorf("dev metadata = %v", md)
	}
	sameAsGolden(t, fetchPNG(t, env, devName), goldtest.Path(t, "flux-tiny", "pipeline", "invokeai_text_dev_cat_s0_64x64.gguf_Q8_0.png"))

	// Both images are in the gallery.
	p.click("Gallery")
	p.click("Flux", boardSel("Flux"))
	p.waitFor("the images in the gallery", `document.querySelectorAll('[data-testid="image-item"]').length === 2`)
}

// A LoRA + ControlNet generation through the Generate screen: two LoRAs picked by search (kohya LoCon at 0.75, PEFT at
// 0.5) reproduce the fixture's stacked-LoRA diffusers golden; the ControlNet added on top changes the image, and the
// metadata carries both as InvokeAI writes them. Recall from the gallery brings the LoRAs and the control layer back.
func TestE2EGenerateLoRAAndControlNet(t *testing.T) {
	b := newBrowser(t)
	env := apitest.New(t)
	for _, typ := range []string{"lora_selector", "lora_collection_loader", "controlnet", "collect"} {
		if !hasInvocation(t, env, typ) {
			t.Fatalf("node type %q is not registered", typ)
		}
	}
	installModel(t, env, tinyModelPath(), map[string]any{})
	kohya := installModel(t, env, goldtest.Path(t, "sd-ext", "lora", "models", "sd15-locon-kohya.safetensors"), map[string]any{})
	peft := installModel(t, env, goldtest.Path(t, "sd-ext", "lora", "models", "sd15-lora-peft.safetensors"), map[string]any{})
	cn := installModel(t, env, goldtest.Path(t, "sd-ext", "controlnet", "models", "sd15-controlnet"), map[string]any{})
	ti := installModel(t, env, goldtest.Path(t, "sd-ext", "textual_inversion", "models", "tiny-ti.safetensors"), map[string]any{})
	var bd struct {
		BoardID string `json:"board_id"`
	}
	env.Do("POST", "/api/v1/boards/?board_name=LoRA").Expect(http.StatusCreated).Decode(&bd)

	p := b.newPage("lora", env.URL)
	p.open("/generate")
	p.waitFor("the Invoke button", `document.querySelector('[data-testid="invoke-button"]')`)
	p.fill("Prompt", "a photo of a cat")
	p.fill("Negative Prompt", "")
	p.fill("Width", "64")
	p.fill("Height", "64")
	p.fill("Steps", "10")
	p.fill("CFG Scale", "7.5")
	p.selectOption("Scheduler", "Euler")
	p.check("Random Seed", false)
	p.fill("Seed", "0")
	p.selectOption("Board", "LoRA")

	// The embeddings picker writes <name> into the chosen prompt (checked, then undone: the golden has no embedding).
	p.click("Embeddings", `[data-testid="embedding-picker"]`)
	p.selectOption("Embedding", ti["name"].(string))
	p.click("Add to Negative Prompt")
	if got, want := p.value("Negative Prompt"), "<"+ti["name"].(string)+">"; got != want {
		t.Errorf("negative prompt after the embeddings picker = %q, want %q", got, want)
	}
	p.fill("Negative Prompt", "")

	p.click("LoRAs", `[data-testid="lora-picker"]`)
	for _, l := range []struct {
		model  map[string]any
		weight string
	}{{kohya, "75"}, {peft, "50"}} {
		name := l.model["name"].(string)
		p.fill("Search LoRAs", name)
		p.click("Add LoRA "+name, `[data-testid="lora-picker"]`)
		p.fill("LoRA weight "+name, l.weight)
	}
	p.fill("Search LoRAs", "")
	js[bool](p, `([...document.querySelectorAll('[data-testid="lora-item"]')].pop().scrollIntoView({block: 'end'}), true)`)
	p.screenshot("generate-loras-1280")
	known := boardImageNames(t, env, bd.BoardID)
	p.click("Invoke")
	stacked := newBoardImage(t, env, bd.BoardID, known, 5*time.Minute)
	md := imageMetadata(t, env, stacked)
	if loras, _ := md["loras"].([]any); len(loras) != 2 {
		t.Fatalf("metadata loras = %v", md["loras"])
	}
	sameAsGolden(t, fetchPNG(t, env, stacked), goldtest.Path(t, "sd-ext", "lora", "pipeline", "txt2img_stack_kohya0.75_peft0.5.png"))

	// The same LoRAs with a ControlNet at 0.8 on the fixture's control image, uploaded in the panel.
	const layer = `[data-testid="control-layer"]`
	p.click("Control", `[data-testid="control-panel"]`)
	p.click("Add Control", `[data-testid="control-panel"]`)
	p.waitFor("the control layer", `document.querySelector('`+layer+`')`)
	p.selectOption("Control Model", cn["name"].(string))
	p.selectOption("Processor", "None")
	p.upload(layer+` input[type="file"]`, goldtest.Path(t, "sd-ext", "controlnet", "inputs", "control_shapes64.png"))
	p.waitFor("the control image", `document.querySelector('`+layer+` [data-testid="chosen-image"]')`)
	p.fill("Weight", "80", layer)
	known = boardImageNames(t, env, bd.BoardID)
	p.click("Invoke")
	both := newBoardImage(t, env, bd.BoardID, known, 5*time.Minute)
	md = imageMetadata(t, env, both)
	loras, _ := md["loras"].([]any)
	cns, _ := md["controlnets"].([]any)
	if len(loras) != 2 || len(cns) != 1 {
		t.Fatalf("metadata loras = %v, controlnets = %v", md["loras"], md["controlnets"])
	}
	weights := map[string]any{}
	for _, l := range loras {
		lm := l.(map[string]any)
		weights[lm["model"].(map[string]any)["key"].(string)] = lm["weight"]
	}
	if weights[kohya["key"].(string)] != 0.75 || weights[peft["key"].(string)] != 0.5 {
		t.Errorf("metadata LoRA weights = %v", weights)
	}
	if c0 := cns[0].(map[string]any); c0["control_weight"] != 0.8 || c0["control_model"].(map[string]any)["key"] != cn["key"] {
		t.Errorf("metadata controlnet = %v", c0)
	}
	withCN := fetchPNG(t, env, both)
	changed := 0
	ref := fetchPNG(t, env, stacked)
	for y := 0; y < 64; y++ {
		for x := 0; x < 64; x++ {
			r1, g1, b1, _ := withCN.At(x, y).RGBA()
			r2, g2, b2, _ := ref.At(x, y).RGBA()
			if r1>>8 != r2>>8 || g1>>8 != g2>>8 || b1>>8 != b2>>8 {
				changed++
			}
		}
	}
	t.Logf("the ControlNet changed %d of 4096 pixels of the stacked-LoRA image", changed)
	if changed < 400 {
		t.Errorf("the ControlNet changed only %d of 4096 pixels", changed)
	}
	p.waitFor("the result", `document.querySelector('[data-testid="latest-image"]')`)
	p.screenshot("generate-lora-controlnet-result-1280")

	// Recall from the gallery into a cleared form brings the LoRAs and the control layer back.
	p.click("Remove Control 1")
	p.click("Remove LoRA " + kohya["name"].(string))
	p.click("Gallery")
	p.click("LoRA", boardSel("LoRA"))
	p.click("Open image "+both, `section[aria-label="Images"]`)
	p.waitFor("the metadata", `document.querySelector('[data-testid="image-metadata"]')`)
	p.click("Recall All")
	p.waitFor("the generate screen", `document.querySelector('[data-testid="invoke-button"]')`)
	p.waitFor("two LoRAs recalled", `document.querySelectorAll('[data-testid="lora-item"]').length === 2`)
	p.waitFor("the control layer recalled", `document.querySelectorAll('`+layer+`').length === 1`)
	if got := p.value("LoRA weight " + kohya["name"].(string)); got != "75" {
		t.Errorf("recalled kohya weight slider = %q, want 75", got)
	}
}

// A T2I-Adapter through the Control panel: a T2I model in the layer makes a t2i_adapter node (no control mode offered),
// and the run at weight 0.8 on the fixture's adapter image equals the diffusers golden.
func TestE2EGenerateT2IAdapter(t *testing.T) {
	b := newBrowser(t)
	env := apitest.New(t)
	installModel(t, env, tinyModelPath(), map[string]any{})
	// The fixture's full_adapter_xl-shaped adapter serves the tiny SD-1 model; the install says which base.
	t2i := installModel(t, env, goldtest.Path(t, "sd-ext", "t2i_adapter", "models", "t2i-full-xl"), map[string]any{"base": "sd-1"})
	if t2i["type"] != "t2i_adapter" {
		t.Fatalf("installed as %v", t2i)
	}
	var bd struct {
		BoardID string `json:"board_id"`
	}
	env.Do("POST", "/api/v1/boards/?board_name=T2I").Expect(http.StatusCreated).Decode(&bd)

	p := b.newPage("t2i", env.URL)
	p.open("/generate")
	p.waitFor("the Invoke button", `document.querySelector('[data-testid="invoke-button"]')`)
	p.fill("Prompt", "a photo of a cat")
	p.fill("Negative Prompt", "")
	p.fill("Width", "64")
	p.fill("Height", "64")
	p.fill("Steps", "10")
	p.fill("CFG Scale", "7.5")
	p.selectOption("Scheduler", "Euler")
	p.check("Random Seed", false)
	p.fill("Seed", "0")
	p.selectOption("Board", "T2I")
	const layer = `[data-testid="control-layer"]`
	p.click("Control", `[data-testid="control-panel"]`)
	p.click("Add Control", `[data-testid="control-panel"]`)
	p.waitFor("the control layer", `document.querySelector('`+layer+`')`)
	p.selectOption("Control Model", t2i["name"].(string))
	if p.value("Control Mode") != "<missing>" {
		t.Errorf("a T2I-Adapter layer offers a control mode")
	}
	p.selectOption("Processor", "None")
	p.upload(layer+` input[type="file"]`, goldtest.Path(t, "sd-ext", "t2i_adapter", "inputs", "adapter_in64.png"))
	p.waitFor("the control image", `document.querySelector('`+layer+` [data-testid="chosen-image"]')`)
	p.fill("Weight", "80", layer)
	known := boardImageNames(t, env, bd.BoardID)
	p.click("Invoke")
	name := newBoardImage(t, env, bd.BoardID, known, 5*time.Minute)
	md := imageMetadata(t, env, name)
	ts, _ := md["t2iAdapters"].([]any)
	if len(ts) != 1 || md["controlnets"] != nil {
		t.Fatalf("metadata t2iAdapters = %v, controlnets = %v", md["t2iAdapters"], md["controlnets"])
	}
	if a := ts[0].(map[string]any); a["weight"] != 0.8 || a["t2i_adapter_model"].(map[string]any)["key"] != t2i["key"] {
		t.Errorf("metadata t2i adapter = %v", a)
	}
	sameAsGolden(t, fetchPNG(t, env, name), goldtest.Path(t, "sd-ext", "t2i_adapter", "pipeline", "txt2img_t2i0.8.png"))
}
