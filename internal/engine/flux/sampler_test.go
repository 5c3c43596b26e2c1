package flux

import (
	"context"
	"math"
	"testing"

	"github.com/invokego/invokego/internal/engine/noise"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// TestSamplerGoldens runs heun and lcm on the tiny dev and schnell transformers from the invokeai_*_cat
// cases' stored embeddings and noise, against testdata/flux-tiny/schedulers (made by make_goldens.py
// beside them): the schedule and model timesteps exactly, every step's latents and the final latents
// within 1e-3.
func TestSamplerGoldens(t *testing.T) {
	for _, c := range []struct {
		variant string
		sampler Sampler
		name    string
		steps   int
		calls   int
	}{
		{"dev", SamplerHeun, "heun", 6, 11},
		{"dev", SamplerLCM, "lcm", 6, 6},
		{"schnell", SamplerHeun, "heun", 4, 7},
		{"schnell", SamplerLCM, "lcm", 4, 4},
	} {
		t.Run(c.variant+"_"+c.name, func(t *testing.T) {
			m := loadFolder(t, c.variant)
			src := openGolden(t, "pipeline", "invokeai_"+c.variant+"_cat_s0_64x64.latents.safetensors")
			g := openGolden(t, "schedulers", "invokeai_"+c.variant+"_cat_s0_64x64."+c.name+".safetensors")
			sig, ts, err := FlowMatchSchedule(c.steps)
			if err != nil {
				t.Fatal(err)
			}
			compareAbs(t, "sigmas", sig, g.floats("sigmas"), 0)
			compareAbs(t, "timesteps", ts, g.floats("timesteps"), 0)

			// The model timesteps of the calls, in order: Heun calls each inner timestep twice.
			var modelTs []float32
			for i, v := range ts {
				modelTs = append(modelTs, ModelTimestep(v))
				if c.sampler == SamplerHeun && i > 0 {
					modelTs = append(modelTs, ModelTimestep(v))
				}
			}
			compareAbs(t, "model timesteps", modelTs, g.floats("model_timesteps"), 0)
			calls := 0
			trace := func(name string, _ *tensor.Tensor) {
				if name == "x_embedder" {
					calls++
				}
			}
			noiseT, err := Noise(0, 64, 64, noise.Float16)
			if err != nil {
				t.Fatal(err)
			}
			// InvokeAI's shifted schedule only gives the step count here.
			schedule, err := InvokeAISchedule(c.steps, 16, c.variant == "dev")
			if err != nil {
				t.Fatal(err)
			}
			var steps [][]float32
			p := DenoiseParams{
				Transformer: m,
				Positive:    Conditioning{T5: src.tensor("prompt_embeds"), Pooled: src.tensor("pooled_prompt_embeds")},
				Guidance:    3.5, Schedule: schedule, Noise: noiseT, Sampler: c.sampler, Seed: 0,
				Call: CallOptions{Trace: trace},
				OnStep: func(s StepInfo) error {
					steps = append(steps, append([]float32(nil), s.Latents.Data...))
					return nil
				},
			}
			lat, err := Denoise(context.Background(), p)
			if err != nil {
				t.Fatal(err)
			}
			if calls != c.calls {
				t.Fatalf("%d model calls, want %d", calls, c.calls)
			}
			if len(steps) != c.steps {
				t.Fatalf("%d step callbacks, want %d", len(steps), c.steps)
			}
			want := g.floats("step_latents")
			per := len(want) / c.steps
			for i, s := range steps {
				compareAbs(t, "step "+itoa(uint64(i+1)), s, want[i*per:(i+1)*per], latentTolerance)
			}
			packed, err := Pack(lat)
			if err != nil {
				t.Fatal(err)
			}
			compareAbs(t, "final latents", packed.Data, g.floats("final_latents"), latentTolerance)

			// The samplers differ from Euler (and from each other) on the same inputs.
			p.Sampler, p.OnStep, p.Call = SamplerEuler, nil, CallOptions{}
			euler, err := Denoise(context.Background(), p)
			if err != nil {
				t.Fatal(err)
			}
			var diff float64
			for i := range euler.Data {
				diff = max(diff, float64(abs32(euler.Data[i]-lat.Data[i])))
			}
			if diff < 1e-2 {
				t.Errorf("%s gives Euler's latents (max diff %.3g)", c.name, diff)
			}
		})
	}
}

// TestSamplerInpaintAndImageToImage: with heun and lcm, inpainting keeps the masked-out half at the init
// latents exactly (merged at σ = 0 last) and changes the other; image to image takes as many steps as the
// clipped schedule has, over the sampler's own schedule, from the latents noised to the clipped start.
func TestSamplerInpaintAndImageToImage(t *testing.T) {
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
	mask := tensor.New(1, 1, 64, 64)
	for y := range 64 {
		for x := range 32 {
			mask.Data[y*64+x] = 1
		}
	}
	init := tensor.New(1, 16, 8, 8)
	for i := range init.Data {
		init.Data[i] = 0.3
	}
	for _, s := range []Sampler{SamplerHeun, SamplerLCM} {
		inp, err := Denoise(ctx, DenoiseParams{Transformer: m, Positive: cond, Schedule: full, Noise: nz,
			InitLatents: init, AddNoise: true, InpaintMask: mask, Sampler: s, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		var keptDiff, genDiff float64
		for c := range 16 {
			for y := range 8 {
				for x := range 8 {
					i := c*64 + y*8 + x
					d := math.Abs(float64(inp.Data[i] - init.Data[i]))
					if x < 4 {
						keptDiff = max(keptDiff, d)
					} else {
						genDiff = max(genDiff, d)
					}
				}
			}
		}
		if keptDiff != 0 || genDiff < 0.1 {
			t.Errorf("sampler %d inpainting: kept half moved by %g, generated half by %g", s, keptDiff, genDiff)
		}

		sched, err := ClipSchedule(full, 0.5, 1)
		if err != nil {
			t.Fatal(err)
		}
		calls, steps := 0, 0
		_, err = Denoise(ctx, DenoiseParams{Transformer: m, Positive: cond, Schedule: sched, Noise: nz, InitLatents: init,
			AddNoise: true, Sampler: s, Call: CallOptions{Trace: func(name string, _ *tensor.Tensor) {
				if name == "x_embedder" {
					calls++
				}
			}}, OnStep: func(StepInfo) error { steps++; return nil }})
		if err != nil {
			t.Fatal(err)
		}
		wantCalls := 2
		if s == SamplerHeun {
			wantCalls = 3
		}
		if steps != 2 || calls != wantCalls {
			t.Errorf("sampler %d image to image at 0.5: %d steps, %d model calls; want 2, %d", s, steps, calls, wantCalls)
		}
	}
}
