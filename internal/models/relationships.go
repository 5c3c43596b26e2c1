package models

import (
	"context"
	"fmt"

	"github.com/invokego/invokego/internal/apperr"
)

// Model relationships (docs/compatibility.md §1.14) link models that belong together, such as a main model and the LoRAs or VAE
// made for it. A link has no direction; the database keeps each pair once and drops it with either model.

// requireModels answers 404 for the first key that names no model.
func (s *Service) requireModels(ctx context.Context, keys ...string) error {
	found, err := s.db.ModelsExist(ctx, keys)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if !found[k] {
			return apperr.NotFound(fmt.Sprintf("Unknown model: %s", k))
		}
	}
	return nil
}

// RelatedModels returns the keys of the models related to one model, sorted.
func (s *Service) RelatedModels(ctx context.Context, key string) ([]string, error) {
	if err := s.requireModels(ctx, key); err != nil {
		return nil, err
	}
	return s.db.RelatedModelKeys(ctx, []string{key})
}

// RelatedModelsBatch returns the keys of the models related to any of the given models, each once, sorted.
// Keys that name no model contribute nothing, as in InvokeAI: a client asking about its current selection
// should not fail because one of the models was just deleted.
func (s *Service) RelatedModelsBatch(ctx context.Context, keys []string) ([]string, error) {
	return s.db.RelatedModelKeys(ctx, keys)
}

// Relate links two models; linking them again changes nothing.
func (s *Service) Relate(ctx context.Context, keyA, keyB string) error {
	if keyA == keyB {
		return apperr.BadRequest("Cannot relate a model to itself.")
	}
	if err := s.requireModels(ctx, keyA, keyB); err != nil {
		return err
	}
	return s.db.AddModelRelationship(ctx, keyA, keyB)
}

// Unrelate removes the link between two models; models that were not linked stay so.
func (s *Service) Unrelate(ctx context.Context, keyA, keyB string) error {
	if keyA == keyB {
		return apperr.BadRequest("Cannot unlink a model from itself.")
	}
	if err := s.requireModels(ctx, keyA, keyB); err != nil {
		return err
	}
	return s.db.RemoveModelRelationship(ctx, keyA, keyB)
}
