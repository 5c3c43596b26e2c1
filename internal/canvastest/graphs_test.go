package canvastest

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/engine/goldens"
)

// graphsDir is where the UI's graph tests keep the expected graphs.
func graphsDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "web", "src", "canvas", "testdata")
}

// install installs a model through the model manager API and returns its identifier.
func install(t *testing.T, env *apitest.Env, src string, body ...map[string]any) map[string]any {
	t.Helper()
	var job struct {
		ID        int            `json:"id"`
		Status    string         `json:"status"`
		Error     string         `json:"error"`
		ConfigOut map[string]any `json:"config_out"`
	}
	b := map[string]any{}
	if len(body) > 0 {
		b = body[0]
	}
	env.Do("POST", "/api/v2/models/install?source="+url.QueryEscape(src), apitest.JSON(b)).Expect(http.StatusCreated).Decode(&job)
	deadline := time.Now().Add(3 * time.Minute)
	for job.Status != "completed" {
		if job.Status == "error" || job.Status == "cancelled" || time.Now().After(deadline) {
			t.Fatalf("installing %s: status %q, error %q", src, job.Status, job.Error)
		}
		time.Sleep(100 * time.Millisecond)
		env.Do("GET", "/api/v2/models/install/"+strconv.Itoa(job.ID)).Expect(http.StatusOK).Decode(&job)
	}
	c := job.ConfigOut
	return map[string]any{"key": c["key"], "hash": c["hash"], "name": c["name"], "base": c["base"], "type": c["type"]}
}

func fixture(t *testing.T, elem ...string) string {
	t.Helper()
	p, err := goldens.Path(elem...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// upload stores a PNG as an intermediate image, as the canvas uploads its composites, and returns its name.
func upload(t *testing.T, env *apitest.Env, img image.Image) string {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return env.UploadImage(buf.Bytes(), "general", true)
}

const size = 64

// The inpaint mask's black square (regenerated); everything else is kept.
const maskLo, maskHi = 24, 40

func pattern() *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			img.SetNRGBA(x, y, color.NRGBA{R: uint8(x * 4), G: uint8(y * 4), B: uint8((x ^ y) * 4), A: 255})
		}
	}
	return img
}

func fill(f func(x, y int) color.NRGBA) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			img.SetNRGBA(x, y, f(x, y))
		}
	}
	return img
}

var white, black = color.NRGBA{255, 255, 255, 255}, color.NRGBA{0, 0, 0, 255}

// images are the pictures the expected graphs name, as the canvas would upload them.
func images() map[string]image.Image {
	half := pattern()
	for y := 0; y < size; y++ {
		for x := size / 2; x < size; x++ {
			half.SetNRGBA(x, y, color.NRGBA{})
		}
	}
	return map[string]image.Image{
		"canvas-initial.png": pattern(),
		// A denoise mask as InvokeAI's grey mask composite: black (regenerated) in the square.
		"canvas-mask.png": fill(func(x, y int) color.NRGBA {
			if x >= maskLo && x < maskHi && y >= maskLo && y < maskHi {
				return black
			}
			return white
		}),
		// The inpaint mask layers' composite as the canvas uploads it: painted (opaque) in the square.
		"canvas-mask-layer.png": fill(func(x, y int) color.NRGBA {
			if x >= maskLo && x < maskHi && y >= maskLo && y < maskHi {
				return black
			}
			return color.NRGBA{}
		}),
		"canvas-outpaint.png": half,
		// Nothing painted: the transparent half alone is outpainted.
		"canvas-outpaint-mask.png": fill(func(int, int) color.NRGBA { return color.NRGBA{} }),
		"canvas-region-left.png": fill(func(x, _ int) color.NRGBA {
			if x < size/2 {
				return black
			}
			return color.NRGBA{}
		}),
		"canvas-region-right.png": fill(func(x, _ int) color.NRGBA {
			if x >= size/2 {
				return black
			}
			return color.NRGBA{}
		}),
		"canvas-reference.png": pattern(),
		"canvas-control.png": fill(func(x, y int) color.NRGBA {
			if x > 16 && x < 48 && y > 16 && y < 48 {
				return white
			}
			return black
		}),
	}
}

