package api_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/config"
)

// Cross-site requests change nothing (docs/security.md "Cross-site requests"). A request that carries no bearer
// token rides on the browser alone: in single-user mode every request does, in multi-user mode login and setup
// do. Such a request that may change something is refused when its Origin (or Sec-Fetch-Site) names another
// site; a bearer token, which no browser sends by itself, is proof enough.

func TestCrossSiteWritesWithoutBearerAreRefused(t *testing.T) {
	env := apitest.New(t, apitest.WithConfig(func(c *config.Config) { c.AllowOrigins = []string{"http://ui.example", "*"} }))
	self := "http://" + strings.TrimPrefix(env.URL, "http://")
	writes := []struct {
		name         string
		method, path string
		body         any
		ok           int
	}{
		{"create board", "POST", "/api/v1/boards/?board_name=x", nil, 201},
		{"enqueue", "POST", queueBase + "/enqueue_batch", map[string]any{"batch": map[string]any{"graph": integerGraph()}}, 200},
		{"pause processor", "PUT", queueBase + "/processor/pause", nil, 200},
		{"clear queue", "PUT", queueBase + "/clear", nil, 200},
		{"client state", "POST", "/api/v1/client_state/default/set_by_key?key=k", "v", 200},
	}
	for _, w := range writes {
		for _, tc := range []struct {
			name    string
			headers map[string]string
			refused bool
		}{
			{"another site", map[string]string{"Origin": "http://evil.example"}, true},
			{"an opaque origin", map[string]string{"Origin": "null"}, true},
			{"a listed origin's neighbour", map[string]string{"Origin": "http://ui.example.evil.example"}, true},
			{"Sec-Fetch-Site only", map[string]string{"Sec-Fetch-Site": "cross-site"}, true},
			{"same-site other port", map[string]string{"Sec-Fetch-Site": "same-site"}, true},
			{"its own pages", map[string]string{"Origin": self, "Sec-Fetch-Site": "same-origin"}, false},
			{"a listed origin", map[string]string{"Origin": "http://ui.example"}, false},
			{"a script (no browser headers)", nil, false},
			{"another site with a bearer token", map[string]string{"Origin": "http://evil.example", "Authorization": "Bearer x"}, false},
		} {
			t.Run(w.name+"/"+tc.name, func(t *testing.T) {
				opts := []apitest.ReqOpt{}
				if w.body != nil {
					opts = append(opts, apitest.JSON(w.body))
				}
				for k, v := range tc.headers {
					opts = append(opts, apitest.Header(k, v))
				}
				res := env.Do(w.method, w.path, opts...)
				if tc.refused {
					if res.Status != 403 || !strings.Contains(res.Detail(), "Cross-site request refused") {
						t.Fatalf("status %d: %s", res.Status, res.Body)
					}
					return
				}
				// single-user mode ignores a bearer header it cannot verify only where the route allows it
				if res.Status == 403 && strings.Contains(res.Detail(), "Cross-site") {
					t.Fatalf("refused: %s", res.Body)
				}
			})
		}
	}
	// Reads are never refused: another site cannot read the answer without CORS anyway.
	env.Do("GET", "/api/v1/boards/?all=true", apitest.Header("Origin", "http://evil.example")).Expect(200)
	env.Do("PUT", queueBase+"/processor/resume").Expect(200)
}

// Login and setup take JSON only: a page on another site can post a form (text/plain, urlencoded, multipart)
// without asking, and would sign the victim's browser into the attacker's account.
func TestLoginAndSetupTakeOnlyJSON(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	creds := `{"email":"admin@example.com","password":"` + apitest.DefaultPassword + `","display_name":"A"}`
	for _, ct := range []string{"text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""} {
		res := env.Do("POST", "/api/v1/auth/setup", apitest.RawBody(ct, []byte(creds)))
		if res.Status == 200 {
			t.Fatalf("setup accepted %q", ct)
		}
	}
	admin := env.SetupAdmin()
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""} {
		res := env.Do("POST", "/api/v1/auth/login", apitest.RawBody(ct, []byte(creds)))
		if res.Status == 200 || bytes.Contains(res.Body, []byte("token")) {
			t.Fatalf("login accepted %q: %d", ct, res.Status)
		}
	}
	// Even as JSON, a login from another site is refused: it carries no bearer token.
	env.Do("POST", "/api/v1/auth/login", apitest.JSON(map[string]any{"email": admin.Email, "password": admin.Password}),
		apitest.Header("Origin", "http://evil.example")).Expect(403)
	env.Do("POST", "/api/v1/auth/login", apitest.JSON(map[string]any{"email": admin.Email, "password": admin.Password})).Expect(200)
}

