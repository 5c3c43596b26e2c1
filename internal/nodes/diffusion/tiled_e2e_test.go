package diffusion_test

import (
	"bytes"
	"image/png"
	"net/http"
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
