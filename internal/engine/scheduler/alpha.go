package scheduler

import (
	"fmt"

	"github.com/invokego/invokego/internal/engine/noise"
)

// This file holds the schedulers that work with alphas_cumprod at integer
// training timesteps (DDIM, DDPM, PNDM). Their UNet input is unscaled and
// their init_noise_sigma is 1.

// integerTimesteps is the descending schedule of DDIM/DDPM set_timesteps.
func (b *base) integerTimesteps(n int) []float64 {
	N := b.cfg.NumTrainTimesteps
	ts := make([]float64, n)
	switch b.cfg.TimestepSpacing {
	case "linspace":
		lin := npLinspace(0, float64(N-1), n)
		for i := range ts {
			ts[i] = npRound(lin[n-1-i])
		}
	case "leading":
		ratio := N / n
		for i := range ts {
			ts[i] = float64((n-1-i)*ratio + b.cfg.StepsOffset)
		}
	case "trailing":
		ratio := float64(N) / float64(n)
		for i := range ts {
			ts[i] = npRound(float64(N)-float64(float64(i)*ratio)) - 1
		}
	}
	return ts
}

// alphaAt returns alphas_cumprod[t], or final for t < 0.
func (b *base) alphaAt(t int, final float32) (float32, error) {
	if t < 0 {
		return final, nil
	}
	if t >= len(b.train.alphasCumprod) {
		return 0, fmt.Errorf("scheduler: timestep %d outside the %d training timesteps", t, len(b.train.alphasCumprod))
	}
	return b.train.alphasCumprod[t], nil
}

// finalAlphaCumprod is alphas_cumprod "before" timestep 0.
func (b *base) finalAlphaCumprod() float32 {
	if b.cfg.SetAlphaToOne {
		return 1
	}
	return b.train.alphasCumprod[0]
}

// predictX0Alpha converts the model output to (x0, eps) at alpha_prod_t.
func predictX0Alpha(predType string, modelOutput, sample []float32, alphaProd float32) (x0, eps []float32) {
	betaProd := 1 - alphaProd
	sa, sb := sqrt32(alphaProd), sqrt32(betaProd)
	x0 = make([]float32, len(sample))
	eps = make([]float32, len(sample))
	for i := range x0 {
		m, x := modelOutput[i], sample[i]
		switch predType {
		case "epsilon":
			x0[i] = (x - float32(sb*m)) / sa
			eps[i] = m
		case "v_prediction":
			x0[i] = float32(sa*x) - float32(sb*m)
			eps[i] = float32(sa*m) + float32(sb*x)
		default: // "sample"
			x0[i] = m
			eps[i] = (x - float32(sa*m)) / sb
		}
	}
	return x0, eps
}

func clampAll(x []float32, r float32) {
	for i, v := range x {
		x[i] = min(max(v, -r), r)
	}
}

// ---- DDIM (DDIMScheduler) ----

type ddim struct{ base }

func (s *ddim) SetTimesteps(n int) error {
	if err := s.reset(n); err != nil {
		return err
	}
	s.timesteps = s.integerTimesteps(n)
	return nil
}

func (s *ddim) AddNoise(original, noise []float32, t float64) ([]float32, error) {
	return s.addNoiseAlpha(original, noise, t)
}

func (s *ddim) Step(modelOutput []float32, i int, sample []float32, gen *noise.Generator) ([]float32, error) {
	if s.cfg.Eta > 0 && gen == nil {
		return nil, ErrNeedGenerator
	}
	if err := s.beginStep(modelOutput, i, sample); err != nil {
		return nil, err
	}
	t := int(s.timesteps[i])
	prevT := t - s.cfg.NumTrainTimesteps/s.numSteps
	alphaT, err := s.alphaAt(t, 0)
	if err != nil {
		return nil, err
	}
	alphaPrev, err := s.alphaAt(prevT, s.finalAlphaCumprod())
	if err != nil {
		return nil, err
	}
	x0, eps := predictX0Alpha(s.cfg.PredictionType, modelOutput, sample, alphaT)
	if s.cfg.ClipSample {
		clampAll(x0, float32(s.cfg.ClipSampleRange))
	}
	betaT, betaPrev := 1-alphaT, 1-alphaPrev
	variance := float32(betaPrev/betaT) * (1 - alphaT/alphaPrev)
	std := float32(s.cfg.Eta) * sqrt32(variance)
	dirCoeff := sqrt32(1 - alphaPrev - float32(std*std))
	sqrtAlphaPrev := sqrt32(alphaPrev)
	out := make([]float32, len(sample))
	for k := range out {
		out[k] = float32(sqrtAlphaPrev*x0[k]) + float32(dirCoeff*eps[k])
	}
	if s.cfg.Eta > 0 {
		z, err := drawNoise(gen, len(sample))
		if err != nil {
			return nil, err
		}
		for k := range out {
			out[k] += float32(std * z[k])
		}
	}
	return out, nil
}

