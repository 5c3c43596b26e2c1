package scheduler

import (
	"fmt"
	"math"

	"github.com/invokego/invokego/internal/engine/torchmath"
)

// This file builds the training noise schedule (betas, alphas_cumprod) the
// way diffusers does it with torch float32 tensors, and holds the numpy
// helpers (linspace, interp, round) that set_timesteps uses.

// trainSchedule is the per-model training schedule.
type trainSchedule struct {
	betas         []float32
	alphasCumprod []float32
}

func newTrainSchedule(cfg *Config) (*trainSchedule, error) {
	n := cfg.NumTrainTimesteps
	if n < 2 {
		return nil, fmt.Errorf("scheduler: num_train_timesteps %d < 2", n)
	}
	var betas []float32
	switch {
	case len(cfg.TrainedBetas) > 0:
		if len(cfg.TrainedBetas) != n {
			return nil, fmt.Errorf("scheduler: %d trained_betas for %d timesteps", len(cfg.TrainedBetas), n)
		}
		betas = make([]float32, n)
		for i, b := range cfg.TrainedBetas {
			betas[i] = float32(b)
		}
	case cfg.BetaSchedule == "linear":
		betas = torchmath.LinspaceF32(cfg.BetaStart, cfg.BetaEnd, n)
	case cfg.BetaSchedule == "scaled_linear":
		// Specific to the latent diffusion model: linear in sqrt(beta).
		betas = torchmath.LinspaceF32(math.Sqrt(cfg.BetaStart), math.Sqrt(cfg.BetaEnd), n)
		for i, b := range betas {
			betas[i] = b * b
		}
	case cfg.BetaSchedule == "squaredcos_cap_v2":
		betas = make([]float32, n)
		alphaBar := func(t float64) float64 {
			c := math.Cos((t + 0.008) / 1.008 * math.Pi / 2)
			return c * c
		}
		for i := range betas {
			t1, t2 := float64(i)/float64(n), float64(i+1)/float64(n)
			betas[i] = float32(math.Min(1-alphaBar(t2)/alphaBar(t1), 0.999))
		}
	default:
		return nil, fmt.Errorf("scheduler: beta_schedule %q is not supported", cfg.BetaSchedule)
	}

	s := &trainSchedule{betas: betas, alphasCumprod: make([]float32, n)}
	// torch.cumprod on CPU accumulates float32 inputs in double.
	acc := 1.0
	for i, b := range betas {
		acc *= float64(1 - b)
		s.alphasCumprod[i] = float32(acc)
	}
	if cfg.RescaleBetasZeroSNR {
		s.rescaleZeroTerminalSNR()
		switch cfg.Class {
		case ClassEuler, ClassEulerAncestral, ClassDPMMultistep, ClassUniPC:
			// These work in sigma space, where a zero alpha_cumprod would
			// make the first sigma infinite; diffusers substitutes 2^-24.
			s.alphasCumprod[n-1] = 1.0 / (1 << 24)
		}
	}
	return s, nil
}

// rescaleZeroTerminalSNR applies "Common Diffusion Noise Schedules and Sample
// Steps are Flawed" (arXiv 2305.08891), algorithm 1, as diffusers'
// rescale_zero_terminal_snr does (in float64 here, float32 there).
func (s *trainSchedule) rescaleZeroTerminalSNR() {
	n := len(s.betas)
	sqrtAC := make([]float64, n)
	for i, a := range s.alphasCumprod {
		sqrtAC[i] = math.Sqrt(float64(a))
	}
	first, last := sqrtAC[0], sqrtAC[n-1]
	for i := range sqrtAC {
		sqrtAC[i] = (sqrtAC[i] - last) * first / (first - last)
	}
	prev := 1.0
	acc := 1.0
	for i := range s.betas {
		ac := sqrtAC[i] * sqrtAC[i]
		alpha := ac / prev
		prev = ac
		s.betas[i] = float32(1 - alpha)
		acc *= alpha
		s.alphasCumprod[i] = float32(acc)
	}
}

// sigmasFromAlphas is ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5 in
// float32, indexed by training timestep.
func (s *trainSchedule) sigmas() []float32 {
	out := make([]float32, len(s.alphasCumprod))
	for i, a := range s.alphasCumprod {
		out[i] = sqrt32((1 - a) / a)
	}
	return out
}

// npLinspace is numpy.linspace(start, stop, num) (endpoint=True) in float64.
func npLinspace(start, stop float64, num int) []float64 {
	out := make([]float64, num)
	if num == 1 {
		out[0] = start
		return out
	}
	step := (stop - start) / float64(num-1)
	for i := range out {
		out[i] = float64(float64(i)*step) + start
	}
	out[num-1] = stop
	return out
}

