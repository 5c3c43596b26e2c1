package scheduler

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
)

// Class names diffusers uses for the scheduler implementations here.
const (
	ClassEuler          = "EulerDiscreteScheduler"
	ClassEulerAncestral = "EulerAncestralDiscreteScheduler"
	ClassHeun           = "HeunDiscreteScheduler"
	ClassLMS            = "LMSDiscreteScheduler"
	ClassDDIM           = "DDIMScheduler"
	ClassDDPM           = "DDPMScheduler"
	ClassPNDM           = "PNDMScheduler"
	ClassDPMMultistep   = "DPMSolverMultistepScheduler"
	ClassDPMSinglestep  = "DPMSolverSinglestepScheduler"
	ClassUniPC          = "UniPCMultistepScheduler"
	ClassDEIS           = "DEISMultistepScheduler"
	ClassKDPM2          = "KDPM2DiscreteScheduler"
	ClassKDPM2Ancestral = "KDPM2AncestralDiscreteScheduler"
	ClassLCM            = "LCMScheduler"
	ClassTCD            = "TCDScheduler"
)

// Config is a resolved diffusers scheduler configuration: the class's
// defaults, overridden by the model's scheduler_config.json, overridden by
// InvokeAI's per-name extras. Fields a class does not use are ignored.
type Config struct {
	Class string

	NumTrainTimesteps   int
	BetaStart, BetaEnd  float64
	BetaSchedule        string // linear, scaled_linear, squaredcos_cap_v2
	TrainedBetas        []float64
	PredictionType      string // epsilon, v_prediction, sample
	TimestepSpacing     string // linspace, leading, trailing
	StepsOffset         int
	RescaleBetasZeroSNR bool

	// DDIM, DDPM, PNDM.
	SetAlphaToOne   bool
	ClipSample      bool
	ClipSampleRange float64
	SkipPRKSteps    bool    // PNDM
	Eta             float64 // step argument: DDIM (InvokeAI: 0), TCD (InvokeAI: 1)
	VarianceType    string  // DDPM: fixed_small, fixed_small_log, fixed_large, ...

	// Sigma-based schedulers.
	UseKarrasSigmas   bool
	InterpolationType string // Euler: linear (log_linear unsupported)
	TimestepType      string // Euler: discrete
	FinalSigmasType   string // zero or sigma_min
	SigmaMin          *float64
	SigmaMax          *float64

	// Multistep solvers.
	SolverOrder      int
	AlgorithmType    string // dpmsolver++, sde-dpmsolver++ (DPM); deis (DEIS)
	SolverType       string // midpoint, heun (DPM); bh1, bh2 (UniPC); logrho (DEIS)
	LowerOrderFinal  bool
	EulerAtFinal     bool
	LambdaMinClipped float64
	PredictX0        bool  // UniPC
	DisableCorrector []int // UniPC

	// LCM.
	OriginalInferenceSteps int
	TimestepScaling        float64
}

// classDefaults returns the defaults of a diffusers 0.39 scheduler class's
// __init__.
func classDefaults(class string) (Config, error) {
	c := Config{
		Class:             class,
		NumTrainTimesteps: 1000,
		BetaStart:         0.0001,
		BetaEnd:           0.02,
		BetaSchedule:      "linear",
		PredictionType:    "epsilon",
		TimestepSpacing:   "linspace",
		ClipSampleRange:   1.0,
		InterpolationType: "linear",
		TimestepType:      "discrete",
		FinalSigmasType:   "zero",
		SolverOrder:       2,
		LowerOrderFinal:   true,
		LambdaMinClipped:  math.Inf(-1),
		PredictX0:         true,

		OriginalInferenceSteps: 50,
		TimestepScaling:        10,
	}
	switch class {
	case ClassEuler, ClassEulerAncestral, ClassLMS:
	case ClassHeun, ClassKDPM2, ClassKDPM2Ancestral:
		c.BetaStart, c.BetaEnd = 0.00085, 0.012
	case ClassDDIM:
		c.ClipSample, c.SetAlphaToOne = true, true
		c.TimestepSpacing = "leading"
	case ClassDDPM:
		c.ClipSample = true
		c.VarianceType = "fixed_small"
		c.TimestepSpacing = "leading"
	case ClassPNDM:
		c.TimestepSpacing = "leading"
	case ClassDPMMultistep:
		c.AlgorithmType, c.SolverType = "dpmsolver++", "midpoint"
	case ClassDPMSinglestep:
		c.AlgorithmType, c.SolverType = "dpmsolver++", "midpoint"
		c.LowerOrderFinal = false
	case ClassUniPC:
		c.SolverType = "bh2"
	case ClassLCM, ClassTCD:
		c.BetaStart, c.BetaEnd, c.BetaSchedule = 0.00085, 0.012, "scaled_linear"
		c.SetAlphaToOne = true
		c.TimestepSpacing = "leading"
		if class == ClassTCD {
			c.Eta = 1 // InvokeAI's step argument for TCD
		}
	case ClassDEIS:
		c.AlgorithmType, c.SolverType = "deis", "logrho"
		c.FinalSigmasType = "sigma_min"
	default:
		return Config{}, fmt.Errorf("scheduler: unsupported scheduler class %q", class)
	}
	return c, nil
}

