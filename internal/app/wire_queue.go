package app

import "context"

// wireQueue builds the queue feature and registers its routes.
func (a *App) wireQueue(ctx context.Context) error {
	return nil
}
