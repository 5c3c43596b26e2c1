// Package app wires invokego together: configuration, database, services, event bus, router and the HTTP
// server, with start and graceful stop.
package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/invokego/invokego/internal/api"
	"github.com/invokego/invokego/internal/auth"
	"github.com/invokego/invokego/internal/config"
	"github.com/invokego/invokego/internal/events"
	"github.com/invokego/invokego/internal/gallery"
	"github.com/invokego/invokego/internal/nodes"
	"github.com/invokego/invokego/internal/queue"
	"github.com/invokego/invokego/internal/store"
	"github.com/invokego/invokego/internal/stylepresets"
	"github.com/invokego/invokego/internal/version"
	"github.com/invokego/invokego/web"
)

// Options carry what tests and the command line inject.
type Options struct {
	Config config.Config
	Logger *slog.Logger
	// LogLevel, when set, is the logger's level variable, adjustable through the API.
	LogLevel *slog.LevelVar
	// BcryptCost lowers hashing cost in tests; 0 means auth.DefaultBcryptCost.
	BcryptCost int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// App is a running invokego instance.
type App struct {
	cfg    config.Config
	logger *slog.Logger
	now    func() time.Time
	DB     *store.DB
	Auth   *auth.Service
	Events *events.Bus
	Router *api.Router
	// Models is the model manager; the engine loads models through Models.Cache.
	Models *ModelManager
	// Queue is the session queue and its processor (wire_queue.go).
	Queue *queue.Service
	// StylePresets is the style preset library (wire_stylepresets.go); nodes read presets through it.
	StylePresets *stylepresets.Service
	// gallery is set by wireGallery for the features that store images (the queue's nodes).
	gallery *gallery.Service
	// nodes is the node registry; see NodeRegistry (wire_queue.go).
	nodes *nodes.Registry
	// closers run on Close, last registered first (background workers stop before the database closes).
	closers []func()
	// shutdowns run when the HTTP server starts shutting down, so long-lived connections (long polls,
	// websockets) end instead of holding the graceful shutdown until its deadline.
	shutdowns []func()
}

// New opens the database, runs migrations and builds every service and route.
func New(ctx context.Context, opts Options) (*App, error) {
	cfg := opts.Config
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := cfg.EnsureRoot(); err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, cfg.DBPath())
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, logger: logger, now: opts.Now, DB: db, Events: events.NewBus()}
	if err := a.build(ctx, opts); err != nil {
		db.Close()
		return nil, err
	}
	return a, nil
}

// OpenDB opens the root's database for the CLI's user commands.
func OpenDB(ctx context.Context, cfg config.Config) (*store.DB, error) {
	if err := cfg.EnsureRoot(); err != nil {
		return nil, err
	}
	return store.Open(ctx, cfg.DBPath())
}

// JWTSecret returns the database's signing secret, creating it on first use (docs/security.md D6).
func JWTSecret(ctx context.Context, db *store.DB) (string, error) {
	return db.SettingOrCreate(ctx, "jwt_secret", func() (string, error) {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		return hex.EncodeToString(b[:]), nil
	})
}

// NewAuthService builds the accounts service over a database (shared by the server and the CLI).
func NewAuthService(ctx context.Context, db *store.DB, cfg config.Config, bcryptCost int, now func() time.Time, logger *slog.Logger) (*auth.Service, error) {
	secret, err := JWTSecret(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("load jwt secret: %w", err)
	}
	return auth.NewService(db, auth.Options{
		Multiuser: cfg.Multiuser, Strict: cfg.StrictPasswordChecking, Secret: secret,
		BcryptCost: bcryptCost, Now: now, Logger: logger,
	})
}

func (a *App) build(ctx context.Context, opts Options) error {
	authSvc, err := NewAuthService(ctx, a.DB, a.cfg, opts.BcryptCost, opts.Now, a.logger)
	if err != nil {
		return err
	}
	a.Auth = authSvc
	rt := api.NewRouter(authSvc, a.cfg.Multiuser, a.logger, api.CORS{
		Origins: a.cfg.AllowOrigins, Credentials: a.cfg.AllowCredentials, Methods: a.cfg.AllowMethods, Headers: a.cfg.AllowHeaders,
	})
	rt.Info = api.Info{Title: "invokego", Version: version.Version}
	rt.Add(rt.DocRoutes()...)
	rt.Add(api.AuthRoutes(authSvc)...)
	rt.Add(api.AppRoutes(api.AppInfo{
		Version:         version.Version,
		Deps:            dependencyVersions(),
		SetFields:       a.cfg.SetFields,
		Config:          a.cfg.AsMap,
		PublicSetFields: a.cfg.PublicSetFields,
		PublicConfig:    a.cfg.PublicMap,
		Patchmatch: func() bool {
			// InvokeAI reports whether its patchmatch infill can run; here, whether the node is registered.
			if a.nodes == nil {
				return false
			}
			_, ok := a.nodes.Lookup("infill_patchmatch")
			return ok
		},
		LogLevel: logLevel(opts.LogLevel),
		InvocationCache: func() (api.InvocationCache, int) {
			if a.Queue == nil || a.Queue.Cache() == nil {
				return nil, 0
			}
			return a.Queue.Cache(), a.cfg.NodeCacheSize
		},
	})...)
	rt.Add(api.UtilitiesRoutes()...)
	a.Router = rt
	// Each feature wires its own services and routes (wire_*.go).
	for _, wire := range []func(context.Context) error{a.wireEvents, a.wireGallery, a.wireWorkflows, a.wireStylePresets, a.wireModels, a.wireDiffusion /* engine nodes: wire_diffusion.go */, a.wireUpscale, a.wireQueue} {
		if err := wire(ctx); err != nil {
			return err
		}
	}
	rt.SetFallback(uiHandler(web.Dist()))
	return nil
}

func logLevel(v *slog.LevelVar) *slog.LevelVar {
	if v == nil {
		v = new(slog.LevelVar)
	}
	return v
}

// onClose registers cleanup for Close.
func (a *App) onClose(fn func()) { a.closers = append(a.closers, fn) }

// onShutdown registers a function run when the HTTP server begins its graceful shutdown.
func (a *App) onShutdown(fn func()) { a.shutdowns = append(a.shutdowns, fn) }

// dependencyVersions lists the Go modules built in, for /app/app_deps.
func dependencyVersions() map[string]string {
	out := map[string]string{}
	if bi, ok := debug.ReadBuildInfo(); ok {
		out["go"] = bi.GoVersion
		out["invokego"] = version.Full()
		for _, d := range bi.Deps {
			out[d.Path] = d.Version
		}
	}
	return out
}

// Handler is the root HTTP handler.
func (a *App) Handler() http.Handler { return a.Router }

// Config returns the configuration the app runs with.
func (a *App) Config() config.Config { return a.cfg }

// Serve answers requests on ln until ctx ends, then shuts down gracefully.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn),
	}
	for _, fn := range a.shutdowns {
		srv.RegisterOnShutdown(fn)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// Close stops background work and releases the database.
func (a *App) Close() error {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
	return a.DB.Close()
}
