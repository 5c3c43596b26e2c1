package flux

import (
	"encoding/json"
	"fmt"
	"math"
)

// SchedulerConfig mirrors diffusers' FlowMatchEulerDiscreteScheduler
// config, as FLUX folders ship it in scheduler/scheduler_config.json.
type SchedulerConfig struct {
	NumTrainTimesteps  int     `json:"num_train_timesteps"`
	Shift              float64 `json:"shift"`
	UseDynamicShifting bool    `json:"use_dynamic_shifting"`
	BaseImageSeqLen    int     `json:"base_image_seq_len"`
	MaxImageSeqLen     int     `json:"max_image_seq_len"`
	BaseShift          float64 `json:"base_shift"`
	MaxShift           float64 `json:"max_shift"`
}

// DevSchedulerConfig is FLUX.1 [dev]'s scheduler: the shift follows the
// image size. SchnellSchedulerConfig is FLUX.1 [schnell]'s: no shift.
var (
	DevSchedulerConfig = SchedulerConfig{NumTrainTimesteps: 1000, Shift: 3, UseDynamicShifting: true,
		BaseImageSeqLen: 256, MaxImageSeqLen: 4096, BaseShift: 0.5, MaxShift: 1.15}
	SchnellSchedulerConfig = SchedulerConfig{NumTrainTimesteps: 1000, Shift: 1,
		BaseImageSeqLen: 256, MaxImageSeqLen: 4096, BaseShift: 0.5, MaxShift: 1.15}
)

// ParseSchedulerConfig reads scheduler_config.json; absent keys keep
// diffusers' constructor defaults.
func ParseSchedulerConfig(b []byte) (SchedulerConfig, error) {
	c := SchedulerConfig{NumTrainTimesteps: 1000, Shift: 1, BaseImageSeqLen: 256, MaxImageSeqLen: 4096, BaseShift: 0.5, MaxShift: 1.15}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("flux scheduler config: %w", err)
	}
	if c.NumTrainTimesteps < 1 || c.Shift <= 0 || c.MaxImageSeqLen == c.BaseImageSeqLen {
		return c, fmt.Errorf("flux scheduler config: invalid %+v", c)
	}
	return c, nil
}

// MaxSteps bounds the number of denoising steps a schedule may have.
const MaxSteps = 10000

// Mu is the resolution-dependent shift for an image of imageSeqLen packed
// tokens: linear from BaseShift at BaseImageSeqLen to MaxShift at
// MaxImageSeqLen (diffusers' calculate_shift, InvokeAI's get_lin_function).
func (c SchedulerConfig) Mu(imageSeqLen int) float64 {
	m := (c.MaxShift - c.BaseShift) / float64(c.MaxImageSeqLen-c.BaseImageSeqLen)
	b := c.BaseShift - m*float64(c.BaseImageSeqLen)
	return float64(imageSeqLen)*m + b
}

// timeShift is e^μ / (e^μ + (1/t − 1)).
func timeShift(mu, t float64) float64 {
	e := math.Exp(mu)
	return e / (e + (1/t - 1))
}

// DiffusersSigmas returns FluxPipeline's schedule for steps steps: σ =
// linspace(1, 1/steps, steps) shifted in float64 (by μ for dev, by the
// static shift otherwise), rounded to float32, then σ = 0 appended; and the
// timesteps σ·1000 the pipeline feeds the scheduler.
func (c SchedulerConfig) DiffusersSigmas(steps, imageSeqLen int) (sigmas, timesteps []float32, err error) {
	if steps < 1 || steps > MaxSteps {
		return nil, nil, fmt.Errorf("flux schedule: %d steps outside [1, %d]", steps, MaxSteps)
	}
	sigmas = make([]float32, steps+1)
	timesteps = make([]float32, steps)
	mu := c.Mu(imageSeqLen)
	for i := range steps {
		// numpy's linspace: start + i·step, the last value set exactly.
		s := 1.0
		if steps > 1 {
			step := (1/float64(steps) - 1) / float64(steps-1)
			s = 1 + float64(i)*step
			if i == steps-1 {
				s = 1 / float64(steps)
			}
		}
		if c.UseDynamicShifting {
			s = timeShift(mu, s)
		} else {
			s = c.Shift * s / (1 + (c.Shift-1)*s)
		}
		sigmas[i] = float32(s)
		timesteps[i] = sigmas[i] * float32(c.NumTrainTimesteps)
	}
	return sigmas, timesteps, nil
}

