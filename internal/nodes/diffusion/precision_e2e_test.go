package diffusion_test

import (
	"bytes"
	"image"
	"image/png"
	"net/http"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/config"
)

// decodeGraph decodes seeded noise latents (a 64-pixel image) with l2i and
// the given fp32 field: the VAE alone, so the precision of the decode is all
// that differs between servers.
func decodeGraph(model map[string]any, fp32 bool) map[string]any {
	edge := func(from, field, to, toField string) map[string]any {
		return map[string]any{"source": map[string]any{"node_id": from, "field": field},
			"destination": map[string]any{"node_id": to, "field": toField}}
	}
	return apitest.Graph(map[string]any{
		"model": map[string]any{"type": "main_model_loader", "is_intermediate": true, "model": model},
		"noise": map[string]any{"type": "noise", "seed": 3, "width": 64, "height": 64, "use_cpu": true},
		"l2i":   map[string]any{"type": "l2i", "is_intermediate": false, "fp32": fp32},
	}, []any{
		edge("noise", "noise", "l2i", "latents"),
		edge("model", "vae", "l2i", "vae"),
	})
}

func decodedImage(t *testing.T, env *apitest.Env, graph map[string]any) image.Image {
	t.Helper()
	it := env.RunGraph(graph, 2*time.Minute)
	if it.Status != "completed" {
		t.Fatalf("item %s: %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
	}
	resp := env.Do("GET", "/api/v1/images/i/"+imageName(t, it)+"/full").Expect(http.StatusOK)
	img, err := png.Decode(bytes.NewReader(resp.Body))
	if err != nil {
		t.Fatalf("decode served image: %v", err)
	}
	return img
}

// levelsOff counts the channel values where a and b differ.
func levelsOff(a, b image.Image) (off, worst int) {
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			r1, g1, b1, _ := a.At(x, y).RGBA()
			r2, g2, b2, _ := b.At(x, y).RGBA()
			for _, d := range []int{int(r1>>8) - int(r2>>8), int(g1>>8) - int(g2>>8), int(b1>>8) - int(b2>>8)} {
				d = max(d, -d)
				worst = max(worst, d)
				if d > 0 {
					off++
				}
			}
		}
	}
	return off, worst
}

// TestL2IFP32FieldOnBF16Server: with precision bf16 the VAE is built in
// bf16, and l2i's fp32: true decodes with a float32 build of it instead,
// giving exactly the image an fp32 server decodes; fp32: false keeps the
// bf16 decode (which differs, or the test could not tell them apart). The
// two builds are cached side by side and the load events name the submodel
// "vae" for both.
func TestL2IFP32FieldOnBF16Server(t *testing.T) {
	ref := apitest.New(t) // precision float32
	refModel := installTinyModel(t, ref)
	want := decodedImage(t, ref, decodeGraph(refModel, false))
	ref.Close()

	env := apitest.New(t, apitest.WithConfig(func(c *config.Config) { c.Precision = "bf16" }))
	model := installTinyModel(t, env)
	bus, stop := env.App.Events.Subscribe(4096)
	defer stop()

	bf16 := decodedImage(t, env, decodeGraph(model, false))
	if off, _ := levelsOff(bf16, want); off == 0 {
		t.Fatal("the bf16 server's bf16 decode equals the fp32 image: the test cannot tell the precisions apart")
	}
	got := decodedImage(t, env, decodeGraph(model, true))
	if off, worst := levelsOff(got, want); off != 0 {
		t.Errorf("fp32: true on a bf16 server differs from the fp32 server's image in %d values (up to %d levels)", off, worst)
	}
	// The float32 build is cached beside the bf16 one and reused.
	got2 := decodedImage(t, env, decodeGraph(model, true))
	if off, _ := levelsOff(got2, want); off != 0 {
		t.Errorf("the second fp32 decode (cached float32 build) differs from the fp32 server's image")
	}
	sizes := env.App.Models.Cache.Stats().LoadedModelSizes
	key := model["key"].(string)
	if _, ok := sizes[key+":vae"]; !ok {
		t.Errorf("cache holds %v, want the bf16 vae", sizes)
	}
	if _, ok := sizes[key+":vae#fp32"]; !ok {
		t.Errorf("cache holds %v, want the float32 vae beside it", sizes)
	}
	vaeLoads := 0
	for drained := false; !drained; {
		select {
		case e := <-bus:
			if e.Name != "model_load_complete" {
				continue
			}
			var st string
			switch v := e.Payload["submodel_type"].(type) {
			case string:
				st = v
			case *string:
				if v != nil {
					st = *v
				}
			}
			if st != "vae" && st != "unet" && st != "text_encoder" && st != "tokenizer" && st != "scheduler" {
				t.Errorf("model_load_complete with submodel_type %q", st)
			}
			if st == "vae" {
				vaeLoads++
			}
		default:
			drained = true
		}
	}
	if vaeLoads != 2 {
		t.Errorf("%d vae loads, want 2 (bf16, then float32 once)", vaeLoads)
	}
}