// invokeScheduler is one entry of InvokeAI's SCHEDULER_MAP.
type invokeScheduler struct {
	class string
	extra map[string]any
}

// invokeSchedulers mirrors InvokeAI's SCHEDULER_MAP for the classes
// implemented here (not dpmpp_sde and dpmpp_sde_k, whose Brownian-tree noise
// comes from torchsde).
var invokeSchedulers = map[string]invokeScheduler{
	"ddim":           {ClassDDIM, nil},
	"ddpm":           {ClassDDPM, nil},
	"deis":           {ClassDEIS, map[string]any{"use_karras_sigmas": false}},
	"deis_k":         {ClassDEIS, map[string]any{"use_karras_sigmas": true}},
	"lcm":            {ClassLCM, nil},
	"tcd":            {ClassTCD, nil},
	"lms":            {ClassLMS, map[string]any{"use_karras_sigmas": false}},
	"lms_k":          {ClassLMS, map[string]any{"use_karras_sigmas": true}},
	"pndm":           {ClassPNDM, nil},
	"heun":           {ClassHeun, map[string]any{"use_karras_sigmas": false}},
	"heun_k":         {ClassHeun, map[string]any{"use_karras_sigmas": true}},
	"euler":          {ClassEuler, map[string]any{"use_karras_sigmas": false}},
	"euler_k":        {ClassEuler, map[string]any{"use_karras_sigmas": true}},
	"euler_a":        {ClassEulerAncestral, nil},
	"kdpm_2":         {ClassKDPM2, map[string]any{"use_karras_sigmas": false}},
	"kdpm_2_k":       {ClassKDPM2, map[string]any{"use_karras_sigmas": true}},
	"kdpm_2_a":       {ClassKDPM2Ancestral, map[string]any{"use_karras_sigmas": false}},
	"kdpm_2_a_k":     {ClassKDPM2Ancestral, map[string]any{"use_karras_sigmas": true}},
	"dpmpp_2s":       {ClassDPMSinglestep, map[string]any{"use_karras_sigmas": false, "solver_order": 2}},
	"dpmpp_2s_k":     {ClassDPMSinglestep, map[string]any{"use_karras_sigmas": true, "solver_order": 2}},
	"dpmpp_2m":       {ClassDPMMultistep, map[string]any{"use_karras_sigmas": false, "solver_order": 2}},
	"dpmpp_2m_k":     {ClassDPMMultistep, map[string]any{"use_karras_sigmas": true, "solver_order": 2}},
	"dpmpp_2m_sde":   {ClassDPMMultistep, map[string]any{"use_karras_sigmas": false, "solver_order": 2, "algorithm_type": "sde-dpmsolver++"}},
	"dpmpp_2m_sde_k": {ClassDPMMultistep, map[string]any{"use_karras_sigmas": true, "solver_order": 2, "algorithm_type": "sde-dpmsolver++"}},
	"dpmpp_3m":       {ClassDPMMultistep, map[string]any{"use_karras_sigmas": false, "solver_order": 3}},
	"dpmpp_3m_k":     {ClassDPMMultistep, map[string]any{"use_karras_sigmas": true, "solver_order": 3}},
	"unipc":          {ClassUniPC, map[string]any{"use_karras_sigmas": false}},
	"unipc_k":        {ClassUniPC, map[string]any{"use_karras_sigmas": true}},
}

