package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/invokego/invokego/internal/engine/noise"
	"github.com/invokego/invokego/internal/engine/scheduler"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/tensor"
	"github.com/invokego/invokego/internal/engine/torchmath"
)

// DenoiseParams are the inputs of InvokeAI's denoise_latents for SD-1/2 and
// SDXL.
type DenoiseParams struct {
	UNet *sd.UNet
	// UNetOptions are this run's options for every UNet call (seamless
	// tiling, layer patches); the shared UNet itself is never changed.
	UNetOptions sd.UNetOptions
	// SchedulerName is InvokeAI's name ("euler", "dpmpp_2m_k", …) and
	// SchedulerConfig the model's scheduler/scheduler_config.json (nil for
	// the class defaults).
	SchedulerName   string
	SchedulerConfig []byte
	Steps           int
	// CFGScale holds one guidance scale, or one per model call.
	CFGScale []float64
	// CFGRescaleMultiplier in [0, 1) rescales the guided prediction's
	// spread towards the conditional one (arXiv 2305.08891, algorithm 2).
	CFGRescaleMultiplier         float64
	DenoisingStart, DenoisingEnd float64
	Positive, Negative           *Conditioning
	// Noise ([1, 4, h, w]) is added to Latents (zeros when nil) at the
	// first timestep; nil Noise leaves Latents as they are.
	Noise, Latents *tensor.Tensor
	// Seed is the noise seed: stochastic schedulers draw from a generator
	// seeded with Seed ^ 0xFFFFFFFF, and inpainting without Noise draws its
	// noise from Seed.
	Seed uint32
	// Mask enables inpainting (see DenoiseMask).
	Mask *DenoiseMask
	// PositiveRegions and NegativeRegions, when set, make the side's
	// conditioning regional (regions.go): its token ranges apply within
	// their masks only.
	PositiveRegions, NegativeRegions *TextRegions
	// OnStep, when set, is called after every model call; an error stops
	// the loop and is returned.
	OnStep func(StepInfo) error
	// OnRegion, when set, is called by MultiDiffusionDenoise after each region of each model call (with
	// the step and region counts), for progress per tile; an error stops the run.
	OnRegion func(step, totalSteps, region, regions int) error

	// Controls, Adapters and IPAdapters are the run's ControlNets,
	// T2I-Adapters and IP-Adapters (adapters.go).
	Controls   []Control
	Adapters   []Adapter
	IPAdapters []IPAdapter
}

// DenoiseMask is InvokeAI's denoise_mask: Mask [1, 1, H, W] holds 1 where
// the original latents are kept and 0 where new content is generated (it is
// resized to the latents bilinearly). Gradient selects InvokeAI's gradient
// masking, which widens the generated area as the noise level falls.
type DenoiseMask struct {
	Mask     *tensor.Tensor
	Gradient bool
}

// StepInfo describes one finished model call, for progress reporting.
type StepInfo struct {
	Step       int // 0-based model call index within this run
	TotalSteps int // model calls in this run
	Order      int
	Timestep   float64
	Latents    *tensor.Tensor // after the step; do not modify
}

