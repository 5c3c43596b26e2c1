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
	Version   string
	Deps      map[string]string
	SetFields func() []string
	Config    func() map[string]any
	// LogLevel is the server's adjustable log level.
	LogLevel *slog.LevelVar
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

// AppRoutes are /api/v1/app/* (version is public; runtime config is admin-only, DECISIONS 1).
func AppRoutes(info AppInfo) []Route {
	const p = "/api/v1/app"
	return []Route{
		JSON(Op{Method: http.MethodGet, Path: p + "/version", Summary: "Get Version", Tags: appTags, Policy: access.Public},
			func(c *Call, _ *NoInput) (AppVersion, error) { return AppVersion{Version: info.Version}, nil }),
		JSON(Op{Method: http.MethodGet, Path: p + "/app_deps", Summary: "Get App Deps", Tags: appTags, Policy: access.LoggedIn},
			func(c *Call, _ *NoInput) (map[string]string, error) { return info.Deps, nil }),
		JSON(Op{Method: http.MethodGet, Path: p + "/patchmatch_status", Summary: "Get Patchmatch Status", Tags: appTags, Policy: access.LoggedIn},
			func(c *Call, _ *NoInput) (bool, error) { return false, nil }),
		JSON(Op{Method: http.MethodGet, Path: p + "/runtime_config", Summary: "Get Runtime Config", Tags: appTags, Policy: access.Admin},
			func(c *Call, _ *NoInput) (RuntimeConfig, error) {
				return RuntimeConfig{SetFields: info.SetFields(), Config: info.Config()}, nil
			}),
		JSON(Op{Method: http.MethodGet, Path: p + "/logging", Summary: "Get Log Level", Tags: appTags, Policy: access.Admin},
			func(c *Call, _ *NoInput) (int, error) { return pythonLevel(info.LogLevel.Level()), nil }),
		JSON(Op{Method: http.MethodPost, Path: p + "/logging", Summary: "Set Log Level", Tags: appTags, Policy: access.Admin},
			func(c *Call, in *struct {
				Level int `body:"json" min:"0" max:"50"`
			}) (int, error) {
				info.LogLevel.Set(slogLevel(in.Level))
				return pythonLevel(info.LogLevel.Level()), nil
			}),
	}
}
