package app

import (
	"context"
	"fmt"
	"path/filepath"

	"log/slog"

	"github.com/invokego/invokego/internal/engine/gemm"
	"github.com/invokego/invokego/internal/engine/noise"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/models"
	"github.com/invokego/invokego/internal/nodes/diffusion"
	"github.com/invokego/invokego/internal/store"
)

// diffusionStoreBudget bounds the latents and conditioning kept in memory
// between nodes (a 1024×1024 SDXL latent is 0.5 MB; conditionings are
// smaller), enough for many sessions in flight.
const diffusionStoreBudget = 512 << 20

// wireDiffusion installs the engine's model loader in the model cache and
// registers the Stable Diffusion nodes. It runs after wireModels and before
// wireQueue, which validates graphs against the complete registry.
func (a *App) wireDiffusion(context.Context) error {
	if a.Models == nil {
		return fmt.Errorf("diffusion nodes: the model manager is not wired")
	}
	dtype, err := noise.ParseDType(a.cfg.NoiseDType)
	if err != nil {
		return fmt.Errorf("diffusion nodes: noise_dtype: %w", err)
	}
	tokenizers := diffusion.SharedTokenizers{
		Dir:    filepath.Join(a.Models.Records.ModelsDir(), ".tokenizers", "clip"),
		PathOf: a.Models.Records.AbsPath,
		Installed: func(ctx context.Context) ([]*models.Config, error) {
			return a.Models.Records.List(ctx, store.ModelFilter{Type: models.TypeMain, Format: models.FormatDiffusers})
		},
	}
	precision, err := sd.ResolvePrecision(a.cfg.Precision)
	if err != nil {
		return fmt.Errorf("diffusion nodes: precision: %w", err)
	}
	slog.Info("stable diffusion precision", "setting", a.cfg.Precision, "precision", precision, "bf16_gemm", gemm.BF16Backend())
	loader := diffusion.Loader{PathOf: a.Models.Records.AbsPath, Tokenizers: tokenizers, Build: sd.Options{Precision: precision}}
	a.Models.Cache.SetLoader(a.fluxLoader().Wrap(withSpandrel(a.Models.Records.AbsPath, loader.Load)))
	objects := diffusion.NewObjectStore(diffusionStoreBudget)
	diffusion.Register(a.NodeRegistry(), diffusion.Deps{
		Records:    a.Models.Records,
		Cache:      a.Models.Cache,
		Store:      objects,
		NoiseDType: dtype,
		Precision:  precision,
	})
	a.registerFlux(objects)
	return nil
}