// ---- DDPM (DDPMScheduler) ----

type ddpm struct{ base }

func (s *ddpm) SetTimesteps(n int) error {
	if err := s.reset(n); err != nil {
		return err
	}
	switch s.cfg.VarianceType {
	case "fixed_small", "fixed_small_log", "fixed_large":
	default:
		// fixed_large_log would take the square root of a log in diffusers
		// (NaN); learned variances need a model that predicts them.
		return fmt.Errorf("scheduler: DDPM variance_type %q is not supported", s.cfg.VarianceType)
	}
	s.timesteps = s.integerTimesteps(n)
	return nil
}

func (s *ddpm) AddNoise(original, noise []float32, t float64) ([]float32, error) {
	return s.addNoiseAlpha(original, noise, t)
}

func (s *ddpm) Step(modelOutput []float32, i int, sample []float32, gen *noise.Generator) ([]float32, error) {
	if gen == nil {
		return nil, ErrNeedGenerator
	}
	if err := s.beginStep(modelOutput, i, sample); err != nil {
		return nil, err
	}
	t := int(s.timesteps[i])
	prevT := -1 // previous_timestep: the next entry of the schedule
	if i+1 < len(s.timesteps) {
		prevT = int(s.timesteps[i+1])
	}
	alphaT, err := s.alphaAt(t, 0)
	if err != nil {
		return nil, err
	}
	alphaPrev, err := s.alphaAt(prevT, 1)
	if err != nil {
		return nil, err
	}
	betaT, betaPrev := 1-alphaT, 1-alphaPrev
	curAlpha := alphaT / alphaPrev
	curBeta := 1 - curAlpha
	x0, _ := predictX0Alpha(s.cfg.PredictionType, modelOutput, sample, alphaT)
	if s.cfg.ClipSample {
		clampAll(x0, float32(s.cfg.ClipSampleRange))
	}
	x0Coeff := float32(sqrt32(alphaPrev)*curBeta) / betaT
	sampleCoeff := float32(sqrt32(curAlpha)*betaPrev) / betaT
	out := make([]float32, len(sample))
	for k := range out {
		out[k] = float32(x0Coeff*x0[k]) + float32(sampleCoeff*sample[k])
	}
	if t > 0 {
		z, err := drawNoise(gen, len(sample))
		if err != nil {
			return nil, err
		}
		variance := max(float32(betaPrev/betaT)*curBeta, 1e-20)
		var scale float32
		switch s.cfg.VarianceType {
		case "fixed_small":
			scale = sqrt32(variance)
		case "fixed_small_log":
			scale = exp32(0.5 * log32(variance))
		case "fixed_large":
			scale = sqrt32(curBeta)
		}
		for k := range out {
			out[k] += float32(scale * z[k])
		}
	}
	return out, nil
}

// ---- PNDM (PNDMScheduler, PLMS only) ----

// pndm is the pseudo linear multistep method with skip_prk_steps: a
// 4th-order Adams-Bashforth-like combination of past model outputs. Its
// second call re-evaluates the first step, so it makes n+1 model calls.
type pndm struct {
	base
	ets        [][]float32
	counter    int
	curSample  []float32
	stepRatio  int
	finalAlpha float32
}

