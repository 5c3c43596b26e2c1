package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/invokego/invokego/internal/engine/noise"
	"github.com/invokego/invokego/internal/engine/scheduler"
	"github.com/invokego/invokego/internal/engine/tensor"
	"github.com/invokego/invokego/internal/engine/tiles"
)

// maxRegions bounds the tiles of one multi-diffusion run (each keeps its own scheduler state).
const maxRegions = 4096

// MultiDiffusionDenoise is InvokeAI's multi_diffusion_denoise (MultiDiffusion, arXiv 2302.08113): every
// model call denoises each region (a tile of the latents, in latent pixels) on its own, with its own
// scheduler state, and the regions' results are blended back into one latent image before the next call.
// Each region's weight is 1, ramping linearly from 0 to 1 across the overlap it shares with a neighbour on
// each side (the Overlap* fields), so seams fade instead of cutting. ControlNets (p.Controls, their images
// prepared at the full latents' size ×8) apply per region to the region's crop of their image, as
// InvokeAI's crop_controlnet_data does. Masks, T2I-Adapters and IP-Adapters are not supported; everything
// else in p means what it means for Denoise. Stochastic schedulers draw from one generator shared by all
// regions, in region order, as InvokeAI's does.
func MultiDiffusionDenoise(ctx context.Context, p DenoiseParams, regions []tiles.Tile) (*tensor.Tensor, error) {
	if p.UNet == nil {
		return nil, errors.New("multi-diffusion: no unet")
	}
	if p.Mask != nil {
		return nil, errors.New("multi-diffusion: denoise masks are not supported")
	}
	if len(p.Adapters) > 0 || len(p.IPAdapters) > 0 || p.PositiveRegions != nil || p.NegativeRegions != nil {
		return nil, errors.New("multi-diffusion: T2I-Adapters, IP-Adapters and regional prompts are not supported")
	}
	if p.Positive == nil || p.Negative == nil || p.Positive.Embeds == nil || p.Negative.Embeds == nil {
		return nil, errors.New("multi-diffusion: positive and negative conditioning are required")
	}
	if p.Steps < 1 || len(p.CFGScale) == 0 || p.CFGRescaleMultiplier < 0 || p.CFGRescaleMultiplier >= 1 ||
		p.DenoisingStart < 0 || p.DenoisingStart > 1 || p.DenoisingEnd < 0 || p.DenoisingEnd > 1 {
		return nil, fmt.Errorf("multi-diffusion: invalid steps %d, cfg %v, rescale %v or range [%v, %v]",
			p.Steps, p.CFGScale, p.CFGRescaleMultiplier, p.DenoisingStart, p.DenoisingEnd)
	}
	sdxl := p.UNet.Config.AdditionEmbedType == "text_time"
	if sdxl && !sdxlConditioned(p.UNet.Config, p.Positive, p.Negative) {
		return nil, errors.New("multi-diffusion: an SDXL unet needs SDXL conditioning (pooled embeds and time ids)")
	}
	if p.Positive.Embeds.Shape[2] != p.UNet.Config.CrossAttentionDim || p.Negative.Embeds.Shape[2] != p.UNet.Config.CrossAttentionDim {
		return nil, fmt.Errorf("multi-diffusion: conditioning width does not match the unet's cross-attention width %d", p.UNet.Config.CrossAttentionDim)
	}
	if p.UNet.Config.InChannels != 4 {
		return nil, fmt.Errorf("multi-diffusion: unets with %d input channels are not supported", p.UNet.Config.InChannels)
	}
	latents := p.Latents
	switch {
	case latents == nil && p.Noise == nil:
		return nil, errors.New("multi-diffusion: 'latents' or 'noise' must be provided")
	case latents == nil:
		latents = tensor.New(p.Noise.Shape...)
	default:
		latents = latents.Clone()
	}
	if len(latents.Shape) != 4 || latents.Shape[0] != 1 || latents.Shape[1] != 4 {
		return nil, fmt.Errorf("multi-diffusion: latents of shape %v, want [1, 4, h, w]", latents.Shape)
	}
	if p.Noise != nil && !slices.Equal(p.Noise.Shape, latents.Shape) {
		return nil, fmt.Errorf("multi-diffusion: noise of shape %v does not match latents %v", p.Noise.Shape, latents.Shape)
	}
	lh, lw := latents.Shape[2], latents.Shape[3]
	if len(regions) == 0 || len(regions) > maxRegions {
		return nil, fmt.Errorf("multi-diffusion: %d regions (1..%d)", len(regions), maxRegions)
	}
	for _, r := range regions {
		if r.Top < 0 || r.Left < 0 || r.Bottom > lh || r.Right > lw || r.Bottom-r.Top < 1 || r.Right-r.Left < 1 ||
			r.OverlapTop < 0 || r.OverlapBottom < 0 || r.OverlapLeft < 0 || r.OverlapRight < 0 {
			return nil, fmt.Errorf("multi-diffusion: region %+v outside the %dx%d latents", r, lw, lh)
		}
	}

	cfg, err := scheduler.ResolveConfig(p.SchedulerName, p.SchedulerConfig)
	if err != nil {
		return nil, fmt.Errorf("multi-diffusion: scheduler %q: %w", p.SchedulerName, err)
	}
	newScheduler := func() (scheduler.Scheduler, error) {
		s, err := scheduler.New(p.SchedulerName, cfg)
		if err != nil {
			return nil, fmt.Errorf("multi-diffusion: scheduler %q: %w", p.SchedulerName, err)
		}
		return s, s.SetTimesteps(p.Steps)
	}
	sched, err := newScheduler()
	if err != nil {
		return nil, err
	}
	start, end := scheduler.DenoisingRange(sched, p.DenoisingStart, p.DenoisingEnd)
	if start >= end {
		return latents, nil
	}
	timesteps := sched.Timesteps()
	if p.Noise != nil {
		noised, err := sched.AddNoise(latents.Data, p.Noise.Data, timesteps[start])
		if err != nil {
			return nil, fmt.Errorf("multi-diffusion: add noise: %w", err)
		}
		latents = tensor.FromData(noised, latents.Shape...)
	}
	if err := checkAdapters(p, end-start); err != nil {
		return nil, fmt.Errorf("multi-diffusion: %w", err)
	}
	for i, c := range p.Controls {
		if s := c.Image.Shape; len(s) != 4 || s[0] != 1 || s[2] != lh*8 || s[3] != lw*8 {
			return nil, fmt.Errorf("multi-diffusion: control %d: image of shape %v for %dx%d latents", i, s, lw, lh)
		}
	}
	// One scheduler per region, each fresh from SetTimesteps (InvokeAI deep-copies its scheduler at that
	// point), and each region's blending weight.
	scheds := make([]scheduler.Scheduler, len(regions))
	weights := make([][]float32, len(regions))
	for i, r := range regions {
		if scheds[i], err = newScheduler(); err != nil {
			return nil, err
		}
		weights[i] = regionWeight(r)
	}
	// A region's guidance, with its crop of the control images, is built when the region runs and dropped
	// after: the ControlNets' conditioning embeddings of every region kept at once would grow with the image
	// (tens of MB a tile), while recomputing one costs a few percent of the region's ControlNet and UNet calls.
	guide := newGuidance(p, sdxl)
	guideFor := func(r tiles.Tile) (*guidance, error) {
		if len(p.Controls) == 0 {
			return guide, nil
		}
		rp := p
		rp.Controls = make([]Control, len(p.Controls))
		for j, c := range p.Controls {
			c.Image = cropPixels(c.Image, r)
			rp.Controls[j] = c
		}
		g := *guide
		var err error
		g.adapters, err = newRunAdapters(rp)
		return &g, err
	}
	gen := noise.NewGenerator(uint64(p.Seed ^ 0xFFFFFFFF))
	plane := lh * lw
	merged := make([]float32, len(latents.Data))
	total := make([]float32, plane)
	for call := start; call < end; call++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t := timesteps[call]
		scale := p.CFGScale[min(call-start, len(p.CFGScale)-1)]
		clear(merged)
		clear(total)
		for i, r := range regions {
			rh, rw := r.Bottom-r.Top, r.Right-r.Left
			crop := cropLatents(latents.Data, lh, lw, r)
			input := scheds[i].ScaleModelInput(crop, call)
			g, err := guideFor(r)
			if err != nil {
				return nil, fmt.Errorf("multi-diffusion: region %d: %w", i, err)
			}
			eps, err := g.predict(ctx, tensor.FromData(input, 1, 4, rh, rw), float32(t), float32(scale), call-start, end-start)
			if err != nil {
				return nil, fmt.Errorf("multi-diffusion: step %d, region %d: %w", call-start, i, err)
			}
			next, err := scheds[i].Step(eps, call, crop, gen)
			if err != nil {
				return nil, fmt.Errorf("multi-diffusion: scheduler step %d, region %d: %w", call-start, i, err)
			}
			if p.OnRegion != nil {
				if err := p.OnRegion(call-start, end-start, i, len(regions)); err != nil {
					return nil, err
				}
			}
			w := weights[i]
			for c := range 4 {
				for y := range rh {
					dst := merged[c*plane+(r.Top+y)*lw+r.Left:][:rw]
					src := next[(c*rh+y)*rw:][:rw]
					wr := w[y*rw:][:rw]
					for x := range dst {
						dst[x] += src[x] * wr[x]
					}
				}
			}
			for y := range rh {
				dst := total[(r.Top+y)*lw+r.Left:][:rw]
				for x, v := range w[y*rw:][:rw] {
					dst[x] += v
				}
			}
		}
		next := make([]float32, len(merged))
		for c := range 4 {
			for i, tw := range total {
				v := merged[c*plane+i]
				if tw > 0 {
					v /= tw
				}
				next[c*plane+i] = v
			}
		}
		latents = tensor.FromData(next, latents.Shape...)
		if p.OnStep != nil {
			if err := p.OnStep(StepInfo{Step: call - start, TotalSteps: end - start, Order: sched.Order(), Timestep: t, Latents: latents}); err != nil {
				return nil, err
			}
		}
	}
	return latents, nil
}

