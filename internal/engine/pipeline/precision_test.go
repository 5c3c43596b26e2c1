package pipeline

import (
	"context"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/engine/gemm"
	"github.com/invokego/invokego/internal/engine/goldens"
	"github.com/invokego/invokego/internal/engine/noise"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/tensor"
	"github.com/invokego/invokego/internal/engine/tokenizer"
)

// The tolerance of precision bf16 (and of auto, which picks it where the CPU
// has a bf16 kernel) on 8-bit images, measured on every txt2img case of the
// fixtures against the fp32 goldens' PNGs (docs/performance.md): the largest
// channel difference and the mean absolute difference in levels.
const (
	bf16MaxLevels  = 6
	bf16MeanLevels = 0.5
)

// TestBF16PipelineTolerance runs the fixture cases with the text encoder,
// UNet and VAE all built with Options{Precision: "bf16"} and checks the
// 8-bit images against the fp32 goldens within the stated tolerance. It
// must also see a difference: bf16 that changed nothing would not be bf16.
func TestBF16PipelineTolerance(t *testing.T) {
	dir, err := goldens.Path("sd-tiny", "models", "sd15-tiny-pipe")
	if err != nil {
		t.Fatal(err)
	}
	pipe, err := sd.LoadDiffusersPipelineAll(dir, sd.Options{Precision: "bf16"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(filepath.Join(dir, "tokenizer"))
	if err != nil {
		t.Fatal(err)
	}
	schedCfg, err := os.ReadFile(filepath.Join(dir, "scheduler", "scheduler_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	enc := TextEncoder{Tokenizer: tok, Model: pipe.TextEncoder}
	ctx := context.Background()
	worst, off, total := 0, 0, 0
	sum := 0.0
	for _, c := range pipelineCases(t) {
		name := strings.TrimSuffix(c.Files.PNG, ".png")
		trimmed := (raceEnabled || testing.Short()) && os.Getenv("INVOKEGO_FULL_GOLDENS") == ""
		if trimmed && !raceSubset[name] {
			continue
		}
		pngFile := c.Files.PNG
		if _, err := os.Stat(pipelineFixture(t, name+".diffusers039.png")); err == nil {
			pngFile = name + ".diffusers039.png"
		}
		pos, err := EncodePrompt(ctx, enc, c.Prompt, LastHiddenNormalized)
		if err != nil {
			t.Fatal(err)
		}
		neg, err := EncodePrompt(ctx, enc, c.NegativePrompt, LastHiddenNormalized)
		if err != nil {
			t.Fatal(err)
		}
		shape := []int{1, 4, c.Height / 8, c.Width / 8}
		latents, err := Denoise(ctx, DenoiseParams{
			UNet: pipe.UNet, SchedulerName: c.Scheduler, SchedulerConfig: schedCfg, Steps: c.Steps,
			CFGScale: []float64{c.CFGScale}, DenoisingStart: c.DenoisingStart, DenoisingEnd: c.DenoisingEnd,
			Positive: &Conditioning{Embeds: pos}, Negative: &Conditioning{Embeds: neg},
			Noise: tensor.FromData(noise.Randn(uint64(c.Seed), noise.Float32, shape...), shape...), Seed: c.Seed,
		})
		if err != nil {
			t.Fatal(err)
		}
		img, err := DecodeLatents(ctx, pipe.VAE, latents, sd.VAEOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rgb, err := ToImage(img)
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(pipelineFixture(t, pngFile))
		if err != nil {
			t.Fatal(err)
		}
		want, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		b := want.Bounds()
		caseWorst := 0
		for y := 0; y < b.Dy(); y++ {
			for x := 0; x < b.Dx(); x++ {
				wr, wg, wb, _ := want.At(b.Min.X+x, b.Min.Y+y).RGBA()
				o := rgb.PixOffset(x, y)
				for ch, w := range [3]uint32{wr >> 8, wg >> 8, wb >> 8} {
					d := int(rgb.Pix[o+ch]) - int(w)
					d = max(d, -d)
					caseWorst = max(caseWorst, d)
					sum += float64(d)
					total++
					if d > 0 {
						off++
					}
				}
			}
		}
		t.Logf("%s: max %d levels", name, caseWorst)
		worst = max(worst, caseWorst)
	}
	mean := sum / float64(max(total, 1))
	t.Logf("bf16 (kernel %s) vs fp32 goldens: max %d levels, mean %.3f levels, %d of %d channel values differ",
		gemm.BF16Backend(), worst, mean, off, total)
	if worst > bf16MaxLevels || mean > bf16MeanLevels {
		t.Errorf("bf16 images differ from the fp32 goldens by up to %d levels (mean %.3f), tolerance %d (mean %.1f)",
			worst, mean, bf16MaxLevels, bf16MeanLevels)
	}
	if off == 0 {
		t.Error("bf16 images equal the fp32 goldens exactly: the bf16 path did not run")
	}
}
