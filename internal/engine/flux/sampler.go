package flux

import (
	"context"
	"fmt"

	"github.com/invokego/invokego/internal/engine/noise"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// denoiseScheduler runs the Heun and LCM samplers as InvokeAI's FLUX loop drives diffusers'
// FlowMatchHeunDiscreteScheduler and FlowMatchLCMScheduler (docs/compatibility.md, FLUX schedulers): n =
// len(Schedule)−1 user steps over FlowMatchSchedule(n), the model given ModelTimestep of each scheduler
// timestep, the arithmetic in diffusers' float32 order, inpainting merged after every model call with the
// σ the call stepped to. img (packed, already noised) is updated in place.
func denoiseScheduler(ctx context.Context, p DenoiseParams, img *tensor.Tensor, pos, neg Inputs, guidance []float32,
	cfg []float64, inp *inpainter, h, w int) (*tensor.Tensor, error) {
	n := len(p.Schedule) - 1
	sig, ts, err := FlowMatchSchedule(n)
	if err != nil {
		return nil, err
	}
	t := p.Transformer
	// predict is the velocity at x for user step i (both Heun calls of a step share its CFG scale).
	predict := func(x *tensor.Tensor, timestep float32, i int) (*tensor.Tensor, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		mt := []float32{ModelTimestep(timestep)}
		pos.Img, pos.Timestep, pos.Guidance = x, mt, guidance
		pred, err := t.Forward(ctx, pos, p.Call)
		if err != nil {
			return nil, fmt.Errorf("flux denoise: step %d: %w", i+1, err)
		}
		if cfg[i] != 1 {
			neg.Img, neg.Timestep, neg.Guidance = x, mt, guidance
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
		return pred, nil
	}
	report := func(i int, preview *tensor.Tensor) error {
		if inp != nil {
			inp.merge(preview.Data, 0)
		}
		if p.OnStep == nil {
			return nil
		}
		pv, err := Unpack(preview, h, w)
		if err != nil {
			return err
		}
		return p.OnStep(StepInfo{Step: i + 1, TotalSteps: n, Sigma: sig[i], Preview: pv, Latents: img})
	}

	switch p.Sampler {
	case SamplerHeun:
		// Each step: a first-order (Euler) call at σᵢ to x₁, then a second call at σᵢ₊₁ on x₁ whose slope is
		// averaged with the first, restarting from x; the last step (to σ = 0) is first order only.
		slope := make([]float32, len(img.Data))
		x1 := tensor.New(img.Shape...)
		for i := range n {
			s, sNext := sig[i], sig[i+1]
			v, err := predict(img, ts[i], i)
			if err != nil {
				return nil, err
			}
			dt := sNext - s
			preview := tensor.New(img.Shape...)
			for j, vj := range v.Data {
				x := img.Data[j]
				den := x - float32(vj*s)
				d := (x - den) / s
				slope[j] = d
				x1.Data[j] = x + float32(d*dt)
				preview.Data[j] = den
			}
			v.Release()
			if inp != nil {
				inp.merge(x1.Data, sNext)
			}
			if i == n-1 {
				copy(img.Data, x1.Data)
			} else {
				v2, err := predict(x1, ts[i+1], i)
				if err != nil {
					return nil, err
				}
				for j, vj := range v2.Data {
					x := x1.Data[j]
					den := x - float32(vj*sNext)
					d := 0.5 * float32(slope[j]+(x-den)/sNext)
					img.Data[j] += float32(d * dt)
					preview.Data[j] = den
				}
				v2.Release()
				if inp != nil {
					inp.merge(img.Data, sNext)
				}
			}
			if err := report(i, preview); err != nil {
				return nil, err
			}
		}
	case SamplerLCM:
		// x0 = x − σᵢ·v, re-noised to σᵢ₊₁ with fresh noise. InvokeAI draws that noise from torch's global
		// generator; a generator seeded from the seed keeps a seed's image reproducible.
		gen := noise.NewGenerator(p.Seed ^ 0xFFFFFFFF)
		for i := range n {
			s, sNext := sig[i], sig[i+1]
			v, err := predict(img, ts[i], i)
			if err != nil {
				return nil, err
			}
			eps := gen.Randn(noise.Float32, img.Shape...)
			keep := 1 - sNext
			preview := tensor.New(img.Shape...)
			for j, vj := range v.Data {
				x0 := img.Data[j] - float32(s*vj)
				preview.Data[j] = x0
				img.Data[j] = float32(keep*x0) + float32(sNext*eps[j])
			}
			v.Release()
			if inp != nil {
				inp.merge(img.Data, sNext)
			}
			if err := report(i, preview); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("flux denoise: unknown sampler %d", p.Sampler)
	}
	return Unpack(img, h, w)
}
