package diffusion

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"math"
	"sync"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
	"github.com/invokego/invokego/internal/engine/noise"
	"github.com/invokego/invokego/internal/engine/tensor"
	"github.com/invokego/invokego/internal/models"
	"github.com/invokego/invokego/internal/nodes"
)

// fakeModels serves one model record and loads its parts with the real
// Loader, counting loads (a cache with no eviction).
type fakeModels struct {
	mu     sync.Mutex
	cfg    *models.Config
	loaded map[string]any
	loads  int
}

func (f *fakeModels) Get(_ context.Context, key string) (*models.Config, error) {
	if key != f.cfg.Key {
		return nil, fmt.Errorf("no model %s", key)
	}
	return f.cfg, nil
}

func (f *fakeModels) GetModel(ctx context.Context, cfg *models.Config, sub string) (any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if v, ok := f.loaded[sub]; ok {
		return v, nil
	}
	v, _, err := Loader{}.Load(ctx, cfg, sub)
	if err != nil {
		return nil, err
	}
	f.loads++
	f.loaded[sub] = v
	return v, nil
}

// cacheAdapter gives fakeModels the ModelCache method name.
type cacheAdapter struct{ f *fakeModels }

func (c cacheAdapter) Get(ctx context.Context, cfg *models.Config, sub string) (any, error) {
	return c.f.GetModel(ctx, cfg, sub)
}

// memCtx is a node context keeping images in memory.
type memCtx struct {
	context.Context
	images   map[string]image.Image
	saved    []nodes.SaveImageOptions
	progress []nodes.Progress
}

func (c *memCtx) Item() nodes.Item { return nodes.Item{UserID: "u", SessionID: "s"} }
func (c *memCtx) SaveImage(img image.Image, o nodes.SaveImageOptions) (nodes.ImageOutput, error) {
	name := fmt.Sprintf("img%d.png", len(c.images))
	c.images[name] = img
	c.saved = append(c.saved, o)
	return nodes.ImageOutput{Image: nodes.ImageField{ImageName: name}, Width: img.Bounds().Dx(), Height: img.Bounds().Dy()}, nil
}
func (c *memCtx) LoadImage(name string) (image.Image, error) {
	img, ok := c.images[name]
	if !ok {
		return nil, nodes.Errorf("FileNotFoundError", "no %s", name)
	}
	return img, nil
}
func (c *memCtx) ReportProgress(p nodes.Progress) { c.progress = append(c.progress, p) }

type harness struct {
	t      *testing.T
	reg    *nodes.Registry
	ctx    *memCtx
	models *fakeModels
	model  ModelIdentifierField
	store  *ObjectStore
}

func newHarness(t *testing.T) *harness {
	dir, err := goldens.Path("sd-tiny", "models", "sd15-tiny-pipe")
	if err != nil {
		t.Fatal(err)
	}
	fm := &fakeModels{cfg: &models.Config{Key: "k1", Name: "tiny", Path: dir, Base: models.BaseSD1, Type: models.TypeMain, Format: models.FormatDiffusers},
		loaded: map[string]any{}}
	reg := nodes.NewRegistry()
	store := NewObjectStore(64 << 20)
	Register(reg, Deps{Records: fm, Cache: cacheAdapter{fm}, Store: store, NoiseDType: noise.Float32})
	return &harness{t: t, reg: reg, ctx: &memCtx{Context: context.Background(), images: map[string]image.Image{}}, models: fm,
		model: ModelIdentifierField{Key: "k1", Name: "tiny", Base: "sd-1", Type: "main"}, store: store}
}

// run decodes a node from JSON fields (with structs marshalled in) and
// invokes it, returning the output as JSON fields.
func (h *harness) run(typ string, fields map[string]any) map[string]json.RawMessage {
	h.t.Helper()
	out, err := h.try(typ, fields)
	if err != nil {
		h.t.Fatalf("%s: %v", typ, err)
	}
	return out
}

func (h *harness) try(typ string, fields map[string]any) (map[string]json.RawMessage, error) {
	h.t.Helper()
	nt, ok := h.reg.Lookup(typ)
	if !ok {
		h.t.Fatalf("no node type %s", typ)
	}
	vals := map[string]json.RawMessage{}
	for k, v := range fields {
		b, err := json.Marshal(v)
		if err != nil {
			h.t.Fatal(err)
		}
		vals[k] = b
	}
	inv, err := nt.Decode(vals, nil)
	if err != nil {
		h.t.Fatalf("%s: decode: %v", typ, err)
	}
	out, err := inv.Invoke(h.ctx)
	if err != nil {
		return nil, err
	}
	enc, err := nodes.EncodeOutput(out)
	if err != nil {
		h.t.Fatal(err)
	}
	return enc, nil
}

