package diffusion_test

import (
	"bytes"
	"image/png"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/apitest"
)

// tiled_multi_diffusion_denoise_latents through the API: with one tile covering the image it is
// denoise_latents (identical images); with a 2×2 grid of overlapping tiles it runs and keeps the size.
func TestE2ETiledMultiDiffusion(t *testing.T) {
	env := apitest.New(t)
	model := installTinyModel(t, env)
	const size = 128
	run := func(tiled map[string]any) []byte {
		t.Helper()
		g := txt2imgGraph(model, "a photo of a cat", "", "euler", 4, 0, size)
		if tiled != nil {
			nodes := g["nodes"].(map[string]any)
			d := nodes["denoise"].(map[string]any)
			tiled["id"], tiled["type"] = "denoise", "tiled_multi_diffusion_denoise_latents"
			tiled["steps"], tiled["cfg_scale"], tiled["scheduler"] = d["steps"], d["cfg_scale"], d["scheduler"]
			nodes["denoise"] = tiled
		}
		it := waitItem(t, env, enqueue(t, env, g), 3*time.Minute)
		if it.Status != "completed" {
			t.Fatalf("item %s: %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
		}
		return env.Do("GET", "/api/v1/images/i/"+imageName(t, it)+"/full").Expect(http.StatusOK).Body
	}
	plain := run(nil)
	one := run(map[string]any{"tile_width": size, "tile_height": size, "tile_overlap": 32})
	if !bytes.Equal(decodePix(t, plain), decodePix(t, one)) {
		t.Error("a single tile covering the image differs from denoise_latents")
	}
	grid := run(map[string]any{"tile_width": 96, "tile_height": 96, "tile_overlap": 32})
	img, err := png.Decode(bytes.NewReader(grid))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != size || b.Dy() != size {
		t.Errorf("2×2 tiles: image %v", b)
	}
	if bytes.Equal(decodePix(t, plain), decodePix(t, grid)) {
		t.Error("2×2 overlapping tiles gave exactly the untiled image")
	}
	// Sizes that are not multiples of 8 are refused before the run (422).
	g := txt2imgGraph(model, "a photo of a cat", "", "euler", 4, 0, size)
	g["nodes"].(map[string]any)["denoise"] = map[string]any{"id": "denoise", "type": "tiled_multi_diffusion_denoise_latents", "tile_width": 100}
	env.Do("POST", "/api/v1/queue/default/enqueue_batch", apitest.JSON(map[string]any{"batch": map[string]any{"graph": g, "runs": 1}})).
		Expect(http.StatusUnprocessableEntity)
}

func decodePix(t *testing.T, b []byte) []byte {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	bnd := img.Bounds()
	for y := bnd.Min.Y; y < bnd.Max.Y; y++ {
		for x := bnd.Min.X; x < bnd.Max.X; x++ {
			r, g, b, a := img.At(x, y).RGBA()
			buf.Write([]byte{byte(r >> 8), byte(g >> 8), byte(b >> 8), byte(a >> 8)})
		}
	}
	return buf.Bytes()
}

// tiled_multi_diffusion_denoise_latents with a ControlNet through the API: one tile covering the image
// with the ControlNet is denoise_latents with it (identical images); on a 2×2 grid each tile takes its
// crop of the control image (pipeline.TestMultiDiffusionControlPerTile pins the crop), and the ControlNet
// changes the tiled result.
func TestE2ETiledMultiDiffusionControlNet(t *testing.T) {
	env := apitest.New(t)
	model := installTinyModel(t, env)
	cn := installSource(t, env, sdExtPath(t, "controlnet", "models", "sd15-controlnet"), map[string]any{})
	control := uploadPNG(t, env, sdExtPath(t, "controlnet", "inputs", "control_shapes64.png"))
	const size = 128
	run := func(tiled map[string]any, withControl bool) []byte {
		t.Helper()
		g := txt2imgGraph(model, "a photo of a cat", "", "euler", 3, 0, size)
		if tiled != nil {
			nodes := g["nodes"].(map[string]any)
			d := nodes["denoise"].(map[string]any)
			tiled["id"], tiled["type"] = "denoise", "tiled_multi_diffusion_denoise_latents"
			tiled["steps"], tiled["cfg_scale"], tiled["scheduler"] = d["steps"], d["cfg_scale"], d["scheduler"]
			nodes["denoise"] = tiled
		}
		if withControl {
			addNode(g, map[string]any{"id": "cn", "type": "controlnet", "image": map[string]any{"image_name": control},
				"control_model": cn, "control_weight": 0.8}, link("cn", "control", "denoise", "control"))
		}
		it := waitItem(t, env, enqueue(t, env, g), 3*time.Minute)
		if it.Status != "completed" {
			t.Fatalf("item %s: %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
		}
		return decodePix(t, env.Do("GET", "/api/v1/images/i/"+imageName(t, it)+"/full").Expect(http.StatusOK).Body)
	}
	plain := run(nil, true)
	one := run(map[string]any{"tile_width": size, "tile_height": size, "tile_overlap": 32}, true)
	if !bytes.Equal(plain, one) {
		t.Error("a single tile with a ControlNet differs from denoise_latents with it")
	}
	grid := map[string]any{"tile_width": 96, "tile_height": 96, "tile_overlap": 32}
	withCN := run(grid, true)
	grid = map[string]any{"tile_width": 96, "tile_height": 96, "tile_overlap": 32}
	if bytes.Equal(withCN, run(grid, false)) {
		t.Error("2×2 tiles: the ControlNet changed nothing")
	}
}

// Progress per tile: a 2×2 tiled run of 3 steps reports each tile of each step ("Denoising tile i/4, step
// s/3", 12 events, the share of tile passes done rising to 1) besides its per-step previews.
func TestE2ETiledMultiDiffusionTileProgress(t *testing.T) {
	env := apitest.New(t)
	model := installTinyModel(t, env)
	bus, stop := env.App.Events.Subscribe(4096)
	defer stop()
	g := txt2imgGraph(model, "a photo of a cat", "", "euler", 3, 0, 128)
	g["nodes"].(map[string]any)["denoise"] = map[string]any{"id": "denoise", "type": "tiled_multi_diffusion_denoise_latents",
		"tile_width": 96, "tile_height": 96, "tile_overlap": 32, "steps": 3, "cfg_scale": 7.5, "scheduler": "euler"}
	it := waitItem(t, env, enqueue(t, env, g), 3*time.Minute)
	if it.Status != "completed" {
		t.Fatalf("item %s: %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
	}
	var tiles []string
	var pcts []float64
	previews := 0
	for drained := false; !drained; {
		select {
		case e := <-bus:
			if e.Name != "invocation_progress" {
				continue
			}
			msg, _ := e.Payload["message"].(string)
			if strings.HasPrefix(msg, "Denoising tile ") {
				tiles = append(tiles, msg)
				if p, ok := e.Payload["percentage"].(*float64); ok && p != nil {
					pcts = append(pcts, *p)
				}
			} else if e.Payload["image"] != nil {
				previews++
			}
		default:
			drained = true
		}
	}
	if len(tiles) != 12 || tiles[0] != "Denoising tile 1/4, step 1/3" || tiles[11] != "Denoising tile 4/4, step 3/3" {
		t.Errorf("tile progress %q", tiles)
	}
	if len(pcts) != 12 || pcts[11] != 1 {
		t.Errorf("tile percentages %v", pcts)
	}
	for i := 1; i < len(pcts); i++ {
		if pcts[i] <= pcts[i-1] {
			t.Errorf("tile percentages do not rise: %v", pcts)
			break
		}
	}
	if previews != 3 {
		t.Errorf("%d step previews, want 3", previews)
	}
}
