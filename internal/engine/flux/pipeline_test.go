package flux

import (
	"context"
	"image"
	"image/png"
	"os"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/engine/noise"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// Pipeline tolerances (testdata/README.md): latents and decoded images
// within 1e-3, 8-bit images within one level.
const (
	latentTolerance = 1e-3
	levelTolerance  = 1
)

type pipelineCase struct {
	name   string
	dev    bool
	h, w   int
	steps  int
	seed   uint64
	gguf   string // transformer file under gguf/, "" for the diffusers folder
	invoke bool   // InvokeAI's noise, schedule and image conversion
}

var pipelineCases = []pipelineCase{
	{name: "dev_cat_s0_64x64", dev: true, h: 64, w: 64, steps: 10, seed: 0},
	{name: "schnell_cat_s0_64x64", h: 64, w: 64, steps: 4, seed: 0},
	{name: "dev_lighthouse_s1_48x80", dev: true, h: 48, w: 80, steps: 10, seed: 1},
	{name: "invokeai_dev_cat_s0_64x64", dev: true, h: 64, w: 64, steps: 10, seed: 0, invoke: true},
	{name: "invokeai_schnell_cat_s0_64x64", h: 64, w: 64, steps: 4, seed: 0, invoke: true},
	{name: "invokeai_dev_lighthouse_s1_48x80", dev: true, h: 48, w: 80, steps: 10, seed: 1, invoke: true},
	{name: "invokeai_text_dev_cat_s0_64x64", dev: true, h: 64, w: 64, steps: 10, invoke: true},
	{name: "invokeai_text_schnell_cat_s0_64x64", h: 64, w: 64, steps: 4, invoke: true},
	{name: "invokeai_text_dev_cafe_s3_64x64", dev: true, h: 64, w: 64, steps: 10, seed: 3, invoke: true},
	{name: "invokeai_text_dev_cat_s0_64x64.gguf_Q8_0", dev: true, h: 64, w: 64, steps: 10, gguf: "flux1-dev-tiny-Q8_0.gguf", invoke: true},
	{name: "invokeai_text_dev_cat_s0_64x64.gguf_Q4_K_S", dev: true, h: 64, w: 64, steps: 10, gguf: "flux1-dev-tiny-Q4_K_S.gguf", invoke: true},
	{name: "invokeai_text_schnell_cat_s0_64x64.gguf_Q8_0", h: 64, w: 64, steps: 4, gguf: "flux1-schnell-tiny-Q8_0.gguf", invoke: true},
	{name: "invokeai_text_schnell_cat_s0_64x64.gguf_Q4_K_S", h: 64, w: 64, steps: 4, gguf: "flux1-schnell-tiny-Q4_K_S.gguf", invoke: true},
}

func loadTinyVAE(t testing.TB) *VAE {
	t.Helper()
	v, err := LoadVAEFolder(fluxTiny(t, "models", "flux-dev-tiny", "vae"), sd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestPipelineGoldens(t *testing.T) {
	vae := loadTinyVAE(t)
	models := map[string]*Transformer{}
	for _, c := range pipelineCases {
		t.Run(c.name, func(t *testing.T) {
			variant := "schnell"
			if c.dev {
				variant = "dev"
			}
			key := variant + c.gguf
			m := models[key]
			if m == nil {
				if c.gguf != "" {
					var err error
					if m, err = LoadTransformerGGUF(fluxTiny(t, "gguf", c.gguf), LoadOptions{}); err != nil {
						t.Fatal(err)
					}
				} else {
					m = loadFolder(t, variant)
				}
				models[key] = m
			}
			g := openGolden(t, "pipeline", c.name+".latents.safetensors")
			p := DenoiseParams{
				Transformer: m,
				Positive:    Conditioning{T5: g.tensor("prompt_embeds"), Pooled: g.tensor("pooled_prompt_embeds")},
				Guidance:    3.5,
			}
			lh, lw := LatentSize(c.h, c.w)
			seq := lh / 2 * lw / 2
			var err error
			if c.invoke {
				seed := c.seed
				if p.Noise, err = Noise(seed, c.h, c.w, noise.Float16); err != nil {
					t.Fatal(err)
				}
				compareAbs(t, "noise", p.Noise.Data, g.floats("noise_f16"), 0)
				if p.Schedule, err = InvokeAISchedule(c.steps, seq, c.dev); err != nil {
					t.Fatal(err)
				}
				compareAbs(t, "schedule", p.Schedule, g.floats("schedule"), 0) // bit for bit
			} else {
				if p.Noise, err = Noise(c.seed, c.h, c.w, noise.Float32); err != nil {
					t.Fatal(err)
				}
				compareAbs(t, "noise", p.Noise.Data, g.floats("noise"), 0)
				cfg := SchnellSchedulerConfig
				if c.dev {
					cfg = DevSchedulerConfig
				}
				sig, ts, err := cfg.DiffusersSigmas(c.steps, seq)
				if err != nil {
					t.Fatal(err)
				}
				p.Schedule = sig
				// FluxPipeline hands the model timestep/1000 of σ·1000.
				p.ModelTimesteps = make([]float32, len(ts))
				for i, v := range ts {
					p.ModelTimesteps[i] = v / 1000
				}
				compareAbs(t, "model timesteps", p.ModelTimesteps, g.floats("transformer_calls.timestep"), 0)
			}
			var steps [][]float32
			p.OnStep = func(s StepInfo) error {
				steps = append(steps, append([]float32(nil), s.Latents.Data...))
				return nil
			}
			lat, err := Denoise(context.Background(), p)
			if err != nil {
				t.Fatal(err)
			}
			if len(steps) != c.steps {
				t.Fatalf("%d step callbacks, want %d", len(steps), c.steps)
			}
			want := g.floats("step_latents")
			per := len(want) / c.steps
			for i, s := range steps {
				compareAbs(t, "step "+itoa(uint64(i+1)), s, want[i*per:(i+1)*per], latentTolerance)
			}
			compareAbs(t, "final latents", lat.Data, g.floats("final_latents_unpacked"), latentTolerance)

			decoded, err := vae.Decode(context.Background(), lat)
			if err != nil {
				t.Fatal(err)
			}
			compareAbs(t, "decoded", decoded.Data, g.floats("decoded"), latentTolerance)
			var img *image.NRGBA
			wantImg := "image_uint8"
			if c.invoke {
				img, err = ToImage(decoded)
			} else {
				img, err = roundedImage(decoded)
			}
			if err != nil {
				t.Fatal(err)
			}
			compareImage(t, img, g, wantImg)
			comparePNG(t, img, c.name+".png")
		})
	}
}

// roundedImage converts decoder output as diffusers does:
// round(clamp(x/2 + 0.5, 0, 1)·255).
func roundedImage(x *tensor.Tensor) (*image.NRGBA, error) {
	y := x.Clone()
	for i, v := range y.Data {
		y.Data[i] = min(max(v/2+0.5, 0), 1)*2 - 1
	}
	h, w := y.Shape[2], y.Shape[3]
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	plane := h * w
	for c := range 3 {
		for i := range plane {
			v := (y.Data[c*plane+i] + 1) / 2 * 255
			out.Pix[4*i+c] = uint8(v + 0.5)
			out.Pix[4*i+3] = 255
		}
	}
	return out, nil
}

// comparePNG checks an image against a golden PNG of pipeline/ within one level.
func comparePNG(t *testing.T, img *image.NRGBA, name string) {
	t.Helper()
	f, err := os.Open(fluxTiny(t, "pipeline", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if want.Bounds() != img.Bounds() {
		t.Fatalf("%s: bounds %v, image %v", name, want.Bounds(), img.Bounds())
	}
	worst := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r1, g1, b1, _ := img.At(x, y).RGBA()
			r2, g2, b2, _ := want.At(x, y).RGBA()
			for _, d := range []int{int(r1>>8) - int(r2>>8), int(g1>>8) - int(g2>>8), int(b1>>8) - int(b2>>8)} {
				worst = max(worst, d, -d)
			}
		}
	}
	if worst > levelTolerance {
		t.Errorf("%s: a channel differs by %d levels", name, worst)
	}
}

// compareImage checks an image against a [1, H, W, 3] uint8 golden.
func compareImage(t *testing.T, img *image.NRGBA, g *golden, name string) {
	t.Helper()
	want := g.tensor(name).Data
	b := img.Bounds()
	if len(want) != 3*b.Dx()*b.Dy() {
		t.Fatalf("%s: %d values for a %v image", name, len(want), b)
	}
	worst, off := 0, 0
	for i := range b.Dx() * b.Dy() {
		for c := range 3 {
			d := int(img.Pix[4*i+c]) - int(want[3*i+c])
			if d < 0 {
				d = -d
			}
			worst = max(worst, d)
			if d > 0 {
				off++
			}
		}
	}
	t.Logf("%-50s max level diff %d, %d of %d values differ", name, worst, off, len(want))
	if worst > levelTolerance {
		t.Errorf("%s: a channel differs by %d levels", name, worst)
	}
}

func TestDenoiseImageToImageAndInpaint(t *testing.T) {
	m := loadFolder(t, "schnell")
	g := openGolden(t, "pipeline", "invokeai_schnell_cat_s0_64x64.latents.safetensors")
	cond := Conditioning{T5: g.tensor("prompt_embeds"), Pooled: g.tensor("pooled_prompt_embeds")}
	nz, err := Noise(0, 64, 64, noise.Float16)
	if err != nil {
		t.Fatal(err)
	}
	full, err := InvokeAISchedule(4, 16, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	init := g.tensor("final_latents_unpacked")

	// Image to image from denoising_start 0.5: the noised latents then the
	// two remaining steps of the schedule.
	sched, err := ClipSchedule(full, 0.5, 1)
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	got, err := Denoise(ctx, DenoiseParams{Transformer: m, Positive: cond, Schedule: sched, Noise: nz,
		InitLatents: init, AddNoise: true, OnStep: func(StepInfo) error { calls++; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Errorf("image to image at 0.5 took %d steps, want 2", calls)
	}
	// The same run by hand: x = 0.5·noise + 0.5·init, two Euler steps.
	x := tensor.New(init.Shape...)
	for i := range x.Data {
		x.Data[i] = 0.5*nz.Data[i] + 0.5*init.Data[i]
	}
	packed, _ := Pack(x)
	for i := range 2 {
		in := cond.inputs(packed, ImageIDs(8, 8))
		in.Timestep = []float32{sched[i]}
		v, err := m.Forward(ctx, in, CallOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for j := range packed.Data {
			packed.Data[j] += (sched[i+1] - sched[i]) * v.Data[j]
		}
	}
	want, _ := Unpack(packed, 8, 8)
	compareAbs(t, "img2img", got.Data, want.Data, 1e-5)

	// denoising_start 1 only noises the input: nothing to do.
	sched1, _ := ClipSchedule(full, 1, 1)
	got1, err := Denoise(ctx, DenoiseParams{Transformer: m, Positive: cond, Schedule: sched1, Noise: nz, InitLatents: init, AddNoise: true})
	if err != nil {
		t.Fatal(err)
	}
	compareAbs(t, "denoising_start 1", got1.Data, init.Data, 0)

	// Inpainting flat latents with the left half kept (mask 1) and the right
	// half generated: the kept half ends as the init latents exactly (σ = 0),
	// the other half changes.
	mask := tensor.New(1, 1, 64, 64)
	for y := range 64 {
		for xx := range 32 {
			mask.Data[y*64+xx] = 1
		}
	}
	flat := tensor.New(init.Shape...)
	for i := range flat.Data {
		flat.Data[i] = 0.3
	}
	init = flat
	inp, err := Denoise(ctx, DenoiseParams{Transformer: m, Positive: cond, Schedule: full, Noise: nz,
		InitLatents: init, AddNoise: true, InpaintMask: mask})
	if err != nil {
		t.Fatal(err)
	}
	var keptDiff, genDiff float64
	for c := range 16 {
		for y := range 8 {
			for xx := range 8 {
				i := c*64 + y*8 + xx
				d := float64(inp.Data[i] - init.Data[i])
				if d < 0 {
					d = -d
				}
				if xx < 4 {
					keptDiff = max(keptDiff, d)
				} else {
					genDiff = max(genDiff, d)
				}
			}
		}
	}
	if keptDiff != 0 || genDiff < 0.1 {
		t.Errorf("inpainting: kept half moved by %g, generated half by %g", keptDiff, genDiff)
	}
	if _, err := Denoise(ctx, DenoiseParams{Transformer: m, Positive: cond, Schedule: full, Noise: nz, InpaintMask: mask}); err == nil ||
		!strings.Contains(err.Error(), "init latents") {
		t.Errorf("inpainting without latents: %v", err)
	}
}

func TestDenoiseCFG(t *testing.T) {
	m := loadFolder(t, "dev")
	g := openGolden(t, "pipeline", "invokeai_dev_cat_s0_64x64.latents.safetensors")
	cond := Conditioning{T5: g.tensor("prompt_embeds"), Pooled: g.tensor("pooled_prompt_embeds")}
	nz, _ := Noise(0, 64, 64, noise.Float16)
	sched, _ := InvokeAISchedule(2, 16, true)
	ctx := context.Background()
	if _, err := Denoise(ctx, DenoiseParams{Transformer: m, Positive: cond, Schedule: sched, Noise: nz, CFGScale: []float64{2}}); err == nil {
		t.Error("cfg 2 without negative conditioning: no error")
	}
	// With the negative equal to the positive, CFG changes nothing.
	a, err := Denoise(ctx, DenoiseParams{Transformer: m, Positive: cond, Schedule: sched, Noise: nz, Guidance: 3.5})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Denoise(ctx, DenoiseParams{Transformer: m, Positive: cond, Negative: &cond, Schedule: sched, Noise: nz, Guidance: 3.5, CFGScale: []float64{4}})
	if err != nil {
		t.Fatal(err)
	}
	compareAbs(t, "cfg with equal prompts", b.Data, a.Data, 1e-5)
	s, err := CFGSchedule([]float64{3}, 4, 1, -2)
	if err != nil || s[0] != 1 || s[1] != 3 || s[2] != 3 || s[3] != 1 {
		t.Errorf("CFGSchedule = %v, %v", s, err)
	}
	if _, err := CFGSchedule([]float64{3}, 4, 3, 1); err == nil {
		t.Error("start after end: no error")
	}
}

func TestPreviewImage(t *testing.T) {
	lat := tensor.New(1, 16, 600, 40)
	lat.Data[0] = 10 // channel 0 at (0, 0): factors (−0.0346, 0.0244, 0.0681)
	img, err := PreviewImage(lat)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 10 || b.Dy() != 150 {
		t.Errorf("preview of 600x40 latents is %v", b)
	}
	want := [3]uint8{83, 158, 214} // ⌊(1 + 10·factor)/2·255⌋
	if got := [3]uint8{img.Pix[0], img.Pix[1], img.Pix[2]}; got != want {
		t.Errorf("pixel (0,0) = %v, want %v", got, want)
	}
	if _, err := PreviewImage(tensor.New(1, 4, 8, 8)); err == nil {
		t.Error("4-channel latents: no error")
	}
}
