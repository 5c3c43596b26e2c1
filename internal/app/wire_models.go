package app

import "context"

// wireModels builds the models feature and registers its routes.
func (a *App) wireModels(ctx context.Context) error {
	return nil
}
