// Package scheduler implements the diffusion samplers InvokeAI offers, with
// the semantics of the diffusers 0.39 classes behind each InvokeAI name.
//
// Latents are flat []float32 slices (any shape; the schedulers are
// elementwise). Arithmetic follows diffusers' torch code operation by
// operation in float32, with the schedule set-up in float64 where diffusers
// uses numpy, and with the same math library algorithms (SLEEF for torch's
// log/exp, numpy's SIMD log, QUADPACK's dqk21 for LMS): every scheduler
// the fixtures have a diffusers 0.39 run of reproduces it bit for bit: 10
// steps of euler, euler_k, euler_a, ddim, dpmpp_2m, dpmpp_2m_k,
// dpmpp_2m_sde, lms, heun, unipc and pndm, and 1, 2 and 4 steps of every
// implemented name (lcm and tcd included) on a trailing-spaced config. All
// are also tested against an exact denoiser. Products are written as
// float32(a*b) (or float64(...)) before an addition on purpose: the explicit
// conversion stops Go from fusing them into an FMA, which the reference
// does not do.
//
// A denoising loop looks like:
//
//	s, _ := scheduler.New("dpmpp_2m", cfg)
//	s.SetTimesteps(30)
//	latents, _ := s.AddNoise(zeros, noise, s.Timesteps()[0]) // InvokeAI's txt2img start
//	for i, t := range s.Timesteps() {
//		in := s.ScaleModelInput(latents, i)
//		eps := unet(in, t) // after classifier-free guidance
//		latents, _ = s.Step(eps, i, latents, gen)
//	}
package scheduler

import (
	"errors"
	"fmt"
	"math"

	"github.com/invokego/invokego/internal/engine/noise"
)

// Scheduler is one sampler instance. It is stateful (multistep history,
// Heun's half steps) and not safe for concurrent use.
type Scheduler interface {
	// Config returns the resolved configuration.
	Config() Config
	// SetTimesteps prepares a schedule of n inference steps and resets all
	// state. It must be called before anything else.
	SetTimesteps(n int) error
	// Timesteps returns one timestep per model call (Heun and PNDM make
	// more calls than steps). Values are the float32 numbers diffusers
	// passes to the UNet.
	Timesteps() []float64
	// Sigmas returns the sigma schedule for sigma-based schedulers (one
	// more than the model calls, ending in the final sigma), or nil.
	Sigmas() []float32
	// InitNoiseSigma is what diffusers' pipelines multiply unit noise by.
	// InvokeAI does not use it; it calls AddNoise instead.
	InitNoiseSigma() float64
	// Order is diffusers' scheduler.order (2 for Heun).
	Order() int
	// ScaleModelInput returns the UNet input for model call callIndex.
	ScaleModelInput(sample []float32, callIndex int) []float32
	// Step advances one model call. The first call after SetTimesteps
	// fixes the starting index (non-zero for img2img); later calls must
	// pass consecutive indices. gen supplies the noise of stochastic
	// schedulers and may be nil for deterministic ones.
	Step(modelOutput []float32, callIndex int, sample []float32, gen *noise.Generator) ([]float32, error)
	// AddNoise noises original to the level of the given timestep, which
	// must be one of Timesteps() (or any training timestep for
	// alpha-based schedulers).
	AddNoise(original, noise []float32, timestep float64) ([]float32, error)
}

// ErrNeedGenerator is returned by Step when a stochastic scheduler gets no
// generator.
var ErrNeedGenerator = errors.New("scheduler: this scheduler needs a noise generator")

// New returns the scheduler InvokeAI calls name (e.g. "euler_a",
// "dpmpp_2m_k") configured with cfg, typically from ResolveConfig.
// cfg.Class must match the name's class; pass a Config from ResolveConfig or
// set cfg.Class to "" to have it filled in.
func New(name string, cfg Config) (Scheduler, error) {
	entry, ok := invokeSchedulers[name]
	if !ok {
		return nil, fmt.Errorf("scheduler: unknown scheduler %q", name)
	}
	if cfg.Class == "" {
		cfg.Class = entry.class
	}
	if cfg.Class != entry.class {
		return nil, fmt.Errorf("scheduler: %q is a %s, config is for %s", name, entry.class, cfg.Class)
	}
	return NewFromConfig(cfg)
}

