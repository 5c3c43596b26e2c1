package canvastest

import (
	"image"
	"image/color"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
)

// invokeAIGraph builds an SD-1.5 canvas graph the way InvokeAI 6.12's own canvas does (buildSD1Graph with
// addInpaint or addOutpaint, no scaling, "output only masked regions" on, so the result is
// apply_mask_to_image's): model loader, CLIP skip, prompts collected, a seed node, noise, denoise_latents, l2i,
// and the mode's own tail. initial and mask are uploaded image names; pasteBack blends the result onto the
// initial image (invokeai_img_blend) instead.
func invokeAIGraph(mode string, model map[string]any, initial, mask string, pasteBack bool) map[string]any {
	nodes := map[string]any{}
	add := func(id, typ string, fields map[string]any) {
		n := map[string]any{"id": id, "type": typ, "is_intermediate": true, "use_cache": true}
		for k, v := range fields {
			n[k] = v
		}
		nodes[id] = n
	}
	var edges []any
	e := func(from, out, to, in string) {
		edges = append(edges, map[string]any{"source": map[string]any{"node_id": from, "field": out},
			"destination": map[string]any{"node_id": to, "field": in}})
	}
	add("main_model_loader:1", "main_model_loader", map[string]any{"model": model})
	add("clip_skip:1", "clip_skip", map[string]any{"skipped_layers": 0})
	add("pos_prompt:1", "compel", map[string]any{"prompt": "a red barn in a field"})
	add("pos_cond_collect:1", "collect", nil)
	add("neg_prompt:1", "compel", map[string]any{"prompt": "blurry"})
	add("neg_cond_collect:1", "collect", nil)
	add("seed:1", "integer", map[string]any{"value": 42})
	add("noise:1", "noise", map[string]any{"use_cpu": true, "width": size, "height": size})
	add("denoise_latents:1", "denoise_latents", map[string]any{"cfg_scale": 7.5, "cfg_rescale_multiplier": 0,
		"scheduler": "euler", "steps": 3, "denoising_start": 0.3, "denoising_end": 1})
	add("l2i:1", "l2i", map[string]any{"fp32": false})
	add("core_metadata:1", "core_metadata", map[string]any{"generation_mode": mode, "positive_prompt": "a red barn in a field",
		"negative_prompt": "blurry", "width": size, "height": size, "seed": 42, "cfg_scale": 7.5, "steps": 3, "scheduler": "euler", "model": model})
	e("main_model_loader:1", "clip", "clip_skip:1", "clip")
	e("clip_skip:1", "clip", "pos_prompt:1", "clip")
	e("clip_skip:1", "clip", "neg_prompt:1", "clip")
	e("pos_prompt:1", "conditioning", "pos_cond_collect:1", "item")
	e("neg_prompt:1", "conditioning", "neg_cond_collect:1", "item")
	e("pos_cond_collect:1", "collection", "denoise_latents:1", "positive_conditioning")
	e("neg_cond_collect:1", "collection", "denoise_latents:1", "negative_conditioning")
	e("main_model_loader:1", "unet", "denoise_latents:1", "unet")
	e("seed:1", "value", "noise:1", "seed")
	e("noise:1", "noise", "denoise_latents:1", "noise")
	e("denoise_latents:1", "latents", "l2i:1", "latents")
	e("main_model_loader:1", "vae", "l2i:1", "vae")

	add("i2l:1", "i2l", map[string]any{"fp32": false})
	add("create_gradient_mask:1", "create_gradient_mask", map[string]any{"coherence_mode": "Gaussian Blur",
		"minimum_denoise": 0, "edge_radius": 8, "fp32": false, "image": map[string]any{"image_name": initial}})
	add("expand_mask_with_fade:1", "expand_mask_with_fade", map[string]any{"fade_size_px": 4})
	if pasteBack {
		// Sent to the gallery (or "output only masked regions" off): the result is blended back onto the initial
		// image through the faded mask.
		add("canvas_output", "invokeai_img_blend", map[string]any{"layer_base": map[string]any{"image_name": initial}, "use_cache": false})
		e("l2i:1", "image", "canvas_output", "layer_upper")
	} else {
		add("canvas_output", "apply_mask_to_image", map[string]any{"invert_mask": true, "use_cache": false})
		e("l2i:1", "image", "canvas_output", "image")
	}
	e("i2l:1", "latents", "denoise_latents:1", "latents")
	e("main_model_loader:1", "vae", "i2l:1", "vae")
	e("main_model_loader:1", "vae", "create_gradient_mask:1", "vae")
	e("main_model_loader:1", "unet", "create_gradient_mask:1", "unet")
	e("create_gradient_mask:1", "denoise_mask", "denoise_latents:1", "denoise_mask")
	e("create_gradient_mask:1", "expanded_mask_area", "expand_mask_with_fade:1", "mask")
	e("expand_mask_with_fade:1", "image", "canvas_output", "mask")
	e("core_metadata:1", "metadata", "canvas_output", "metadata")
	switch mode {
	case "inpaint":
		nodes["i2l:1"].(map[string]any)["image"] = map[string]any{"image_name": initial}
		nodes["create_gradient_mask:1"].(map[string]any)["mask"] = map[string]any{"image_name": mask}
	case "outpaint":
		// The transparent part of the initial image is infilled, and joins the (inverted) inpaint mask.
		add("infill_tile:1", "infill_tile", map[string]any{"tile_size": 32, "image": map[string]any{"image_name": initial}})
		add("mask_alpha_to_mask:1", "tomask", map[string]any{"image": map[string]any{"image_name": mask}, "invert": true})
		add("image_alpha_to_mask:1", "tomask", map[string]any{"image": map[string]any{"image_name": initial}})
		add("mask_combine:1", "mask_combine", nil)
		e("mask_alpha_to_mask:1", "image", "mask_combine:1", "mask1")
		e("image_alpha_to_mask:1", "image", "mask_combine:1", "mask2")
		e("mask_combine:1", "image", "create_gradient_mask:1", "mask")
		e("infill_tile:1", "image", "i2l:1", "image")
	}
	return map[string]any{"id": "canvas-" + mode, "nodes": nodes, "edges": edges}
}

