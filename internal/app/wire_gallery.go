package app

import (
	"context"
	"fmt"
	"time"

	"github.com/invokego/invokego/internal/api"
	"github.com/invokego/invokego/internal/gallery"
)

// downloadSweepInterval is how often expired bulk-download zips are looked for.
const downloadSweepInterval = time.Minute

// wireGallery builds the gallery (images, boards, board images, bulk downloads) and registers its routes.
func (a *App) wireGallery(ctx context.Context) error {
	svc, err := gallery.New(gallery.Options{
		DB:             a.DB,
		OutputsDir:     a.cfg.OutputsPath(),
		MaxImagePixels: a.cfg.MaxImagePixels,
		CompressLevel:  a.cfg.PILCompressLevel,
		Events:         a.Events,
		Now:            a.now,
		Logger:         a.logger,
	})
	if err != nil {
		return fmt.Errorf("gallery: %w", err)
	}
	a.gallery = svc // the queue's nodes save and load images through it
	a.Router.Add(api.GalleryRoutes(svc, api.GalleryConfig{MaxUploadBytes: a.cfg.MaxUploadBytes, Multiuser: a.cfg.Multiuser})...)
	a.Auth.AddContentRemover(svc)
	svc.StartSweeper(downloadSweepInterval)
	a.onClose(svc.Close)
	return nil
}
