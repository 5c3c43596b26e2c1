package scheduler

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/engine/noise"
)

const sd15Config = `{"_class_name": "PNDMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear",
 "beta_start": 0.00085, "num_train_timesteps": 1000, "set_alpha_to_one": false, "skip_prk_steps": true,
 "steps_offset": 1, "trained_betas": null, "clip_sample": false}`

const sdxlConfig = `{"_class_name": "EulerDiscreteScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear",
 "beta_start": 0.00085, "clip_sample": false, "interpolation_type": "linear", "num_train_timesteps": 1000,
 "prediction_type": "epsilon", "sample_max_value": 1.0, "set_alpha_to_one": false, "skip_prk_steps": true,
 "steps_offset": 1, "timestep_spacing": "leading", "trained_betas": null, "use_karras_sigmas": false}`

func newNamed(t *testing.T, name, modelCfg string) Scheduler {
	t.Helper()
	cfg, err := ResolveConfig(name, []byte(modelCfg))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(name, cfg)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return s
}

// TestAllSchedulersRun drives every scheduler through synthetic denoising
// loops (txt2img and an img2img-style late start) and checks the output
// stays finite and the call bookkeeping holds.
func TestAllSchedulersRun(t *testing.T) {
	for _, name := range Names() {
		for _, pred := range []string{"epsilon", "v_prediction"} {
			for _, steps := range []int{1, 2, 7, 30} {
				cfgJSON := sd15Config
				if pred == "v_prediction" {
					cfgJSON = strings.Replace(sd15Config, `"clip_sample": false`, `"clip_sample": false, "prediction_type": "v_prediction"`, 1)
				}
				s := newNamed(t, name, cfgJSON)
				if err := s.SetTimesteps(steps); err != nil {
					t.Fatalf("%s %d steps: %v", name, steps, err)
				}
				ts := s.Timesteps()
				if len(ts) < steps {
					t.Fatalf("%s: %d calls for %d steps", name, len(ts), steps)
				}
				// img2img starts at a multiple of the order, as in InvokeAI.
				for _, start := range []int{0, len(ts) / 2 / s.Order() * s.Order()} {
					if err := s.SetTimesteps(steps); err != nil {
						t.Fatal(err)
					}
					gen := noise.NewGenerator(1)
					x0 := noise.Randn(3, noise.Float32, 1, 4, 4, 4)
					eps := noise.Randn(4, noise.Float32, 1, 4, 4, 4)
					latents, err := s.AddNoise(x0, eps, ts[start])
					if err != nil {
						t.Fatalf("%s: AddNoise: %v", name, err)
					}
					for i := start; i < len(ts); i++ {
						in := s.ScaleModelInput(latents, i)
						out := make([]float32, len(in))
						for k := range out {
							out[k] = 0.5*in[k] + 0.1 // a fake model
						}
						latents, err = s.Step(out, i, latents, gen)
						if err != nil {
							t.Fatalf("%s %s %d steps, call %d: %v", name, pred, steps, i, err)
						}
						for _, v := range latents {
							if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
								t.Fatalf("%s %s %d steps: non-finite latent at call %d", name, pred, steps, i)
							}
						}
					}
				}
			}
		}
	}
}