// TestInvokeAICanvasGraphsRun: SD-1.5 inpaint and outpaint graphs shaped as InvokeAI 6.12's canvas builds them
// run through the API on the tiny model. The result holds only the masked region: inpaint gives the repainted
// square opaque (and changed) and pixels far from it transparent; outpaint gives the transparent half opaque and
// the far side of the kept half transparent.
func TestInvokeAICanvasGraphsRun(t *testing.T) {
	env := apitest.New(t)
	model := install(t, env, fixture(t, "sd-tiny", "models", "sd15-tiny-pipe"))
	imgs := images()
	initial := upload(t, env, imgs["canvas-initial.png"])
	mask := upload(t, env, imgs["canvas-mask.png"])
	outInitial := upload(t, env, imgs["canvas-outpaint.png"])
	// No inpaint mask painted: the canvas's mask composite is transparent.
	noMask := upload(t, env, image.NewNRGBA(image.Rect(0, 0, size, size)))

	t.Run("inpaint", func(t *testing.T) {
		it := run(t, env, invokeAIGraph("inpaint", model, initial, mask, false))
		if it.Status != "completed" {
			t.Fatalf("%s: %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
		}
		_, out := outputImage(t, env, it)
		if b := out.Bounds(); b.Dx() != size || b.Dy() != size {
			t.Fatalf("output %v", b)
		}
		src := imgs["canvas-initial.png"]
		changed := 0
		for y := 0; y < size; y++ {
			for x := 0; x < size; x++ {
				c := nrgba(out, x, y)
				inside := x >= maskLo && x < maskHi && y >= maskLo && y < maskHi
				far := x < maskLo-20 || x >= maskHi+20 || y < maskLo-20 || y >= maskHi+20
				switch {
				case inside && c.A != 255:
					t.Fatalf("masked pixel (%d,%d) has alpha %d", x, y, c.A)
				case far && c.A != 0:
					t.Fatalf("pixel (%d,%d) far from the mask has alpha %d", x, y, c.A)
				}
				if inside && (color.NRGBA{c.R, c.G, c.B, 255}) != nrgba(src, x, y) {
					changed++
				}
			}
		}
		if changed < (maskHi-maskLo)*(maskHi-maskLo)/2 {
			t.Errorf("only %d masked pixels were repainted", changed)
		}
	})
	// Sent to the gallery, the same graphs paste the result back onto the initial image (invokeai_img_blend):
	// the pixels away from the repainted square are the initial image's exactly, the square is repainted.
	t.Run("inpaint-paste-back", func(t *testing.T) {
		it := run(t, env, invokeAIGraph("inpaint", model, initial, mask, true))
		if it.Status != "completed" {
			t.Fatalf("%s: %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
		}
		_, out := outputImage(t, env, it)
		checkInpaint(t, imgs["canvas-initial.png"], out)
	})
	t.Run("outpaint-paste-back", func(t *testing.T) {
		it := run(t, env, invokeAIGraph("outpaint", model, outInitial, noMask, true))
		if it.Status != "completed" {
			t.Fatalf("%s: %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
		}
		_, out := outputImage(t, env, it)
		src := imgs["canvas-outpaint.png"]
		for y := 0; y < size; y++ {
			for x := 0; x < size; x++ {
				got := nrgba(out, x, y)
				if x >= size/2 && got.A != 255 {
					t.Fatalf("outpainted pixel (%d,%d) has alpha %d", x, y, got.A)
				}
				if x < size/2-20 && got != nrgba(src, x, y) {
					t.Fatalf("kept pixel (%d,%d) changed: %v, was %v", x, y, got, nrgba(src, x, y))
				}
			}
		}
	})
	t.Run("outpaint", func(t *testing.T) {
		it := run(t, env, invokeAIGraph("outpaint", model, outInitial, noMask, false))
		if it.Status != "completed" {
			t.Fatalf("%s: %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
		}
		_, out := outputImage(t, env, it)
		for y := 0; y < size; y++ {
			for x := 0; x < size; x++ {
				a := nrgba(out, x, y).A
				if x >= size/2 && a != 255 {
					t.Fatalf("outpainted pixel (%d,%d) has alpha %d", x, y, a)
				}
				if x < size/2-20 && a != 0 {
					t.Fatalf("kept pixel (%d,%d) far from the seam has alpha %d", x, y, a)
				}
			}
		}
	})
}
