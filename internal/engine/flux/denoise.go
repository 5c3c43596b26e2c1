package flux

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/invokego/invokego/internal/engine/pipeline"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// Conditioning is what one prompt gives the transformer: the T5 sequence
// [1, L, JointAttentionDim] and the pooled CLIP vector [1, PooledProjectionDim].
type Conditioning struct {
	T5     *tensor.Tensor
	Pooled *tensor.Tensor
}

// DenoiseParams are the inputs of a FLUX denoising run (InvokeAI's
// flux_denoise without ControlNets, IP-Adapters, Redux, Fill or Kontext).
type DenoiseParams struct {
	Transformer *Transformer
	Positive    Conditioning
	// Negative is used on the steps whose CFGScale is not 1 (true
	// classifier-free guidance: a second model call per step).
	Negative *Conditioning
	// CFGScale holds one scale per step (after ClipSchedule), or a single
	// scale for all; nil means 1 (no CFG).
	CFGScale []float64
	// Guidance is the distilled guidance value dev models take (ignored by
	// models without a guidance embedding).
	Guidance float32
	// Schedule is the σ of each step boundary, falling to the last: n+1
	// values for n steps (InvokeAISchedule, possibly ClipSchedule'd, or
	// DiffusersSigmas).
	Schedule []float32
	// ModelTimesteps, when set, are the n timesteps given to the model
	// instead of Schedule[i] (FluxPipeline passes float32(σ·1000)/1000).
	ModelTimesteps []float32
	// Noise [1, 16, h, w] is the starting noise (h, w even).
	Noise *tensor.Tensor
	// InitLatents [1, 16, h, w] are image-to-image's starting latents; with
	// AddNoise they are first noised to Schedule[0]:
	// σ·noise + (1 − σ)·latents.
	InitLatents *tensor.Tensor
	AddNoise    bool
	// InpaintMask [1, 1, H, W] (any size; resized bilinearly to the latents)
	// is InvokeAI's denoise mask: 0 where new content is generated, 1 where
	// the init latents are kept. Requires InitLatents.
	InpaintMask *tensor.Tensor
	// Sampler is flux_denoise's scheduler. SamplerEuler steps along
	// Schedule. SamplerHeun and SamplerLCM run as InvokeAI runs them:
	// len(Schedule)−1 steps of their own unshifted FlowMatchSchedule (the
	// Schedule's values only set how far init latents are noised).
	Sampler Sampler
	// Seed seeds LCM's per-step noise: a CPU torch generator seeded with
	// Seed ^ 0xFFFFFFFF, float32 in the packed shape.
	Seed uint64
	// Call carries per-call model options (LoRA patches, tracing).
	Call CallOptions
	// OnStep, when set, is called after every step; an error stops the run.
	OnStep func(StepInfo) error
}

// Sampler selects the sampling method (InvokeAI's FLUX scheduler names).
type Sampler int

// The samplers of InvokeAI's flux_denoise.
const (
	SamplerEuler Sampler = iota // FlowMatchEulerDiscreteScheduler: x += (σᵢ₊₁ − σᵢ)·v
	SamplerHeun                 // FlowMatchHeunDiscreteScheduler: 2nd order, 2n − 1 model calls
	SamplerLCM                  // FlowMatchLCMScheduler: x0 prediction re-noised with fresh noise
)

// ParseSampler maps flux_denoise's scheduler names ("" is euler).
func ParseSampler(name string) (Sampler, error) {
	switch name {
	case "", "euler":
		return SamplerEuler, nil
	case "heun":
		return SamplerHeun, nil
	case "lcm":
		return SamplerLCM, nil
	}
	return 0, fmt.Errorf("flux denoise: unknown scheduler %q", name)
}

// StepInfo describes a finished step for progress reporting.
type StepInfo struct {
	Step, TotalSteps int // Step counts from 1
	Sigma            float32
	// Preview is the predicted clean latents [1, 16, h, w] after the step
	// (x − σ·v), for progress images; do not modify.
	Preview *tensor.Tensor
	// Latents are the packed latents after the step; do not modify.
	Latents *tensor.Tensor
}