func field(t *testing.T, out map[string]json.RawMessage, name string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(out[name], &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// TestNodesImageToImageAndInpaint drives the nodes the way InvokeAI's
// image-to-image and inpainting graphs do.
func TestNodesImageToImageAndInpaint(t *testing.T) {
	h := newHarness(t)
	loader := h.run("main_model_loader", map[string]any{"model": h.model})
	if got := field(t, loader, "type"); got != "model_loader_output" {
		t.Fatalf("loader output type %v", got)
	}
	unet, clip, vae := field(t, loader, "unet"), field(t, loader, "clip"), field(t, loader, "vae")
	skip := h.run("clip_skip", map[string]any{"clip": clip, "skipped_layers": 0})
	clip = field(t, skip, "clip")
	pos := field(t, h.run("compel", map[string]any{"prompt": "a (red)1.2 fox", "clip": clip}), "conditioning")
	neg := field(t, h.run("compel", map[string]any{"prompt": "blurry-", "clip": clip}), "conditioning")
	noiseOut := h.run("noise", map[string]any{"seed": 7, "width": 64, "height": 64})
	if w := field(t, noiseOut, "width"); w != 64.0 {
		t.Errorf("noise width %v", w)
	}

	// A source image: a gradient.
	src := image.NewNRGBA(image.Rect(0, 0, 64, 64))
	for y := 0; y < 64; y++ {
		for x := 0; x < 64; x++ {
			src.Set(x, y, color.NRGBA{uint8(4 * x), uint8(4 * y), 128, 255})
		}
	}
	h.ctx.images["src.png"] = src
	lat := field(t, h.run("i2l", map[string]any{"image": map[string]any{"image_name": "src.png"}, "vae": vae}), "latents")

	denoise := func(extra map[string]any) map[string]json.RawMessage {
		fields := map[string]any{"positive_conditioning": pos, "negative_conditioning": neg, "noise": field(t, noiseOut, "noise"),
			"steps": 6, "cfg_scale": 6.0, "scheduler": "dpmpp_2m_k", "unet": unet, "latents": lat, "denoising_start": 0.5}
		for k, v := range extra {
			fields[k] = v
		}
		return h.run("denoise_latents", fields)
	}
	h.ctx.progress = nil
	img2img := denoise(nil)
	if n := len(h.ctx.progress); n != 3 {
		t.Errorf("img2img from 0.5 of 6 steps reported %d progress events, want 3", n)
	}
	for _, p := range h.ctx.progress {
		if p.Preview == nil || p.Percentage == nil {
			t.Fatal("progress without preview or percentage")
		}
	}

	// Inpainting: keep the left half.
	mask := image.NewGray(image.Rect(0, 0, 64, 64))
	for y := 0; y < 64; y++ {
		for x := 0; x < 32; x++ {
			mask.SetGray(x, y, color.Gray{255})
		}
	}
	h.ctx.images["mask.png"] = mask
	dm := h.run("create_denoise_mask", map[string]any{"vae": vae, "image": map[string]any{"image_name": "src.png"}, "mask": map[string]any{"image_name": "mask.png"}})
	inpaint := denoise(map[string]any{"denoise_mask": field(t, dm, "denoise_mask")})

	for _, out := range []map[string]json.RawMessage{img2img, inpaint} {
		img := h.run("l2i", map[string]any{"latents": field(t, out, "latents"), "vae": vae, "is_intermediate": false,
			"board": map[string]any{"board_id": "b1"}, "metadata": map[string]any{"seed": 7}})
		if w := field(t, img, "width"); w != 64.0 {
			t.Errorf("l2i width %v", w)
		}
	}
	if len(h.ctx.saved) != 2 || h.ctx.saved[0].Board == nil || h.ctx.saved[0].Board.BoardID != "b1" || h.ctx.saved[0].Metadata == nil {
		t.Errorf("l2i saved %+v, want board b1 and metadata", h.ctx.saved)
	}
	// Models are loaded once and reused.
	if h.models.loads != 5 { // tokenizer, text encoder, unet, scheduler, vae
		t.Errorf("%d model loads, want 5", h.models.loads)
	}

	// Latent resizing.
	up := h.run("lscale", map[string]any{"latents": field(t, img2img, "latents"), "scale_factor": 2.0})
	if w := field(t, up, "width"); w != 128.0 {
		t.Errorf("lscale ×2 width %v, want 128", w)
	}
	down := h.run("lresize", map[string]any{"latents": field(t, up, "latents"), "width": 64, "height": 96, "mode": "nearest"})
	if w, hh := field(t, down, "width"), field(t, down, "height"); w != 64.0 || hh != 96.0 {
		t.Errorf("lresize to 64×96 gave %v×%v", w, hh)
	}
	// The field's multiple_of rule refuses it before the node runs, as InvokeAI's schema does.
	lresize, _ := h.reg.Lookup("lresize")
	latents, _ := json.Marshal(field(t, up, "latents"))
	if _, err := lresize.Decode(map[string]json.RawMessage{"latents": latents, "width": json.RawMessage("68"), "height": json.RawMessage("64")}, nil); err == nil {
		t.Error("lresize to a width that is not a multiple of 8 was accepted")
	}

	if _, err := h.try("denoise_latents", map[string]any{"positive_conditioning": pos, "negative_conditioning": neg,
		"noise": field(t, noiseOut, "noise"), "unet": map[string]any{"unet": unet.(map[string]any)["unet"],
			"scheduler": unet.(map[string]any)["scheduler"], "seamless_axes": []string{"z"}}}); err == nil {
		t.Error("a seamless axis other than x and y was accepted")
	}
	// Unknown models and missing inputs fail as InvokeAI's do.
	if _, err := h.try("main_model_loader", map[string]any{"model": ModelIdentifierField{Key: "nope"}}); err == nil {
		t.Error("unknown model accepted")
	}
	if _, err := h.try("denoise_latents", map[string]any{"positive_conditioning": pos, "negative_conditioning": neg, "unet": unet}); err == nil {
		t.Error("denoise without noise or latents accepted")
	}
}

func TestObjectStoreEvicts(t *testing.T) {
	s := NewObjectStore(100 * 4)
	first := s.SaveTensor("t", tensorOf(60))
	second := s.SaveTensor("t", tensorOf(60))
	if _, err := s.Tensor(first); err == nil {
		t.Error("oldest entry survived going over budget")
	}
	if _, err := s.Tensor(second); err != nil {
		t.Errorf("newest entry evicted: %v", err)
	}
	if _, err := s.Conditioning(second); err == nil {
		t.Error("a tensor was returned as conditioning")
	}
}

func tensorOf(n int) *tensor.Tensor { return tensor.New(1, n) }

// TestNoiseNodeDTypes: the noise node makes torch's CPU randn for the seed
// in the configured dtype (float16 is a different sequence, not a cast).
func TestNoiseNodeDTypes(t *testing.T) {
	for _, dt := range []noise.DType{noise.Float32, noise.Float16} {
		store := NewObjectStore(1 << 20)
		n := &Noise{Seed: 42, Width: 64, Height: 48, UseCPU: true, store: store, dtype: dt}
		out, err := n.Invoke(nil)
		if err != nil {
			t.Fatal(err)
		}
		no := out.(NoiseOutput)
		got, err := store.Tensor(no.Noise.LatentsName)
		if err != nil {
			t.Fatal(err)
		}
		want := noise.Randn(42, dt, 1, 4, 6, 8)
		for i := range want {
			if got.Data[i] != want[i] {
				t.Fatalf("%v noise differs at %d", dt, i)
			}
		}
		if *no.Noise.Seed != 42 || no.Width != 64 || no.Height != 48 {
			t.Errorf("noise output %+v", no)
		}
	}
	if _, err := (&Noise{Width: 60, Height: 64}).Invoke(nil); err == nil {
		t.Error("a width that is not a multiple of 8 was accepted")
	}
}

// TestNodesSeamlessTiles checks seamless tiling by what it promises: with
// every convolution wrapping along x, the model has no left or right edge,
// so rolling the noise sideways rolls the denoised latents and the decoded
// image by the same amount. Zero padding breaks that, and the shared models
// go back to zero padding after the run.
func TestNodesSeamlessTiles(t *testing.T) {
	h := newHarness(t)
	loader := h.run("main_model_loader", map[string]any{"model": h.model})
	unet, clip, vae := field(t, loader, "unet"), field(t, loader, "clip"), field(t, loader, "vae")
	pos := field(t, h.run("compel", map[string]any{"prompt": "a tiled wallpaper", "clip": clip}), "conditioning")
	neg := field(t, h.run("compel", map[string]any{"prompt": "", "clip": clip}), "conditioning")
	noiseName := field(t, h.run("noise", map[string]any{"seed": 3, "width": 64, "height": 64}), "noise").(map[string]any)["latents_name"].(string)
	noiseT, err := h.store.Tensor(noiseName)
	if err != nil {
		t.Fatal(err)
	}
	// Two latent columns: a multiple of the tiny UNet's one downsampling by 2.
	const shift = 2
	rolledName := h.store.SaveTensor("noise", rollX(noiseT, shift))
	seam := h.run("seamless", map[string]any{"unet": unet, "vae": vae, "seamless_x": true, "seamless_y": false})
	sUNet, sVAE := field(t, seam, "unet"), field(t, seam, "vae")

	denoise := func(u any, noiseName string) *tensor.Tensor {
		out := h.run("denoise_latents", map[string]any{"positive_conditioning": pos, "negative_conditioning": neg,
			"noise": map[string]any{"latents_name": noiseName}, "steps": 4, "cfg_scale": 5.0, "scheduler": "euler", "unet": u})
		lat, err := h.store.Tensor(field(t, out, "latents").(map[string]any)["latents_name"].(string))
		if err != nil {
			t.Fatal(err)
		}
		return lat
	}
	decode := func(v any, lat *tensor.Tensor) *image.NRGBA {
		name := h.store.SaveTensor("latents", lat)
		out := h.run("l2i", map[string]any{"latents": map[string]any{"latents_name": name}, "vae": v})
		img, ok := h.ctx.images[field(t, out, "image").(map[string]any)["image_name"].(string)].(*image.NRGBA)
		if !ok {
			t.Fatal("l2i did not save an NRGBA image")
		}
		return img
	}
	maxDiff := func(a, b *tensor.Tensor) (diff, ref float64) {
		for i := range a.Data {
			diff = max(diff, math.Abs(float64(a.Data[i]-b.Data[i])))
			ref = max(ref, math.Abs(float64(b.Data[i])))
		}
		return diff, ref
	}

	plainBefore := denoise(unet, noiseName)
	tiled := denoise(sUNet, noiseName)
	if d, ref := maxDiff(denoise(sUNet, rolledName), rollX(tiled, shift)); d > 1e-3*ref {
		t.Errorf("seamless: rolled noise gave latents %.3g away from the rolled result (max %.3g)", d, ref)
	}
	if d, ref := maxDiff(denoise(unet, rolledName), rollX(plainBefore, shift)); d < 1e-2*ref {
		t.Errorf("without seamless the model has edges, but rolling changed the result by only %.3g", d)
	}
	if d, _ := maxDiff(denoise(unet, noiseName), plainBefore); d != 0 {
		t.Errorf("the UNet kept wrapping after the seamless run: %.3g", d)
	}

	img, imgRolled := decode(sVAE, tiled), decode(sVAE, rollX(tiled, shift))
	factor := img.Bounds().Dx() / tiled.Shape[3]
	worst := 0
	w := img.Bounds().Dx()
	for y := range img.Bounds().Dy() {
		for x := range w {
			a, b := img.NRGBAAt(x, y), imgRolled.NRGBAAt((x+shift*factor)%w, y)
			worst = max(worst, absDiff(a.R, b.R), absDiff(a.G, b.G), absDiff(a.B, b.B))
		}
	}
	if worst > 1 {
		t.Errorf("seamless VAE: the rolled latents decoded to an image off the rolled image by %d levels", worst)
	}
	plainImg := decode(vae, tiled)
	if same := decode(vae, tiled); !bytes.Equal(same.Pix, plainImg.Pix) {
		t.Error("decoding is not repeatable")
	}
	if bytes.Equal(plainImg.Pix, img.Pix) {
		t.Error("the seamless VAE decoded the same image as the plain one")
	}
}

// rollX rolls an NCHW tensor's columns right by shift, wrapping around.
func rollX(x *tensor.Tensor, shift int) *tensor.Tensor {
	out := tensor.FromData(make([]float32, len(x.Data)), x.Shape...)
	w := x.Shape[3]
	for row := 0; row < len(x.Data)/w; row++ {
		for j := range w {
			out.Data[row*w+(j+shift)%w] = x.Data[row*w+j]
		}
	}
	return out
}

func absDiff(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}