// cropLatents copies region r of [1, 4, lh, lw] latents.
func cropLatents(x []float32, lh, lw int, r tiles.Tile) []float32 {
	rh, rw := r.Bottom-r.Top, r.Right-r.Left
	out := make([]float32, 4*rh*rw)
	for c := range 4 {
		for y := range rh {
			copy(out[(c*rh+y)*rw:][:rw], x[(c*lh+r.Top+y)*lw+r.Left:][:rw])
		}
	}
	return out
}

// regionWeight is a region's blending weight: 1, times a ramp from 0 to 1 (torch.linspace) across each
// overlap, rising into the region from the left and top and falling towards the right and bottom.
func regionWeight(r tiles.Tile) []float32 {
	rh, rw := r.Bottom-r.Top, r.Right-r.Left
	w := make([]float32, rh*rw)
	for i := range w {
		w[i] = 1
	}
	ramp := func(n int, i int) float32 { // linspace(0, 1, n)[i]
		if n == 1 {
			return 0
		}
		return float32(i) / float32(n-1)
	}
	for y := range rh {
		for x := range rw {
			v := float32(1)
			if x < r.OverlapLeft {
				v *= ramp(r.OverlapLeft, x)
			}
			if y < r.OverlapTop {
				v *= ramp(r.OverlapTop, y)
			}
			if o := r.OverlapRight; o > 0 && x >= rw-o {
				v *= ramp(o, rw-1-x)
			}
			if o := r.OverlapBottom; o > 0 && y >= rh-o {
				v *= ramp(o, rh-1-y)
			}
			w[y*rw+x] = v
		}
	}
	return w
}

// cropPixels is a region of a [1, C, 8·h, 8·w] image: the region's latent rectangle times 8.
func cropPixels(img *tensor.Tensor, r tiles.Tile) *tensor.Tensor {
	c, h, w := img.Shape[1], img.Shape[2], img.Shape[3]
	top, left, rh, rw := r.Top*8, r.Left*8, (r.Bottom-r.Top)*8, (r.Right-r.Left)*8
	out := tensor.New(1, c, rh, rw)
	for ch := range c {
		for y := range rh {
			copy(out.Data[(ch*rh+y)*rw:][:rw], img.Data[(ch*h+top+y)*w+left:][:rw])
		}
	}
	return out
}