// Denoise runs InvokeAI's latents_from_embeddings: txt2img starts from
// scheduler.add_noise(zeros, noise, t₀) (not noise·init_noise_sigma),
// img2img from the given latents noised to the first timestep of the
// denoising_start/denoising_end window, inpainting re-imposes the known
// latents, noised to the current timestep, before every step. Classifier-
// free guidance uses one UNet call on the batch [negative, positive] and
// uncond + (cond − uncond)·scale. ctx is checked before every model call.
func Denoise(ctx context.Context, p DenoiseParams) (*tensor.Tensor, error) {
	if p.UNet == nil {
		return nil, errors.New("denoise: no unet")
	}
	if p.Positive == nil || p.Negative == nil || p.Positive.Embeds == nil || p.Negative.Embeds == nil {
		return nil, errors.New("denoise: positive and negative conditioning are required")
	}
	if p.Steps < 1 {
		return nil, fmt.Errorf("denoise: steps must be positive, got %d", p.Steps)
	}
	if len(p.CFGScale) == 0 {
		return nil, errors.New("denoise: no cfg scale")
	}
	if p.CFGRescaleMultiplier < 0 || p.CFGRescaleMultiplier >= 1 {
		return nil, fmt.Errorf("denoise: cfg_rescale_multiplier %v outside [0, 1)", p.CFGRescaleMultiplier)
	}
	// A start after the end is not an error: the window is empty and the
	// latents come back unchanged, as in InvokeAI.
	if p.DenoisingStart < 0 || p.DenoisingStart > 1 || p.DenoisingEnd < 0 || p.DenoisingEnd > 1 {
		return nil, fmt.Errorf("denoise: denoising range [%v, %v] invalid", p.DenoisingStart, p.DenoisingEnd)
	}
	sdxl := p.UNet.Config.AdditionEmbedType == "text_time"
	if sdxl && !sdxlConditioned(p.UNet.Config, p.Positive, p.Negative) {
		return nil, errors.New("denoise: an SDXL unet needs SDXL conditioning (pooled embeds and time ids)")
	}
	if p.Positive.Embeds.Shape[2] != p.UNet.Config.CrossAttentionDim || p.Negative.Embeds.Shape[2] != p.UNet.Config.CrossAttentionDim {
		return nil, fmt.Errorf("denoise: conditioning width %d/%d does not match the unet's cross-attention width %d",
			p.Positive.Embeds.Shape[2], p.Negative.Embeds.Shape[2], p.UNet.Config.CrossAttentionDim)
	}
	if p.UNet.Config.InChannels != 4 {
		return nil, fmt.Errorf("denoise: unets with %d input channels (inpainting models) are not supported", p.UNet.Config.InChannels)
	}

	latents := p.Latents
	switch {
	case latents == nil && p.Noise == nil:
		return nil, errors.New("denoise: 'latents' or 'noise' must be provided")
	case latents == nil:
		latents = tensor.New(p.Noise.Shape...)
	default:
		latents = latents.Clone()
	}
	if len(latents.Shape) != 4 || latents.Shape[0] != 1 || latents.Shape[1] != 4 {
		return nil, fmt.Errorf("denoise: latents of shape %v, want [1, 4, h, w]", latents.Shape)
	}
	if p.Noise != nil && !slices.Equal(p.Noise.Shape, latents.Shape) {
		return nil, fmt.Errorf("denoise: noise of shape %v does not match latents %v", p.Noise.Shape, latents.Shape)
	}
	if err := checkRegions(p.PositiveRegions, p.Positive, latents.Shape[2], latents.Shape[3]); err != nil {
		return nil, fmt.Errorf("denoise: positive %w", err)
	}
	if err := checkRegions(p.NegativeRegions, p.Negative, latents.Shape[2], latents.Shape[3]); err != nil {
		return nil, fmt.Errorf("denoise: negative %w", err)
	}
	if err := checkUNet(ctx, p.UNet, latents.Shape[0], latents.Shape[2], latents.Shape[3]); err != nil {
		return nil, fmt.Errorf("denoise: %w", err)
	}
	defer tensor.LimitHeap(unetHeap(p.UNet, latents.Shape[0], latents.Shape[2], latents.Shape[3]))()

	cfg, err := scheduler.ResolveConfig(p.SchedulerName, p.SchedulerConfig)
	if err != nil {
		return nil, fmt.Errorf("denoise: scheduler %q: %w", p.SchedulerName, err)
	}
	sched, err := scheduler.New(p.SchedulerName, cfg)
	if err != nil {
		return nil, fmt.Errorf("denoise: scheduler %q: %w", p.SchedulerName, err)
	}
	if err := sched.SetTimesteps(p.Steps); err != nil {
		return nil, fmt.Errorf("denoise: %w", err)
	}
	start, end := scheduler.DenoisingRange(sched, p.DenoisingStart, p.DenoisingEnd)
	if start >= end {
		return latents, nil // nothing to denoise in this window
	}
	timesteps := sched.Timesteps()
	origLatents := latents.Clone()
	noiseData := []float32(nil)
	if p.Noise != nil {
		noiseData = p.Noise.Data
		noised, err := sched.AddNoise(latents.Data, noiseData, timesteps[start])
		if err != nil {
			return nil, fmt.Errorf("denoise: add noise: %w", err)
		}
		latents = tensor.FromData(noised, latents.Shape...)
	}

	var keepWeight []float32 // 1 − mask at latent size: 1 where new content is generated
	if p.Mask != nil {
		if p.Mask.Mask == nil || len(p.Mask.Mask.Shape) != 4 {
			return nil, errors.New("denoise: the denoise mask must be [1, 1, H, W]")
		}
		resized, err := Resize(p.Mask.Mask, latents.Shape[2], latents.Shape[3], "bilinear")
		if err != nil {
			return nil, fmt.Errorf("denoise: mask: %w", err)
		}
		keepWeight = make([]float32, len(resized.Data))
		for i, v := range resized.Data {
			keepWeight[i] = 1 - v
		}
		if noiseData == nil {
			noiseData = noise.Randn(uint64(p.Seed), noise.Float32, latents.Shape...)
		}
	}

	total := end - start
	if err := checkAdapters(p, total); err != nil {
		return nil, fmt.Errorf("denoise: %w", err)
	}
	gen := noise.NewGenerator(uint64(p.Seed ^ 0xFFFFFFFF))
	guide := newGuidance(p, sdxl)
	guide.regions = newGuidanceRegions(p, latents.Shape[2], latents.Shape[3])
	if guide.adapters, err = newRunAdapters(p); err != nil {
		return nil, fmt.Errorf("denoise: %w", err)
	}
	if err = guide.adapters.prepareMasks(latents.Shape[2], latents.Shape[3]); err != nil {
		return nil, fmt.Errorf("denoise: %w", err)
	}
	plane := latents.Shape[2] * latents.Shape[3]
	for call := start; call < end; call++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t := timesteps[call]
		if keepWeight != nil {
			known, err := sched.AddNoise(origLatents.Data, noiseData, t)
			if err != nil {
				return nil, fmt.Errorf("denoise: mask guidance: %w", err)
			}
			applyMaskGuidance(latents.Data, known, keepWeight, plane, p.Mask.Gradient, t/float64(cfg.NumTrainTimesteps))
		}
		modelInput := sched.ScaleModelInput(latents.Data, call)
		scale := p.CFGScale[min(call-start, len(p.CFGScale)-1)]
		eps, err := guide.predict(ctx, tensor.FromData(modelInput, latents.Shape...), float32(t), float32(scale), call-start, total)
		if err == nil {
			err = guide.regions.failure()
		}
		if err == nil {
			err = guide.adapters.failure()
		}
		if err != nil {
			return nil, fmt.Errorf("denoise: step %d: %w", call-start, err)
		}
		next, err := sched.Step(eps, call, latents.Data, gen)
		if err != nil {
			return nil, fmt.Errorf("denoise: scheduler step %d: %w", call-start, err)
		}
		latents = tensor.FromData(next, latents.Shape...)
		if p.OnStep != nil {
			if err := p.OnStep(StepInfo{Step: call - start, TotalSteps: total, Order: sched.Order(), Timestep: t, Latents: latents}); err != nil {
				return nil, err
			}
		}
	}
	if keepWeight != nil {
		restoreKnown(latents.Data, origLatents.Data, keepWeight, plane, p.Mask.Gradient)
	}
	// The step's recycled activations are no use to what follows (a VAE
	// decode's are larger and fewer) and would sit under its peak.
	tensor.TrimPooled()
	return latents, nil
}

