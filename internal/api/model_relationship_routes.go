package api

import (
	"net/http"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/models"
)

var modelRelationshipTags = []string{"model_relationships"}

// ModelRelationshipRequest is the body of POST and DELETE /api/v1/model_relationships/.
type ModelRelationshipRequest struct {
	ModelKey1 string `json:"model_key_1" description:"The key of the first model in the relationship"`
	ModelKey2 string `json:"model_key_2" description:"The key of the second model in the relationship"`
}

// ModelRelationshipBatchRequest is the body of POST /api/v1/model_relationships/batch.
type ModelRelationshipBatchRequest struct {
	ModelKeys []string `json:"model_keys" description:"List of model keys to fetch related models for"`
}

// ModelRelationshipRoutes are /api/v1/model_relationships/* (docs/compatibility.md §1.14). Reading relationships needs a login,
// as the other model reads do; changing them is a model-manager write, so admin-only (docs/security.md D1).
func ModelRelationshipRoutes(svc *models.Service) []Route {
	const p = "/api/v1/model_relationships"
	op := func(method, path, summary, id string, policy access.Policy) Op {
		return Op{Method: method, Path: p + path, Summary: summary, ID: id, Tags: modelRelationshipTags, Policy: policy}
	}
	return []Route{
		JSON(op(http.MethodGet, "/i/{model_key}", "Get Related Models", "get_related_models", access.LoggedIn),
			func(c *Call, in *struct {
				ModelKey string `path:"model_key" description:"The key of the model to get relationships for"`
			}) ([]string, error) {
				return svc.RelatedModels(c.Context(), in.ModelKey)
			}),
		Raw(op(http.MethodPost, "/", "Add Model Relationship", "add_model_relationship", access.Admin),
			func(c *Call, in *struct {
				Body ModelRelationshipRequest `body:"json"`
			}) error {
				if err := svc.Relate(c.Context(), in.Body.ModelKey1, in.Body.ModelKey2); err != nil {
					return err
				}
				return noContent(c)
			}),
		Raw(op(http.MethodDelete, "/", "Remove Model Relationship", "remove_model_relationship", access.Admin),
			func(c *Call, in *struct {
				Body ModelRelationshipRequest `body:"json"`
			}) error {
				if err := svc.Unrelate(c.Context(), in.Body.ModelKey1, in.Body.ModelKey2); err != nil {
					return err
				}
				return noContent(c)
			}),
		// A read despite the POST: the keys travel in the body.
		JSON(op(http.MethodPost, "/batch", "Get Related Model Keys (Batch)", "get_related_models_batch", access.LoggedIn),
			func(c *Call, in *struct {
				Body ModelRelationshipBatchRequest `body:"json"`
			}) ([]string, error) {
				return svc.RelatedModelsBatch(c.Context(), in.Body.ModelKeys)
			}),
	}
}
