package scheduler

import (
	"math"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
)

func TestTrainScheduleMatchesTorch(t *testing.T) {
	p, err := goldens.Path("sd-tiny", "goldens", "scheduler_common.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	ts, err := goldens.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ClassConfig(ClassPNDM, []byte(`{"beta_start":0.00085,"beta_end":0.012,"beta_schedule":"scaled_linear"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newTrainSchedule(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][]float32{"betas": s.betas, "alphas_cumprod": s.alphasCumprod} {
		want := ts[name].Floats
		bad, maxd := 0, 0.0
		for i := range want {
			if float64(got[i]) != want[i] {
				bad++
				maxd = math.Max(maxd, math.Abs(float64(got[i])-want[i]))
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d differ, max %g", name, bad, len(want), maxd)
		}
	}
}

func TestRescaleZeroTerminalSNR(t *testing.T) {
	for _, class := range []string{ClassDDIM, ClassEuler} {
		cfg, err := ClassConfig(class, []byte(`{"beta_start":0.00085,"beta_end":0.012,"beta_schedule":"scaled_linear","rescale_betas_zero_snr":true}`), nil)
		if err != nil {
			t.Fatal(err)
		}
		plain := cfg
		plain.RescaleBetasZeroSNR = false
		s, err := newTrainSchedule(&cfg)
		if err != nil {
			t.Fatal(err)
		}
		p, err := newTrainSchedule(&plain)
		if err != nil {
			t.Fatal(err)
		}
		n := len(s.alphasCumprod)
		if d := math.Abs(float64(s.alphasCumprod[0] - p.alphasCumprod[0])); d > 1e-6 {
			t.Errorf("%s: first alpha_cumprod moved by %g", class, d)
		}
		want := float32(0)
		if class == ClassEuler {
			want = 1.0 / (1 << 24)
		}
		if got := s.alphasCumprod[n-1]; math.Abs(float64(got-want)) > 1e-12 {
			t.Errorf("%s: last alpha_cumprod %g, want %g", class, got, want)
		}
	}
}
