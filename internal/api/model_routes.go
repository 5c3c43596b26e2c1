package api

import (
	"fmt"
	"net/http"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/models"
	"github.com/invokego/invokego/internal/models/cache"
	"github.com/invokego/invokego/internal/models/download"
	"github.com/invokego/invokego/internal/models/install"
)

var modelTags = []string{"model_manager"}

// ModelDeps are the services behind the model manager routes.
type ModelDeps struct {
	Models    *models.Service
	Installer *install.Installer
	Cache     *cache.Cache
	Hub       *download.HFClient
}

// modelsPath is the prefix of the model manager's routes.
const modelsPath = "/api/v2/models"

// ModelRoutes are /api/v2/models/* (docs/compatibility.md §1.9). Reads need a login, cover images the media rule, and every
// change, job, sync, scan, hub, starter, stats and token route an admin (docs/security.md D1).
//
// One file per concern: records (model_record_routes.go), cover images (model_image_routes.go), installs and
// the models folder (model_install_routes.go), Hugging Face (model_hub_routes.go), the model cache
// (model_cache_routes.go).
func ModelRoutes(d ModelDeps) []Route {
	var routes []Route
	for _, group := range [][]Route{modelRecordRoutes(d), modelImageRoutes(d), modelInstallRoutes(d), modelHubRoutes(d), modelCacheRoutes(d)} {
		routes = append(routes, group...)
	}
	return routes
}

// modelOp is an Op of the model manager.
func modelOp(method, path, summary string, policy access.Policy) Op {
	return Op{Method: method, Path: modelsPath + path, Summary: summary, Tags: modelTags, Policy: policy}
}

// withStatus sets an Op's success status.
func withStatus(o Op, status int) Op { o.Status = status; return o }

type modelKey struct {
	Key string `path:"key"`
}

type jobID struct {
	ID int64 `path:"id"`
}

func noContent(c *Call) error {
	c.W.WriteHeader(http.StatusNoContent)
	return nil
}

func failure(key string, err error) models.BulkFailure {
	msg := err.Error()
	if ae, ok := apperr.As(err); ok {
		msg = fmt.Sprint(ae.Detail)
	}
	return models.BulkFailure{Key: key, Error: msg}
}

// modelFor shows a record to its caller: in full to admins, without its source and server paths to everyone
// else (docs/security.md "Model sources and paths").
func modelFor(p access.Principal) func(*models.Config, error) (*models.Config, error) {
	return func(c *models.Config, err error) (*models.Config, error) {
		if err != nil || p.IsAdmin {
			return c, err
		}
		return c.ForNonAdmin(), nil
	}
}

// modelsFor is modelFor over a list.
func modelsFor(p access.Principal, list []*models.Config) []*models.Config {
	if p.IsAdmin {
		return list
	}
	out := make([]*models.Config, len(list))
	for i, c := range list {
		out[i] = c.ForNonAdmin()
	}
	return out
}
