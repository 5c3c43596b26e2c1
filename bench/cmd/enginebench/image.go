package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"time"

	"github.com/gen2brain/webp"
	"golang.org/x/image/draw"

	"github.com/invokego/invokego/internal/engine/noise"
	"github.com/invokego/invokego/internal/engine/pipeline"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// sd15SchedulerConfig is SD-1.5's scheduler/scheduler_config.json (the
// fields the schedulers read), as the model would bring it.
const sd15SchedulerConfig = `{"_class_name": "PNDMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear",
 "beta_start": 0.00085, "num_train_timesteps": 1000, "set_alpha_to_one": false, "skip_prk_steps": true,
 "steps_offset": 1, "trained_betas": null, "clip_sample": false}`

// turboSchedulerConfig is SD-Turbo's: trailing timestep spacing.
const turboSchedulerConfig = `{"_class_name": "EulerAncestralDiscreteScheduler", "beta_end": 0.012,
 "beta_schedule": "scaled_linear", "beta_start": 0.00085, "num_train_timesteps": 1000, "steps_offset": 1,
 "timestep_spacing": "trailing", "prediction_type": "epsilon"}`

// imageRun times one whole 512×512 text-to-image the way a queue item runs
// it, part by part: the text encoder on the positive and the negative
// prompt (one call each, as compel encodes them), every denoising step
// (pipeline.Denoise with the named scheduler and guidance), the VAE decode,
// the PNG encode (Go's encoder at the level invokeai.yaml's default
// pil_compress_level 1 maps to) and the WebP thumbnail (256 px, quality 80,
// as the gallery makes it); plus the peak RSS of the run (high-water mark
// reset after loading). Models come from the caller, so the precision is
// theirs.
func imageRun(ctx context.Context, name string, clip *sd.CLIPTextModel, unet *sd.UNet, vae *sd.VAE, ids [][]int,
	schedName, schedCfg string, steps int, cfg float64, precision string) {
	runtime.GC()
	debug.FreeOSMemory()
	reset := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	c0, t0 := cpuSeconds(), time.Now()
	encode := func(row []int) *pipeline.Conditioning {
		out, err := clip.Forward(ctx, [][]int{row})
		check(err)
		return &pipeline.Conditioning{Embeds: out.LastHiddenState}
	}
	// Each part's own peak: the high-water mark is read and reset between
	// parts, so the report says which part holds the image's peak.
	partPeak := map[string]int64{}
	partMem := map[string]map[string]int64{}
	sampler := startMemSampler(20 * time.Millisecond)
	mark := func(part string) {
		partPeak[part] = procStatusKB("VmHWM") * 1024
		partMem[part] = sampler.Stop()
		sampler.Keep(name + "-" + part)
		sampler = startMemSampler(20 * time.Millisecond)
		if reset {
			_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
		}
	}
	pos := encode(ids[1])
	neg := encode(ids[0])
	tText := time.Since(t0).Seconds()
	mark("text_encoder")
	shape := []int{1, 4, 64, 64}
	var stepTimes []float64
	last := time.Now()
	latents, err := pipeline.Denoise(ctx, pipeline.DenoiseParams{
		UNet: unet, SchedulerName: schedName, SchedulerConfig: []byte(schedCfg), Steps: steps,
		CFGScale: []float64{cfg}, DenoisingEnd: 1, Positive: pos, Negative: neg, Seed: 1,
		Noise: tensor.FromData(noise.Randn(1, noise.Float32, shape...), shape...),
		OnStep: func(pipeline.StepInfo) error {
			now := time.Now()
			stepTimes = append(stepTimes, now.Sub(last).Seconds())
			last = now
			return nil
		},
	})
	check(err)
	tDenoise := time.Since(t0).Seconds() - tText
	mark("denoise")
	t1 := time.Now()
	if profileFile != nil {
		// -cpuprofile with the image workload profiles the first VAE
		// decode, the largest fixed part of a few-step image.
		if err := pprof.StartCPUProfile(profileFile); err == nil {
			profileFile = nil
			defer pprof.StopCPUProfile()
		}
	}
	img, err := pipeline.DecodeLatents(ctx, vae, latents, sd.VAEOptions{})
	check(err)
	rgb, err := pipeline.ToImage(img)
	check(err)
	tVAE := time.Since(t1).Seconds()
	mark("vae_decode")
	t2 := time.Now()
	var buf bytes.Buffer
	check((&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, rgb))
	tPNG := time.Since(t2).Seconds()
	t3 := time.Now()
	thumb := image.NewNRGBA(image.Rect(0, 0, 256, 256))
	draw.CatmullRom.Scale(thumb, thumb.Bounds(), rgb, rgb.Bounds(), draw.Src, nil)
	var tb bytes.Buffer
	check(webp.Encode(&tb, thumb, webp.Options{Quality: 80, Method: 4}))
	tThumb := time.Since(t3).Seconds()
	mark("png_thumbnail")
	sampler.Stop()
	var peak int64
	for _, v := range partPeak {
		peak = max(peak, v)
	}
	total := time.Since(t0).Seconds()
	stepSum := 0.0
	for _, s := range stepTimes {
		stepSum += s
	}
	r := map[string]any{
		"impl": "invokego", "name": name, "precision": precision, "scheduler": schedName, "steps": steps, "cfg_scale": cfg,
		"seconds": total, "cpu_seconds": cpuSeconds() - c0,
		"text_encoder_seconds": tText, "denoise_seconds": tDenoise, "step_seconds": stepTimes,
		"mean_step_seconds":  stepSum / float64(max(len(stepTimes), 1)),
		"vae_decode_seconds": tVAE, "png_encode_seconds": tPNG, "png_bytes": buf.Len(),
		"thumbnail_seconds": tThumb, "peak_rss_bytes": peak, "part_peak_rss_bytes": partPeak, "part_peak_memory": partMem, "hwm_reset": reset,
		"load": loadAvg(),
	}
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
	// The models stay loaded to the end, as in the server's model cache:
	// otherwise the collector could free the UNet's off-heap weights while
	// the decode runs and the decode's peak would read 1.7 GB too low.
	runtime.KeepAlive(clip)
	runtime.KeepAlive(unet)
	runtime.KeepAlive(vae)
}
