package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
	"github.com/invokego/invokego/internal/engine/noise"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/tensor"
	"github.com/invokego/invokego/internal/engine/tokenizer"
)

// tinyPipe is the fixture model sd15-tiny-pipe, loaded once per test binary.
type tinyPipe struct {
	dir             string
	pipe            *sd.Pipeline
	tok             *tokenizer.Tokenizer
	schedulerConfig []byte
}

var (
	tinyOnce sync.Once
	tinyVal  *tinyPipe
	tinyErr  error
)

func loadTinyPipe(t testing.TB) *tinyPipe {
	t.Helper()
	tinyOnce.Do(func() {
		dir, err := goldens.Path("sd-tiny", "models", "sd15-tiny-pipe")
		if err != nil {
			tinyErr = err
			return
		}
		p := &tinyPipe{dir: dir}
		if p.pipe, err = sd.LoadDiffusersPipeline(dir); err != nil {
			tinyErr = err
			return
		}
		if p.tok, err = tokenizer.Load(filepath.Join(dir, "tokenizer")); err != nil {
			tinyErr = err
			return
		}
		if p.schedulerConfig, err = os.ReadFile(filepath.Join(dir, "scheduler", "scheduler_config.json")); err != nil {
			tinyErr = err
			return
		}
		tinyVal = p
	})
	if tinyErr != nil {
		t.Fatalf("load sd15-tiny-pipe: %v", tinyErr)
	}
	return tinyVal
}

func (p *tinyPipe) encoder() TextEncoder {
	return TextEncoder{Tokenizer: p.tok, Model: p.pipe.TextEncoder}
}

