package app

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"

	"github.com/invokego/invokego/internal/api"
	"github.com/invokego/invokego/internal/config"
	"github.com/invokego/invokego/internal/events"
	"github.com/invokego/invokego/internal/models"
	"github.com/invokego/invokego/internal/models/cache"
	"github.com/invokego/invokego/internal/models/download"
	"github.com/invokego/invokego/internal/models/install"
	"github.com/invokego/invokego/internal/store"
)

// ModelManager is the models feature: records, install jobs and the in-memory model cache the engine loads
// through (Cache.SetLoader, Cache.Get).
type ModelManager struct {
	Records   *models.Service
	Installer *install.Installer
	Cache     *cache.Cache
	Hub       *download.HFClient
}

// ModelManagerOptions are what the server and the command line inject.
type ModelManagerOptions struct {
	HTTP   *http.Client
	Events events.Publisher
	// ResumeJobs re-runs the install jobs a stop interrupted. Only the server sets it: a command-line run
	// must not take over downloads a running server is doing.
	ResumeJobs bool
}

// NewModelManager builds the models feature over a database and starts the install workers; Close stops them.
func NewModelManager(ctx context.Context, db *store.DB, cfg config.Config, opts ModelManagerOptions) (*ModelManager, error) {
	if opts.HTTP == nil {
		opts.HTTP = &http.Client{}
	}
	if opts.Events == nil {
		opts.Events = events.NewBus()
	}
	var pairs [][2]string
	for _, t := range cfg.RemoteAPITokens {
		pairs = append(pairs, [2]string{t.URLRegex, t.Token})
	}
	tokens, err := download.CompileTokens(pairs)
	if err != nil {
		return nil, err
	}
	cacheDir := cfg.DownloadCacheDir
	if !filepath.IsAbs(cacheDir) {
		cacheDir = filepath.Join(cfg.Root, cacheDir)
	}
	records := models.NewService(db, models.Options{
		ModelsDir: cfg.ModelsPath(),
		ImagesDir: filepath.Join(cfg.Root, "model_images"),
	})
	// Records stored before sources were kept in their public form lose their credentials now.
	if _, err := records.HideStoredCredentials(ctx); err != nil {
		return nil, fmt.Errorf("model records: %w", err)
	}
	modelCache := cache.New(int64(cfg.RAM*(1<<30)), opts.Events)
	records.Unload = modelCache.Drop
	hub := &download.HFClient{HTTP: opts.HTTP, Endpoint: cfg.HFEndpoint}
	inst, err := install.New(ctx, records, db, install.Options{
		CacheDir:   cacheDir,
		Downloader: download.New(opts.HTTP, tokens),
		Hub:        hub,
		Events:     opts.Events,
		HFToken:    records.HFToken,
		ResumeJobs: opts.ResumeJobs,
	})
	if err != nil {
		return nil, fmt.Errorf("start model installer: %w", err)
	}
	return &ModelManager{Records: records, Installer: inst, Cache: modelCache, Hub: hub}, nil
}

// Close stops the install workers (interrupted downloads resume on the next start).
func (m *ModelManager) Close() { m.Installer.Close() }

// wireModels builds the models feature and registers its routes.
func (a *App) wireModels(ctx context.Context) error {
	mm, err := NewModelManager(ctx, a.DB, a.cfg, ModelManagerOptions{Events: a.Events, ResumeJobs: true})
	if err != nil {
		return err
	}
	a.Models = mm
	a.onClose(mm.Close)
	a.Router.Add(api.ModelRoutes(api.ModelDeps{Models: mm.Records, Installer: mm.Installer, Cache: mm.Cache, Hub: mm.Hub})...)
	a.Router.Add(api.ModelRelationshipRoutes(mm.Records)...)
	return nil
}
