package pipeline

import (
	"context"
	"errors"
	"testing"

	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// Each stage refuses, before it starts, inputs whose largest activation the run's budget cannot hold.
func TestStagesCheckTheBudgetFirst(t *testing.T) {
	p := loadTinyPipe(t)
	small := tensor.WithBudget(context.Background(), tensor.Budget{MaxBytes: 64 << 10})
	latents := tensor.New(1, 4, 64, 64) // a 512×512 image
	var se *tensor.SizeError
	if _, err := DecodeLatents(small, p.pipe.VAE, latents, sd.VAEOptions{}); !errors.As(err, &se) {
		t.Fatalf("decode: %v, want a SizeError", err)
	}
	img := tensor.New(1, 3, 512, 512)
	if _, err := EncodeImage(small, p.pipe.VAE, img, 0); !errors.As(err, &se) {
		t.Fatalf("encode: %v, want a SizeError", err)
	}
	if _, err := ResizeIn(small, tensor.New(1, 4, 8, 8), 4096, 4096, "bilinear"); !errors.As(err, &se) {
		t.Fatalf("resize: %v, want a SizeError", err)
	}
	cond := &Conditioning{Embeds: tensor.New(1, 77, p.pipe.UNet.Config.CrossAttentionDim)}
	_, err := Denoise(small, DenoiseParams{UNet: p.pipe.UNet, SchedulerName: "euler", Steps: 1, CFGScale: []float64{7},
		DenoisingEnd: 1, Positive: cond, Negative: cond, Noise: tensor.New(1, 4, 64, 64)})
	if !errors.As(err, &se) {
		t.Fatalf("denoise: %v, want a SizeError", err)
	}
	// Within the budget the same calls run.
	roomy := tensor.WithBudget(context.Background(), tensor.Budget{MaxBytes: 1 << 30})
	if _, err := DecodeLatents(roomy, p.pipe.VAE, tensor.New(1, 4, 8, 8), sd.VAEOptions{}); err != nil {
		t.Fatalf("decode within the budget: %v", err)
	}
	if _, err := ResizeIn(roomy, tensor.New(1, 4, 8, 8), 16, 16, "bilinear"); err != nil {
		t.Fatalf("resize within the budget: %v", err)
	}
}
