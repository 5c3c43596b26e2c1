package upscale_test

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/engine/goldens"
	"github.com/invokego/invokego/internal/events"
)

// install installs a model file through the model manager API and returns its identifier.
func install(t *testing.T, env *apitest.Env, rel ...string) map[string]any {
	t.Helper()
	src, err := goldens.Path(rel...)
	if err != nil {
		t.Fatal(err)
	}
	var job struct {
		ID     int            `json:"id"`
		Status string         `json:"status"`
		Error  string         `json:"error"`
		Config map[string]any `json:"config_out"`
	}
	env.Do("POST", "/api/v2/models/install?source="+url.QueryEscape(src), apitest.JSON(map[string]any{})).Expect(http.StatusCreated).Decode(&job)
	deadline := time.Now().Add(time.Minute)
	for job.Status != "completed" {
		if job.Status == "error" || job.Status == "cancelled" || time.Now().After(deadline) {
			t.Fatalf("installing %s: status %q, error %q", src, job.Status, job.Error)
		}
		time.Sleep(50 * time.Millisecond)
		env.Do("GET", "/api/v2/models/install/"+strconv.Itoa(job.ID)).Expect(http.StatusOK).Decode(&job)
	}
	var list struct {
		Models []map[string]any `json:"models"`
	}
	env.Do("GET", "/api/v2/models/?model_type=spandrel_image_to_image").Expect(http.StatusOK).Decode(&list)
	for _, m := range list.Models {
		if m["source"] == src {
			if m["base"] != "any" || m["format"] != "checkpoint" {
				t.Errorf("record %v", m)
			}
			if _, has := m["config_path"]; has {
				t.Errorf("a spandrel record has config_path: %v", m)
			}
			return map[string]any{"key": m["key"], "hash": m["hash"], "name": m["name"], "base": m["base"], "type": m["type"]}
		}
	}
	t.Fatalf("%s is not among the installed image-to-image models %v", src, list.Models)
	return nil
}

