package app

import "context"

// wireGallery builds the gallery (images, boards, board images, bulk downloads) and registers its routes.
func (a *App) wireGallery(ctx context.Context) error {
	return nil
}
