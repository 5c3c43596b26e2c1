package models

import (
	"context"
	"errors"

	"github.com/invokego/invokego/internal/store"
)

// Hugging Face token statuses, as InvokeAI's HFTokenStatus.
const (
	TokenValid   = "valid"
	TokenInvalid = "invalid"
	TokenUnknown = "unknown"
)

const hfTokenSetting = "hf_token"

// TokenChecker asks the hub whether a token is accepted.
type TokenChecker func(ctx context.Context, token string) (bool, error)

// HFToken returns the stored Hugging Face token ("" when none). It is never sent to clients.
func (s *Service) HFToken(ctx context.Context) (string, error) {
	v, err := s.db.Setting(ctx, hfTokenSetting)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	return v, err
}

// HFTokenStatus checks the stored token with the hub: invalid when there is none or the hub refuses it,
// unknown when the hub cannot be asked.
func (s *Service) HFTokenStatus(ctx context.Context, check TokenChecker) (string, error) {
	tok, err := s.HFToken(ctx)
	if err != nil {
		return "", err
	}
	if tok == "" {
		return TokenInvalid, nil
	}
	return statusOf(check(ctx, tok)), nil
}

func statusOf(ok bool, err error) string {
	switch {
	case err != nil:
		return TokenUnknown
	case ok:
		return TokenValid
	}
	return TokenInvalid
}

// SetHFToken stores a token the hub accepts (or that cannot be checked right now) and reports its status.
// A refused token is not stored.
func (s *Service) SetHFToken(ctx context.Context, token string, check TokenChecker) (string, error) {
	status := TokenInvalid
	if token != "" {
		status = statusOf(check(ctx, token))
	}
	if status == TokenInvalid {
		return status, nil
	}
	if err := s.db.SetModelSetting(ctx, hfTokenSetting, token); err != nil {
		return "", err
	}
	return status, nil
}

// ClearHFToken forgets the token.
func (s *Service) ClearHFToken(ctx context.Context) (string, error) {
	if err := s.db.DeleteModelSetting(ctx, hfTokenSetting); err != nil {
		return "", err
	}
	return TokenInvalid, nil
}