func readPNG(t *testing.T, rel ...string) image.Image {
	t.Helper()
	p, err := goldens.Path(rel...)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func run(t *testing.T, env *apitest.Env, node map[string]any) int {
	t.Helper()
	return env.Enqueue(apitest.Graph(map[string]any{"up": node}, []any{}))[0]
}

func wait(t *testing.T, env *apitest.Env, id int, timeout time.Duration) apitest.QueueItem {
	t.Helper()
	return env.WaitItem(id, timeout)
}

// output fetches the saved image of a finished item.
func output(t *testing.T, env *apitest.Env, it apitest.QueueItem) image.Image {
	t.Helper()
	if it.Status != "completed" {
		t.Fatalf("item %s: %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
	}
	name := ""
	for _, out := range it.Session.Results {
		if img, ok := out["image"].(map[string]any); ok && out["type"] == "image_output" {
			name = img["image_name"].(string)
		}
	}
	if name == "" {
		t.Fatalf("no image in the results %v", it.Session.Results)
	}
	img, err := png.Decode(bytes.NewReader(env.Do("GET", "/api/v1/images/i/"+name+"/full").Expect(http.StatusOK).Body))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func compareHWC(t *testing.T, got image.Image, want []int64, tol int) {
	t.Helper()
	b := got.Bounds()
	if len(want) != b.Dx()*b.Dy()*3 {
		t.Fatalf("image %v against %d golden values", b, len(want))
	}
	worst := 0
	for y := range b.Dy() {
		for x := range b.Dx() {
			c := color.NRGBAModel.Convert(got.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			for i, v := range []uint8{c.R, c.G, c.B} {
				d := int(v) - int(want[(y*b.Dx()+x)*3+i])
				worst = max(worst, d, -d)
			}
		}
	}
	if worst > tol {
		t.Errorf("worst 8-bit difference %d > %d", worst, tol)
	}
}

// The spandrel goldens through the HTTP API: the model installed by the model manager, the image
// uploaded, the node run by the queue, the result read back from the gallery.
func TestE2ESpandrelGoldens(t *testing.T) {
	env := apitest.New(t)
	for _, tc := range []struct {
		model, input, golden string
		tile                 int
	}{
		{"rrdb-x4-old", "esr_in24.png", "rrdb-x4_esr_in24", 0},
		{"rrdb-x2-unshuffle-new", "esr_in17x23.png", "rrdb-x2-unshuffle_esr_in17x23", 512},
		{"rrdb-x4-new", "esr_in40.png", "rrdb-x4_esr_in40_tile32_ov20", 32},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			model := install(t, env, "sd-ext", "esrgan", "models", tc.model+".safetensors")
			name := env.UploadPNG(readPNG(t, "sd-ext", "esrgan", "inputs", tc.input))
			it := wait(t, env, run(t, env, map[string]any{"type": "spandrel_image_to_image", "image": map[string]any{"image_name": name},
				"image_to_image_model": model, "tile_size": tc.tile}), time.Minute)
			g, err := goldens.Load(mustPath(t, "sd-ext", "esrgan", "goldens", tc.golden+".safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			want := g["uint8_trunc"]
			if tc.tile == 32 {
				want = g["uint8"]
			}
			compareHWC(t, output(t, env, it), want.Ints, 1)
		})
	}
}

func mustPath(t *testing.T, rel ...string) string {
	t.Helper()
	p, err := goldens.Path(rel...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func bigImage(n int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, n, n))
	for y := range n {
		for x := range n {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / n), uint8(y * 255 / n), uint8((x ^ y) & 255), 255})
		}
	}
	return img
}

// A 4x upscale of a 1024² image runs through the queue with a progress event per tile; a second
// run, on a heavier model, is cancelled after its first tile and saves nothing.
func TestE2EUpscale1024ProgressAndCancel(t *testing.T) {
	env := apitest.New(t)
	compact := install(t, env, "upscale", "compact-x4.safetensors")
	rrdb := install(t, env, "sd-ext", "esrgan", "models", "rrdb-x4-new.safetensors")
	side, tile := 1024, 512
	if raceEnabled {
		side, tile = 256, 128
	}
	name := env.UploadPNG(bigImage(side))
	bus, stop := env.App.Events.Subscribe(4096)
	defer stop()
	progress := func(id int) func(events.Event) bool {
		return func(e events.Event) bool {
			return e.Name == "invocation_progress" && fmt.Sprint(e.Payload["item_id"]) == strconv.Itoa(id)
		}
	}

	id := run(t, env, map[string]any{"type": "spandrel_image_to_image", "image": map[string]any{"image_name": name},
		"image_to_image_model": compact, "tile_size": tile})
	it := wait(t, env, id, 10*time.Minute)
	if out := output(t, env, it); out.Bounds().Dx() != 4*side || out.Bounds().Dy() != 4*side {
		t.Fatalf("output %v, want %dx%d", out.Bounds(), 4*side, 4*side)
	}
	var msgs []string
	isProgress := progress(id)
	for drained := false; !drained; {
		select {
		case e := <-bus:
			if isProgress(e) {
				pct := e.Payload["percentage"]
				if p, ok := pct.(*float64); ok && p != nil {
					pct = *p
				}
				msgs = append(msgs, fmt.Sprint(e.Payload["message"], " ", pct))
			}
		default:
			drained = true
		}
	}
	// 1024 with tile 512 (256 with tile 128) and overlap 20: three tiles per side.
	if len(msgs) != 9 || msgs[0] != fmt.Sprint("Processing tile 1/9 ", 1.0/9) || msgs[8] != "Processing tile 9/9 1" {
		t.Errorf("progress events %q, want one per tile", msgs)
	}

	id = run(t, env, map[string]any{"type": "spandrel_image_to_image", "image": map[string]any{"image_name": name},
		"image_to_image_model": rrdb, "tile_size": tile})
	isProgress = progress(id)
	timeout := time.After(10 * time.Minute)
	for seen := false; !seen; {
		select {
		case e := <-bus:
			seen = isProgress(e)
		case <-timeout:
			t.Fatal("no tile finished within 5 minutes")
		}
	}
	env.Do("PUT", "/api/v1/queue/default/i/"+strconv.Itoa(id)+"/cancel").Expect(http.StatusOK)
	it = wait(t, env, id, 2*time.Minute)
	if it.Status != "canceled" {
		t.Fatalf("status %q after cancel", it.Status)
	}
	tiles := 1
	for drained := false; !drained; {
		select {
		case e := <-bus:
			if isProgress(e) {
				tiles++
			}
		default:
			drained = true
		}
	}
	if tiles > 2 {
		t.Errorf("%d tiles ran; the cancel should stop the run within one tile", tiles)
	}
	if len(it.Session.Results) > 0 {
		t.Errorf("a cancelled run has results: %v", it.Session.Results)
	}
}

// Sizes beyond the limits are refused before any work: a tile above 1024 in the schema (422), an
// untiled run over more than a megapixel at run time.
func TestE2ELimits(t *testing.T) {
	env := apitest.New(t)
	model := install(t, env, "upscale", "compact-x2.safetensors")
	name := env.UploadPNG(bigImage(1100))
	graph := map[string]any{"id": "g", "nodes": map[string]any{"up": map[string]any{"id": "up", "type": "spandrel_image_to_image",
		"image": map[string]any{"image_name": name}, "image_to_image_model": model, "tile_size": 4096}}, "edges": []any{}}
	env.Do("POST", "/api/v1/queue/default/enqueue_batch", apitest.JSON(map[string]any{"batch": map[string]any{"graph": graph, "runs": 1}})).
		Expect(http.StatusUnprocessableEntity)
	it := wait(t, env, run(t, env, map[string]any{"type": "spandrel_image_to_image", "image": map[string]any{"image_name": name},
		"image_to_image_model": model, "tile_size": 0}), time.Minute)
	if it.Status != "failed" || it.ErrorType != "ValueError" {
		t.Errorf("untiled 1100² run: %s %s %s", it.Status, it.ErrorType, it.ErrorMessage)
	}
}

// Autoscale repeats a ×2 model until the target scale is reached, then resizes: ×3 takes two runs
// (×4) and a resize to exactly three times the input; fit_to_multiple_of_8 rounds the size down.
func TestE2EAutoscale(t *testing.T) {
	env := apitest.New(t)
	model := install(t, env, "upscale", "compact-x2.safetensors")
	name := env.UploadPNG(bigImage(37))
	for _, tc := range []struct {
		scale float64
		fit   bool
		want  int
	}{{3, false, 111}, {3, true, 104}, {2, false, 74}, {0.5, false, 18}} {
		it := wait(t, env, run(t, env, map[string]any{"type": "spandrel_image_to_image_autoscale", "image": map[string]any{"image_name": name},
			"image_to_image_model": model, "scale": tc.scale, "fit_to_multiple_of_8": tc.fit}), time.Minute)
		if b := output(t, env, it).Bounds(); b.Dx() != tc.want || b.Dy() != tc.want {
			t.Errorf("scale %v fit %v: %v, want %dx%d", tc.scale, tc.fit, b, tc.want, tc.want)
		}
	}
}

// unsharp_mask through the queue reproduces Pillow's result exactly.
func TestE2EUnsharpMask(t *testing.T) {
	env := apitest.New(t)
	name := env.UploadPNG(readPNG(t, "upscale", "unsharp_in.png"))
	it := wait(t, env, run(t, env, map[string]any{"type": "unsharp_mask", "image": map[string]any{"image_name": name},
		"radius": 7.3, "strength": 150}), time.Minute)
	g, err := goldens.Load(mustPath(t, "upscale", "unsharp.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	compareHWC(t, output(t, env, it), g["r7.3_s150"].Ints, 0)
	// A radius beyond the field's bound is refused at enqueue (the schema's le), before anything runs.
	graph := map[string]any{"nodes": map[string]any{"up": map[string]any{"id": "up", "type": "unsharp_mask",
		"image": map[string]any{"image_name": name}, "radius": 1e9}}, "edges": []any{}}
	var refused struct{ Detail []map[string]any }
	env.Do("POST", "/api/v1/queue/default/enqueue_batch", apitest.JSON(map[string]any{"batch": map[string]any{"graph": graph}})).
		Expect(http.StatusUnprocessableEntity).Decode(&refused)
	if len(refused.Detail) != 1 || refused.Detail[0]["type"] != "less_than_equal" {
		t.Errorf("radius 1e9: %v", refused.Detail)
	}
}

// The legacy esrgan node finds its release file among the installed models (here the x4 fixture installed
// under the name RealESRGAN_x4plus) and runs Real-ESRGAN's tiling (goldens of make_realesrgan.py).
func TestE2EESRGANNode(t *testing.T) {
	env := apitest.New(t)
	src, err := os.ReadFile(mustPath(t, "sd-ext", "esrgan", "models", "rrdb-x4-new.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/RealESRGAN_x4plus.safetensors", src, 0o600); err != nil {
		t.Fatal(err)
	}
	var job struct {
		ID     int    `json:"id"`
		Status string `json:"status"`
	}
	env.Do("POST", "/api/v2/models/install?source="+url.QueryEscape(dir+"/RealESRGAN_x4plus.safetensors"), apitest.JSON(map[string]any{})).
		Expect(http.StatusCreated).Decode(&job)
	for deadline := time.Now().Add(time.Minute); job.Status != "completed"; time.Sleep(50 * time.Millisecond) {
		if job.Status == "error" || time.Now().After(deadline) {
			t.Fatalf("install: %s", job.Status)
		}
		env.Do("GET", "/api/v2/models/install/"+strconv.Itoa(job.ID)).Expect(http.StatusOK).Decode(&job)
	}
	name := env.UploadPNG(readPNG(t, "sd-ext", "esrgan", "inputs", "esr_in40.png"))
	it := wait(t, env, run(t, env, map[string]any{"type": "esrgan", "image": map[string]any{"image_name": name},
		"model_name": "RealESRGAN_x4plus.pth", "tile_size": 16}), time.Minute)
	g, err := goldens.Load(mustPath(t, "upscale", "realesrgan.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	compareHWC(t, output(t, env, it), g["rrdb-x4_esr_in40_tile16"].Ints, 1)
	it = wait(t, env, run(t, env, map[string]any{"type": "esrgan", "image": map[string]any{"image_name": name},
		"model_name": "RealESRGAN_x2plus.pth"}), time.Minute)
	if it.Status != "failed" || it.ErrorType != "ValueError" {
		t.Errorf("a model that is not installed: %s %s %s", it.Status, it.ErrorType, it.ErrorMessage)
	}
}
