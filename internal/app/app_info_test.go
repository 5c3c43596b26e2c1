package app_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/config"
	"github.com/invokego/invokego/internal/version"
)

type runtimeConfig struct {
	SetFields []string       `json:"set_fields"`
	Config    map[string]any `json:"config"`
}

// TestAppInfoAsInvokeAIsUIReadsIt: the About and cache panels of InvokeAI's UI read version, runtime_config,
// invocation_cache/status and patchmatch_status as any logged-in user; non-admins get the allow-listed
// configuration only.
func TestAppInfoAsInvokeAIsUIReadsIt(t *testing.T) {
	const secret = "tok-SECRET-value"
	env := apitest.New(t, apitest.Multiuser(), apitest.WithConfig(func(c *config.Config) {
		c.Override("host", func(c *config.Config) { c.Host = "10.1.2.3" })
		c.Override("max_queue_size", func(c *config.Config) { c.MaxQueueSize = 500 })
		c.HFEndpoint = "https://hf-mirror.internal.example"
		c.AllowOrigins = []string{"https://ui.internal.example"}
		c.RemoteAPITokens = []config.RemoteAPIToken{{URLRegex: "civitai", Token: secret}}
	}))
	cast := env.Cast()

	// version: public, semantic.
	var v struct {
		Version string `json:"version"`
	}
	env.Do("GET", "/api/v1/app/version").Expect(http.StatusOK).Decode(&v)
	if v.Version != version.Version || !regexp.MustCompile(`^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`).MatchString(v.Version) {
		t.Fatalf("version %q is not the semantic version %q", v.Version, version.Version)
	}

	// patchmatch_status: public, a bool.
	var pm bool
	if err := json.Unmarshal(env.Do("GET", "/api/v1/app/patchmatch_status").Expect(http.StatusOK).Body, &pm); err != nil {
		t.Fatalf("patchmatch_status: %v", err)
	}
	_, registered := env.App.NodeRegistry().Lookup("infill_patchmatch")
	if pm != registered {
		t.Fatalf("patchmatch_status %v, but infill_patchmatch registered=%v", pm, registered)
	}

	// invocation_cache/status: every logged-in user; the changes stay admin-only.
	for _, u := range []apitest.User{cast.Owner, cast.Admin} {
		st := env.Do("GET", "/api/v1/app/invocation_cache/status", apitest.Token(u.Token)).Expect(http.StatusOK).Map()
		for _, k := range []string{"size", "hits", "misses", "enabled", "max_size"} {
			if _, ok := st[k]; !ok {
				t.Fatalf("invocation_cache/status lacks %q: %v", k, st)
			}
		}
	}
	env.Do("GET", "/api/v1/app/invocation_cache/status").Expect(http.StatusUnauthorized)
	env.Do("DELETE", "/api/v1/app/invocation_cache", apitest.Token(cast.Owner.Token)).Expect(http.StatusForbidden)
	env.Do("PUT", "/api/v1/app/invocation_cache/disable", apitest.Token(cast.Owner.Token)).Expect(http.StatusForbidden)

	// runtime_config: non-admins get exactly the allow-list, nothing that names a path, host or secret.
	var user runtimeConfig
	body := env.Do("GET", "/api/v1/app/runtime_config", apitest.Token(cast.Owner.Token)).Expect(http.StatusOK).Decode(&user).Body
	keys := make([]string, 0, len(user.Config))
	for k := range user.Config {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := config.PublicKeys()
	sort.Strings(want)
	if !slices.Equal(keys, want) {
		t.Fatalf("non-admin runtime_config keys %v, want the allow-list %v", keys, want)
	}
	if user.Config["multiuser"] != true || user.Config["max_queue_size"] != float64(500) || user.Config["max_queue_items_per_user"] != float64(1000) {
		t.Fatalf("non-admin runtime_config values: %v", user.Config)
	}
	for _, leak := range []string{env.Root, "10.1.2.3", "hf-mirror", "ui.internal", secret, "civitai", "outputs", "databases", "REDACTED"} {
		if strings.Contains(string(body), leak) {
			t.Errorf("non-admin runtime_config reveals %q: %s", leak, body)
		}
	}
	for _, f := range user.SetFields {
		if !slices.Contains(want, f) {
			t.Errorf("non-admin set_fields names %q, outside the allow-list", f)
		}
	}
	if !slices.Equal(user.SetFields, []string{"max_queue_size"}) {
		t.Errorf("non-admin set_fields %v, want [max_queue_size] (host was set too, but is not for them)", user.SetFields)
	}

	// Admins read everything, with download tokens redacted.
	var admin runtimeConfig
	body = env.Do("GET", "/api/v1/app/runtime_config", apitest.Token(cast.Admin.Token)).Expect(http.StatusOK).Decode(&admin).Body
	if admin.Config["host"] != "10.1.2.3" || admin.Config["root"] != env.Root || strings.Contains(string(body), secret) || !slices.Contains(admin.SetFields, "host") {
		t.Fatalf("admin runtime_config: %s", body)
	}
	env.Do("GET", "/api/v1/app/runtime_config").Expect(http.StatusUnauthorized)
}

// TestAppInfoSingleUser: without accounts the caller is the built-in admin and sees the full configuration.
func TestAppInfoSingleUser(t *testing.T) {
	env := apitest.New(t)
	var rc runtimeConfig
	env.Do("GET", "/api/v1/app/runtime_config").Expect(http.StatusOK).Decode(&rc)
	if rc.Config["root"] != env.Root {
		t.Fatalf("single-user runtime_config: %v", rc.Config)
	}
	env.Do("GET", "/api/v1/app/invocation_cache/status").Expect(http.StatusOK)
	env.Do("GET", "/api/v1/app/patchmatch_status").Expect(http.StatusOK)
}