// NewFromConfig builds the scheduler of class cfg.Class.
func NewFromConfig(cfg Config) (Scheduler, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	train, err := newTrainSchedule(&cfg)
	if err != nil {
		return nil, err
	}
	b := base{cfg: cfg, train: train}
	switch cfg.Class {
	case ClassEuler:
		return &euler{base: b}, nil
	case ClassEulerAncestral:
		return &eulerAncestral{base: b}, nil
	case ClassHeun:
		return &heun{base: b}, nil
	case ClassLMS:
		return &lms{base: b}, nil
	case ClassDDIM:
		return &ddim{base: b}, nil
	case ClassDDPM:
		return &ddpm{base: b}, nil
	case ClassPNDM:
		if !cfg.SkipPRKSteps {
			return nil, errors.New("scheduler: PNDM with skip_prk_steps=false (Runge-Kutta warm-up) is not supported")
		}
		return &pndm{base: b}, nil
	case ClassDPMMultistep:
		switch cfg.AlgorithmType {
		case "dpmsolver++", "sde-dpmsolver++":
		default:
			return nil, fmt.Errorf("scheduler: DPM-Solver algorithm_type %q is not supported", cfg.AlgorithmType)
		}
		if cfg.SolverType != "midpoint" && cfg.SolverType != "heun" {
			return nil, fmt.Errorf("scheduler: DPM-Solver solver_type %q is not supported", cfg.SolverType)
		}
		if cfg.SolverOrder < 1 || cfg.SolverOrder > 3 {
			return nil, fmt.Errorf("scheduler: DPM-Solver solver_order %d is not supported", cfg.SolverOrder)
		}
		return &dpmMultistep{base: b}, nil
	case ClassUniPC:
		if !cfg.PredictX0 {
			return nil, errors.New("scheduler: UniPC with predict_x0=false is not supported")
		}
		if cfg.SolverType != "bh1" && cfg.SolverType != "bh2" {
			return nil, fmt.Errorf("scheduler: UniPC solver_type %q is not supported", cfg.SolverType)
		}
		if cfg.SolverOrder < 1 || cfg.SolverOrder > 3 {
			return nil, fmt.Errorf("scheduler: UniPC solver_order %d is not supported", cfg.SolverOrder)
		}
		return &unipc{base: b}, nil
	case ClassDEIS:
		return &deis{base: b}, nil
	case ClassKDPM2:
		return &kdpm2{base: b}, nil
	case ClassKDPM2Ancestral:
		return &kdpm2{base: b, ancestral: true}, nil
	case ClassLCM:
		return &lcm{base: b}, nil
	case ClassTCD:
		return &tcd{base: b}, nil
	case ClassDPMSinglestep:
		if cfg.SolverType != "midpoint" && cfg.SolverType != "heun" {
			return nil, fmt.Errorf("scheduler: DPM-Solver solver_type %q is not supported", cfg.SolverType)
		}
		return &dpmSinglestep{base: b}, nil
	}
	return nil, fmt.Errorf("scheduler: class %q is not implemented", cfg.Class)
}

// base holds what every scheduler shares.
type base struct {
	cfg       Config
	train     *trainSchedule
	numSteps  int
	timesteps []float64
	sigmas    []float32 // nil for alpha-based schedulers
	// next is the call index the next Step expects; -1 before the first.
	next int
}

func (b *base) Config() Config       { return b.cfg }
func (b *base) Timesteps() []float64 { return append([]float64(nil), b.timesteps...) }
func (b *base) Sigmas() []float32 {
	if b.sigmas == nil {
		return nil
	}
	return append([]float32(nil), b.sigmas...)
}
func (b *base) InitNoiseSigma() float64 { return 1 }
func (b *base) Order() int              { return 1 }

// ScaleModelInput is the identity for the alpha-based schedulers.
func (b *base) ScaleModelInput(sample []float32, callIndex int) []float32 {
	return append([]float32(nil), sample...)
}

func (b *base) reset(n int) error {
	if n < 1 {
		return fmt.Errorf("scheduler: %d inference steps", n)
	}
	if n > b.cfg.NumTrainTimesteps {
		return fmt.Errorf("scheduler: %d inference steps exceed num_train_timesteps %d", n, b.cfg.NumTrainTimesteps)
	}
	b.numSteps = n
	b.next = -1
	return nil
}

// beginStep validates callIndex against the schedule and the previous call
// and returns it.
func (b *base) beginStep(modelOutput []float32, callIndex int, sample []float32) error {
	if b.timesteps == nil {
		return errors.New("scheduler: Step before SetTimesteps")
	}
	if len(modelOutput) != len(sample) {
		return fmt.Errorf("scheduler: model output has %d values, sample %d", len(modelOutput), len(sample))
	}
	if callIndex < 0 || callIndex >= len(b.timesteps) {
		return fmt.Errorf("scheduler: call index %d outside the %d-call schedule", callIndex, len(b.timesteps))
	}
	if b.next >= 0 && callIndex != b.next {
		return fmt.Errorf("scheduler: call index %d, expected %d (steps must be consecutive)", callIndex, b.next)
	}
	b.next = callIndex + 1
	return nil
}

