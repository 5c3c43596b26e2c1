package flux

import (
	"os"
	"slices"
	"testing"
)

var scheduleRuns = []struct {
	name       string
	dev        bool
	steps, seq int
}{
	{"schnell_4", false, 4, 16},
	{"schnell_4_seq4096", false, 4, 4096},
	{"dev_10_seq16", true, 10, 16},
	{"dev_10_seq15", true, 10, 15},
	{"dev_12_seq24", true, 12, 24},
	{"dev_28_seq4096", true, 28, 4096},
	{"dev_50_seq4096", true, 50, 4096},
	{"dev_20_seq1024", true, 20, 1024},
}

// scheduleTolerance: diffusers 0.30, 0.39 and InvokeAI round differently
// by up to one float32 ulp (testdata/README.md).
const scheduleTolerance = 1e-6

func TestScheduleGoldens(t *testing.T) {
	g := openGolden(t, "goldens", "scheduler.safetensors")
	g39 := openGolden(t, "goldens", "diffusers-0.39.0", "scheduler.safetensors")
	for _, r := range scheduleRuns {
		cfg := SchnellSchedulerConfig
		if r.dev {
			cfg = DevSchedulerConfig
		}
		sig, ts, err := cfg.DiffusersSigmas(r.steps, r.seq)
		if err != nil {
			t.Fatal(err)
		}
		compareAbs(t, r.name+" sigmas", sig, g.floats(r.name+".sigmas"), scheduleTolerance)
		compareAbs(t, r.name+" sigmas (0.39)", sig, g39.floats(r.name+".sigmas"), scheduleTolerance)
		// Timesteps are σ·1000: the tolerance scales with them.
		compareAbs(t, r.name+" timesteps", ts, g.floats(r.name+".timesteps"), 1000*scheduleTolerance)
		inv, err := InvokeAISchedule(r.steps, r.seq, r.dev)
		if err != nil {
			t.Fatal(err)
		}
		// InvokeAI's schedule is reproduced bit for bit (torch's float32 operation order).
		compareAbs(t, r.name+" invokeai", inv, g.floats(r.name+".invokeai_schedule"), 0)
	}
	if _, err := InvokeAISchedule(0, 16, true); err == nil {
		t.Error("0 steps: no error")
	}
}

func TestSchedulerConfigFiles(t *testing.T) {
	for variant, want := range map[string]SchedulerConfig{"dev": DevSchedulerConfig, "schnell": SchnellSchedulerConfig} {
		b, err := os.ReadFile(fluxTiny(t, "models", "flux-"+variant+"-tiny", "scheduler", "scheduler_config.json"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseSchedulerConfig(b)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: %+v, want %+v", variant, got, want)
		}
	}
	if _, err := ParseSchedulerConfig([]byte(`{"shift": -1}`)); err == nil {
		t.Error("negative shift: no error")
	}
}

func TestClipSchedule(t *testing.T) {
	ts := []float32{1, 0.75, 0.5, 0.25, 0}
	for _, c := range []struct {
		start, end float64
		want       []float32
	}{
		{0, 1, []float32{1, 0.75, 0.5, 0.25, 0}},
		{0.5, 1, []float32{0.5, 0.25, 0}},
		{0.4, 1, []float32{0.6, 0.5, 0.25, 0}},
		{0, 0.6, []float32{1, 0.75, 0.4}}, // InvokeAI replaces the last kept value
		{0.3, 0.3, []float32{0.7}},
		{1, 1, []float32{0}},
	} {
		got, err := ClipSchedule(ts, c.start, c.end)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("ClipSchedule(%v, %v) = %v, want %v", c.start, c.end, got, c.want)
		}
	}
	if _, err := ClipSchedule(ts, 0.6, 0.5); err == nil {
		t.Error("start after end: no error")
	}
}
