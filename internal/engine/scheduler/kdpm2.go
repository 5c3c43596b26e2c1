package scheduler

import (
	"errors"
	"fmt"

	"github.com/invokego/invokego/internal/engine/noise"
)

// kdpm2 is KDPM2DiscreteScheduler and, with ancestral set,
// KDPM2AncestralDiscreteScheduler (diffusers 0.39): k-diffusion's DPM-Solver-2
// ("DPM2"), a midpoint method that evaluates the model a second time at a
// sigma interpolated geometrically between two steps. Every step but the
// last takes two model calls: even calls move to the midpoint, odd calls
// finish the step from the saved sample. The ancestral variant aims below
// the next sigma and adds fresh noise after each full step. The code
// follows diffusers operation by operation; the only reference runs are
// the 1, 2 and 4 step ones of TestFewStepGoldens.
type kdpm2 struct {
	base
	ancestral bool
	// Per-call tables, laid out like diffusers' (first entry once, then
	// every later entry twice, then the last once more).
	interp, up, down []float32
	saved            []float32 // sample at the start of the current step
}

func (s *kdpm2) Order() int { return 2 }

// repeatInterleave is torch.cat([x[:1], x[1:].repeat_interleave(2), x[-1:]]).
func repeatInterleave(x []float32) []float32 {
	out := []float32{x[0]}
	for _, v := range x[1:] {
		out = append(out, v, v)
	}
	return append(out, x[len(x)-1])
}

// logLerpHalfExp is sigmas.log().lerp(other.log(), 0.5).exp() for one
// element, in torch's float32 arithmetic (lerp with weight 0.5 computes
// end - (end-start)*0.5).
func logLerpHalfExp(a, b float32) float32 {
	la, lb := log32(a), log32(b)
	return exp32(lb - (lb-la)*0.5)
}

func (s *kdpm2) SetTimesteps(n int) error {
	if err := s.reset(n); err != nil {
		return err
	}
	if s.cfg.PredictionType == "sample" {
		return errors.New(`scheduler: KDPM2 does not support prediction_type "sample"`)
	}
	table := s.train.sigmas()
	logTable := logSigmaTable(table)
	ts := s.inferenceTimesteps(n, true)
	sig64 := make([]float64, n)
	for i, t := range ts {
		sig64[i] = npInterp(t, table)
	}
	if s.cfg.UseKarrasSigmas {
		sig64 = karrasSigmas(sig64[n-1], sig64[0], n)
		for i, v := range sig64 {
			ts[i] = npRound(sigmaToT(v, logTable))
		}
	} else {
		for i, t := range ts {
			ts[i] = float64(float32(t))
		}
	}
	sigmas := make([]float32, n+1) // ends in 0
	for i, v := range sig64 {
		sigmas[i] = float32(v)
	}

	interp := make([]float32, n+1)
	var up, down []float32
	if !s.ancestral {
		// Geometric midpoints with the previous sigma (roll(1)); entry 0
		// pairs s0 with the final 0 and is never used.
		for k := range interp {
			prev := sigmas[(k+n)%(n+1)]
			interp[k] = logLerpHalfExp(sigmas[k], prev)
		}
	} else {
		up = make([]float32, n+1)
		down = make([]float32, n+1)
		for k := range sigmas {
			var next float32
			if k < n {
				next = sigmas[k+1]
			}
			sk2, next2 := float32(sigmas[k]*sigmas[k]), float32(next*next)
			up[k] = sqrt32(float32(next2*(sk2-next2)) / sk2)
			down[k] = sqrt32(next2 - float32(up[k]*up[k]))
		}
		down[n] = 0
		for k := range interp {
			interp[k] = logLerpHalfExp(sigmas[k], down[k])
		}
		interp[n-1], interp[n] = 0, 0
	}

	// Timesteps: t0, then each step's midpoint timestep before the next
	// step's own timestep.
	tsInterp := make([]float64, n+1)
	for k, v := range interp {
		tsInterp[k] = float64(sigmaToTTensor(v, logTable))
	}
	s.timesteps = []float64{ts[0]}
	for k := 1; k < n; k++ {
		mid := tsInterp[k]
		if s.ancestral {
			mid = tsInterp[k-1]
		}
		s.timesteps = append(s.timesteps, mid, ts[k])
	}
	s.sigmas = repeatInterleave(sigmas)
	s.interp = repeatInterleave(interp)
	if s.ancestral {
		s.up, s.down = repeatInterleave(up), repeatInterleave(down)
	}
	s.saved = nil
	return nil
}

func (s *kdpm2) InitNoiseSigma() float64 { return s.initNoiseSigmaFromSigmas() }

func (s *kdpm2) firstOrder(i int) bool { return i%2 == 0 }

func (s *kdpm2) ScaleModelInput(sample []float32, i int) []float32 {
	switch {
	case s.firstOrder(i):
		return scaleBySigma(sample, s.sigmas[i])
	case s.ancestral:
		return scaleBySigma(sample, s.interp[i-1])
	default:
		return scaleBySigma(sample, s.interp[i])
	}
}

func (s *kdpm2) AddNoise(original, noise []float32, t float64) ([]float32, error) {
	return s.addNoiseSigma(original, noise, t)
}

func (s *kdpm2) Step(modelOutput []float32, i int, sample []float32, gen *noise.Generator) ([]float32, error) {
	if s.next < 0 && !s.firstOrder(i) {
		return nil, fmt.Errorf("scheduler: KDPM2 cannot start at call %d (a second-order half step)", i)
	}
	if s.ancestral && !s.firstOrder(i) && gen == nil {
		return nil, ErrNeedGenerator
	}
	if err := s.beginStep(modelOutput, i, sample); err != nil {
		return nil, err
	}
	out := make([]float32, len(sample))
	if s.firstOrder(i) {
		sigma := s.sigmas[i]
		mid := s.interp[i+1]
		if s.ancestral {
			mid = s.interp[i]
		}
		x0 := predictX0Sigma(s.cfg.PredictionType, modelOutput, sample, sigma)
		dt := mid - sigma
		for k := range out {
			d := (sample[k] - x0[k]) / sigma
			out[k] = sample[k] + float32(d*dt)
		}
		s.saved = sample
		return out, nil
	}
	sigma := s.sigmas[i-1]
	mid, target := s.interp[i], s.sigmas[i]
	if s.ancestral {
		mid, target = s.interp[i-1], s.down[i-1]
	}
	x0 := predictX0Sigma(s.cfg.PredictionType, modelOutput, sample, mid)
	dt := target - sigma
	for k := range out {
		d := (sample[k] - x0[k]) / mid
		out[k] = s.saved[k] + float32(d*dt)
	}
	s.saved = nil
	if s.ancestral {
		z, err := drawNoise(gen, len(sample))
		if err != nil {
			return nil, err
		}
		sigmaUp := s.up[i-1]
		for k := range out {
			out[k] += float32(z[k] * sigmaUp)
		}
	}
	return out, nil
}
