// Package access is the one place that decides who may read or change what. Handlers and services ask it;
// they never compare owners or roles themselves. Every rule has two forms where listings need it: a check on
// one resource, and a SQL filter so that a page of results never contains what the caller may not see.
//
// In single-user mode the caller is the synthetic admin "system", so every check passes (docs/security.md D16).
package access

import (
	"strings"

	"github.com/invokego/invokego/internal/apperr"
)

// SystemUserID is the owner of everything in single-user mode.
const SystemUserID = "system"

// Principal is the caller of a request, resolved from the database on every request (docs/security.md D3).
type Principal struct {
	UserID      string
	Email       string
	DisplayName string
	IsAdmin     bool
	// Authenticated is false only for anonymous callers in multi-user mode.
	Authenticated bool
}

// System is the caller in single-user mode.
func System() Principal {
	return Principal{UserID: SystemUserID, Email: "system@system.invokeai", DisplayName: "System", IsAdmin: true, Authenticated: true}
}

// Anonymous is a caller without valid credentials.
func Anonymous() Principal { return Principal{} }

// Owns reports whether the principal owns a resource with the given owner id.
func (p Principal) Owns(ownerID string) bool {
	return p.Authenticated && p.UserID != "" && p.UserID == ownerID
}

// forbidden is a refusal with InvokeAI's 403 message.
func forbidden(detail string) error { return apperr.Forbidden(detail) }

// RequireAdmin refuses non-admins.
func RequireAdmin(p Principal) error {
	if p.IsAdmin {
		return nil
	}
	return forbidden("Admin privileges required")
}

// Filter is a SQL boolean expression with its arguments, to be ANDed into a WHERE clause. It is the one
// filter type of the project: the store takes it as it is.
type Filter struct {
	SQL  string
	Args []any
	// ReadsBoard says the expression reads the image's board (a LEFT JOINed boards table), which a query over
	// images alone must then join.
	ReadsBoard bool
}

// All is the filter that keeps every row.
var All = Filter{SQL: "1=1"}

// KeepsAll reports whether f keeps every row: the empty filter or All.
func (f Filter) KeepsAll() bool { return f.SQL == "" || f.SQL == All.SQL }

// And combines filters.
func And(fs ...Filter) Filter {
	var parts []string
	var args []any
	board := false
	for _, f := range fs {
		if f.KeepsAll() {
			continue
		}
		parts = append(parts, "("+f.SQL+")")
		args = append(args, f.Args...)
		board = board || f.ReadsBoard
	}
	if len(parts) == 0 {
		return All
	}
	return Filter{SQL: strings.Join(parts, " AND "), Args: args, ReadsBoard: board}
}

// OwnedBy keeps rows whose owner column is the caller's, unless the caller is an admin.
func OwnedBy(p Principal, ownerColumn string) Filter {
	if p.IsAdmin {
		return All
	}
	return Filter{SQL: ownerColumn + " = ?", Args: []any{p.UserID}}
}

// OwnedByCaller keeps only the caller's own rows, admins included.
func OwnedByCaller(p Principal, ownerColumn string) Filter {
	return Filter{SQL: ownerColumn + " = ?", Args: []any{p.UserID}}
}