func (s *pndm) SetTimesteps(n int) error {
	if err := s.reset(n); err != nil {
		return err
	}
	N := s.cfg.NumTrainTimesteps
	asc := make([]float64, n)
	switch s.cfg.TimestepSpacing {
	case "linspace":
		lin := npLinspace(0, float64(N-1), n)
		for i := range asc {
			asc[i] = npRound(lin[i])
		}
	case "leading":
		ratio := N / n
		for i := range asc {
			asc[i] = float64(i*ratio + s.cfg.StepsOffset)
		}
	case "trailing":
		ratio := float64(N) / float64(n)
		for i := range asc {
			asc[i] = npRound(float64(N)-float64(float64(n-1-i)*ratio)) - 1
		}
	}
	// plms_timesteps = concat(asc[:-1], asc[-2:-1], asc[-1:])[::-1]
	plms := append(append(append([]float64{}, asc[:n-1]...), asc[max(n-2, 0):n-1]...), asc[n-1])
	s.timesteps = make([]float64, len(plms))
	for i := range plms {
		s.timesteps[i] = plms[len(plms)-1-i]
	}
	s.ets, s.counter, s.curSample = nil, 0, nil
	s.stepRatio = N / n
	s.finalAlpha = s.finalAlphaCumprod()
	return nil
}

func (s *pndm) AddNoise(original, noise []float32, t float64) ([]float32, error) {
	return s.addNoiseAlpha(original, noise, t)
}

func (s *pndm) Step(modelOutput []float32, i int, sample []float32, _ *noise.Generator) ([]float32, error) {
	if err := s.beginStep(modelOutput, i, sample); err != nil {
		return nil, err
	}
	t := int(s.timesteps[i])
	prevT := t - s.stepRatio
	if s.counter != 1 {
		if len(s.ets) > 3 {
			s.ets = s.ets[len(s.ets)-3:]
		}
		s.ets = append(s.ets, modelOutput)
	} else {
		prevT = t
		t += s.stepRatio
	}
	n := len(s.ets)
	e := func(back int) []float32 { return s.ets[n-back] }
	mo := make([]float32, len(sample))
	switch {
	case n == 1 && s.counter == 0:
		copy(mo, modelOutput)
		s.curSample = sample
	case n == 1 && s.counter == 1:
		for k := range mo {
			mo[k] = (modelOutput[k] + e(1)[k]) / 2
		}
		sample = s.curSample
		s.curSample = nil
	case n == 2:
		for k := range mo {
			mo[k] = (float32(3*e(1)[k]) - e(2)[k]) / 2
		}
	case n == 3:
		for k := range mo {
			mo[k] = (float32(23*e(1)[k]) - float32(16*e(2)[k]) + float32(5*e(3)[k])) / 12
		}
	default:
		const oneOver24 = float32(1.0 / 24)
		for k := range mo {
			mo[k] = oneOver24 * (float32(55*e(1)[k]) - float32(59*e(2)[k]) + float32(37*e(3)[k]) - float32(9*e(4)[k]))
		}
	}
	out, err := s.prevSample(sample, t, prevT, mo)
	if err != nil {
		return nil, err
	}
	s.counter++
	return out, nil
}

// prevSample is PNDM's _get_prev_sample (formula (9) of the PNDM paper).
func (s *pndm) prevSample(sample []float32, t, prevT int, modelOutput []float32) ([]float32, error) {
	alphaT, err := s.alphaAt(t, 0)
	if err != nil {
		return nil, err
	}
	alphaPrev, err := s.alphaAt(prevT, s.finalAlpha)
	if err != nil {
		return nil, err
	}
	betaT, betaPrev := 1-alphaT, 1-alphaPrev
	if s.cfg.PredictionType == "v_prediction" {
		sa, sb := sqrt32(alphaT), sqrt32(betaT)
		v := make([]float32, len(modelOutput))
		for k := range v {
			v[k] = float32(sa*modelOutput[k]) + float32(sb*sample[k])
		}
		modelOutput = v
	} else if s.cfg.PredictionType != "epsilon" {
		return nil, fmt.Errorf("scheduler: PNDM does not support prediction_type %q", s.cfg.PredictionType)
	}
	sampleCoeff := sqrt32(alphaPrev / alphaT)
	denom := float32(alphaT*sqrt32(betaPrev)) + sqrt32(float32(float32(alphaT*betaT)*alphaPrev))
	diff := alphaPrev - alphaT
	out := make([]float32, len(sample))
	for k := range out {
		out[k] = float32(sampleCoeff*sample[k]) - float32(diff*modelOutput[k])/denom
	}
	return out, nil
}