// allow_origins: ["*"] lets any site read without credentials; it never echoes an arbitrary origin (nor
// "null") together with Access-Control-Allow-Credentials. Listed origins get credentials.
func TestCORSNeverLendsCredentialsToAnyOrigin(t *testing.T) {
	env := apitest.New(t, apitest.WithConfig(func(c *config.Config) {
		c.AllowOrigins = []string{"*", "http://ui.example"}
		c.AllowCredentials = true
	}))
	for _, method := range []string{"GET", "OPTIONS"} {
		for origin, want := range map[string][2]string{
			"http://evil.example": {"*", ""},
			"null":                {"", ""},
			"http://ui.example":   {"http://ui.example", "true"},
		} {
			opts := []apitest.ReqOpt{apitest.Header("Origin", origin)}
			if method == "OPTIONS" {
				opts = append(opts, apitest.Header("Access-Control-Request-Method", "POST"))
			}
			res := env.Do(method, "/api/v1/app/version", opts...)
			if got := [2]string{res.Header.Get("Access-Control-Allow-Origin"), res.Header.Get("Access-Control-Allow-Credentials")}; got != want {
				t.Errorf("%s with Origin %s: allow-origin %q, credentials %q; want %q", method, origin, got[0], got[1], want)
			}
		}
	}
}

// A GET changes nothing: the Hugging Face install link asks to confirm, and the confirmation (a POST from the
// page itself) installs.
func TestInstallFromHubLinkIsConfirmedByPost(t *testing.T) {
	hub := newFakeHub(t, "tester/pipe", t.TempDir())
	env := apitest.New(t, apitest.WithConfig(func(c *config.Config) { c.HFEndpoint = hub.URL }))
	page := env.Do("GET", "/api/v2/models/install/huggingface?source=tester/pipe").Expect(200)
	if !strings.Contains(string(page.Body), `<form method="post"`) {
		t.Fatalf("page %s", page.Body)
	}
	var jobs []map[string]any
	env.Do("GET", "/api/v2/models/install").Expect(200).Decode(&jobs)
	if len(jobs) != 0 {
		t.Fatalf("a GET started %d install(s)", len(jobs))
	}
	// An <img> or link on another site cannot confirm: the POST is cross-site.
	env.Do("POST", "/api/v2/models/install/huggingface?source=tester/pipe", apitest.Header("Origin", "http://evil.example")).Expect(403)
	self := "http://" + strings.TrimPrefix(env.URL, "http://")
	env.Do("POST", "/api/v2/models/install/huggingface?source=tester/pipe", apitest.Header("Origin", self)).Expect(201)
	env.Do("GET", "/api/v2/models/install").Expect(200).Decode(&jobs)
	if len(jobs) != 1 {
		t.Fatalf("%d jobs after the confirmation", len(jobs))
	}
}

// The login throttle counts failures per email and source together: failing from one address does not lock
// the account for another, and the command line can always sign an admin in.
func TestLoginThrottleIsPerSource(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	admin := env.SetupAdmin()
	ctx := context.Background()
	for i := 0; i < 6; i++ {
		if _, err := env.App.Auth.Login(ctx, admin.Email, "wrong", false, "203.0.113.7"); err == nil {
			t.Fatal("a wrong password logged in")
		}
	}
	if _, err := env.App.Auth.Login(ctx, admin.Email, admin.Password, false, "203.0.113.7"); err == nil {
		t.Fatal("the throttled source logged in")
	}
	if _, err := env.App.Auth.Login(ctx, admin.Email, admin.Password, false, "198.51.100.1"); err != nil {
		t.Fatalf("another source was locked out: %v", err)
	}
	res, err := env.App.Auth.IssueTokenFor(ctx, admin.Email, false)
	if err != nil {
		t.Fatal(err)
	}
	env.Do("GET", "/api/v1/auth/me", apitest.Token(res.Token)).Expect(http.StatusOK)
}