// Denoise runs InvokeAI's FLUX sampling loop and returns the final latents
// [1, 16, h, w]: x ← x + (σᵢ₊₁ − σᵢ)·v from the noise (or the noised init
// latents), with inpainting re-imposing the init latents, noised to σᵢ₊₁,
// outside the mask after every step. ctx is checked before every model call.
func Denoise(ctx context.Context, p DenoiseParams) (*tensor.Tensor, error) {
	t := p.Transformer
	if t == nil {
		return nil, errors.New("flux denoise: no transformer")
	}
	if err := checkConditioning(t.Config, p.Positive, "positive"); err != nil {
		return nil, err
	}
	if p.Negative != nil {
		if err := checkConditioning(t.Config, *p.Negative, "negative"); err != nil {
			return nil, err
		}
	}
	if p.Noise == nil || len(p.Noise.Shape) != 4 || p.Noise.Shape[0] != 1 || p.Noise.Shape[1] != LatentChannels ||
		p.Noise.Shape[2]%2 != 0 || p.Noise.Shape[3]%2 != 0 || p.Noise.Shape[2] < 2 || p.Noise.Shape[3] < 2 {
		return nil, errors.New("flux denoise: noise must be [1, 16, h, w] with h and w even")
	}
	if 4*LatentChannels != t.Config.InChannels {
		return nil, fmt.Errorf("flux denoise: the transformer takes %d channels, not packed 16-channel latents", t.Config.InChannels)
	}
	h, w := p.Noise.Shape[2], p.Noise.Shape[3]
	if p.InitLatents != nil && !slices.Equal(p.InitLatents.Shape, p.Noise.Shape) {
		return nil, fmt.Errorf("flux denoise: latents of shape %v do not match the noise %v", p.InitLatents.Shape, p.Noise.Shape)
	}
	n := len(p.Schedule) - 1
	if n < 0 || n > MaxSteps {
		return nil, fmt.Errorf("flux denoise: a schedule of %d values", len(p.Schedule))
	}
	if p.ModelTimesteps != nil && len(p.ModelTimesteps) != n {
		return nil, fmt.Errorf("flux denoise: %d model timesteps for %d steps", len(p.ModelTimesteps), n)
	}
	cfg, err := expandCFG(p.CFGScale, n)
	if err != nil {
		return nil, err
	}
	for _, s := range cfg {
		if s != 1 && p.Negative == nil {
			return nil, errors.New("flux denoise: negative conditioning is required when cfg_scale is not 1")
		}
	}

	var x *tensor.Tensor
	switch {
	case p.InitLatents != nil && p.AddNoise && n >= 0:
		s0 := p.Schedule[0]
		x = tensor.New(p.Noise.Shape...)
		for i := range x.Data {
			x.Data[i] = float32(s0*p.Noise.Data[i]) + float32((1-s0)*p.InitLatents.Data[i])
		}
	case p.InitLatents != nil:
		x = p.InitLatents.Clone()
	default:
		x = p.Noise.Clone()
	}
	if n < 1 {
		return x, nil // a schedule without steps only noises the input
	}

	var inp *inpainter
	if p.InpaintMask != nil {
		if p.InitLatents == nil {
			return nil, errors.New("flux denoise: inpainting needs init latents")
		}
		if inp, err = newInpainter(p.InpaintMask, p.InitLatents, p.Noise); err != nil {
			return nil, err
		}
	}

	img, err := Pack(x)
	if err != nil {
		return nil, err
	}
	imgIDs := ImageIDs(h, w)
	pos := p.Positive.inputs(img, imgIDs)
	var neg Inputs
	if p.Negative != nil {
		neg = p.Negative.inputs(img, imgIDs)
	}
	var guidance []float32
	if t.Config.GuidanceEmbeds {
		guidance = []float32{p.Guidance}
	}
	if p.Sampler != SamplerEuler {
		return denoiseScheduler(ctx, p, img, pos, neg, guidance, cfg, inp, h, w)
	}
	for i := range n {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		tCurr, tPrev := p.Schedule[i], p.Schedule[i+1]
		ts := tCurr
		if p.ModelTimesteps != nil {
			ts = p.ModelTimesteps[i]
		}
		pos.Img, pos.Timestep, pos.Guidance = img, []float32{ts}, guidance
		pred, err := t.Forward(ctx, pos, p.Call)
		if err != nil {
			return nil, fmt.Errorf("flux denoise: step %d: %w", i+1, err)
		}
		if cfg[i] != 1 {
			neg.Img, neg.Timestep, neg.Guidance = img, []float32{ts}, guidance
			negPred, err := t.Forward(ctx, neg, p.Call)
			if err != nil {
				return nil, fmt.Errorf("flux denoise: step %d: %w", i+1, err)
			}
			s := float32(cfg[i])
			for j, np := range negPred.Data {
				pred.Data[j] = np + s*(pred.Data[j]-np)
			}
			negPred.Release()
		}
		preview := tensor.New(img.Shape...)
		dt := float32(float64(tPrev) - float64(tCurr))
		for j, v := range pred.Data {
			preview.Data[j] = img.Data[j] - float32(tCurr*v)
			img.Data[j] += float32(dt * v)
		}
		pred.Release()
		if inp != nil {
			inp.merge(img.Data, tPrev)
			inp.merge(preview.Data, 0)
		}
		if p.OnStep != nil {
			pv, err := Unpack(preview, h, w)
			if err != nil {
				return nil, err
			}
			if err := p.OnStep(StepInfo{Step: i + 1, TotalSteps: n, Sigma: tCurr, Preview: pv, Latents: img}); err != nil {
				return nil, err
			}
		}
	}
	return Unpack(img, h, w)
}