// applyMaskGuidance is InvokeAI's AddsMaskGuidance: where weight is 1 the
// latents evolve freely, where 0 they are replaced by the known latents at
// the current noise level; in between they are lerped, or, for a gradient
// mask, thresholded at t/num_train_timesteps. weight is one latent plane,
// broadcast over the channels.
func applyMaskGuidance(latents, known, weight []float32, plane int, gradient bool, threshold float64) {
	for i := range latents {
		w := weight[i%plane]
		if gradient {
			if !(float64(w) > threshold) {
				latents[i] = known[i]
			}
			continue
		}
		latents[i] = torchmath.Lerp(known[i], latents[i], w)
	}
}

// restoreKnown is InvokeAI's final inpainting blend after the last step.
func restoreKnown(latents, orig, weight []float32, plane int, gradient bool) {
	for i := range latents {
		w := weight[i%plane]
		if gradient {
			if !(w > 0) {
				latents[i] = orig[i]
			}
			continue
		}
		latents[i] = torchmath.Lerp(orig[i], latents[i], w)
	}
}

// guidance runs the UNet with classifier-free guidance.
type guidance struct {
	unet     *sd.UNet
	opts     sd.UNetOptions
	adapters *runAdapters
	regions  *guidanceRegions
	rescale  float32
	batched  bool           // one call on [negative, positive]
	context  *tensor.Tensor // [2, L, D] when batched
	neg, pos *tensor.Tensor // [1, L, D] each otherwise
	added    *sd.AddedCond  // [2, …] for SDXL when batched
	negAdded *sd.AddedCond
	posAdded *sd.AddedCond
	// negEmbeds is the negative conditioning alone, for steps with
	// guidance 0 and 1 (see predict).
	negEmbeds, posEmbeds *tensor.Tensor
}

