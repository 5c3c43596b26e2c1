package api

import (
	"log/slog"
	"net/http"

	"github.com/invokego/invokego/internal/access"
)

var appTags = []string{"app"}

// AppVersion is GET /api/v1/app/version.
type AppVersion struct {
	Version string `json:"version"`
	// HighlightsURL mirrors InvokeAI's optional field.
	HighlightsURL *string `json:"highlights_url"`
}

// RuntimeConfig is GET /api/v1/app/runtime_config.
type RuntimeConfig struct {
	SetFields []string       `json:"set_fields"`
	Config    map[string]any `json:"config"`
}

// AppInfo is what the app routes report.
type AppInfo struct {
	// Version is invokego's semantic version ("0.2.0"), what /app/version answers.
	Version   string
	Deps      map[string]string
	SetFields func() []string
	Config    func() map[string]any
	// PublicSetFields and PublicConfig are the allow-listed view of the configuration that non-admins read.
	PublicSetFields func() []string
	PublicConfig    func() map[string]any
	// Patchmatch reports whether the patchmatch infill is available (InvokeAI's patchmatch_status).
	Patchmatch func() bool
	// LogLevel is the server's adjustable log level.
	LogLevel *slog.LevelVar
	// InvocationCache returns the node-output cache (nil when caching is off, size 0) and its configured size.
	// It is looked up on each request: the queue that owns the cache is wired after these routes.
	InvocationCache func() (InvocationCache, int)
}

// InvocationCache is what the /invocation_cache routes operate on.
type InvocationCache interface {
	Clear()
	Stats() (hits, misses, size int)
	SetEnabled(on bool)
	Enabled() bool
}

// InvocationCacheStatus is GET /api/v1/app/invocation_cache/status.
type InvocationCacheStatus struct {
	Size    int  `json:"size" description:"The current size of the invocation cache"`
	Hits    int  `json:"hits" description:"The number of cache hits"`
	Misses  int  `json:"misses" description:"The number of cache misses"`
	Enabled bool `json:"enabled" description:"Whether the invocation cache is enabled"`
	MaxSize int  `json:"max_size" description:"The maximum size of the invocation cache"`
}

// pythonLevel maps slog levels to Python logging numbers, which InvokeAI's /logging speaks.
func pythonLevel(l slog.Level) int {
	switch {
	case l <= slog.LevelDebug:
		return 10
	case l <= slog.LevelInfo:
		return 20
	case l <= slog.LevelWarn:
		return 30
	default:
		return 40
	}
}

func slogLevel(py int) slog.Level {
	switch {
	case py <= 10:
		return slog.LevelDebug
	case py <= 20:
		return slog.LevelInfo
	case py <= 30:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

// AppRoutes are /api/v1/app/*. version and patchmatch_status are public, as in InvokeAI; runtime_config and
// the invocation-cache status need a login, and non-admins read an allow-listed runtime_config; logging and the
// cache operations are admin-only (docs/security.md D1).
func AppRoutes(info AppInfo) []Route {
	const p = "/api/v1/app"
	routes := []Route{
		JSON(Op{Method: http.MethodGet, Path: p + "/version", Summary: "Get Version", Tags: appTags, Policy: access.Public},
			func(c *Call, _ *NoInput) (AppVersion, error) { return AppVersion{Version: info.Version}, nil }),
		JSON(Op{Method: http.MethodGet, Path: p + "/app_deps", Summary: "Get App Deps", Tags: appTags, Policy: access.LoggedIn},
			func(c *Call, _ *NoInput) (map[string]string, error) { return info.Deps, nil }),
		JSON(Op{Method: http.MethodGet, Path: p + "/patchmatch_status", Summary: "Get Patchmatch Status", Tags: appTags, Policy: access.Public},
			func(c *Call, _ *NoInput) (bool, error) { return info.Patchmatch != nil && info.Patchmatch(), nil }),
		JSON(Op{Method: http.MethodGet, Path: p + "/runtime_config", Summary: "Get Runtime Config", Tags: appTags, Policy: access.LoggedIn,
			Description: "Admins read every setting (download tokens redacted); other users read an allow-list of limits and modes, without paths, hosts or secrets."},
			func(c *Call, _ *NoInput) (RuntimeConfig, error) {
				if c.Principal.IsAdmin {
					return RuntimeConfig{SetFields: info.SetFields(), Config: info.Config()}, nil
				}
				return RuntimeConfig{SetFields: info.PublicSetFields(), Config: info.PublicConfig()}, nil
			}),
		JSON(Op{Method: http.MethodGet, Path: p + "/logging", Summary: "Get Log Level", Tags: appTags, Policy: access.Admin},
			func(c *Call, _ *NoInput) (int, error) { return pythonLevel(info.LogLevel.Level()), nil }),
		JSON(Op{Method: http.MethodPost, Path: p + "/logging", Summary: "Set Log Level", Tags: appTags, Policy: access.Admin},
			func(c *Call, in *struct {
				Level int `body:"json" ge:"0" le:"50"`
			}) (int, error) {
				info.LogLevel.Set(slogLevel(in.Level))
				return pythonLevel(info.LogLevel.Level()), nil
			}),
	}
	return append(routes, invocationCacheRoutes(p, info.InvocationCache)...)
}

// invocationCacheRoutes are InvokeAI's invocation-cache operations (docs/compatibility.md §1.11): changes are
// admin-only (docs/security.md D1), the status (counts only) is for every logged-in user, as InvokeAI's UI reads it.
// As in InvokeAI, a cache of size 0 cannot be enabled.
func invocationCacheRoutes(p string, get func() (InvocationCache, int)) []Route {
	if get == nil {
		get = func() (InvocationCache, int) { return nil, 0 }
	}
	return []Route{
		JSON(Op{Method: http.MethodDelete, Path: p + "/invocation_cache", Summary: "Clear Invocation Cache", Tags: appTags, Policy: access.Admin},
			func(c *Call, _ *NoInput) (any, error) {
				if cache, _ := get(); cache != nil {
					cache.Clear()
				}
				return nil, nil
			}),
		JSON(Op{Method: http.MethodPut, Path: p + "/invocation_cache/enable", Summary: "Enable Invocation Cache", Tags: appTags, Policy: access.Admin},
			func(c *Call, _ *NoInput) (any, error) {
				if cache, _ := get(); cache != nil {
					cache.SetEnabled(true)
				}
				return nil, nil
			}),
		JSON(Op{Method: http.MethodPut, Path: p + "/invocation_cache/disable", Summary: "Disable Invocation Cache", Tags: appTags, Policy: access.Admin},
			func(c *Call, _ *NoInput) (any, error) {
				if cache, _ := get(); cache != nil {
					cache.SetEnabled(false)
				}
				return nil, nil
			}),
		JSON(Op{Method: http.MethodGet, Path: p + "/invocation_cache/status", Summary: "Get Invocation Cache Status", Tags: appTags, Policy: access.LoggedIn},
			func(c *Call, _ *NoInput) (InvocationCacheStatus, error) {
				cache, maxSize := get()
				if cache == nil {
					return InvocationCacheStatus{MaxSize: maxSize}, nil
				}
				hits, misses, size := cache.Stats()
				return InvocationCacheStatus{Size: size, Hits: hits, Misses: misses, Enabled: cache.Enabled() && maxSize > 0, MaxSize: maxSize}, nil
			}),
	}
}