// npLinspaceF32 is numpy.linspace(..., dtype=np.float32): computed in
// float64, then cast.
func npLinspaceF32(start, stop float64, num int) []float64 {
	out := npLinspace(start, stop, num)
	for i, v := range out {
		out[i] = float64(float32(v))
	}
	return out
}

// npRound is numpy.round: half to even.
func npRound(x float64) float64 { return math.RoundToEven(x) }

// npInterp is numpy.interp(x, arange(len(fp)), fp): piecewise-linear
// interpolation on integer abscissae, clamped at both ends.
func npInterp(x float64, fp []float32) float64 {
	n := len(fp)
	switch {
	case x <= 0:
		return float64(fp[0])
	case x >= float64(n-1):
		return float64(fp[n-1])
	}
	j := int(math.Floor(x))
	lo, hi := float64(fp[j]), float64(fp[j+1])
	if x == float64(j) {
		return lo
	}
	// The abscissae are one apart, so the slope is the rise; numpy does not
	// fuse the multiply-add.
	slope := hi - lo
	return float64(slope*(x-float64(j))) + lo
}

// karrasSigmas is diffusers' _convert_to_karras (rho = 7), float64.
func karrasSigmas(sigmaMin, sigmaMax float64, n int) []float64 {
	const rho = 7.0
	ramp := npLinspace(0, 1, n)
	minInvRho := math.Pow(sigmaMin, 1/rho)
	maxInvRho := math.Pow(sigmaMax, 1/rho)
	out := make([]float64, n)
	for i, r := range ramp {
		out[i] = math.Pow(maxInvRho+float64(r*(minInvRho-maxInvRho)), rho)
	}
	return out
}

// sigmaToT is diffusers' _sigma_to_t: invert the sigma(t) table by linear
// interpolation in log space. logSigmas is np.log of the float32 sigma
// table, so it is float32, and numpy's value-based casting (float32 array
// op float64 scalar -> float32) makes the interpolation weight float32 too.
func sigmaToT(sigma float64, logSigmas []float32) float64 {
	logSigma := math.Log(math.Max(sigma, 1e-10))
	return sigmaToTLog(logSigma, float32(logSigma), logSigmas)
}

// sigmaToTTensor is _sigma_to_t called with a float32 torch tensor element
// and the float32 log-sigma tensor, as KDPM2 does for its interpolated
// sigmas. numpy's maximum (against the Python float 1e-10) and log run in
// float64 and hand back float64 tensors; every later operation meets a
// float32 tensor and so, by torch's promotion rules, runs in float32: the
// log is rounded to float32 (not taken in float32) and t itself is float32.
// diffusers 0.39's runs with trailing spacing differ from a float32 log by
// one ulp in t (testdata/sd-tiny/goldens/fewstep).
func sigmaToTTensor(sigma float32, logSigmas []float32) float32 {
	ls := float32(math.Log(math.Max(float64(sigma), 1e-10)))
	n := len(logSigmas)
	low := 0
	for i, l := range logSigmas {
		if ls-l >= 0 {
			low = i
		}
	}
	low = min(low, n-2)
	lo, hi := logSigmas[low], logSigmas[low+1]
	w := (lo - ls) / (lo - hi)
	w = min(max(w, 0), 1)
	return float32((1-w)*float32(low)) + float32(w*float32(low+1))
}

// sigmaToTLog finds log sigma's bracket in the table (compared at full
// precision) and interpolates with float32 weights.
func sigmaToTLog(logSigma float64, logSigma32 float32, logSigmas []float32) float64 {
	n := len(logSigmas)
	// low_idx = last index with logSigma >= log_sigmas[i] (sigmas ascend),
	// clipped to n-2.
	low := 0
	for i, ls := range logSigmas {
		if logSigma-float64(ls) >= 0 {
			low = i
		}
	}
	if low > n-2 {
		low = n - 2
	}
	lo, hi := logSigmas[low], logSigmas[low+1]
	w := (lo - logSigma32) / (lo - hi)
	w = min(max(w, 0), 1)
	return float64(float64(1-w)*float64(low)) + float64(float64(w)*float64(low+1))
}

// sqrt32 is torch's float32 sqrt (and "** 0.5"): correctly rounded.
func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }

// log32, exp32 and expm132 are torch's float32 log, exp and expm1 on CPU
// tensors (SLEEF, see sleef.go).
func log32(x float32) float32   { return torchmath.SleefLogf(x) }
func exp32(x float32) float32   { return torchmath.SleefExpf(x) }
func expm132(x float32) float32 { return torchmath.SleefExpm1f(x) }
