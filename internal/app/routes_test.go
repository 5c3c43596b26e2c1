package app_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
)

// publicRoutes is the allow-list of docs/security.md D1: the only routes anonymous callers reach in multi-user mode.
var publicRoutes = map[string]bool{
	"GET /api/v1/auth/status": true,
	"POST /api/v1/auth/login": true,
	"POST /api/v1/auth/setup": true,
	"GET /api/v1/app/version": true,
	// A bool saying whether an infill method is available; InvokeAI serves it without a login.
	"GET /api/v1/app/patchmatch_status": true,
	"GET /openapi.json":                 true,
	"GET /docs":                         true,
}

var pathParam = regexp.MustCompile(`\{[^}]+\}`)

// concrete fills every path parameter with a value that names nothing.
func concrete(path string) string {
	return pathParam.ReplaceAllStringFunc(path, func(p string) string {
		switch {
		case strings.Contains(p, "item_id"), strings.Contains(p, "id}") && strings.Contains(path, "/queue/"):
			return "999999"
		default:
			return "does-not-exist"
		}
	})
}

// TestEveryRouteDeniesAnonymous walks all registered routes, including those later features add, as an
// anonymous caller in multi-user mode: each must answer 401 unless it is on the public allow-list.
func TestEveryRouteDeniesAnonymous(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	env.SetupAdmin()
	routes := env.App.Router.Routes()
	if len(routes) < 15 {
		t.Fatalf("only %d routes registered", len(routes))
	}
	for _, r := range routes {
		key := r.Method + " " + r.Path
		isPublic := r.Policy.Name() == "public"
		if isPublic != publicRoutes[key] {
			t.Errorf("%s: policy %q, but the allow-list says public=%v", key, r.Policy.Name(), publicRoutes[key])
			continue
		}
		if isPublic {
			continue
		}
		res := env.Do(r.Method, concrete(r.Path), apitest.RawBody("application/json", []byte("{}")))
		if res.Status != 401 {
			t.Errorf("%s as anonymous: status %d, want 401 (%s)", key, res.Status, res.Body)
		}
		// A bogus token is no better than none.
		res = env.Do(r.Method, concrete(r.Path), apitest.Token("bogus.token.value"), apitest.RawBody("application/json", []byte("{}")))
		if res.Status != 401 {
			t.Errorf("%s with a bogus token: status %d, want 401", key, res.Status)
		}
	}
}

// TestEveryRouteByRole walks all routes as owner, other user and admin with parameters that name nothing:
// admin-only routes refuse non-admins with 403, and no route answers with a server error for any role.
func TestEveryRouteByRole(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	roles := []apitest.User{cast.Owner, cast.Other, cast.Admin}
	for _, r := range env.App.Router.Routes() {
		key := r.Method + " " + r.Path
		for _, u := range roles {
			// A fresh token per request: some routes (logout, password change) revoke the one they are called with.
			tok := env.Login(u.Email, u.Password)
			res := env.Do(r.Method, concrete(r.Path), apitest.Token(tok), apitest.RawBody("application/json", []byte("{}")))
			if res.Status >= 500 {
				t.Errorf("%s as %s: status %d (%s)", key, u.Email, res.Status, res.Body)
			}
			if r.Policy.NeedsAdmin() && !u.IsAdmin && res.Status != 403 {
				t.Errorf("%s as non-admin %s: status %d, want 403", key, u.Email, res.Status)
			}
			if res.Status == 401 {
				t.Errorf("%s as %s: 401 with a valid token", key, u.Email)
			}
		}
	}
}

// TestSingleUserNeedsNoLogin checks that single-user mode stays as easy as InvokeAI's (docs/security.md D16).
func TestSingleUserNeedsNoLogin(t *testing.T) {
	env := apitest.New(t)
	for _, r := range env.App.Router.Routes() {
		if r.Policy.NeedsToken() || r.Method != "GET" {
			continue
		}
		res := env.Do(r.Method, concrete(r.Path))
		if res.Status == 401 || res.Status == 403 || res.Status >= 500 {
			t.Errorf("GET %s in single-user mode: status %d", r.Path, res.Status)
		}
	}
}