// indexForTimestep is diffusers' index_for_timestep: the position of t in
// the schedule, the second occurrence when it appears more than once (so
// img2img starting in the middle of Heun's doubled schedule does not skip
// a half step).
func (b *base) indexForTimestep(t float64) (int, error) {
	var found []int
	for i, ts := range b.timesteps {
		if ts == t {
			found = append(found, i)
		}
	}
	switch len(found) {
	case 0:
		return 0, fmt.Errorf("scheduler: timestep %v is not in the schedule", t)
	case 1:
		return found[0], nil
	}
	return found[1], nil
}

// addNoiseSigma is the sigma-based add_noise: original + noise*sigma.
func (b *base) addNoiseSigma(original, noise []float32, t float64) ([]float32, error) {
	if len(original) != len(noise) {
		return nil, fmt.Errorf("scheduler: AddNoise: %d values vs %d noise values", len(original), len(noise))
	}
	if b.sigmas == nil {
		return nil, errors.New("scheduler: AddNoise before SetTimesteps")
	}
	i, err := b.indexForTimestep(t)
	if err != nil {
		return nil, err
	}
	sigma := b.sigmas[i]
	out := make([]float32, len(original))
	for k := range out {
		out[k] = original[k] + float32(noise[k]*sigma)
	}
	return out, nil
}

// addNoiseAlpha is the alphas_cumprod-based add_noise (DDIM, DDPM, PNDM):
// sqrt(a)*original + sqrt(1-a)*noise at training timestep t.
func (b *base) addNoiseAlpha(original, noise []float32, t float64) ([]float32, error) {
	if len(original) != len(noise) {
		return nil, fmt.Errorf("scheduler: AddNoise: %d values vs %d noise values", len(original), len(noise))
	}
	ti := int(t)
	if float64(ti) != t || ti < 0 || ti >= len(b.train.alphasCumprod) {
		return nil, fmt.Errorf("scheduler: AddNoise: timestep %v is not a training timestep", t)
	}
	a := b.train.alphasCumprod[ti]
	sa, s1a := sqrt32(a), sqrt32(1-a)
	out := make([]float32, len(original))
	for k := range out {
		out[k] = float32(sa*original[k]) + float32(s1a*noise[k])
	}
	return out, nil
}

// scaleBySigma is the Euler-family scale_model_input: sample/sqrt(sigma²+1).
func scaleBySigma(sample []float32, sigma float32) []float32 {
	d := sqrt32(float32(sigma*sigma) + 1)
	out := make([]float32, len(sample))
	for i, v := range sample {
		out[i] = v / d
	}
	return out
}

// drawNoise draws a randn tensor like diffusers' randn_tensor on a CPU
// generator (float32).
func drawNoise(gen *noise.Generator, n int) ([]float32, error) {
	if gen == nil {
		return nil, ErrNeedGenerator
	}
	return gen.Randn(noise.Float32, n), nil
}

// DenoisingRange returns the model calls [start, end) InvokeAI runs for a
// denoising_start/denoising_end pair (fractions of the noise schedule; 0 and
// 1 for txt2img, a later start for img2img), as its init_scheduler does:
// count the step timesteps (every Order()-th call) at or above
// round(N*(1-start)), then those at or above round(N*(1-end)), and scale
// both counts by the order. The image is noised to Timesteps()[start].
func DenoisingRange(s Scheduler, denoisingStart, denoisingEnd float64) (start, end int) {
	order := s.Order()
	N := float64(s.Config().NumTrainTimesteps)
	var steps []float64
	ts := s.Timesteps()
	for i := 0; i < len(ts); i += order {
		steps = append(steps, ts[i])
	}
	countAtLeast := func(list []float64, v float64) int {
		n := 0
		for _, t := range list {
			if t >= v {
				n++
			}
		}
		return n
	}
	// Python's round() rounds half to even.
	startVal := math.RoundToEven(N * (1 - denoisingStart))
	endVal := math.RoundToEven(N * (1 - denoisingEnd))
	first := countAtLeast(steps, startVal)
	count := countAtLeast(steps[first:], endVal)
	start = first * order
	end = min(start+count*order, len(ts))
	return start, end
}

// baseOf gives tests access to the shared state behind the interface.
func (b *base) baseOf() *base { return b }
