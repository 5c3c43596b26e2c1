package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/invokego/invokego/internal/apperr"
)

func contextWithRequestID(r *http.Request, id string) context.Context {
	return context.WithValue(r.Context(), requestIDKey, id)
}

// WriteJSON writes v with a status.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write(append(b, '\n'))
	return err
}

func unauthorized(detail string) error {
	return apperr.Unauthorized(detail).With("WWW-Authenticate", "Bearer")
}

// writeError renders err as FastAPI does. Client errors carry their detail; anything unexpected is logged and
// answered with a 500 that names the request id, never with internals.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the client went away; nobody is listening
	}
	var ae *apperr.Error
	var se *statusError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		for k, v := range ae.Headers {
			w.Header().Set(k, v)
		}
		if ae.Err != nil || ae.Status >= 500 {
			logger.Warn("request failed", "request_id", RequestID(r), "status", ae.Status, "error", err)
		}
		_ = WriteJSON(w, ae.Status, map[string]any{"detail": ae.Detail})
	case errors.As(err, &se):
		_ = WriteJSON(w, se.status, map[string]any{"detail": se.detail})
	case errors.As(err, &mbe):
		_ = WriteJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"detail": "Request body too large"})
	default:
		id := RequestID(r)
		logger.Error("internal error", "request_id", id, "method", r.Method, "path", r.URL.Path, "error", err)
		_ = WriteJSON(w, http.StatusInternalServerError, map[string]any{"detail": "Internal Server Error", "request_id": id})
	}
}