func TestStepValidation(t *testing.T) {
	s := newNamed(t, "euler", sd15Config)
	x := make([]float32, 8)
	if _, err := s.Step(x, 0, x, nil); err == nil {
		t.Error("Step before SetTimesteps accepted")
	}
	if err := s.SetTimesteps(5); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Step(x, 0, x, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Step(x, 2, x, nil); err == nil {
		t.Error("skipped call index accepted")
	}
	if _, err := s.Step(x[:4], 1, x, nil); err == nil {
		t.Error("mismatched lengths accepted")
	}
	if _, err := s.AddNoise(x, x, 123.5); err == nil {
		t.Error("AddNoise with a timestep outside the schedule accepted")
	}

	a := newNamed(t, "euler_a", sd15Config)
	if err := a.SetTimesteps(5); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Step(x, 0, x, nil); !errors.Is(err, ErrNeedGenerator) {
		t.Errorf("euler_a without generator: %v", err)
	}
	if err := a.SetTimesteps(0); err == nil {
		t.Error("0 steps accepted")
	}
}

func TestConfigResolution(t *testing.T) {
	if _, err := ResolveConfig("nonsense", nil); err == nil {
		t.Error("unknown scheduler accepted")
	}
	cfg, err := ResolveConfig("dpmpp_2m_sde_k", []byte(sd15Config))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Class != ClassDPMMultistep || !cfg.UseKarrasSigmas || cfg.AlgorithmType != "sde-dpmsolver++" ||
		cfg.TimestepSpacing != "linspace" || cfg.BetaSchedule != "scaled_linear" || cfg.StepsOffset != 1 {
		t.Errorf("resolved %+v", cfg)
	}
	if _, err := New("euler", cfg); err == nil {
		t.Error("New accepted a config of another class")
	}
	// diffusers writes lambda_min_clipped as -Infinity.
	cfg, err = ClassConfig(ClassDPMMultistep, []byte(`{"lambda_min_clipped": -Infinity, "x": "-Infinity"}`), nil)
	if err != nil || !math.IsInf(cfg.LambdaMinClipped, -1) {
		t.Errorf("lambda_min_clipped -Infinity: %v, %v", cfg.LambdaMinClipped, err)
	}
	cfg, err = ClassConfig(ClassDPMMultistep, []byte(`{"lambda_min_clipped": -5.1}`), nil)
	if err != nil || cfg.LambdaMinClipped != -5.1 {
		t.Errorf("lambda_min_clipped -5.1: %v, %v", cfg.LambdaMinClipped, err)
	}
	if _, err := ClassConfig(ClassEuler, []byte(`{"beta_start": "x"}`), nil); err == nil {
		t.Error("bad beta_start accepted")
	}
	if _, err := ClassConfig(ClassEuler, []byte(`{`), nil); err == nil {
		t.Error("bad JSON accepted")
	}
	bad, err := ClassConfig(ClassEuler, []byte(`{"prediction_type": "flow"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewFromConfig(bad); err == nil {
		t.Error("unsupported prediction_type accepted")
	}
}

// TestSDXLLeadingSpacing checks the SDXL config's "leading" spacing: Euler
// then starts at t=901 (steps_offset 1) and, since the spacing is not
// linspace, init_noise_sigma is sqrt(sigma_max²+1).
func TestSDXLLeadingSpacing(t *testing.T) {
	s := newNamed(t, "euler", sdxlConfig)
	if err := s.SetTimesteps(10); err != nil {
		t.Fatal(err)
	}
	ts := s.Timesteps()
	if ts[0] != 901 || ts[9] != 1 {
		t.Errorf("timesteps %v", ts)
	}
	sig := s.Sigmas()[0]
	want := math.Sqrt(float64(sig)*float64(sig) + 1)
	if got := s.InitNoiseSigma(); math.Abs(got-want) > 1e-5 {
		t.Errorf("init_noise_sigma %v, want %v", got, want)
	}
}

func TestHeunRejectsOddStart(t *testing.T) {
	s := newNamed(t, "heun", sd15Config)
	if err := s.SetTimesteps(4); err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 4)
	if _, err := s.Step(x, 1, x, nil); err == nil {
		t.Error("heun started on a correction call")
	}
}

func TestHeunOrderAndSchedule(t *testing.T) {
	s := newNamed(t, "heun", sd15Config)
	if s.Order() != 2 {
		t.Errorf("order %d", s.Order())
	}
	if err := s.SetTimesteps(4); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Timesteps()); n != 7 {
		t.Errorf("%d calls for 4 Heun steps, want 7", n)
	}
	if n := len(s.Sigmas()); n != 8 {
		t.Errorf("%d sigmas, want 8", n)
	}
}

func TestDenoisingRange(t *testing.T) {
	euler := newNamed(t, "euler", sd15Config)
	if err := euler.SetTimesteps(10); err != nil {
		t.Fatal(err)
	}
	if s, e := DenoisingRange(euler, 0, 1); s != 0 || e != 10 {
		t.Errorf("txt2img range [%d,%d), want [0,10)", s, e)
	}
	// Timesteps 999, 888, ..., 0: those >= 700 are 999, 888, 777.
	if s, e := DenoisingRange(euler, 0.3, 1); s != 3 || e != 10 {
		t.Errorf("img2img 0.3 range [%d,%d), want [3,10)", s, e)
	}
	if s, e := DenoisingRange(euler, 0, 0.5); s != 0 || e != 5 {
		t.Errorf("denoising_end 0.5 range [%d,%d), want [0,5)", s, e)
	}
	heun := newNamed(t, "heun", sd15Config)
	if err := heun.SetTimesteps(10); err != nil {
		t.Fatal(err)
	}
	// Heun: 19 calls; its step timesteps are the even calls.
	if s, e := DenoisingRange(heun, 0, 1); s != 0 || e != 19 {
		t.Errorf("heun txt2img range [%d,%d), want [0,19)", s, e)
	}
	if s, e := DenoisingRange(heun, 0.3, 1); s != 6 || e != 19 {
		t.Errorf("heun img2img range [%d,%d), want [6,19)", s, e)
	}
}

func TestLCMTimesteps(t *testing.T) {
	s := newNamed(t, "lcm", sd15Config)
	if err := s.SetTimesteps(4); err != nil {
		t.Fatal(err)
	}
	want := []float64{999, 759, 499, 259} // the well-known 4-step LCM schedule
	if got := s.Timesteps(); !slices.Equal(got, want) {
		t.Errorf("timesteps %v, want %v", got, want)
	}
	if err := s.SetTimesteps(51); err == nil {
		t.Error("more steps than original_inference_steps accepted")
	}
}

func TestKDPM2Schedule(t *testing.T) {
	for _, name := range []string{"kdpm_2", "kdpm_2_a"} {
		s := newNamed(t, name, sd15Config)
		if err := s.SetTimesteps(5); err != nil {
			t.Fatal(err)
		}
		ts := s.Timesteps()
		if len(ts) != 9 || s.Order() != 2 {
			t.Fatalf("%s: %d calls (order %d), want 9 (order 2)", name, len(ts), s.Order())
		}
		// Step timesteps at even calls; each odd call lies between its
		// neighbours (a geometric midpoint in sigma; the ancestral one can
		// fall below the table's smallest sigma, i.e. to t = 0).
		for i := 1; i < len(ts)-1; i += 2 {
			if !(ts[i] < ts[i-1] && ts[i] >= ts[i+1]) {
				t.Errorf("%s: midpoint timestep %v not between %v and %v", name, ts[i], ts[i-1], ts[i+1])
			}
		}
	}
}

// TestInvokeAINames: the implemented schedulers are InvokeAI's, and only the
// two whose Brownian-tree noise needs torchsde are missing.
func TestInvokeAINames(t *testing.T) {
	all := InvokeAINames()
	var missing []string
	for _, n := range all {
		if !Implemented(n) {
			missing = append(missing, n)
		}
	}
	if !slices.Equal(missing, []string{"dpmpp_sde", "dpmpp_sde_k"}) {
		t.Errorf("not implemented: %v", missing)
	}
	for _, n := range Names() {
		if !slices.Contains(all, n) {
			t.Errorf("%q is not an InvokeAI scheduler name", n)
		}
	}
	if len(Names())+len(missing) != len(all) {
		t.Errorf("%d implemented + %d missing != %d", len(Names()), len(missing), len(all))
	}
}
