// Package apperr is the error type services return when a failure has a meaning for the client: an HTTP
// status and InvokeAI's detail message. The api package renders it as FastAPI does: {"detail": ...}.
package apperr

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Error is a client-facing failure.
type Error struct {
	Status int
	// Detail is a string, or for 422 a list of validation items.
	Detail any
	// Headers are added to the response (Retry-After, WWW-Authenticate).
	Headers map[string]string
	// Err is the underlying cause, logged but never sent.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%d %v: %v", e.Status, e.Detail, e.Err)
	}
	return fmt.Sprintf("%d %v", e.Status, e.Detail)
}

func (e *Error) Unwrap() error { return e.Err }

// New builds an error with a status and message.
func New(status int, detail string) *Error { return &Error{Status: status, Detail: detail} }

// BadRequest is 400.
func BadRequest(detail string) *Error { return New(http.StatusBadRequest, detail) }

// Unauthorized is 401.
func Unauthorized(detail string) *Error { return New(http.StatusUnauthorized, detail) }

// Forbidden is 403.
func Forbidden(detail string) *Error { return New(http.StatusForbidden, detail) }

// NotFound is 404.
func NotFound(detail string) *Error { return New(http.StatusNotFound, detail) }

// Conflict is 409.
func Conflict(detail string) *Error { return New(http.StatusConflict, detail) }

// UnsupportedMedia is 415.
func UnsupportedMedia(detail string) *Error { return New(http.StatusUnsupportedMediaType, detail) }

// TooLarge is 413.
func TooLarge(detail string) *Error { return New(http.StatusRequestEntityTooLarge, detail) }

// TooMany is 429.
func TooMany(detail string) *Error { return New(http.StatusTooManyRequests, detail) }

// ValidationItem is one entry of a 422 detail list, in pydantic's shape.
type ValidationItem struct {
	Type  string `json:"type"`
	Loc   []any  `json:"loc"`
	Msg   string `json:"msg"`
	Input any    `json:"input"`
	// Ctx carries the rule that failed (pydantic's ctx, e.g. {"ge": 64}); absent when there is none.
	Ctx map[string]any `json:"ctx,omitempty"`
}

// Invalid is a 422 with pydantic-style items.
func Invalid(items ...ValidationItem) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Detail: items}
}

// InvalidField is a 422 for a single field at loc.
func InvalidField(msg string, input any, loc ...any) *Error {
	return Invalid(ValidationItem{Type: "value_error", Loc: loc, Msg: msg, Input: input})
}

// With attaches a header.
func (e *Error) With(key, value string) *Error {
	if e.Headers == nil {
		e.Headers = map[string]string{}
	}
	e.Headers[key] = value
	return e
}

// Wrap attaches an underlying cause.
func (e *Error) Wrap(err error) *Error { e.Err = err; return e }

// As extracts an *Error from err.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// StatusOf returns the status of an *Error in err's chain, or 500.
func StatusOf(err error) int {
	if e, ok := As(err); ok {
		return e.Status
	}
	return http.StatusInternalServerError
}

// Choices words a list of allowed values as pydantic's messages do: 'a', 'b' or 'c'.
func Choices(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = "'" + v + "'"
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}
