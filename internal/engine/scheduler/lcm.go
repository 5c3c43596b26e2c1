package scheduler

import (
	"fmt"
	"math"

	"github.com/invokego/invokego/internal/engine/noise"
)

// lcm is LCMScheduler (diffusers 0.39), the multistep consistency sampler
// for latent consistency models (LCM checkpoints and LCM-LoRA): each call
// predicts the clean latents through the consistency boundary condition,
// then re-noises them to the next timestep with fresh noise (except after
// the last call). Timesteps are a subset of the distillation schedule of
// original_inference_steps. It follows diffusers operation by operation and
// matches its runs for 1, 2 and 4 steps bit for bit (TestFewStepGoldens).
type lcm struct {
	base
	finalAlpha float32
}

// consistencyTimesteps picks n timesteps from the distillation schedule
// k-1, 2k-1, ..., orig*k-1 (descending), evenly spaced like np.linspace
// without its endpoint, floored. LCM and TCD share it.
func (b *base) consistencyTimesteps(n int) ([]float64, error) {
	N, orig := b.cfg.NumTrainTimesteps, b.cfg.OriginalInferenceSteps
	if orig < 1 || orig > N {
		return nil, fmt.Errorf("scheduler: original_inference_steps %d outside [1, %d]", orig, N)
	}
	if n > orig {
		return nil, fmt.Errorf("scheduler: cannot take %d steps: more than original_inference_steps %d", n, orig)
	}
	k := N / orig
	ts := make([]float64, n)
	for i := range ts {
		idx := int(math.Floor(float64(float64(i) * (float64(orig) / float64(n)))))
		ts[i] = float64((orig-idx)*k - 1)
	}
	return ts, nil
}

func (s *lcm) SetTimesteps(n int) error {
	if err := s.reset(n); err != nil {
		return err
	}
	ts, err := s.consistencyTimesteps(n)
	if err != nil {
		return err
	}
	s.timesteps = ts
	s.finalAlpha = s.finalAlphaCumprod()
	return nil
}

func (s *lcm) AddNoise(original, noise []float32, t float64) ([]float32, error) {
	return s.addNoiseAlpha(original, noise, t)
}

func (s *lcm) Step(modelOutput []float32, i int, sample []float32, gen *noise.Generator) ([]float32, error) {
	last := i == len(s.timesteps)-1
	if !last && gen == nil {
		return nil, ErrNeedGenerator
	}
	if err := s.beginStep(modelOutput, i, sample); err != nil {
		return nil, err
	}
	t := int(s.timesteps[i])
	prevT := t
	if !last {
		prevT = int(s.timesteps[i+1])
	}
	alphaT, err := s.alphaAt(t, 0)
	if err != nil {
		return nil, err
	}
	alphaPrev, err := s.alphaAt(prevT, s.finalAlpha)
	if err != nil {
		return nil, err
	}
	// Consistency-model boundary condition scalings (sigma_data 0.5).
	scaled := float32(t) * float32(s.cfg.TimestepScaling)
	sq := float32(scaled * scaled)
	cSkip := 0.25 / (sq + 0.25)
	cOut := scaled / sqrt32(sq+0.25)

	x0, _ := predictX0Alpha(s.cfg.PredictionType, modelOutput, sample, alphaT)
	if s.cfg.ClipSample {
		clampAll(x0, float32(s.cfg.ClipSampleRange))
	}
	denoised := make([]float32, len(sample))
	for k := range denoised {
		denoised[k] = float32(cOut*x0[k]) + float32(cSkip*sample[k])
	}
	if last {
		return denoised, nil
	}
	z, err := drawNoise(gen, len(sample))
	if err != nil {
		return nil, err
	}
	sa, sb := sqrt32(alphaPrev), sqrt32(1-alphaPrev)
	for k := range denoised {
		denoised[k] = float32(sa*denoised[k]) + float32(sb*z[k])
	}
	return denoised, nil
}

// tcd is TCDScheduler (diffusers 0.39), Trajectory Consistency
// Distillation's strategic stochastic sampler: the model's prediction is
// taken to an intermediate timestep s = floor((1-eta)*t_next) and then
// re-noised to t_next, eta (gamma in the paper) setting how much fresh noise
// enters. InvokeAI runs it with eta 1. Same timesteps as LCM. Matches
// diffusers' runs (eta 1 and 0.3; 1, 2, 4 steps) bit for bit
// (TestFewStepGoldens).
type tcd struct {
	base
	finalAlpha float32
}

func (s *tcd) SetTimesteps(n int) error {
	if err := s.reset(n); err != nil {
		return err
	}
	if s.cfg.Eta < 0 || s.cfg.Eta > 1 {
		return fmt.Errorf("scheduler: TCD eta %v outside [0, 1]", s.cfg.Eta)
	}
	ts, err := s.consistencyTimesteps(n)
	if err != nil {
		return err
	}
	s.timesteps = ts
	s.finalAlpha = s.finalAlphaCumprod()
	return nil
}

func (s *tcd) AddNoise(original, noise []float32, t float64) ([]float32, error) {
	return s.addNoiseAlpha(original, noise, t)
}

func (s *tcd) Step(modelOutput []float32, i int, sample []float32, gen *noise.Generator) ([]float32, error) {
	last := i == len(s.timesteps)-1
	stochastic := s.cfg.Eta > 0 && !last
	if stochastic && gen == nil {
		return nil, ErrNeedGenerator
	}
	if err := s.beginStep(modelOutput, i, sample); err != nil {
		return nil, err
	}
	t := int(s.timesteps[i])
	prevT := 0
	if !last {
		prevT = int(s.timesteps[i+1])
	}
	// floor((1 - eta) * prev_t) on a float32 tensor.
	tS := int(math.Floor(float64(float32(1-s.cfg.Eta) * float32(prevT))))
	alphaT, err := s.alphaAt(t, 0)
	if err != nil {
		return nil, err
	}
	alphaPrev, err := s.alphaAt(prevT, s.finalAlpha)
	if err != nil {
		return nil, err
	}
	alphaS, err := s.alphaAt(tS, s.finalAlpha)
	if err != nil {
		return nil, err
	}
	x0, eps := predictX0Alpha(s.cfg.PredictionType, modelOutput, sample, alphaT)
	sa, sb := sqrt32(alphaS), sqrt32(1-alphaS)
	out := make([]float32, len(sample))
	for k := range out {
		out[k] = float32(sa*x0[k]) + float32(sb*eps[k])
	}
	if !stochastic {
		return out, nil
	}
	z, err := drawNoise(gen, len(sample))
	if err != nil {
		return nil, err
	}
	ratio := alphaPrev / alphaS
	keep, fresh := sqrt32(ratio), sqrt32(1-ratio)
	for k := range out {
		out[k] = float32(keep*out[k]) + float32(fresh*z[k])
	}
	return out, nil
}