// invokeAINames is InvokeAI's SCHEDULER_NAME_VALUES (the keys of its SCHEDULER_MAP, in that order): every
// name a graph, a model's default settings or the API may use. The one list for the engine, the nodes and
// the API.
var invokeAINames = []string{"ddim", "ddpm", "deis", "deis_k", "lms", "lms_k", "pndm", "heun", "heun_k", "euler",
	"euler_k", "euler_a", "kdpm_2", "kdpm_2_k", "kdpm_2_a", "kdpm_2_a_k", "dpmpp_2s", "dpmpp_2s_k", "dpmpp_2m",
	"dpmpp_2m_k", "dpmpp_2m_sde", "dpmpp_2m_sde_k", "dpmpp_3m", "dpmpp_3m_k", "dpmpp_sde", "dpmpp_sde_k", "unipc",
	"unipc_k", "lcm", "tcd"}

// InvokeAINames lists every scheduler name InvokeAI defines, in its order, whether or not New implements it.
func InvokeAINames() []string { return slices.Clone(invokeAINames) }

// Names lists the InvokeAI scheduler names New accepts, sorted.
func Names() []string {
	names := make([]string, 0, len(invokeSchedulers))
	for n := range invokeSchedulers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Implemented reports whether New accepts the name.
func Implemented(name string) bool {
	_, ok := invokeSchedulers[name]
	return ok
}

// ResolveConfig builds the configuration InvokeAI would use for scheduler
// name on a model whose scheduler/scheduler_config.json is modelConfig:
// Class.from_config({**model_config, **extras}). With a nil modelConfig only
// the class defaults and InvokeAI's extras apply.
func ResolveConfig(name string, modelConfig []byte) (Config, error) {
	entry, ok := invokeSchedulers[name]
	if !ok {
		return Config{}, fmt.Errorf("scheduler: unknown scheduler %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return ClassConfig(entry.class, modelConfig, entry.extra)
}

// ClassConfig is diffusers' Class.from_config(modelConfig merged with
// extra): class defaults, then every recognised key of the JSON, then extra.
func ClassConfig(class string, modelConfig []byte, extra map[string]any) (Config, error) {
	cfg, err := classDefaults(class)
	if err != nil {
		return Config{}, err
	}
	raw := map[string]json.RawMessage{}
	if len(modelConfig) > 0 {
		if err := json.Unmarshal(quoteNonFinite(modelConfig), &raw); err != nil {
			return Config{}, fmt.Errorf("scheduler: scheduler_config.json: %w", err)
		}
	}
	for k, v := range extra {
		b, err := json.Marshal(v)
		if err != nil {
			return Config{}, fmt.Errorf("scheduler: extra %q: %w", k, err)
		}
		raw[k] = b
	}
	// Apply in sorted order so errors are deterministic.
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := cfg.set(k, raw[k]); err != nil {
			return Config{}, fmt.Errorf("scheduler: config key %q: %w", k, err)
		}
	}
	return cfg, nil
}

// quoteNonFinite turns the bare -Infinity, Infinity and NaN tokens that
// Python's json module writes (diffusers saves lambda_min_clipped: -inf so)
// into strings, so that encoding/json accepts the document.
func quoteNonFinite(data []byte) []byte {
	var out []byte
	inString := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inString {
			out = append(out, c)
			if c == '\\' && i+1 < len(data) {
				i++
				out = append(out, data[i])
			} else if c == '"' {
				inString = false
			}
			continue
		}
		if c == '"' {
			inString = true
			out = append(out, c)
			continue
		}
		matched := false
		for _, tok := range []string{"-Infinity", "Infinity", "NaN"} {
			if bytes.HasPrefix(data[i:], []byte(tok)) {
				out = append(out, '"')
				out = append(out, tok...)
				out = append(out, '"')
				i += len(tok) - 1
				matched = true
				break
			}
		}
		if !matched {
			out = append(out, c)
		}
	}
	return out
}

// set assigns one JSON config key; unknown keys are ignored, as diffusers
// ignores keys its __init__ does not take.
func (c *Config) set(key string, v json.RawMessage) error {
	if string(v) == "null" {
		switch key {
		case "trained_betas":
			c.TrainedBetas = nil
		case "sigma_min":
			c.SigmaMin = nil
		case "sigma_max":
			c.SigmaMax = nil
		case "variance_type":
			c.VarianceType = ""
		}
		return nil
	}
	var dst any
	switch key {
	case "num_train_timesteps":
		dst = &c.NumTrainTimesteps
	case "beta_start":
		dst = &c.BetaStart
	case "beta_end":
		dst = &c.BetaEnd
	case "beta_schedule":
		dst = &c.BetaSchedule
	case "trained_betas":
		dst = &c.TrainedBetas
	case "prediction_type":
		dst = &c.PredictionType
	case "timestep_spacing":
		dst = &c.TimestepSpacing
	case "steps_offset":
		dst = &c.StepsOffset
	case "rescale_betas_zero_snr":
		dst = &c.RescaleBetasZeroSNR
	case "set_alpha_to_one":
		dst = &c.SetAlphaToOne
	case "clip_sample":
		dst = &c.ClipSample
	case "clip_sample_range":
		dst = &c.ClipSampleRange
	case "skip_prk_steps":
		dst = &c.SkipPRKSteps
	case "variance_type":
		dst = &c.VarianceType
	case "use_karras_sigmas":
		dst = &c.UseKarrasSigmas
	case "interpolation_type":
		dst = &c.InterpolationType
	case "timestep_type":
		dst = &c.TimestepType
	case "final_sigmas_type":
		dst = &c.FinalSigmasType
	case "sigma_min":
		c.SigmaMin = new(float64)
		dst = c.SigmaMin
	case "sigma_max":
		c.SigmaMax = new(float64)
		dst = c.SigmaMax
	case "solver_order":
		dst = &c.SolverOrder
	case "algorithm_type":
		dst = &c.AlgorithmType
	case "solver_type":
		dst = &c.SolverType
	case "lower_order_final":
		dst = &c.LowerOrderFinal
	case "euler_at_final":
		dst = &c.EulerAtFinal
	case "lambda_min_clipped":
		// JSON cannot spell -inf; diffusers writes -Infinity, which
		// encoding/json rejects, so accept numbers and that spelling.
		switch strings.TrimSpace(string(v)) {
		case `"-Infinity"`, `"-inf"`:
			c.LambdaMinClipped = math.Inf(-1)
			return nil
		}
		dst = &c.LambdaMinClipped
	case "predict_x0":
		dst = &c.PredictX0
	case "disable_corrector":
		dst = &c.DisableCorrector
	case "original_inference_steps":
		dst = &c.OriginalInferenceSteps
	case "timestep_scaling":
		dst = &c.TimestepScaling
	default:
		return nil
	}
	return json.Unmarshal(v, dst)
}

// validate rejects settings this implementation does not support, so a
// model asking for them fails loudly instead of producing wrong images.
func (c *Config) validate() error {
	switch c.PredictionType {
	case "epsilon", "v_prediction", "sample":
	default:
		return fmt.Errorf("scheduler: prediction_type %q is not supported", c.PredictionType)
	}
	switch c.TimestepSpacing {
	case "linspace", "leading", "trailing":
	default:
		return fmt.Errorf("scheduler: timestep_spacing %q is not supported", c.TimestepSpacing)
	}
	switch c.FinalSigmasType {
	case "zero", "sigma_min":
	default:
		return fmt.Errorf("scheduler: final_sigmas_type %q is not supported", c.FinalSigmasType)
	}
	if c.Class == ClassEuler && c.InterpolationType != "linear" {
		return fmt.Errorf("scheduler: interpolation_type %q is not supported", c.InterpolationType)
	}
	if c.Class == ClassEuler && c.TimestepType != "discrete" {
		return fmt.Errorf("scheduler: timestep_type %q is not supported", c.TimestepType)
	}
	return nil
}