func pipelineFixture(t testing.TB, name string) string {
	t.Helper()
	path, err := goldens.Path("sd-tiny", "pipeline", name)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func loadGolden(t testing.TB, name string) map[string]goldens.Tensor {
	t.Helper()
	ts, err := goldens.Load(pipelineFixture(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func maxAbsDiff(t testing.TB, got []float32, want goldens.Tensor) float64 {
	t.Helper()
	if len(got) != len(want.Floats) {
		t.Fatalf("size %d, golden %d", len(got), len(want.Floats))
	}
	var worst float64
	for i, v := range got {
		worst = max(worst, math.Abs(float64(v)-want.Floats[i]))
	}
	return worst
}

func TestConditioningGoldens(t *testing.T) {
	p := loadTinyPipe(t)
	g := loadGolden(t, "conditioning.safetensors")
	var manifest struct {
		Conditioning map[string]struct {
			Text string `json:"text"`
		} `json:"conditioning"`
	}
	readJSON(t, pipelineFixture(t, "manifest.json"), &manifest)
	if len(manifest.Conditioning) == 0 {
		t.Fatal("manifest has no conditioning entries")
	}
	for key, entry := range manifest.Conditioning {
		ids := p.tok.Encode77(entry.Text)
		wantIDs := g[key+".input_ids"].Ints
		for i := range wantIDs {
			if int64(ids[i]) != wantIDs[i] {
				t.Fatalf("%s: token %d is %d, golden %d", key, i, ids[i], wantIDs[i])
			}
		}
		z, err := EncodePrompt(context.Background(), p.encoder(), entry.Text, LastHiddenNormalized)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		// compel computes empty + (z − empty)·1, within 2.4e-7 of z.
		if d := maxAbsDiff(t, z.Data, g[key+".embeds"]); d > 1e-5 {
			t.Errorf("%s (%q): embeds max abs diff %g", key, entry.Text, d)
		} else {
			t.Logf("%s: embeds max abs diff %.3g", key, d)
		}
	}
}

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Python's json writes -Infinity for a scheduler setting; JSON has no
	// such literal, and the tests do not read it.
	b = bytes.ReplaceAll(b, []byte("-Infinity"), []byte("null"))
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// pipelineCase is one entry of pipeline/manifest.json.
type pipelineCase struct {
	Name           string
	Prompt         string  `json:"prompt"`
	NegativePrompt string  `json:"negative_prompt"`
	Seed           uint32  `json:"seed"`
	Scheduler      string  `json:"scheduler"`
	Steps          int     `json:"steps"`
	CFGScale       float64 `json:"cfg_scale"`
	Width          int     `json:"width"`
	Height         int     `json:"height"`
	DenoisingStart float64 `json:"denoising_start"`
	DenoisingEnd   float64 `json:"denoising_end"`
	Files          struct {
		PNG     string `json:"png"`
		Latents string `json:"latents"`
		Decoded string `json:"decoded"`
	} `json:"files"`
}

// raceSubset is what runs under the race detector (about 3.5 s a case
// there, against 0.2 s without it): every scheduler once, both prompts, with
// and without a negative prompt. INVOKEGO_FULL_GOLDENS=1 runs all 28 under
// the race detector too; without it, the full matrix runs in every test
// pass that is not -race or -short.
var raceSubset = map[string]bool{
	"s0_cat_noneg_euler":             true,
	"s0_lighthouse_neg_euler_a":      true,
	"s0_cat_neg_dpmpp_2m":            true,
	"s0_lighthouse_noneg_dpmpp_2m_k": true,
	"s0_lighthouse_noneg_heun":       true,
	"s0_cat_noneg_ddim":              true,
	"s0_lighthouse_neg_lms":          true,
}

func pipelineCases(t *testing.T) []pipelineCase {
	var manifest struct {
		Cases map[string]pipelineCase `json:"cases"`
	}
	readJSON(t, pipelineFixture(t, "manifest.json"), &manifest)
	var cases []pipelineCase
	for name, c := range manifest.Cases {
		c.Name = name
		cases = append(cases, c)
	}
	sort.Slice(cases, func(i, j int) bool { return cases[i].Name < cases[j].Name })
	if len(cases) != 28 {
		t.Fatalf("manifest has %d cases, want 28", len(cases))
	}
	return cases
}

// TestPipelineGoldens reproduces every txt2img case of the fixtures from
// text: final latents within 1e-3, the decoded image within 1e-4 and the
// 8-bit PNG within ±1. The dpmpp cases are checked against their diffusers
// 0.39 variants, the version InvokeAI pins.
func TestPipelineGoldens(t *testing.T) {
	p := loadTinyPipe(t)
	var worstLatent, worstDecoded float64
	var worstPixel, pixelsOff, checked int
	for _, c := range pipelineCases(t) {
		trimmed := (raceEnabled || testing.Short()) && os.Getenv("INVOKEGO_FULL_GOLDENS") == ""
		if trimmed && !raceSubset[strings.TrimSuffix(c.Files.PNG, ".png")] {
			continue
		}
		t.Run(strings.TrimSuffix(c.Files.PNG, ".png"), func(t *testing.T) {
			res := runCase(t, p, c)
			checked++
			worstLatent = max(worstLatent, res.latent)
			worstDecoded = max(worstDecoded, res.decoded)
			worstPixel = max(worstPixel, res.pixel)
			pixelsOff += res.pixelsOff
		})
	}
	t.Logf("%d cases: final latents max abs %.3g, decoded max abs %.3g, PNG max diff %d levels on %d channel values",
		checked, worstLatent, worstDecoded, worstPixel, pixelsOff)
}

type caseResult struct {
	latent, decoded  float64
	pixel, pixelsOff int
}

func runCase(t *testing.T, p *tinyPipe, c pipelineCase) caseResult {
	ctx := context.Background()
	base := strings.TrimSuffix(c.Files.PNG, ".png")
	latentsFile, pngFile, decodedFile := c.Files.Latents, c.Files.PNG, c.Files.Decoded
	if _, err := os.Stat(pipelineFixture(t, base+".diffusers039.latents.safetensors")); err == nil {
		latentsFile, pngFile, decodedFile = base+".diffusers039.latents.safetensors", base+".diffusers039.png", ""
	}
	lg := loadGolden(t, latentsFile)

	pos, err := EncodePrompt(ctx, p.encoder(), c.Prompt, LastHiddenNormalized)
	if err != nil {
		t.Fatal(err)
	}
	neg, err := EncodePrompt(ctx, p.encoder(), c.NegativePrompt, LastHiddenNormalized)
	if err != nil {
		t.Fatal(err)
	}
	shape := []int{1, 4, c.Height / 8, c.Width / 8}
	noiseT := tensor.FromData(noise.Randn(uint64(c.Seed), noise.Float32, shape...), shape...)
	if d := maxAbsDiff(t, noiseT.Data, lg["noise"]); d != 0 {
		t.Fatalf("noise differs from golden by %g", d)
	}
	steps := 0
	latents, err := Denoise(ctx, DenoiseParams{
		UNet:            p.pipe.UNet,
		SchedulerName:   c.Scheduler,
		SchedulerConfig: p.schedulerConfig,
		Steps:           c.Steps,
		CFGScale:        []float64{c.CFGScale},
		DenoisingStart:  c.DenoisingStart,
		DenoisingEnd:    c.DenoisingEnd,
		Positive:        &Conditioning{Embeds: pos},
		Negative:        &Conditioning{Embeds: neg},
		Noise:           noiseT,
		Seed:            c.Seed,
		OnStep: func(s StepInfo) error {
			steps++
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := lg["step_latents"].Shape[0]; steps != want {
		t.Errorf("%d model calls, golden has %d", steps, want)
	}
	var res caseResult
	res.latent = maxAbsDiff(t, latents.Data, lg["final_latents"])
	if res.latent > 1e-3 {
		t.Errorf("final latents max abs diff %g > 1e-3", res.latent)
	}
	img, err := DecodeLatents(ctx, p.pipe.VAE, latents, sd.VAEOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if decodedFile != "" {
		// The golden is the raw decode; compare after the same clamp.
		want := loadGolden(t, decodedFile)["decoded"]
		clamped := want
		clamped.Floats = make([]float64, len(want.Floats))
		for i, v := range want.Floats {
			clamped.Floats[i] = float64(min(max(float32(v)/2+0.5, 0), 1))
		}
		res.decoded = maxAbsDiff(t, img.Data, clamped)
		if res.decoded > 1e-4 {
			t.Errorf("decoded image max abs diff %g > 1e-4", res.decoded)
		}
	}
	rgb, err := ToImage(img)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(pipelineFixture(t, pngFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	b := want.Bounds()
	if b.Dx() != rgb.Rect.Dx() || b.Dy() != rgb.Rect.Dy() {
		t.Fatalf("image %v, golden %v", rgb.Rect, b)
	}
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			wr, wg, wb, _ := want.At(b.Min.X+x, b.Min.Y+y).RGBA()
			o := rgb.PixOffset(x, y)
			for ch, w := range [3]uint32{wr >> 8, wg >> 8, wb >> 8} {
				d := int(rgb.Pix[o+ch]) - int(w)
				if d < 0 {
					d = -d
				}
				if d > 0 {
					res.pixelsOff++
				}
				res.pixel = max(res.pixel, d)
			}
		}
	}
	if res.pixel > 1 {
		t.Errorf("PNG differs by up to %d levels (%d channel values differ)", res.pixel, res.pixelsOff)
	}
	t.Logf("latents %.3g, decoded %.3g, png max %d (%d values off)", res.latent, res.decoded, res.pixel, res.pixelsOff)
	return res
}
