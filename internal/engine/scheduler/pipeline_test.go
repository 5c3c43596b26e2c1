package scheduler

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
	"github.com/invokego/invokego/internal/engine/noise"
)

// TestPipelineStart checks the start of the 28 end-to-end txt2img goldens
// of sd-tiny/pipeline (8 steps, seed 0, InvokeAI conventions): the noise is
// torch.randn for the seed, the schedule matches, and the initial latents
// are add_noise(zeros, noise, t0). Later steps need the UNet and are
// checked by the pipeline layer.
func TestPipelineStart(t *testing.T) {
	dir, err := goldens.Path("sd-tiny", "pipeline")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var manifest struct {
		Cases map[string]struct {
			Seed      uint64 `json:"seed"`
			Scheduler string `json:"scheduler"`
			Steps     int    `json:"steps"`
			Files     struct {
				Latents string `json:"latents"`
			} `json:"files"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(quoteNonFinite(data), &manifest); err != nil {
		t.Fatal(err)
	}
	if len(manifest.Cases) == 0 {
		t.Fatal("no cases in the pipeline manifest")
	}
	modelCfg, err := os.ReadFile(filepath.Join(dir, "..", "models", "sd15-tiny-pipe", "scheduler", "scheduler_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(manifest.Cases))
	for n := range manifest.Cases {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		c := manifest.Cases[name]
		ts, err := goldens.Load(filepath.Join(dir, c.Files.Latents))
		if err != nil {
			t.Fatal(err)
		}
		s := newNamed(t, c.Scheduler, string(modelCfg))
		if err := s.SetTimesteps(c.Steps); err != nil {
			t.Fatal(err)
		}
		checkSchedule(t, s, ts)
		eps := noise.Randn(c.Seed, noise.Float32, 1, 4, 8, 8)
		if d := maxAbsDiff(eps, ts["noise"].Float32()); d != 0 {
			t.Errorf("%s: noise differs from randn(seed %d) by %g", name, c.Seed, d)
		}
		start, err := s.AddNoise(make([]float32, len(eps)), eps, s.Timesteps()[0])
		if err != nil {
			t.Fatal(err)
		}
		if d := maxAbsDiff(start, ts["initial_latents"].Float32()); d != 0 {
			t.Errorf("%s: initial latents differ by %g", name, d)
		}
	}
}
