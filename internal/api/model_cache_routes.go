package api

import (
	"net/http"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/models/cache"
)

// modelCacheRoutes report on and empty the model cache.
func modelCacheRoutes(d ModelDeps) []Route {
	return []Route{
		JSON(modelOp(http.MethodGet, "/stats", "Get Model Manager Cache Stats", access.Admin),
			func(c *Call, _ *NoInput) (cache.Stats, error) { return d.Cache.Stats(), nil }),
		JSON(modelOp(http.MethodPost, "/empty_model_cache", "Empty Model Cache", access.Admin),
			func(c *Call, _ *NoInput) (any, error) { d.Cache.Clear(); return nil, nil }),
	}
}
