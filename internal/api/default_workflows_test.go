package api_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/engine/goldens"
	"github.com/invokego/invokego/internal/workflows"
)

// copyTree copies a folder of fixture files.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// tinySDXLFolder assembles a complete diffusers SDXL folder from the fixtures: sdxl-tiny holds the UNet, the
// second text encoder and the scheduler; its first text encoder is sd15-tiny's (testdata/README.md), its VAE
// sd15-tiny-pipe's, and its tokenizers are made to fit the tiny encoders.
func tinySDXLFolder(t *testing.T) string {
	t.Helper()
	fixture := func(parts ...string) string {
		p, err := goldens.Path(append([]string{"sd-tiny", "models"}, parts...)...)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	dir := filepath.Join(t.TempDir(), "sdxl-tiny")
	copyTree(t, fixture("sdxl-tiny"), dir)
	copyTree(t, fixture("sd15-tiny", "text_encoder"), filepath.Join(dir, "text_encoder"))
	// sd15-tiny-pipe's VAE scales by 8 as real ones do (sd15-tiny's scales by 2), so image and noise sizes agree.
	copyTree(t, fixture("sd15-tiny-pipe", "vae"), filepath.Join(dir, "vae"))
	// sdxl-tiny's text encoders know 1000 tokens (998 and 999 start and end a text), so each tokenizer is CLIP's
	// byte-level vocabulary cut to its 512 single-symbol tokens, with no merges: every prompt spells out into
	// ids the tiny encoders have.
	full := map[string]int{}
	data, err := os.ReadFile(fixture("sd15-tiny-pipe", "tokenizer", "vocab.json"))
	if err != nil || json.Unmarshal(data, &full) != nil {
		t.Fatalf("read the CLIP vocabulary: %v", err)
	}
	small := map[string]int{"<|startoftext|>": 998, "<|endoftext|>": 999}
	for tok, id := range full {
		if id < 512 {
			small[tok] = id
		}
	}
	vocab, _ := json.Marshal(small)
	for sub, pad := range map[string]string{"tokenizer": "<|endoftext|>", "tokenizer_2": "!"} {
		d := filepath.Join(dir, sub)
		cfg, _ := json.Marshal(map[string]any{"model_max_length": 77, "pad_token": pad, "tokenizer_class": "CLIPTokenizer"})
		if err := errors.Join(os.MkdirAll(d, 0o755), os.WriteFile(filepath.Join(d, "vocab.json"), vocab, 0o644),
			os.WriteFile(filepath.Join(d, "merges.txt"), []byte("#version: 0.2\n"), 0o644),
			os.WriteFile(filepath.Join(d, "tokenizer_config.json"), cfg, 0o644)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// installModel installs a model folder and returns its identifier (key, hash, name, base, type).
func installModel(t *testing.T, env *apitest.Env, src string) map[string]any {
	t.Helper()
	var job struct {
		ID        int            `json:"id"`
		Status    string         `json:"status"`
		Error     string         `json:"error"`
		ConfigOut map[string]any `json:"config_out"`
	}
	env.Do("POST", "/api/v2/models/install?source="+url.QueryEscape(src), apitest.JSON(map[string]any{})).Expect(http.StatusCreated).Decode(&job)
	for deadline := time.Now().Add(2 * time.Minute); job.Status != "completed"; {
		if job.Status == "error" || job.Status == "cancelled" || time.Now().After(deadline) {
			t.Fatalf("install %s: %s %s", src, job.Status, job.Error)
		}
		time.Sleep(100 * time.Millisecond)
		env.Do("GET", "/api/v2/models/install/"+strconv.Itoa(job.ID)).Expect(http.StatusOK).Decode(&job)
	}
	c := job.ConfigOut
	return map[string]any{"key": c["key"], "hash": c["hash"], "name": c["name"], "base": c["base"], "type": c["type"]}
}

func uploadPNG(t *testing.T, env *apitest.Env, img image.Image) string {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	var dto struct {
		ImageName string `json:"image_name"`
	}
	env.Do("POST", "/api/v1/images/upload?image_category=user&is_intermediate=false", importForm("in.png", "image/png", buf.Bytes())).
		Expect(http.StatusCreated).Decode(&dto)
	return dto.ImageName
}

// workflowGraph turns a workflow into the graph InvokeAI's workflow editor enqueues: one node per invocation
// with its id, type, is_intermediate and use_cache and every input that has a value and no incoming edge; the
// edges as graph edges. set overrides input values, as a user does in the form.
func workflowGraph(wf map[string]any, set func(nodeType, label, field string, value any) any) map[string]any {
	connected := map[string]bool{}
	var edges []any
	for _, e := range wf["edges"].([]any) {
		e := e.(map[string]any)
		connected[e["target"].(string)+"."+e["targetHandle"].(string)] = true
		edges = append(edges, map[string]any{
			"source":      map[string]any{"node_id": e["source"], "field": e["sourceHandle"]},
			"destination": map[string]any{"node_id": e["target"], "field": e["targetHandle"]},
		})
	}
	nodes := map[string]any{}
	for _, n := range wf["nodes"].([]any) {
		n := n.(map[string]any)
		if n["type"] != "invocation" {
			continue
		}
		data := n["data"].(map[string]any)
		id, typ := data["id"].(string), data["type"].(string)
		node := map[string]any{"id": id, "type": typ, "is_intermediate": data["isIntermediate"], "use_cache": data["useCache"]}
		for name, in := range data["inputs"].(map[string]any) {
			if connected[id+"."+name] {
				continue
			}
			v := set(typ, data["label"].(string), name, in.(map[string]any)["value"])
			if v != nil {
				node[name] = v
			}
		}
		nodes[id] = node
	}
	return map[string]any{"id": "workflow-graph", "nodes": nodes, "edges": edges}
}

// TestDefaultWorkflowsRun imports every built-in workflow as a user would (the library's copy and a re-import
// of the exported file) and runs it through the queue on the tiny SD-1.5 and SDXL models, the way the workflow
// editor builds and enqueues it; each gives its image.
func TestDefaultWorkflowsRun(t *testing.T) {
	env := apitest.New(t)
	sd15Src, err := goldens.Path("sd-tiny", "models", "sd15-tiny-pipe")
	if err != nil {
		t.Fatal(err)
	}
	sd15 := installModel(t, env, sd15Src)
	// The upscaling workflow's models: the tiny ×2 ESRGAN and the tiny SD-1 ControlNet.
	esrganSrc, err := goldens.Path("sd-ext", "esrgan", "models", "rrdb-x2-unshuffle-new.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	cnSrc, err := goldens.Path("sd-ext", "controlnet", "models", "sd15-controlnet")
	if err != nil {
		t.Fatal(err)
	}
	esrgan, controlNet := installModel(t, env, esrganSrc), installModel(t, env, cnSrc)
	sdxl := installModel(t, env, tinySDXLFolder(t))
	// The LoRA workflows' adapters and the SDXL MultiDiffusion workflow's ControlNet, made for sd15-tiny-pipe and
	// sdxl-tiny (testdata/README.md).
	fixture := func(parts ...string) string {
		p, err := goldens.Path(parts...)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	sd15LoRA := installModel(t, env, fixture("sd-ext", "lora", "models", "sd15-locon-kohya.safetensors"))
	sdxlLoRA := installModel(t, env, fixture("sd-ext", "lora", "models", "sdxl-lora-kohya.safetensors"))
	sdxlControlNet := installModel(t, env, fixture("sd-ext", "controlnet", "models", "sdxl-controlnet"))
	// FLUX: the tiny dev transformer, its T5 and CLIP encoders (installed from the same folder with a type hint)
	// and the tiny FLUX VAE.
	fluxDev, err := goldens.Path("flux-tiny", "models", "flux-dev-tiny")
	if err != nil {
		t.Fatal(err)
	}
	fluxVAESrc, err := goldens.Path("flux-tiny", "models", "ae-tiny.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	installAs := func(src, typ string) map[string]any {
		var job struct {
			ID        int            `json:"id"`
			Status    string         `json:"status"`
			Error     string         `json:"error"`
			ConfigOut map[string]any `json:"config_out"`
		}
		env.Do("POST", "/api/v2/models/install?source="+url.QueryEscape(src), apitest.JSON(map[string]any{"type": typ})).Expect(http.StatusCreated).Decode(&job)
		for deadline := time.Now().Add(2 * time.Minute); job.Status != "completed"; {
			if job.Status == "error" || job.Status == "cancelled" || time.Now().After(deadline) {
				t.Fatalf("install %s as %s: %s %s", src, typ, job.Status, job.Error)
			}
			time.Sleep(50 * time.Millisecond)
			env.Do("GET", "/api/v2/models/install/"+strconv.Itoa(job.ID)).Expect(http.StatusOK).Decode(&job)
		}
		c := job.ConfigOut
		return map[string]any{"key": c["key"], "hash": c["hash"], "name": c["name"], "base": c["base"], "type": c["type"]}
	}
	flux := map[string]map[string]any{"model": installModel(t, env, fluxDev), "t5_encoder_model": installAs(fluxDev, "t5_encoder"),
		"clip_embed_model": installAs(fluxDev, "clip_embed"), "vae_model": installModel(t, env, fluxVAESrc)}
	if sd15["base"] != "sd-1" || sdxl["base"] != "sdxl" {
		t.Fatalf("installed %v and %v", sd15["base"], sdxl["base"])
	}
	const side = 64
	src := image.NewNRGBA(image.Rect(0, 0, side, side))
	mask := image.NewNRGBA(image.Rect(0, 0, side, side))
	for y := range side {
		for x := range side {
			src.SetNRGBA(x, y, color.NRGBA{uint8(4 * x), uint8(4 * y), 90, 255})
			m := uint8(255) // white: keep
			if x >= side/2 {
				m = 0 // black: repaint
			}
			mask.SetNRGBA(x, y, color.NRGBA{m, m, m, 255})
		}
	}
	white := image.NewNRGBA(image.Rect(0, 0, side, side))
	for i := range white.Pix {
		white.Pix[i] = 255
	}
	srcName, maskName, keepAll := uploadPNG(t, env, src), uploadPNG(t, env, mask), uploadPNG(t, env, white)

	defaults, err := workflows.DefaultWorkflows()
	if err != nil {
		t.Fatal(err)
	}
	ran := map[string]bool{}
	for _, d := range defaults {
		t.Run(d.ID, func(t *testing.T) {
			var rec struct {
				Workflow map[string]any `json:"workflow"`
			}
			env.Do("GET", "/api/v1/workflows/i/"+d.ID).Expect(http.StatusOK).Decode(&rec)
			// The downloaded file, imported back as the user's own workflow.
			exported := rec.Workflow
			delete(exported, "id")
			meta := exported["meta"].(map[string]any)
			meta["category"] = "user"
			var created struct {
				WorkflowID string         `json:"workflow_id"`
				Workflow   map[string]any `json:"workflow"`
			}
			env.Do("POST", "/api/v1/workflows/", apitest.JSON(map[string]any{"workflow": exported})).Expect(http.StatusOK).Decode(&created)
			wf := created.Workflow

			outW, outH := side, side
			if strings.HasPrefix(d.ID, "default_multidiffusion_") || strings.HasPrefix(d.ID, "default_tiled_upscaling_") {
				outW, outH = 2*side, 2*side // the source enlarged ×2 before it is re-denoised
			}
			maskImage := maskName
			loraWeight := any(nil) // the workflow's own weight unless a run overrides it
			controlWeight := any(nil)
			weighed := strings.HasPrefix(d.ID, "default_text_to_image_lora_") || strings.HasPrefix(d.ID, "default_text_to_image_controlnet_")
			sdxlWorkflow := strings.HasSuffix(d.ID, "_sdxl")
			set := func(typ, label, field string, v any) any {
				switch {
				case typ == "main_model_loader" && field == "model":
					return sd15
				case typ == "sdxl_model_loader" && field == "model":
					return sdxl
				case typ == "image" && field == "image" && label == "Mask":
					return map[string]any{"image_name": maskImage}
				case typ == "image" && field == "image":
					return map[string]any{"image_name": srcName}
				case typ == "noise" && (field == "width" || field == "height"):
					return side
				case typ == "denoise_latents" && field == "steps", typ == "tiled_multi_diffusion_denoise_latents" && field == "steps":
					return 3
				case typ == "spandrel_image_to_image_autoscale" && field == "image_to_image_model":
					outW, outH = 2*side, 2*side // the ×2 model at scale 2
					return esrgan
				case typ == "controlnet" && field == "control_weight" && controlWeight != nil:
					return controlWeight
				case typ == "controlnet" && field == "control_model" && sdxlWorkflow:
					return sdxlControlNet
				case typ == "controlnet" && field == "control_model":
					return controlNet
				case typ == "lora_loader" && field == "lora":
					return sd15LoRA
				case typ == "sdxl_lora_loader" && field == "lora":
					return sdxlLoRA
				case (typ == "lora_loader" || typ == "sdxl_lora_loader") && field == "weight" && loraWeight != nil:
					return loraWeight
				case typ == "rand_int" && weighed:
					// One seed, so that runs differ only in the LoRA's or the ControlNet's weight.
					return map[string]any{"low": 7, "high": 8}[field]
				case typ == "tiled_multi_diffusion_denoise_latents" && (field == "tile_width" || field == "tile_height"),
					typ == "calculate_image_tiles" && (field == "tile_width" || field == "tile_height"):
					// 64-pixel tiles over the 128-pixel enlarged source: three by three tiles at these overlaps.
					return side
				case typ == "tiled_multi_diffusion_denoise_latents" && field == "tile_overlap":
					return 16
				case typ == "calculate_image_tiles" && field == "overlap":
					return 32
				case typ == "merge_tiles_to_image" && field == "blend_amount":
					return 16 // a seam needs room inside the overlap
				case typ == "flux_model_loader":
					return flux[field]
				case typ == "flux_denoise" && field == "num_steps":
					return 2
				case typ == "flux_denoise" && (field == "width" || field == "height"):
					return side
				case typ == "prompt_from_file" && field == "file_path":
					// The file lives in the server's prompts folder (docs/security.md, "Server files").
					dir := filepath.Join(env.Root, "prompts")
					if err := os.MkdirAll(dir, 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(filepath.Join(dir, "lines.txt"), []byte("a red fox\r\n  a blue owl  \n"), 0o644); err != nil {
						t.Fatal(err)
					}
					return "lines.txt"
				case typ == "img_resize" && field == "width":
					outW = 100
					return 100
				case typ == "img_resize" && field == "height":
					outH = 72
					return 72
				}
				return v
			}
			galleryCount := func() int {
				names := env.Do("GET", "/api/v1/images/names?board_id=none&categories=general&is_intermediate=false").Expect(http.StatusOK).Map()
				return len(names["image_names"].([]any))
			}
			before := galleryCount()
			img, results := runGraphResults(t, env, workflowGraph(wf, set), wf, srcName, maskName, keepAll)
			if strings.HasPrefix(d.ID, "default_tiled_upscaling_") {
				// 64-pixel tiles overlapping by 32 over 128 pixels: three by three, each denoised and paired.
				counts := map[string]int{}
				for _, r := range results {
					counts[r["type"].(string)]++
				}
				if counts["pair_tile_image_output"] != 9 || counts["latents_output"] < 9 {
					t.Errorf("tile outputs: %v, want 9 paired tiles", counts)
				}
			}
			if strings.HasPrefix(d.ID, "default_prompt_from_file_") {
				// One image per line of the file.
				if made := galleryCount() - before; made != 2 {
					t.Errorf("%d images from a two-line prompt file", made)
				}
			}
			if b := img.Bounds(); b.Dx() != outW || b.Dy() != outH {
				t.Fatalf("output %v, want %dx%d", b, outW, outH)
			}
			// The image carries the workflow it was made with.
			names := env.Do("GET", "/api/v1/images/names?board_id=none&categories=general&is_intermediate=false&order_dir=DESC&starred_first=false").Expect(http.StatusOK).Map()
			latest := names["image_names"].([]any)[0].(string)
			var saved map[string]any
			env.Do("GET", "/api/v1/images/i/"+latest+"/workflow").Expect(http.StatusOK).Decode(&saved)
			if raw, _ := json.Marshal(saved); !strings.Contains(string(raw), wf["name"].(string)) {
				t.Errorf("the image's workflow is not the one run: %.200s", raw)
			}

			if strings.HasPrefix(d.ID, "default_text_to_image_controlnet_") {
				// The ControlNet steers: at weight 0 the same seed gives another image.
				controlWeight = 0
				without := runGraph(t, env, workflowGraph(wf, set), wf)
				diff := meanAbsDiff(img, without, 0, side)
				t.Logf("ControlNet at the default weight vs weight 0, same seed: mean |difference| %.3f", diff)
				if diff < 0.5 {
					t.Errorf("the ControlNet at its default weight changed the image by only %.3f on average", diff)
				}
			}
			if strings.HasPrefix(d.ID, "default_text_to_image_lora_") {
				// The LoRA is applied: at weight 0 the same seed gives another image.
				loraWeight = 0
				without := runGraph(t, env, workflowGraph(wf, set), wf)
				diff := meanAbsDiff(img, without, 0, side)
				t.Logf("LoRA at the default weight vs weight 0, same seed: mean |difference| %.3f", diff)
				if diff < 0.5 {
					t.Errorf("the LoRA at its default weight changed the image by only %.3f on average", diff)
				}
			}
			if strings.HasPrefix(d.ID, "default_multidiffusion_") || strings.HasPrefix(d.ID, "default_tiled_upscaling_") {
				// The enlarged source is re-denoised, not passed through: compare with the plain ×2 enlargement.
				e := func(a, b, c, d string) map[string]any {
					return map[string]any{"source": map[string]any{"node_id": a, "field": b}, "destination": map[string]any{"node_id": c, "field": d}}
				}
				plain := runGraph(t, env, map[string]any{"id": "plain-scale", "nodes": map[string]any{
					"i": map[string]any{"id": "i", "type": "image", "image": map[string]any{"image_name": srcName}},
					"s": map[string]any{"id": "s", "type": "img_scale", "scale_factor": 2.0, "resample_mode": "lanczos", "is_intermediate": false},
				}, "edges": []any{e("i", "image", "s", "image")}}, nil, srcName)
				diff := meanAbsDiff(img, plain, 0, 2*side)
				t.Logf("re-denoised vs plain ×2 enlargement: mean |difference| %.3f", diff)
				if diff < 1 {
					t.Errorf("the upscaled image is the plain enlargement (mean difference %.3f)", diff)
				}
			}
			if strings.HasPrefix(d.ID, "default_inpaint_") {
				// White keeps: with an all-white mask nothing is repainted, and the result is the source through
				// the VAE and back, exactly; the half-black mask repainted something.
				model := sd15
				if strings.HasSuffix(d.ID, "sdxl") {
					model = sdxl
				}
				loader := map[string]any{"sd-1": "main_model_loader", "sdxl": "sdxl_model_loader"}[model["base"].(string)]
				e := func(a, b, c, d string) map[string]any {
					return map[string]any{"source": map[string]any{"node_id": a, "field": b}, "destination": map[string]any{"node_id": c, "field": d}}
				}
				fp32 := strings.HasSuffix(d.ID, "sdxl")
				roundTrip := runGraph(t, env, map[string]any{"id": "vae-round-trip", "nodes": map[string]any{
					"m": map[string]any{"id": "m", "type": loader, "model": model},
					"i": map[string]any{"id": "i", "type": "image", "image": map[string]any{"image_name": srcName}},
					"e": map[string]any{"id": "e", "type": "i2l", "fp32": fp32},
					"d": map[string]any{"id": "d", "type": "l2i", "fp32": fp32, "is_intermediate": false},
				}, "edges": []any{e("m", "vae", "e", "vae"), e("i", "image", "e", "image"), e("e", "latents", "d", "latents"), e("m", "vae", "d", "vae")}},
					nil, srcName)
				if diff := meanAbsDiff(img, roundTrip, 0, side); diff < 1 {
					t.Errorf("the half-black mask repainted nothing (mean difference %.3f)", diff)
				}
				maskImage = keepAll
				kept := runGraph(t, env, workflowGraph(wf, set), wf, srcName, maskName, keepAll)
				if diff := meanAbsDiff(kept, roundTrip, 0, side); diff != 0 {
					t.Errorf("an all-white mask changed the image: mean difference %.3f from the VAE round trip", diff)
				}
			}
			ran[d.ID] = true
		})
	}
	for _, want := range []string{"default_text_to_image_sd15", "default_text_to_image_sdxl", "default_image_to_image_sd15",
		"default_image_to_image_sdxl", "default_inpaint_sd15", "default_inpaint_sdxl", "default_prompt_from_file_sd15", "default_prompt_from_file_sdxl", "default_text_to_image_flux", "default_image_to_image_flux", "default_esrgan_upscale_canny_controlnet_sd15",
		"default_text_to_image_lora_sd15", "default_text_to_image_lora_sdxl", "default_multidiffusion_sd15", "default_multidiffusion_sdxl",
		"default_tiled_upscaling_sd15", "default_text_to_image_controlnet_sd15", "default_text_to_image_controlnet_sdxl"} {
		if !ran[want] {
			t.Errorf("%s did not run", want)
		}
	}
}

// runGraph enqueues a graph (with the workflow, if any) and returns the decoded gallery image it made.
func runGraph(t *testing.T, env *apitest.Env, graph, wf map[string]any, skip ...string) image.Image {
	t.Helper()
	img, _ := runGraphResults(t, env, graph, wf, skip...)
	return img
}

// runGraphResults is runGraph that also returns the session's results, by prepared node id.
func runGraphResults(t *testing.T, env *apitest.Env, graph, wf map[string]any, skip ...string) (image.Image, map[string]map[string]any) {
	t.Helper()
	batch := map[string]any{"graph": graph, "runs": 1, "origin": "workflows", "destination": "gallery"}
	if wf != nil {
		batch["workflow"] = wf
	}
	var enq struct {
		ItemIDs []int `json:"item_ids"`
	}
	env.Do("POST", "/api/v1/queue/default/enqueue_batch", apitest.JSON(map[string]any{"prepend": false, "batch": batch})).Expect(http.StatusOK).Decode(&enq)
	var it struct {
		Status       string `json:"status"`
		ErrorType    string `json:"error_type"`
		ErrorMessage string `json:"error_message"`
		Session      struct {
			Results map[string]map[string]any `json:"results"`
		} `json:"session"`
	}
	for deadline := time.Now().Add(3 * time.Minute); ; {
		env.Do("GET", "/api/v1/queue/default/i/"+strconv.Itoa(enq.ItemIDs[0])).Expect(http.StatusOK).Decode(&it)
		if it.Status == "completed" || it.Status == "failed" || it.Status == "canceled" || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if it.Status != "completed" {
		t.Fatalf("%s %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
	}
	for _, r := range it.Session.Results {
		if r["type"] != "image_output" {
			continue
		}
		name := r["image"].(map[string]any)["image_name"].(string)
		if slices.Contains(skip, name) {
			continue
		}
		var dto struct {
			IsIntermediate bool `json:"is_intermediate"`
		}
		env.Do("GET", "/api/v1/images/i/"+name).Expect(http.StatusOK).Decode(&dto)
		if dto.IsIntermediate {
			continue
		}
		img, err := png.Decode(bytes.NewReader(env.Do("GET", "/api/v1/images/i/"+name+"/full").Expect(http.StatusOK).Body))
		if err != nil {
			t.Fatal(err)
		}
		return img, it.Session.Results
	}
	t.Fatal("no gallery image")
	return nil, nil
}

// meanAbsDiff compares the RGB of two images over the columns [x0, x1).
func meanAbsDiff(a, b image.Image, x0, x1 int) float64 {
	sum, n := 0.0, 0
	for y := a.Bounds().Min.Y; y < a.Bounds().Max.Y; y++ {
		for x := x0; x < x1; x++ {
			ar, ag, ab, _ := a.At(x, y).RGBA()
			br, bg, bb, _ := b.At(x, y).RGBA()
			for _, d := range []int{int(ar>>8) - int(br>>8), int(ag>>8) - int(bg>>8), int(ab>>8) - int(bb>>8)} {
				if d < 0 {
					d = -d
				}
				sum += float64(d)
			}
			n += 3
		}
	}
	return sum / float64(n)
}
