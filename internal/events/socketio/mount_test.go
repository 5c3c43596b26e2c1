package socketio_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/api"
	"github.com/invokego/invokego/internal/auth"
)

// routerAuth adapts fakeAuth to the router's Authenticator.
type routerAuth struct{ fakeAuth }

func (routerAuth) Refresh(context.Context, string) (string, error) { return "", auth.ErrInvalidToken }

// TestRouterMount covers the router hook this package is served through: policies are enforced, and
// registration refuses mounts without a policy, malformed prefixes and unexplained public mounts.
func TestRouterMount(t *testing.T) {
	rt := api.NewRouter(routerAuth{fakeAuth{"alice-token": alice}}, true, slog.New(slog.NewTextHandler(io.Discard, nil)), api.CORS{})
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "reached") })
	rt.Mount(api.Mount{Prefix: "/raw/open/", Policy: access.Public, Handler: ok, Reason: "authenticates by itself"})
	rt.Mount(api.Mount{Prefix: "/raw/closed/", Policy: access.LoggedIn, Handler: ok})
	hs := httptest.NewServer(rt)
	defer hs.Close()
	get := func(path, token string) int {
		req, _ := http.NewRequest(http.MethodGet, hs.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := get("/raw/open/x?y=1", ""); got != 200 {
		t.Errorf("public mount: %d", got)
	}
	if got := get("/raw/closed/x", ""); got != 401 {
		t.Errorf("logged-in mount, anonymous: %d", got)
	}
	if got := get("/raw/closed/x", "alice-token"); got != 200 {
		t.Errorf("logged-in mount, with token: %d", got)
	}
	if len(rt.Mounts()) != 2 || len(rt.Routes()) != 0 {
		t.Errorf("mounts %d, routes %d", len(rt.Mounts()), len(rt.Routes()))
	}
	for name, m := range map[string]api.Mount{
		"no policy":         {Prefix: "/a/", Handler: ok},
		"no trailing slash": {Prefix: "/a", Policy: access.LoggedIn, Handler: ok},
		"public, no reason": {Prefix: "/b/", Policy: access.Public, Handler: ok},
		"duplicate":         {Prefix: "/raw/open/", Policy: access.LoggedIn, Handler: ok},
		"no handler":        {Prefix: "/c/", Policy: access.LoggedIn},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: registered", name)
				}
			}()
			rt.Mount(m)
		}()
	}
}
