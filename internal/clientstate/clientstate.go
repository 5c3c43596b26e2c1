// Package clientstate is the web UI's per-user key/value store (InvokeAI's client_state routes). It has nothing
// to do with the queue but the queue id in its routes, which is ignored.
package clientstate

import (
	"context"
	"errors"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/store"
)

// Service reads and writes the caller's own keys; nobody reads or changes another user's.
type Service struct {
	DB *store.DB
}

// Get returns the caller's value, or nil if unset.
func (c *Service) Get(ctx context.Context, p access.Principal, key string) (*string, error) {
	v, err := c.DB.ClientStateValue(ctx, p.UserID, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, apperr.New(500, "Error getting client state").Wrap(err)
	}
	return &v, nil
}

// maxValue bounds one stored value.
const maxValue = 8 << 20

// Set upserts the caller's value and echoes it.
func (c *Service) Set(ctx context.Context, p access.Principal, key, value string) (string, error) {
	if len(value) > maxValue {
		return "", apperr.TooLarge("Client state value too large")
	}
	if err := c.DB.SetClientStateValues(ctx, p.UserID, map[string]string{key: value}); err != nil {
		return "", apperr.New(500, "Error setting client state").Wrap(err)
	}
	return value, nil
}

// DeleteAll removes every key of the caller.
func (c *Service) DeleteAll(ctx context.Context, p access.Principal) error {
	if err := c.DB.DeleteClientState(ctx, p.UserID); err != nil {
		return apperr.New(500, "Error deleting client state").Wrap(err)
	}
	return nil
}
