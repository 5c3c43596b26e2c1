package app

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/invokego/invokego/internal/api"
	"github.com/invokego/invokego/internal/nodes/core"
	"github.com/invokego/invokego/internal/stylepresets"
)

// wireStylePresets builds the style preset library and registers its routes. Nodes that read presets
// (prompt_template) get a.StylePresets, whose PresetPrompts reads with the rights of the queue item's owner.
func (a *App) wireStylePresets(ctx context.Context) error {
	svc, err := stylepresets.NewService(stylepresets.Options{
		DB:       a.DB,
		ImageDir: filepath.Join(a.cfg.OutputsPath(), "style_preset_images"),
		Owner:    a.queueOwner,
		Logger:   a.logger,
	})
	if err != nil {
		return err
	}
	if err := svc.SyncDefaults(ctx); err != nil {
		return fmt.Errorf("style presets: %w", err)
	}
	if err := svc.RemoveOrphanImages(ctx); err != nil {
		a.logger.Warn("could not prune style preset images", "error", err)
	}
	a.StylePresets = svc
	core.RegisterPromptTemplate(a.NodeRegistry(), svc)
	a.Auth.AddContentRemover(svc)
	a.Router.Add(api.StylePresetRoutes(svc)...)
	return nil
}