func newGuidance(p DenoiseParams, sdxl bool) *guidance {
	g := &guidance{unet: p.UNet, opts: p.UNetOptions, rescale: float32(p.CFGRescaleMultiplier)}
	neg, pos := p.Negative.Embeds, p.Positive.Embeds
	g.negEmbeds, g.posEmbeds = neg, pos
	if sdxl {
		g.negAdded = &sd.AddedCond{TextEmbeds: p.Negative.PooledEmbeds, TimeIDs: tensor.FromData(p.Negative.AddTimeIDs, 1, len(p.Negative.AddTimeIDs))}
		g.posAdded = &sd.AddedCond{TextEmbeds: p.Positive.PooledEmbeds, TimeIDs: tensor.FromData(p.Positive.AddTimeIDs, 1, len(p.Positive.AddTimeIDs))}
	}
	// InvokeAI pads conditionings of different lengths with zeros and an
	// attention mask that hides the padding; running the two halves
	// separately computes the same thing.
	if neg.Shape[1] != pos.Shape[1] {
		g.neg, g.pos = neg, pos
		return g
	}
	g.batched = true
	g.context = tensor.New(2, neg.Shape[1], neg.Shape[2])
	copy(g.context.Data, neg.Data)
	copy(g.context.Data[len(neg.Data):], pos.Data)
	if sdxl {
		g.added = &sd.AddedCond{
			TextEmbeds: stackRows(g.negAdded.TextEmbeds, g.posAdded.TextEmbeds),
			TimeIDs:    stackRows(g.negAdded.TimeIDs, g.posAdded.TimeIDs),
		}
	}
	return g
}

// sdxlConditioned reports whether both conditionings carry what an SDXL UNet adds to its time embedding: pooled
// embeddings and the same number of time ids — six for the base model (original size, crop, target size), five
// for the refiner (original size, crop, aesthetic score) — that fill the UNet's add_embedding input.
func sdxlConditioned(cfg sd.UNetConfig, pos, neg *Conditioning) bool {
	if pos.PooledEmbeds == nil || neg.PooledEmbeds == nil || len(pos.AddTimeIDs) != len(neg.AddTimeIDs) {
		return false
	}
	if n := len(pos.AddTimeIDs); n != 5 && n != 6 {
		return false
	}
	if cfg.ProjectionClassEmbeddingsInputDim > 0 && cfg.AdditionTimeEmbedDim > 0 {
		for _, c := range []*Conditioning{pos, neg} {
			if len(c.PooledEmbeds.Data)+len(c.AddTimeIDs)*cfg.AdditionTimeEmbedDim != cfg.ProjectionClassEmbeddingsInputDim {
				return false
			}
		}
	}
	return true
}

