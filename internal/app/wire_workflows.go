package app

import "context"

// wireWorkflows builds the workflow library and registers its routes.
func (a *App) wireWorkflows(ctx context.Context) error {
	return nil
}
