package diffusion_test

import (
	"bytes"
	"fmt"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/engine/goldens"
	"github.com/invokego/invokego/internal/events"
)

// installTinyModel installs the fixture sd15-tiny-pipe through the model
// manager API and returns its model identifier.
func installTinyModel(t *testing.T, env *apitest.Env, auth ...apitest.ReqOpt) map[string]any {
	t.Helper()
	return installFixture(t, env, "sd15-tiny-pipe", auth...)
}

// installFixture installs a model of the sd-tiny fixtures (a folder or file
// under models/) through the model manager API and returns its identifier.
func installFixture(t *testing.T, env *apitest.Env, fixture string, auth ...apitest.ReqOpt) map[string]any {
	t.Helper()
	src, err := goldens.Path("sd-tiny", "models", fixture)
	if err != nil {
		t.Fatal(err)
	}
	var job struct {
		ID     int    `json:"id"`
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	env.Do("POST", "/api/v2/models/install?source="+url.QueryEscape(src), append(auth, apitest.JSON(map[string]any{}))...).Expect(http.StatusCreated).Decode(&job)
	deadline := time.Now().Add(2 * time.Minute)
	for job.Status != "completed" {
		if job.Status == "error" || job.Status == "cancelled" || time.Now().After(deadline) {
			t.Fatalf("installing the fixture model: status %q, error %q", job.Status, job.Error)
		}
		time.Sleep(100 * time.Millisecond)
		env.Do("GET", "/api/v2/models/install/"+strconv.Itoa(job.ID), auth...).Expect(http.StatusOK).Decode(&job)
	}
	var list struct {
		Models []map[string]any `json:"models"`
	}
	env.Do("GET", "/api/v2/models/", auth...).Expect(http.StatusOK).Decode(&list)
	name := strings.TrimSuffix(fixture, ".safetensors")
	for _, m := range list.Models {
		if m["name"] == name {
			return map[string]any{"key": m["key"], "hash": m["hash"], "name": m["name"], "base": m["base"], "type": m["type"]}
		}
	}
	t.Fatalf("no model named %s among %d installed", name, len(list.Models))
	return nil
}

// txt2imgGraph is InvokeAI's SD1.5 text-to-image graph (docs/compatibility.md §3).
func txt2imgGraph(model map[string]any, prompt, negative, sched string, steps int, seed int64, size int) map[string]any {
	edge := func(from, field, to, toField string) map[string]any {
		return map[string]any{"source": map[string]any{"node_id": from, "field": field},
			"destination": map[string]any{"node_id": to, "field": toField}}
	}
	return map[string]any{
		"id": "txt2img",
		"nodes": map[string]any{
			"model":     map[string]any{"id": "model", "type": "main_model_loader", "is_intermediate": true, "model": model},
			"clip_skip": map[string]any{"id": "clip_skip", "type": "clip_skip", "skipped_layers": 0},
			"pos":       map[string]any{"id": "pos", "type": "compel", "prompt": prompt},
			"neg":       map[string]any{"id": "neg", "type": "compel", "prompt": negative},
			"seed":      map[string]any{"id": "seed", "type": "integer", "value": seed},
			"noise":     map[string]any{"id": "noise", "type": "noise", "width": size, "height": size, "use_cpu": true},
			"denoise": map[string]any{"id": "denoise", "type": "denoise_latents", "steps": steps, "cfg_scale": 7.5,
				"scheduler": sched, "denoising_start": 0.0, "denoising_end": 1.0},
			"l2i": map[string]any{"id": "l2i", "type": "l2i", "is_intermediate": false, "fp32": false},
		},
		"edges": []any{
			edge("model", "unet", "denoise", "unet"),
			edge("model", "clip", "clip_skip", "clip"),
			edge("clip_skip", "clip", "pos", "clip"),
			edge("clip_skip", "clip", "neg", "clip"),
			edge("pos", "conditioning", "denoise", "positive_conditioning"),
			edge("neg", "conditioning", "denoise", "negative_conditioning"),
			edge("seed", "value", "noise", "seed"),
			edge("noise", "noise", "denoise", "noise"),
			edge("denoise", "latents", "l2i", "latents"),
			edge("model", "vae", "l2i", "vae"),
		},
	}
}

func enqueue(t *testing.T, env *apitest.Env, graph map[string]any, auth ...apitest.ReqOpt) int {
	t.Helper()
	ids := env.Enqueue(graph, auth...)
	if len(ids) != 1 {
		t.Fatalf("enqueued %d items", len(ids))
	}
	return ids[0]
}

func waitItem(t *testing.T, env *apitest.Env, id int, timeout time.Duration, auth ...apitest.ReqOpt) apitest.QueueItem {
	t.Helper()
	return env.WaitItem(id, timeout, auth...)
}

// imageName finds the image l2i saved in a finished session.
func imageName(t *testing.T, it apitest.QueueItem) string {
	t.Helper()
	for _, out := range it.Session.Results {
		if out["type"] == "image_output" {
			if img, ok := out["image"].(map[string]any); ok {
				return img["image_name"].(string)
			}
		}
	}
	t.Fatalf("no image_output in the session results")
	return ""
}

// TestE2EText2ImageGoldens generates fixture cases through the HTTP API and
// compares the saved images with the golden PNGs (±1 per channel).
func TestE2EText2ImageGoldens(t *testing.T) {
	env := apitest.New(t)
	model := installTinyModel(t, env)
	bus, stop := env.App.Events.Subscribe(4096)
	defer stop()

	prompts := map[string]string{"cat": "a photo of a cat", "lighthouse": "a watercolor painting of a lighthouse at dusk, highly detailed"}
	negatives := map[string]string{"noneg": "", "neg": "blurry, low quality"}
	cases := []struct{ prompt, neg, sched, golden string }{
		{"cat", "noneg", "euler", "s0_cat_noneg_euler.png"},
		{"lighthouse", "noneg", "dpmpp_2m", "s0_lighthouse_noneg_dpmpp_2m.diffusers039.png"},
		{"cat", "noneg", "ddim", "s0_cat_noneg_ddim.png"},
		{"lighthouse", "noneg", "euler_a", "s0_lighthouse_noneg_euler_a.png"},
		{"cat", "neg", "euler", "s0_cat_neg_euler.png"},
		{"lighthouse", "neg", "dpmpp_2m_k", "s0_lighthouse_neg_dpmpp_2m_k.diffusers039.png"},
	}
	for _, c := range cases {
		t.Run(strings.TrimSuffix(c.golden, ".png"), func(t *testing.T) {
			id := enqueue(t, env, txt2imgGraph(model, prompts[c.prompt], negatives[c.neg], c.sched, 8, 0, 64))
			it := waitItem(t, env, id, 2*time.Minute)
			if it.Status != "completed" {
				t.Fatalf("item %s: %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
			}
			assertGoldenImage(t, env, it, c.golden)
		})
	}
	// The model's parts were loaded once, through the model manager's
	// cache, and reused by every later run.
	if st := env.App.Models.Cache.Stats(); st.Misses != 5 || st.Hits == 0 {
		t.Errorf("model cache: %d misses, %d hits; want 5 loads (tokenizer, text encoder, unet, scheduler, vae) reused", st.Misses, st.Hits)
	}
	// Every denoising step reported progress with a preview image.
	progress := 0
	for drained := false; !drained; {
		select {
		case e := <-bus:
			if img, ok := e.Payload["image"].(map[string]any); e.Name == "invocation_progress" && ok && img != nil {
				progress++
				// The preview's reported size is the image's (InvokeAI's), not the latents'.
				if img["width"] != 64 || img["height"] != 64 {
					t.Errorf("progress image size %v×%v, want 64×64", img["width"], img["height"])
				}
			}
		default:
			drained = true
		}
	}
	if want := 8 * len(cases); progress < want {
		t.Errorf("%d invocation_progress events with a preview, want at least %d", progress, want)
	}
}

// TestE2ECancelMidDenoise cancels a long text-to-image run after its first
// denoising step: the item ends canceled within one more step and saves no
// image.
func TestE2ECancelMidDenoise(t *testing.T) {
	env := apitest.New(t)
	model := installTinyModel(t, env)
	bus, stop := env.App.Events.Subscribe(4096)
	defer stop()
	const steps = 1000
	id := enqueue(t, env, txt2imgGraph(model, "a photo of a cat", "", "euler", steps, 0, 64))

	stepsSeen := 0
	waitProgress := func(ev events.Event) bool {
		return ev.Name == "invocation_progress" && fmt.Sprint(ev.Payload["item_id"]) == strconv.Itoa(id) && ev.Payload["image"] != nil
	}
	timeout := time.After(2 * time.Minute)
	for stepsSeen < 2 {
		select {
		case e := <-bus:
			if waitProgress(e) {
				stepsSeen++
			}
		case <-timeout:
			t.Fatal("no denoising progress within 2 minutes")
		}
	}
	env.Do("PUT", "/api/v1/queue/default/i/"+strconv.Itoa(id)+"/cancel").Expect(http.StatusOK)
	// Steps are stamped when published; the bus stamps and delivers synchronously, so a step published
	// before the cancel was answered carries an earlier time even if this test has not read it yet.
	answered := time.Now()
	it := waitItem(t, env, id, time.Minute)
	if it.Status != "canceled" {
		t.Fatalf("status %q after cancel, want canceled", it.Status)
	}
	// Count the steps that finished after the cancel request; give the
	// processor a moment to show any that were still coming.
	time.Sleep(300 * time.Millisecond)
	after := 0
	for drained := false; !drained; {
		select {
		case e := <-bus:
			if waitProgress(e) {
				stepsSeen++
				if e.Time.After(answered) {
					after++
				}
			}
		default:
			drained = true
		}
	}
	if after > 1 {
		t.Errorf("%d denoising steps ran after the cancel, want at most 1", after)
	}
	if stepsSeen >= steps {
		t.Errorf("all %d steps ran", steps)
	}
	for _, out := range it.Session.Results {
		if out["type"] == "image_output" {
			t.Errorf("a canceled item saved an image: %v", out)
		}
	}
	var names struct {
		ImageNames []string `json:"image_names"`
	}
	env.Do("GET", "/api/v1/images/names").Expect(http.StatusOK).Decode(&names)
	if len(names.ImageNames) > 0 {
		t.Errorf("images in the gallery after a canceled run: %v", names.ImageNames)
	}
	t.Logf("canceled after %d steps; %d ran after the request", stepsSeen-after, after)
}

// TestE2EBoardAccess: l2i saves through the node context, so the gallery's
// board rules apply to generated images. In multi-user mode a user's run
// that targets another user's private board fails without saving; the
// same run into the user's own board succeeds.
func TestE2EBoardAccess(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	model := installTinyModel(t, env, apitest.Token(cast.Admin.Token))
	var others, owners struct {
		BoardID string `json:"board_id"`
	}
	env.Do("POST", "/api/v1/boards/?board_name=theirs", apitest.Token(cast.Other.Token)).Expect(http.StatusCreated).Decode(&others)
	env.Do("POST", "/api/v1/boards/?board_name=mine", apitest.Token(cast.Owner.Token)).Expect(http.StatusCreated).Decode(&owners)

	run := func(boardID string) apitest.QueueItem {
		g := txt2imgGraph(model, "a photo of a cat", "", "euler", 2, 0, 64)
		g["nodes"].(map[string]any)["l2i"].(map[string]any)["board"] = map[string]any{"board_id": boardID}
		id := enqueue(t, env, g, apitest.Token(cast.Owner.Token))
		return waitItem(t, env, id, 2*time.Minute, apitest.Token(cast.Owner.Token))
	}
	if it := run(others.BoardID); it.Status != "failed" {
		t.Errorf("saving into another user's private board: status %q, want failed", it.Status)
	} else {
		t.Logf("refused as %s: %s", it.ErrorType, it.ErrorMessage)
	}
	it := run(owners.BoardID)
	if it.Status != "completed" {
		t.Fatalf("saving into the owner's board: %s %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
	}
	var dto struct {
		BoardID *string `json:"board_id"`
	}
	env.Do("GET", "/api/v1/images/i/"+imageName(t, it), apitest.Token(cast.Owner.Token)).Expect(http.StatusOK).Decode(&dto)
	if dto.BoardID == nil || *dto.BoardID != owners.BoardID {
		t.Errorf("image board %v, want %s", dto.BoardID, owners.BoardID)
	}
}

// assertGoldenImage compares the image a finished item saved, as the API
// serves it, with a pipeline golden PNG: ±1 level on every channel.
func assertGoldenImage(t *testing.T, env *apitest.Env, it apitest.QueueItem, golden string, auth ...apitest.ReqOpt) {
	t.Helper()
	name := imageName(t, it)
	resp := env.Do("GET", "/api/v1/images/i/"+name+"/full", auth...).Expect(http.StatusOK)
	got, err := png.Decode(bytes.NewReader(resp.Body))
	if err != nil {
		t.Fatalf("decode served image: %v", err)
	}
	goldenPath, err := goldens.Path("sd-tiny", "pipeline", golden)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(goldenPath)
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
	if worst > 1 {
		t.Errorf("image differs from %s by up to %d levels (%d values)", golden, worst, off)
	}
	t.Logf("%s: max diff %d levels, %d channel values off", golden, worst, off)
}

// TestE2ESingleFileCheckpoint generates from the original-layout checkpoint
// that holds the same weights as sd15-tiny-pipe. It carries no tokenizer:
// alone it fails with a message saying what to do; with the shared CLIP files
// in the root's tokenizer folder, or with any diffusers model installed, it
// runs. Its UNet, VAE and derived scheduler reproduce the pipeline's golden
// image when the prompt is encoded by the folder's text encoder (a tiny text
// encoder's head count cannot be read from a checkpoint; the reference, too,
// had to be given the folder's text encoder config).
func TestE2ESingleFileCheckpoint(t *testing.T) {
	env := apitest.New(t)
	single := installFixture(t, env, "sd15-tiny-single.safetensors")
	graph := txt2imgGraph(single, "a photo of a cat", "", "euler", 8, 0, 64)

	it := waitItem(t, env, enqueue(t, env, graph), 2*time.Minute)
	if it.Status != "failed" || !strings.Contains(it.ErrorMessage, "tokenizer") || !strings.Contains(it.ErrorMessage, "vocab.json") {
		t.Fatalf("without a tokenizer: %s, %s: %q; want a failure that says where to put one", it.Status, it.ErrorType, it.ErrorMessage)
	}

	// The user's copy of the CLIP files in <models>/.tokenizers/clip.
	dir := filepath.Join(env.App.Models.Records.ModelsDir(), ".tokenizers", "clip")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"vocab.json", "merges.txt"} {
		src, err := goldens.Path("sd-tiny", "models", "sd15-tiny-pipe", "tokenizer", f)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	it = waitItem(t, env, enqueue(t, env, graph), 2*time.Minute)
	if it.Status != "completed" {
		t.Fatalf("with the tokenizer folder: %s: %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
	}
	fromFolder := servedImage(t, env, it)

	// Without that folder, an installed diffusers model lends its tokenizer:
	// the same tokens, so the same image.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	env.App.Models.Cache.Clear()
	pipe := installTinyModel(t, env)
	it = waitItem(t, env, enqueue(t, env, graph), 2*time.Minute)
	if it.Status != "completed" {
		t.Fatalf("with a diffusers model installed: %s: %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
	}
	if !bytes.Equal(servedImage(t, env, it), fromFolder) {
		t.Error("the borrowed tokenizer gave another image than the tokenizer folder")
	}

	// The checkpoint's UNet and VAE with the folder's text encoder: the golden.
	graph = txt2imgGraph(single, "a watercolor painting of a lighthouse at dusk, highly detailed", "blurry, low quality", "dpmpp_2m_k", 8, 0, 64)
	nodes := graph["nodes"].(map[string]any)
	nodes["clip_model"] = map[string]any{"id": "clip_model", "type": "main_model_loader", "model": pipe}
	for _, e := range graph["edges"].([]any) {
		if src := e.(map[string]any)["source"].(map[string]any); src["node_id"] == "model" && src["field"] == "clip" {
			src["node_id"] = "clip_model"
		}
	}
	it = waitItem(t, env, enqueue(t, env, graph), 2*time.Minute)
	if it.Status != "completed" {
		t.Fatalf("checkpoint UNet with the folder's text encoder: %s: %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
	}
	assertGoldenImage(t, env, it, "s0_lighthouse_neg_dpmpp_2m_k.diffusers039.png")
}

// servedImage returns the PNG bytes the API serves for the image a
// finished item saved.
func servedImage(t *testing.T, env *apitest.Env, it apitest.QueueItem) []byte {
	t.Helper()
	return env.Do("GET", "/api/v1/images/i/"+imageName(t, it)+"/full").Expect(http.StatusOK).Body
}

// TestE2ESeamlessGraph runs the web UI's seamless graph through the API: the
// UNet and VAE pass through a seamless node, and the result differs from the
// same run without it.
func TestE2ESeamlessGraph(t *testing.T) {
	env := apitest.New(t)
	model := installTinyModel(t, env)
	plain := txt2imgGraph(model, "a photo of a cat", "", "euler", 4, 0, 64)
	tiled := txt2imgGraph(model, "a photo of a cat", "", "euler", 4, 0, 64)
	tiled["nodes"].(map[string]any)["seamless"] = map[string]any{"id": "seamless", "type": "seamless", "seamless_x": true, "seamless_y": true}
	edges := []any{}
	for _, e := range tiled["edges"].([]any) {
		src := e.(map[string]any)["source"].(map[string]any)
		if src["node_id"] == "model" && (src["field"] == "unet" || src["field"] == "vae") {
			src["node_id"] = "seamless"
			edges = append(edges, map[string]any{"source": map[string]any{"node_id": "model", "field": src["field"]},
				"destination": map[string]any{"node_id": "seamless", "field": src["field"]}})
		}
		edges = append(edges, e)
	}
	tiled["edges"] = edges
	var images [][]byte
	for _, g := range []map[string]any{plain, tiled} {
		it := waitItem(t, env, enqueue(t, env, g), 2*time.Minute)
		if it.Status != "completed" {
			t.Fatalf("%s: %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
		}
		images = append(images, servedImage(t, env, it))
	}
	if bytes.Equal(images[0], images[1]) {
		t.Error("the seamless run made the same image as the plain one")
	}
}
