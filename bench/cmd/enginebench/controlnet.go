package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/invokego/invokego/internal/engine/controlnet"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// controlNetRun times one denoising step with one SD-1.5 ControlNet (random weights): the ControlNet on the
// CFG batch, then the UNet with its residuals, as pipeline.Denoise runs a "balanced" control. The plain UNet
// step is timed in the same run, right before, so the two sit side by side (unet_plain_fp32 and
// unet_controlnet_fp32); the conditioning embedding of the 512×512 control image is computed once per run, as
// the pipeline does, and not timed.
func controlNetRun(ctx context.Context, us unetShape, seed uint64, warmup, runs int, sample, cond *tensor.Tensor,
	unet *sd.UNet, randn func(...int) *tensor.Tensor, emit func(result)) {
	t0 := time.Now()
	s := synthControlNet(us, seed+10)
	cfg := controlnet.DefaultConfig()
	cfg.UNetConfig = us.config()
	cn, err := controlnet.New(cfg, s.build(), sd.Options{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "enginebench: build controlnet: %v\n", err)
		os.Exit(1)
	}
	runtime.GC()
	debug.FreeOSMemory()
	fmt.Fprintf(os.Stderr, "enginebench: built controlnet (%.1fM params) in %.1fs\n", float64(s.params())/1e6, time.Since(t0).Seconds())
	image := randn(1, 3, 512, 512)
	for i, v := range image.Data {
		image.Data[i] = min(max(v*0.25+0.5, 0), 1)
	}
	emb, err := cn.Embed(image)
	check(err)
	gfUNet := unetFLOPs(us, 2, 64, 64, 77) / 1e9
	plain := timeIt(warmup, runs, func() {
		out, err := unet.Forward(ctx, sample, []float32{500}, cond, nil)
		check(err)
		out.Release()
	})
	plain.Name, plain.GFLOP = "unet_plain_fp32", gfUNet
	plain.Note = "the plain step, timed beside unet_controlnet_fp32"
	pr := plain.finish()
	emit(pr)
	step := timeIt(warmup, runs, func() {
		down, mid, err := cn.Forward(ctx, controlnet.Input{Sample: sample, Timesteps: []float32{500}, Context: cond, Embedding: emb, Scale: 1})
		check(err)
		out, err := unet.ForwardWith(ctx, sample, []float32{500}, cond, nil, sd.UNetOptions{DownResiduals: down, MidResidual: mid})
		check(err)
		out.Release()
		for _, d := range down {
			d.Release()
		}
		mid.Release()
	})
	step.Name = "unet_controlnet_fp32"
	r := step.finish()
	r.Note = fmt.Sprintf("ControlNet + UNet step; %.2f× the plain step (%.2f s)", r.Seconds/pr.Seconds, pr.Seconds)
	emit(r)
}