// substitute replaces the placeholder image names and model identifiers of an expected graph.
func substitute(v any, names map[string]string, models map[string]map[string]any) any {
	switch x := v.(type) {
	case map[string]any:
		if k, ok := x["key"].(string); ok {
			if m, ok := models[k]; ok {
				return m
			}
		}
		for k, e := range x {
			x[k] = substitute(e, names, models)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = substitute(e, names, models)
		}
		return x
	case string:
		if n, ok := names[x]; ok {
			return n
		}
		return x
	}
	return v
}

func run(t *testing.T, env *apitest.Env, graph map[string]any) apitest.QueueItem {
	t.Helper()
	var res struct {
		ItemIDs []int `json:"item_ids"`
	}
	env.Do("POST", "/api/v1/queue/default/enqueue_batch",
		apitest.JSON(map[string]any{"batch": map[string]any{"graph": graph, "runs": 1, "origin": "canvas", "destination": "canvas"}, "prepend": false})).
		Expect(http.StatusOK).Decode(&res)
	if len(res.ItemIDs) != 1 {
		t.Fatalf("enqueued %d items", len(res.ItemIDs))
	}
	return env.WaitItem(res.ItemIDs[0], 3*time.Minute)
}

// outputImage loads the image the canvas_output node saved.
func outputImage(t *testing.T, env *apitest.Env, it apitest.QueueItem) (string, image.Image) {
	t.Helper()
	ids := it.Session.Mapping["canvas_output"]
	if len(ids) != 1 {
		t.Fatalf("canvas_output ran %d times", len(ids))
	}
	res := it.Session.Results[ids[0]]
	img, _ := res["image"].(map[string]any)
	name, _ := img["image_name"].(string)
	if name == "" {
		t.Fatalf("canvas_output gave no image: %v", res)
	}
	r := env.Do("GET", "/api/v1/images/i/"+name+"/full").Expect(http.StatusOK)
	dec, err := png.Decode(bytes.NewReader(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	var dto struct {
		IsIntermediate bool `json:"is_intermediate"`
	}
	env.Do("GET", "/api/v1/images/i/"+name).Expect(http.StatusOK).Decode(&dto)
	if !dto.IsIntermediate {
		t.Errorf("the staged result %s is not an intermediate image", name)
	}
	return name, dec
}

func nrgba(img image.Image, x, y int) color.NRGBA {
	return color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
}

// TestCanvasGraphsRunOnTinyModel: each expected graph of the canvas validates, runs to completion and saves
// a 64×64 staged image; inpaint keeps the pixels away from the mask exactly and changes the masked ones;
// outpaint fills the transparent half.
func TestCanvasGraphsRunOnTinyModel(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(graphsDir(), "*.json"))
	if err != nil || len(files) < 7 {
		t.Fatalf("expected graphs in %s: %v (%d files)", graphsDir(), err, len(files))
	}
	env := apitest.New(t)
	models := map[string]map[string]any{
		"sd1-main":       install(t, env, fixture(t, "sd-tiny", "models", "sd15-tiny-pipe")),
		"sd1-controlnet": install(t, env, fixture(t, "sd-ext", "controlnet", "models", "sd15-controlnet")),
		"sd1-ip-adapter": install(t, env, fixture(t, "sd-ext", "ip_adapter", "models", "ip-adapter_sd15-tiny.safetensors")),
	}
	// The tiny image encoder under the name of the ViT-H encoder the IP-Adapter asks for.
	install(t, env, fixture(t, "sd-ext", "ip_adapter", "models", "image_encoder"), map[string]any{"name": "ip_adapter_sd_image_encoder"})
	imgs := images()
	names := map[string]string{}
	for k, img := range imgs {
		names[k] = upload(t, env, img)
	}
	for _, f := range files {
		mode := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(mode, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var graph map[string]any
			if err := json.Unmarshal(data, &graph); err != nil {
				t.Fatal(err)
			}
			for placeholder := range models {
				if !bytes.Contains(data, []byte(`"`+placeholder+`"`)) && placeholder == "sd1-main" {
					t.Fatalf("%s does not name the main model placeholder", f)
				}
			}
			graph = substitute(graph, names, models).(map[string]any)
			it := run(t, env, graph)
			if it.Status != "completed" {
				t.Fatalf("%s: %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
			}
			_, out := outputImage(t, env, it)
			if b := out.Bounds(); b.Dx() != size || b.Dy() != size {
				t.Fatalf("output %v, want %dx%d", b, size, size)
			}
			switch mode {
			case "inpaint":
				checkInpaint(t, imgs["canvas-initial.png"], out)
			case "regional_reference":
				checkRegionalReference(t, env, graph, out)
			case "outpaint":
				for y := 0; y < size; y++ {
					for x := size / 2; x < size; x++ {
						if a := nrgba(out, x, y).A; a != 255 {
							t.Fatalf("outpaint left (%d,%d) with alpha %d", x, y, a)
						}
					}
				}
			}
		})
	}
}

// checkRegionalReference: the regional reference image (an ip_adapter masked by the left-half region) changes
// the image, and differently from the same adapter unmasked (the graph without the mask edge); its effect (mean
// absolute difference from the graph without the adapter) is larger in the left half than in the right, which
// self-attention and the convolutions still reach.
func checkRegionalReference(t *testing.T, env *apitest.Env, graph map[string]any, out image.Image) {
	t.Helper()
	variant := func(keep func(e map[string]any) bool) image.Image {
		t.Helper()
		g := map[string]any{"id": graph["id"], "nodes": graph["nodes"]}
		var edges []any
		for _, e := range graph["edges"].([]any) {
			if keep(e.(map[string]any)) {
				edges = append(edges, e)
			}
		}
		g["edges"] = edges
		it := run(t, env, g)
		if it.Status != "completed" {
			t.Fatalf("%s: %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
		}
		_, img := outputImage(t, env, it)
		return img
	}
	dest := func(e map[string]any) string {
		d := e["destination"].(map[string]any)
		return d["node_id"].(string) + "." + d["field"].(string)
	}
	unmasked := variant(func(e map[string]any) bool { return dest(e) != "ip_adapter_left_ref.mask" })
	plain := variant(func(e map[string]any) bool { return dest(e) != "denoise_latents.ip_adapter" })
	var diff [2]float64
	same, sameUnmasked := true, true
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			o, p, u := nrgba(out, x, y), nrgba(plain, x, y), nrgba(unmasked, x, y)
			same = same && o == p
			sameUnmasked = sameUnmasked && o == u
			for _, d := range []int{int(o.R) - int(p.R), int(o.G) - int(p.G), int(o.B) - int(p.B)} {
				diff[x*2/size] += math.Abs(float64(d))
			}
		}
	}
	if same || sameUnmasked {
		t.Fatalf("the regional reference gives the image without it (%v) or with it unmasked (%v)", same, sameUnmasked)
	}
	n := float64(size * size / 2 * 3)
	t.Logf("regional reference: mean |Δ| from the image without it %.2f inside the region, %.2f outside", diff[0]/n, diff[1]/n)
	if diff[0] <= diff[1] {
		t.Errorf("the regional reference's effect inside (%.2f) is not larger than outside (%.2f)", diff[0]/n, diff[1]/n)
	}
}

// checkInpaint: pixels farther than the coherence band (edge radius 8, rounded out to the 8-pixel latent grid,
// plus the Pillow bilinear shrink's reach of one latent) and the 4-pixel fade from the mask are the composite's
// exactly; the masked square is generated anew.
func checkInpaint(t *testing.T, initial, out image.Image) {
	t.Helper()
	const reach = 20
	kept, changed := 0, 0
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			got, want := nrgba(out, x, y), nrgba(initial, x, y)
			far := x < maskLo-reach || x >= maskHi+reach || y < maskLo-reach || y >= maskHi+reach
			inside := x >= maskLo && x < maskHi && y >= maskLo && y < maskHi
			if far {
				kept++
				if got != want {
					t.Fatalf("pixel (%d,%d) outside the mask changed: %v, was %v", x, y, got, want)
				}
			}
			if inside && got != want {
				changed++
			}
		}
	}
	if kept == 0 {
		t.Fatal("no pixel far enough from the mask to compare")
	}
	if changed < (maskHi-maskLo)*(maskHi-maskLo)/2 {
		t.Errorf("only %d of the masked pixels were generated anew", changed)
	}
	t.Logf("inpaint: %d pixels outside the mask kept exactly, %d masked pixels changed", kept, changed)
}
