package app

import (
	"context"
	"fmt"

	"github.com/invokego/invokego/internal/models"
	"github.com/invokego/invokego/internal/models/cache"
	"github.com/invokego/invokego/internal/nodes/tiles"
	"github.com/invokego/invokego/internal/nodes/upscale"
	"github.com/invokego/invokego/internal/store"
)

// withSpandrel routes spandrel_image_to_image records to the upscaling loader and everything else to next.
func withSpandrel(pathOf func(string) string, next cache.Loader) cache.Loader {
	return func(ctx context.Context, cfg *models.Config, submodel string) (any, int64, error) {
		if cfg.Type == models.TypeSpandrel {
			return upscale.Load(ctx, cfg, pathOf(cfg.Path))
		}
		return next(ctx, cfg, submodel)
	}
}

// wireUpscale registers the image-to-image (upscaling) and tile nodes; it runs after wireDiffusion.
func (a *App) wireUpscale(context.Context) error {
	if a.Models == nil {
		return fmt.Errorf("upscale nodes: the model manager is not wired")
	}
	upscale.Register(a.NodeRegistry(), upscale.Deps{Records: a.Models.Records, Cache: a.Models.Cache,
		Installed: func(ctx context.Context) ([]*models.Config, error) {
			return a.Models.Records.List(ctx, store.ModelFilter{Type: models.TypeSpandrel})
		}})
	tiles.Register(a.NodeRegistry())
	return nil
}
