package scheduler

import (
	"fmt"

	"github.com/invokego/invokego/internal/engine/noise"
	"github.com/invokego/invokego/internal/engine/torchmath"
)

// This file holds the k-diffusion style schedulers (Euler, Euler ancestral,
// Heun, LMS): they work in sigma space, x = x0 + sigma*eps, and scale the
// UNet input by 1/sqrt(sigma²+1).

// inferenceTimesteps returns the descending timesteps of diffusers'
// sigma-based set_timesteps for the configured spacing. float32Linspace
// selects np.linspace(..., dtype=np.float32) (Euler, Heun) over float64
// (LMS).
func (b *base) inferenceTimesteps(n int, float32Linspace bool) []float64 {
	N := b.cfg.NumTrainTimesteps
	ts := make([]float64, n)
	switch b.cfg.TimestepSpacing {
	case "linspace":
		var lin []float64
		if float32Linspace {
			lin = npLinspaceF32(0, float64(N-1), n)
		} else {
			lin = npLinspace(0, float64(N-1), n)
		}
		for i := range ts {
			ts[i] = lin[n-1-i]
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

// sigmaSchedule interpolates the training sigmas at timesteps, optionally
// replaces them by Karras sigmas (recomputing the timesteps), and appends
// the final sigma. It returns float32-rounded timesteps and sigmas.
func (b *base) sigmaSchedule(ts []float64, karras bool, final float32) ([]float64, []float32) {
	table := b.train.sigmas()
	sig := make([]float64, len(ts))
	for i, t := range ts {
		sig[i] = npInterp(t, table)
	}
	if karras {
		sigMin, sigMax := sig[len(sig)-1], sig[0]
		if b.cfg.Class == ClassEuler || b.cfg.Class == ClassUniPC {
			if b.cfg.SigmaMin != nil {
				sigMin = *b.cfg.SigmaMin
			}
			if b.cfg.SigmaMax != nil {
				sigMax = *b.cfg.SigmaMax
			}
		}
		sig = karrasSigmas(sigMin, sigMax, len(ts))
		logTable := logSigmaTable(table)
		ts = make([]float64, len(sig))
		for i, s := range sig {
			ts[i] = sigmaToT(s, logTable)
		}
	}
	sigmas := make([]float32, len(sig)+1)
	for i, s := range sig {
		sigmas[i] = float32(s)
	}
	sigmas[len(sig)] = final
	out := make([]float64, len(ts))
	for i, t := range ts {
		out[i] = float64(float32(t))
	}
	return out, sigmas
}

// logSigmaTable is np.log of the float32 sigma table (a float32 array,
// so numpy takes its SIMD float32 path).
func logSigmaTable(table []float32) []float32 {
	out := make([]float32, len(table))
	for i, s := range table {
		out[i] = torchmath.NumpyLogf(s)
	}
	return out
}

// initNoiseSigmaFromSigmas is the k-diffusion init_noise_sigma: sigma_max
// for linspace/trailing spacing, sqrt(sigma_max²+1) for leading.
func (b *base) initNoiseSigmaFromSigmas() float64 {
	var maxSigma float32
	for _, s := range b.sigmas {
		maxSigma = max(maxSigma, s)
	}
	if b.cfg.TimestepSpacing == "linspace" || b.cfg.TimestepSpacing == "trailing" {
		return float64(maxSigma)
	}
	return float64(sqrt32(float32(maxSigma*maxSigma) + 1))
}

// predictX0Sigma converts the model output to the denoised sample for a
// sigma-space scheduler.
func predictX0Sigma(predType string, modelOutput, sample []float32, sigma float32) []float32 {
	x0 := make([]float32, len(sample))
	switch predType {
	case "epsilon":
		for i := range x0 {
			x0[i] = sample[i] - float32(sigma*modelOutput[i])
		}
	case "v_prediction":
		// denoised = model_output * c_out + input * c_skip
		s2p1 := float32(sigma*sigma) + 1
		cOut := -sigma / sqrt32(s2p1)
		for i := range x0 {
			x0[i] = float32(modelOutput[i]*cOut) + sample[i]/s2p1
		}
	default: // "sample"
		copy(x0, modelOutput)
	}
	return x0
}

// eulerUpdate is sample + (sample - x0)/sigma * dt.
func eulerUpdate(sample, x0 []float32, sigma, dt float32) []float32 {
	out := make([]float32, len(sample))
	for i := range out {
		d := (sample[i] - x0[i]) / sigma
		out[i] = sample[i] + float32(d*dt)
	}
	return out
}

// ---- Euler (EulerDiscreteScheduler) ----

type euler struct{ base }

func (s *euler) SetTimesteps(n int) error {
	if err := s.reset(n); err != nil {
		return err
	}
	var final float32
	if s.cfg.FinalSigmasType == "sigma_min" {
		a := s.train.alphasCumprod[0]
		final = sqrt32((1 - a) / a)
	}
	s.timesteps, s.sigmas = s.sigmaSchedule(s.inferenceTimesteps(n, true), s.cfg.UseKarrasSigmas, final)
	return nil
}

func (s *euler) InitNoiseSigma() float64 { return s.initNoiseSigmaFromSigmas() }

func (s *euler) ScaleModelInput(sample []float32, i int) []float32 {
	return scaleBySigma(sample, s.sigmas[i])
}

func (s *euler) AddNoise(original, noise []float32, t float64) ([]float32, error) {
	return s.addNoiseSigma(original, noise, t)
}

func (s *euler) Step(modelOutput []float32, i int, sample []float32, _ *noise.Generator) ([]float32, error) {
	if err := s.beginStep(modelOutput, i, sample); err != nil {
		return nil, err
	}
	// s_churn is 0 in every pipeline, so gamma = 0 and sigma_hat = sigma.
	sigma := s.sigmas[i]
	x0 := predictX0Sigma(s.cfg.PredictionType, modelOutput, sample, sigma)
	return eulerUpdate(sample, x0, sigma, s.sigmas[i+1]-sigma), nil
}

// ---- Euler ancestral (EulerAncestralDiscreteScheduler) ----

type eulerAncestral struct{ base }

func (s *eulerAncestral) SetTimesteps(n int) error {
	if err := s.reset(n); err != nil {
		return err
	}
	s.timesteps, s.sigmas = s.sigmaSchedule(s.inferenceTimesteps(n, true), false, 0)
	return nil
}

func (s *eulerAncestral) InitNoiseSigma() float64 { return s.initNoiseSigmaFromSigmas() }

func (s *eulerAncestral) ScaleModelInput(sample []float32, i int) []float32 {
	return scaleBySigma(sample, s.sigmas[i])
}

func (s *eulerAncestral) AddNoise(original, noise []float32, t float64) ([]float32, error) {
	return s.addNoiseSigma(original, noise, t)
}

func (s *eulerAncestral) Step(modelOutput []float32, i int, sample []float32, gen *noise.Generator) ([]float32, error) {
	if gen == nil {
		return nil, ErrNeedGenerator
	}
	if err := s.beginStep(modelOutput, i, sample); err != nil {
		return nil, err
	}
	sigmaFrom, sigmaTo := s.sigmas[i], s.sigmas[i+1]
	x0 := predictX0Sigma(s.cfg.PredictionType, modelOutput, sample, sigmaFrom)
	from2, to2 := float32(sigmaFrom*sigmaFrom), float32(sigmaTo*sigmaTo)
	sigmaUp := sqrt32(float32(to2*(from2-to2)) / from2)
	sigmaDown := sqrt32(to2 - float32(sigmaUp*sigmaUp))
	prev := eulerUpdate(sample, x0, sigmaFrom, sigmaDown-sigmaFrom)
	// diffusers draws the noise on every step, the last one included.
	eps, err := drawNoise(gen, len(sample))
	if err != nil {
		return nil, err
	}
	for k := range prev {
		prev[k] += float32(eps[k] * sigmaUp)
	}
	return prev, nil
}

// ---- Heun (HeunDiscreteScheduler) ----

// heun makes two model calls per step except the last: a first-order
// (Euler) prediction, then a correction with the derivative averaged over
// both ends. Its schedule repeats every timestep but the first.
type heun struct {
	base
	prevDerivative []float32
	dt             float32
	firstSample    []float32
}

func (s *heun) Order() int { return 2 }

func (s *heun) SetTimesteps(n int) error {
	if err := s.reset(n); err != nil {
		return err
	}
	ts, sig := s.sigmaSchedule(s.inferenceTimesteps(n, true), s.cfg.UseKarrasSigmas, 0)
	// sigmas: [s0, s1, s1, ..., s_{n-1}, s_{n-1}, 0]; timesteps: [t0, t1, t1, ...].
	s.sigmas = []float32{sig[0]}
	for _, v := range sig[1 : len(sig)-1] {
		s.sigmas = append(s.sigmas, v, v)
	}
	s.sigmas = append(s.sigmas, sig[len(sig)-1])
	s.timesteps = []float64{ts[0]}
	for _, t := range ts[1:] {
		s.timesteps = append(s.timesteps, t, t)
	}
	s.prevDerivative, s.firstSample = nil, nil
	return nil
}

func (s *heun) InitNoiseSigma() float64 { return s.initNoiseSigmaFromSigmas() }

func (s *heun) ScaleModelInput(sample []float32, i int) []float32 {
	return scaleBySigma(sample, s.sigmas[i])
}

func (s *heun) AddNoise(original, noise []float32, t float64) ([]float32, error) {
	return s.addNoiseSigma(original, noise, t)
}

func (s *heun) Step(modelOutput []float32, i int, sample []float32, _ *noise.Generator) ([]float32, error) {
	if s.next < 0 && i%2 == 1 {
		// Odd calls are corrections; a run (img2img included) must start on
		// a first-order call, as InvokeAI's start index is a multiple of
		// the scheduler order.
		return nil, fmt.Errorf("scheduler: heun cannot start at call %d (a correction half step)", i)
	}
	if err := s.beginStep(modelOutput, i, sample); err != nil {
		return nil, err
	}
	if s.prevDerivative == nil {
		// First order: Euler from sigmas[i] to sigmas[i+1].
		sigma, sigmaNext := s.sigmas[i], s.sigmas[i+1]
		x0 := predictX0Sigma(s.cfg.PredictionType, modelOutput, sample, sigma)
		d := make([]float32, len(sample))
		for k := range d {
			d[k] = (sample[k] - x0[k]) / sigma
		}
		s.dt = sigmaNext - sigma
		s.prevDerivative, s.firstSample = d, sample
		out := make([]float32, len(sample))
		for k := range out {
			out[k] = sample[k] + float32(d[k]*s.dt)
		}
		if sigmaNext == 0 {
			// The final half step has no correction.
			s.prevDerivative, s.firstSample = nil, nil
		}
		return out, nil
	}
	// Second order: derivative at the predicted point, averaged.
	if i == 0 {
		return nil, fmt.Errorf("scheduler: heun correction at call 0")
	}
	sigmaNext := s.sigmas[i]
	x0 := predictX0Sigma(s.cfg.PredictionType, modelOutput, sample, sigmaNext)
	out := make([]float32, len(sample))
	for k := range out {
		d := (sample[k] - x0[k]) / sigmaNext
		d = (s.prevDerivative[k] + d) / 2
		out[k] = s.firstSample[k] + float32(d*s.dt)
	}
	s.prevDerivative, s.firstSample = nil, nil
	return out, nil
}

// ---- LMS (LMSDiscreteScheduler) ----

// lmsOrder is the order diffusers' pipelines use (step's default).
const lmsOrder = 4

type lms struct {
	base
	derivatives [][]float32 // oldest first, at most lmsOrder
}

func (s *lms) SetTimesteps(n int) error {
	if err := s.reset(n); err != nil {
		return err
	}
	s.timesteps, s.sigmas = s.sigmaSchedule(s.inferenceTimesteps(n, false), s.cfg.UseKarrasSigmas, 0)
	s.derivatives = nil
	return nil
}

func (s *lms) InitNoiseSigma() float64 { return s.initNoiseSigmaFromSigmas() }

func (s *lms) ScaleModelInput(sample []float32, i int) []float32 {
	return scaleBySigma(sample, s.sigmas[i])
}

func (s *lms) AddNoise(original, noise []float32, t float64) ([]float32, error) {
	return s.addNoiseSigma(original, noise, t)
}

func (s *lms) Step(modelOutput []float32, i int, sample []float32, _ *noise.Generator) ([]float32, error) {
	if err := s.beginStep(modelOutput, i, sample); err != nil {
		return nil, err
	}
	sigma := s.sigmas[i]
	x0 := predictX0Sigma(s.cfg.PredictionType, modelOutput, sample, sigma)
	d := make([]float32, len(sample))
	for k := range d {
		d[k] = (sample[k] - x0[k]) / sigma
	}
	s.derivatives = append(s.derivatives, d)
	if len(s.derivatives) > lmsOrder {
		s.derivatives = s.derivatives[1:]
	}
	order := min(i+1, lmsOrder, len(s.derivatives))
	acc := make([]float32, len(sample))
	for c := 0; c < order; c++ {
		coeff := float32(s.lmsCoefficient(order, i, c))
		dc := s.derivatives[len(s.derivatives)-1-c]
		for k := range acc {
			acc[k] += float32(coeff * dc[k])
		}
	}
	out := make([]float32, len(sample))
	for k := range out {
		out[k] = sample[k] + acc[k]
	}
	return out, nil
}

// lmsCoefficient integrates the Lagrange basis polynomial for node
// current (nodes sigmas[t], sigmas[t-1], ...) from sigmas[t] to
// sigmas[t+1], as diffusers does with scipy.integrate.quad. The integrand
// is a polynomial of degree < 4, which quad's first 21-point Gauss-Kronrod
// pass already integrates to rounding, so that pass is reproduced exactly:
// the integrand evaluated in float32 (diffusers computes it on float32
// tensors) and QUADPACK's dqk21 summation order in float64.
func (s *lms) lmsCoefficient(order, t, current int) float64 {
	sc := s.sigmas[t-current]
	integrand := func(tau float64) float64 {
		prod := float32(1)
		for k := 0; k < order; k++ {
			if k == current {
				continue
			}
			sk := s.sigmas[t-k]
			prod *= (float32(tau) - sk) / (sc - sk)
		}
		return float64(prod)
	}
	return gaussKronrod21(integrand, float64(s.sigmas[t]), float64(s.sigmas[t+1]))
}

// QUADPACK's 21-point Kronrod abscissae and weights (xgk, wgk of dqk21).
var (
	qk21X = [11]float64{
		0.995657163025808080735527280689003, 0.973906528517171720077964012084452,
		0.930157491355708226001207180059508, 0.865063366688984510732096688423493,
		0.780817726586416897063717578345042, 0.679409568299024406234327365114874,
		0.562757134668604683339000099272694, 0.433395394129247190799265943165784,
		0.294392862701460198131126603103866, 0.148874338981631210884826001129720,
		0,
	}
	qk21W = [11]float64{
		0.011694638867371874278064396062192, 0.032558162307964727478818972459390,
		0.054755896574351996031381300244580, 0.075039674810919952767043140916190,
		0.093125454583697605535065465083366, 0.109387158802297641899210590325805,
		0.123491976262065851077958109831074, 0.134709217311473325928054001771707,
		0.142775938577060080797094273138717, 0.147739104901338491374841515972068,
		0.149445554002916905664936468389821,
	}
)

// gaussKronrod21 is dqk21's Kronrod estimate of the integral of f over
// [a, b], summed in dqk21's order: the centre, then the Gauss abscissae
// (odd 1-based indices), then the Kronrod-only ones.
func gaussKronrod21(f func(float64) float64, a, b float64) float64 {
	centre := 0.5 * (a + b)
	half := 0.5 * (b - a)
	resk := float64(qk21W[10] * f(centre))
	for _, first := range [2]int{1, 0} {
		for j := first; j < 10; j += 2 {
			absc := float64(half * qk21X[j])
			fsum := f(centre-absc) + f(centre+absc)
			resk += float64(qk21W[j] * fsum)
		}
	}
	return float64(resk * half)
}