func checkConditioning(c Config, cond Conditioning, what string) error {
	if cond.T5 == nil || cond.Pooled == nil {
		return fmt.Errorf("flux denoise: %s conditioning is missing", what)
	}
	if len(cond.T5.Shape) != 3 || cond.T5.Shape[0] != 1 || cond.T5.Shape[2] != c.JointAttentionDim || cond.T5.Shape[1] < 1 {
		return fmt.Errorf("flux denoise: %s T5 embeddings of shape %v, want [1, L, %d]", what, cond.T5.Shape, c.JointAttentionDim)
	}
	if len(cond.Pooled.Shape) != 2 || cond.Pooled.Shape[0] != 1 || cond.Pooled.Shape[1] != c.PooledProjectionDim {
		return fmt.Errorf("flux denoise: %s CLIP embedding of shape %v, want [1, %d]", what, cond.Pooled.Shape, c.PooledProjectionDim)
	}
	return nil
}

func (c Conditioning) inputs(img *tensor.Tensor, imgIDs []float32) Inputs {
	return Inputs{Img: img, Txt: c.T5, Pooled: c.Pooled, ImgIDs: imgIDs, TxtIDs: TextIDs(c.T5.Shape[1])}
}

// expandCFG returns one CFG scale per step.
func expandCFG(scales []float64, n int) ([]float64, error) {
	out := make([]float64, n)
	switch len(scales) {
	case 0:
		for i := range out {
			out[i] = 1
		}
	case 1:
		for i := range out {
			out[i] = scales[0]
		}
	case n:
		copy(out, scales)
	default:
		return nil, fmt.Errorf("flux denoise: %d cfg scales for %d steps", len(scales), n)
	}
	for _, s := range out {
		if math.IsNaN(s) || math.IsInf(s, 0) {
			return nil, errors.New("flux denoise: cfg scale is not finite")
		}
	}
	return out, nil
}

// CFGSchedule is InvokeAI's prep_cfg_scale: scales (one, or one per step)
// apply on steps [start, end] (negative indices count from the last step)
// and 1 elsewhere.
func CFGSchedule(scales []float64, steps, start, end int) ([]float64, error) {
	all, err := expandCFG(scales, steps)
	if err != nil {
		return nil, err
	}
	if start < 0 {
		start += steps
	}
	if end < 0 {
		end += steps
	}
	if start < 0 || start >= steps || end < 0 || end >= steps || start > end {
		return nil, fmt.Errorf("flux denoise: cfg_scale steps [%d, %d] outside the %d steps", start, end, steps)
	}
	out := make([]float64, steps)
	for i := range out {
		out[i] = 1
		if i >= start && i <= end {
			out[i] = all[i]
		}
	}
	return out, nil
}

// inpainter is InvokeAI's RectifiedFlowInpaintExtension on packed latents.
type inpainter struct {
	mask        []float32 // packed; 1 where content is generated
	init, noise []float32 // packed
}

func newInpainter(mask, init, noise *tensor.Tensor) (*inpainter, error) {
	if len(mask.Shape) != 4 || mask.Shape[0] != 1 || mask.Shape[1] != 1 {
		return nil, fmt.Errorf("flux denoise: the inpaint mask must be [1, 1, H, W], got %v", mask.Shape)
	}
	h, w := init.Shape[2], init.Shape[3]
	// The denoise mask is 1 where the image is kept; invert it, resize to
	// the latents and broadcast over the channels before packing.
	inv := tensor.New(mask.Shape...)
	for i, v := range mask.Data {
		inv.Data[i] = 1 - v
	}
	small, err := pipeline.Resize(inv, h, w, "bilinear")
	if err != nil {
		return nil, err
	}
	full := tensor.New(1, LatentChannels, h, w)
	for c := range LatentChannels {
		copy(full.Data[c*h*w:], small.Data)
	}
	pm, err := Pack(full)
	if err != nil {
		return nil, err
	}
	pi, err := Pack(init)
	if err != nil {
		return nil, err
	}
	pn, err := Pack(noise)
	if err != nil {
		return nil, err
	}
	return &inpainter{mask: pm.Data, init: pi.Data, noise: pn.Data}, nil
}

// merge keeps x where the mask generates content and puts the init latents
// noised to σ = tPrev elsewhere. From σ ≤ 0.5 on, every partly masked
// position counts as generated, which InvokeAI found gives cleaner seams.
func (p *inpainter) merge(x []float32, tPrev float32) {
	for i, m := range p.mask {
		if tPrev <= 0.5 && m > 1e-4 {
			m = 1
		}
		noised := float32(p.noise[i]*tPrev) + float32((1-tPrev)*p.init[i])
		x[i] = float32(x[i]*m) + float32(noised*(1-m))
	}
}