// stackRows concatenates two [1, …] tensors into [2, …].
func stackRows(a, b *tensor.Tensor) *tensor.Tensor {
	shape := append([]int{2}, a.Shape[1:]...)
	out := tensor.New(shape...)
	copy(out.Data, a.Data)
	copy(out.Data[len(a.Data):], b.Data)
	return out
}

// predict returns the guided noise prediction for one model call.
// step and total are the model call's index in the run and the run's number
// of calls, for the adapters' begin/end rules.
func (g *guidance) predict(ctx context.Context, input *tensor.Tensor, t, scale float32, step, total int) ([]float32, error) {
	n := len(input.Data)
	if (scale == 0 || scale == 1) && g.rescale == 0 && g.adapters.empty() && g.regions == nil {
		// uncond + (cond − uncond)·0 is uncond (up to the sign of a zero),
		// and uncond + (cond − uncond)·1 is cond (up to one rounding of
		// the difference): guidance 0, and guidance 1, the lowest
		// denoise_latents accepts and what turbo models are run with in
		// InvokeAI's UI, need only one side's call, half the work of the
		// pair.
		side, embeds, added := sideNeg, g.negEmbeds, g.negAdded
		if scale == 1 {
			side, embeds, added = sidePos, g.posEmbeds, g.posAdded
		}
		opts, err := g.callOptions(ctx, side, input, t, step, total)
		if err != nil {
			return nil, err
		}
		u, err := g.unet.ForwardWith(ctx, input, []float32{t}, embeds, added, opts)
		if err != nil {
			return nil, err
		}
		return u.Data[:n], nil
	}
	var uncond, cond []float32
	if g.batched {
		opts, err := g.callOptions(ctx, sideBoth, input, t, step, total)
		if err != nil {
			return nil, err
		}
		out, err := g.unet.ForwardWith(ctx, stackRows(input, input), []float32{t}, g.context, g.added, opts)
		if err != nil {
			return nil, err
		}
		uncond, cond = out.Data[:n], out.Data[n:]
	} else {
		opts, err := g.callOptions(ctx, sideNeg, input, t, step, total)
		if err != nil {
			return nil, err
		}
		u, err := g.unet.ForwardWith(ctx, input, []float32{t}, g.neg, g.negAdded, opts)
		if err != nil {
			return nil, err
		}
		if opts, err = g.callOptions(ctx, sidePos, input, t, step, total); err != nil {
			return nil, err
		}
		c, err := g.unet.ForwardWith(ctx, input, []float32{t}, g.pos, g.posAdded, opts)
		if err != nil {
			return nil, err
		}
		uncond, cond = u.Data, c.Data
	}
	guided := make([]float32, n)
	for i := range guided {
		delta := cond[i] - uncond[i]
		scaled := float32(delta * scale)
		guided[i] = uncond[i] + scaled
	}
	if g.rescale > 0 {
		rescaleGuidance(guided, cond, g.rescale)
	}
	return guided, nil
}

// rescaleGuidance is InvokeAI's _rescale_cfg: the guided prediction is
// scaled to the conditional prediction's standard deviation and mixed back
// with multiplier m.
func rescaleGuidance(guided, cond []float32, m float32) {
	ratio := float32(stdDev(cond) / stdDev(guided))
	for i, v := range guided {
		rescaled := float32(v * ratio)
		guided[i] = float32(m*rescaled) + float32((1-m)*v)
	}
}

// stdDev is the unbiased standard deviation (torch.std's default).
func stdDev(x []float32) float64 {
	var mean float64
	for _, v := range x {
		mean += float64(v)
	}
	mean /= float64(len(x))
	var ss float64
	for _, v := range x {
		d := float64(v) - mean
		ss += d * d
	}
	return math.Sqrt(ss / float64(len(x)-1))
}
