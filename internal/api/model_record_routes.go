package api

import (
	"fmt"
	"net/http"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/models"
)

// ModelList is GET /api/v2/models/.
type ModelList struct {
	Models []*models.Config `json:"models"`
}

// KeysBody is the body of the bulk routes.
type KeysBody struct {
	Keys []string `json:"keys"`
}

// BulkDeleteResult is POST /i/bulk_delete.
type BulkDeleteResult struct {
	Deleted []string             `json:"deleted"`
	Failed  []models.BulkFailure `json:"failed"`
}

// BulkReidentifyResult is POST /i/bulk_reidentify.
type BulkReidentifyResult struct {
	Succeeded []string             `json:"succeeded"`
	Failed    []models.BulkFailure `json:"failed"`
}

// modelRecordRoutes read, change and remove model records.
func modelRecordRoutes(d ModelDeps) []Route {
	svc := d.Models
	return []Route{
		JSON(modelOp(http.MethodGet, "/", "List Model Records", access.LoggedIn),
			func(c *Call, in *struct {
				BaseModels  []models.BaseModelType `query:"base_models" description:"Base models to include"`
				ModelType   models.ModelType       `query:"model_type" description:"The type of model to get"`
				ModelName   string                 `query:"model_name" description:"Exact match on the name of the model"`
				ModelFormat models.ModelFormat     `query:"model_format" description:"Exact match on the format of the model (e.g. 'diffusers')"`
			}) (ModelList, error) {
				list, err := svc.List(c.Context(), models.Filter{Bases: models.Strs(in.BaseModels), Type: string(in.ModelType), Name: in.ModelName, Format: string(in.ModelFormat)})
				if list == nil {
					list = []*models.Config{}
				}
				return ModelList{Models: modelsFor(c.Principal, list)}, err
			}),
		JSON(modelOp(http.MethodGet, "/missing", "List Missing Models", access.LoggedIn),
			func(c *Call, _ *NoInput) (ModelList, error) {
				list, err := svc.Missing(c.Context())
				return ModelList{Models: modelsFor(c.Principal, list)}, err
			}),
		JSON(modelOp(http.MethodGet, "/get_by_attrs", "Get Model Records By Attrs", access.LoggedIn),
			func(c *Call, in *struct {
				Name string               `query:"name" required:"true" description:"The name of the model"`
				Type models.ModelType     `query:"type" required:"true" description:"The type of the model"`
				Base models.BaseModelType `query:"base" required:"true" description:"The base model of the model"`
			}) (*models.Config, error) {
				return modelFor(c.Principal)(svc.ByAttrs(c.Context(), in.Name, string(in.Type), string(in.Base)))
			}),
		JSON(modelOp(http.MethodGet, "/get_by_hash", "Get Model Records By Hash", access.LoggedIn),
			func(c *Call, in *struct {
				Hash string `query:"hash" required:"true"`
			}) (*models.Config, error) {
				return modelFor(c.Principal)(svc.ByHash(c.Context(), in.Hash))
			}),
		JSON(modelOp(http.MethodGet, "/i/{key}", "Get Model Record", access.LoggedIn),
			func(c *Call, in *modelKey) (*models.Config, error) {
				return modelFor(c.Principal)(svc.Get(c.Context(), in.Key))
			}),
		JSON(modelOp(http.MethodPatch, "/i/{key}", "Update Model Record", access.Admin),
			func(c *Call, in *struct {
				Key     string         `path:"key"`
				Changes models.Changes `body:"json"`
			}) (*models.Config, error) {
				return svc.Update(c.Context(), in.Key, in.Changes)
			}),
		Raw(modelOp(http.MethodDelete, "/i/{key}", "Delete Model", access.Admin),
			func(c *Call, in *modelKey) error {
				if err := svc.Delete(c.Context(), in.Key); err != nil {
					return err
				}
				return noContent(c)
			}),
		JSON(modelOp(http.MethodPost, "/i/{key}/reidentify", "Reidentify Model", access.Admin),
			func(c *Call, in *modelKey) (*models.Config, error) { return svc.Reidentify(c.Context(), in.Key) }),
		JSON(modelOp(http.MethodPost, "/i/bulk_delete", "Bulk Delete Models", access.Admin),
			func(c *Call, in *struct {
				Body KeysBody `body:"json"`
			}) (BulkDeleteResult, error) {
				out := BulkDeleteResult{Deleted: []string{}, Failed: []models.BulkFailure{}}
				for _, k := range in.Body.Keys {
					if err := svc.Delete(c.Context(), k); err != nil {
						out.Failed = append(out.Failed, failure(k, err))
						continue
					}
					out.Deleted = append(out.Deleted, k)
				}
				return out, nil
			}),
		JSON(modelOp(http.MethodPost, "/i/bulk_reidentify", "Bulk Reidentify Models", access.Admin),
			func(c *Call, in *struct {
				Body KeysBody `body:"json"`
			}) (BulkReidentifyResult, error) {
				out := BulkReidentifyResult{Succeeded: []string{}, Failed: []models.BulkFailure{}}
				for _, k := range in.Body.Keys {
					if _, err := svc.Reidentify(c.Context(), k); err != nil {
						out.Failed = append(out.Failed, failure(k, err))
						continue
					}
					out.Succeeded = append(out.Succeeded, k)
				}
				return out, nil
			}),
		JSON(modelOp(http.MethodPut, "/convert/{key}", "Convert Model", access.Admin),
			func(c *Call, in *modelKey) (*models.Config, error) {
				cfg, err := svc.Get(c.Context(), in.Key)
				if err != nil {
					return nil, err
				}
				if cfg.Format != models.FormatCheckpoint || cfg.Type != models.TypeMain {
					return nil, apperr.BadRequest(fmt.Sprintf("The model with key %s is not a main checkpoint model.", in.Key))
				}
				return nil, apperr.Conflict("Conversion to diffusers is not needed: invokego runs single-file checkpoints directly")
			}),
	}
}
