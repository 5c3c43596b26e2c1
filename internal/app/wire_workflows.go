package app

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/invokego/invokego/internal/api"
	"github.com/invokego/invokego/internal/workflows"
)

// wireWorkflows builds the workflow library and registers its routes.
func (a *App) wireWorkflows(ctx context.Context) error {
	svc, err := workflows.NewService(workflows.Options{
		DB:           a.DB,
		ThumbnailDir: filepath.Join(a.cfg.OutputsPath(), "workflow_thumbnails"),
		Events:       a.Events,
		Now:          a.now,
		Logger:       a.logger,
	})
	if err != nil {
		return err
	}
	if err := svc.SyncDefaults(ctx); err != nil {
		return fmt.Errorf("workflow library: %w", err)
	}
	if err := svc.RemoveOrphanThumbnails(ctx); err != nil {
		a.logger.Warn("could not prune workflow thumbnails", "error", err)
	}
	a.Auth.AddContentRemover(svc)
	a.Router.Add(api.WorkflowRoutes(svc)...)
	return nil
}