// InvokeAISchedule is InvokeAI's get_schedule: linspace(1, 0, steps+1) in
// float32, shifted (when shift is set, i.e. for dev) by μ of the image
// size with torch's float32 operation order:
// e^μ · 1/(e^μ + (1/t − 1)), each operation rounded.
func InvokeAISchedule(steps, imageSeqLen int, shift bool) ([]float32, error) {
	if steps < 1 || steps > MaxSteps {
		return nil, fmt.Errorf("flux schedule: %d steps outside [1, %d]", steps, MaxSteps)
	}
	ts := torchLinspace32(1, 0, steps+1)
	if !shift {
		return ts, nil
	}
	e := float32(math.Exp(DevSchedulerConfig.Mu(imageSeqLen)))
	for i, t := range ts {
		// x/0 is +Inf, which carries through to 0 at t = 0.
		u := float32(1/t) - 1
		ts[i] = float32(1/float32(e+u)) * e
	}
	return ts, nil
}

// torchLinspace32 is torch.linspace(start, end, n) in float32 as torch's CPU
// kernel computes it on x86-64 with AVX2 (what InvokeAI runs on): step =
// (end − start)/(n − 1); element i is start + i·step in the first half and
// end − (n−1−i)·step in the second, except that while 16 or more elements
// remain they are made 8 at a time as base + k·step from the first element's
// value (two vectors per round). The rounding of that vector path is what
// makes the schedule match InvokeAI's bit for bit.
func torchLinspace32(start, end float32, n int) []float32 {
	out := make([]float32, n)
	if n == 1 {
		out[0] = start
		return out
	}
	step := (end - start) / float32(n-1)
	half := n / 2
	at := func(i int) float32 {
		if i < half {
			return start + step*float32(i)
		}
		return end - step*float32(n-1-i)
	}
	const width = 8
	i := 0
	for ; i <= n-2*width; i += 2 * width { // two vectors per round, as torch's loop
		for v := i; v < i+2*width; v += width {
			base := at(v)
			for k := range width {
				out[v+k] = base + float32(k)*step
			}
		}
	}
	for ; i < n; i++ {
		out[i] = at(i)
	}
	return out
}

// ClipSchedule is InvokeAI's clip_timestep_schedule_fractional: the part of
// a schedule between denoising_start and denoising_end (fractions of the
// way from σ = 1 to σ = 0), its ends replaced by 1 − start and 1 − end.
func ClipSchedule(ts []float32, start, end float64) ([]float32, error) {
	if !(start >= 0 && start <= 1 && end >= 0 && end <= 1 && start <= end) {
		return nil, fmt.Errorf("flux schedule: denoising range [%v, %v] invalid", start, end)
	}
	tStart, tEnd := 1-start, 1-end
	i0, i1 := lastIndexAtLeast(ts, tStart), lastIndexAtLeast(ts, tEnd)
	if i0 < 0 || i1 < 0 {
		return nil, fmt.Errorf("flux schedule: denoising range [%v, %v] outside the schedule", start, end)
	}
	out := append([]float32(nil), ts[i0:i1+1]...)
	out[0] = float32(tStart)
	out[len(out)-1] = float32(tEnd)
	return out, nil
}

// lastIndexAtLeast counts the values ≥ v − 1e-6 (the schedule falls, so
// they come first) and returns the index of the last one, −1 if none.
func lastIndexAtLeast(ts []float32, v float64) int {
	n := 0
	for _, t := range ts {
		if float64(t) >= v-1e-6 {
			n++
		}
	}
	return n - 1
}

// FlowMatchSchedule is the schedule of diffusers' FlowMatchHeunDiscreteScheduler and FlowMatchLCMScheduler
// as InvokeAI's flux_denoise builds them (num_train_timesteps 1000, no shift) and sets them
// (num_inference_steps only, so InvokeAI's shifted schedule is not used): σ = linspace(1000, 1000·σmin, steps)
// / 1000 in float64 with σmin = float32(1/1000), rounded to float32, then σ = 0 appended; the timesteps
// are the float32 products σ·1000 and the model is given float32(t/1000) (ModelTimestep). See
// docs/compatibility.md (FLUX schedulers).
func FlowMatchSchedule(steps int) (sigmas, timesteps []float32, err error) {
	if steps < 1 || steps > MaxSteps {
		return nil, nil, fmt.Errorf("flux schedule: %d steps outside [1, %d]", steps, MaxSteps)
	}
	const train = 1000
	sigmaMin := float64(float32(1) / float32(train))
	start, stop := 1.0*train, sigmaMin*train
	sigmas = make([]float32, steps+1)
	timesteps = make([]float32, steps)
	for i := range steps {
		// numpy's linspace: i·step + start, the last value set exactly.
		t := start
		if steps > 1 {
			t = float64(i)*((stop-start)/float64(steps-1)) + start
			if i == steps-1 {
				t = stop
			}
		}
		sigmas[i] = float32(t / train)
		timesteps[i] = sigmas[i] * float32(train)
	}
	return sigmas, timesteps, nil
}

// ModelTimestep is what InvokeAI's scheduler loop gives the transformer for a scheduler timestep t:
// t/1000 in float64, rounded to float32.
func ModelTimestep(t float32) float32 { return float32(float64(t) / 1000) }
