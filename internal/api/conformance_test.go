package api_test

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/models"
)

// docs/compatibility.md §0/§3: UserDTO timestamps are pydantic's naive ISO datetimes, "2026-04-13T23:27:20.123000" (no zone).
var naiveISO = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}$`)

func TestUserDTOShapeAndTimestamps(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	check := func(where string, u map[string]any) {
		t.Helper()
		for _, k := range []string{"user_id", "email", "display_name", "is_admin", "is_active", "created_at", "updated_at", "last_login_at"} {
			if _, ok := u[k]; !ok {
				t.Fatalf("%s: UserDTO lacks %q: %v", where, k, u)
			}
		}
		if len(u) != 8 {
			t.Fatalf("%s: UserDTO has extra fields: %v", where, u)
		}
		for _, k := range []string{"created_at", "updated_at"} {
			if s, _ := u[k].(string); !naiveISO.MatchString(s) {
				t.Fatalf("%s: %s = %q, want YYYY-MM-DDTHH:MM:SS.ffffff", where, k, u[k])
			}
		}
	}
	check("me", env.Do("GET", "/api/v1/auth/me", apitest.Token(cast.Owner.Token)).Expect(200).Map())
	check("get user", env.Do("GET", "/api/v1/auth/users/"+cast.Other.ID, apitest.Token(cast.Admin.Token)).Expect(200).Map())
	check("patch user", env.Do("PATCH", "/api/v1/auth/users/"+cast.Other.ID, apitest.Token(cast.Admin.Token),
		apitest.JSON(map[string]any{"display_name": "Renamed"})).Expect(200).Map())
	var list []map[string]any
	env.Do("GET", "/api/v1/auth/users", apitest.Token(cast.Admin.Token)).Expect(200).Decode(&list)
	if len(list) != 3 {
		t.Fatalf("users = %d, want 3 (system excluded)", len(list))
	}
	for _, u := range list {
		check("list", u)
	}
	var login struct {
		Token     string         `json:"token"`
		User      map[string]any `json:"user"`
		ExpiresIn int            `json:"expires_in"`
	}
	env.Do("POST", "/api/v1/auth/login", apitest.JSON(map[string]any{"email": cast.Owner.Email, "password": cast.Owner.Password})).Expect(200).Decode(&login)
	check("login", login.User)
	if login.ExpiresIn != 86400 || login.Token == "" || login.User["last_login_at"] == nil {
		t.Fatalf("login = %+v", login)
	}
}

// The sole active admin deleting their own account is the last-admin case (docs/compatibility.md §1.1, docs/security.md D5).
func TestDeleteSelfAsLastAdmin(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	if d := env.Do("DELETE", "/api/v1/auth/users/"+cast.Admin.ID, apitest.Token(cast.Admin.Token)).Expect(400).Detail(); d != "Cannot delete the last administrator" {
		t.Fatalf("detail %q", d)
	}
	env.Do("GET", "/api/v1/auth/me", apitest.Token(cast.Admin.Token)).Expect(200)
}

// docs/compatibility.md §1.11: the invocation-cache routes exist; the changes are admin-only (docs/security.md
// D1), the status is for every logged-in user, as InvokeAI's cache panel reads it.
func TestInvocationCacheRoutes(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	const p = "/api/v1/app/invocation_cache"
	for _, r := range []struct{ method, path string }{
		{"DELETE", p}, {"PUT", p + "/enable"}, {"PUT", p + "/disable"},
	} {
		env.Do(r.method, r.path).Expect(401)
		env.Do(r.method, r.path, apitest.Token(cast.Owner.Token)).Expect(403)
	}
	env.Do("GET", p+"/status").Expect(401)
	env.Do("GET", p+"/status", apitest.Token(cast.Owner.Token)).Expect(200)
	st := env.Do("GET", p+"/status", apitest.Token(cast.Admin.Token)).Expect(200).Map()
	for _, k := range []string{"size", "hits", "misses", "enabled", "max_size"} {
		if _, ok := st[k]; !ok {
			t.Fatalf("status lacks %q: %v", k, st)
		}
	}
	if st["enabled"] != true || st["max_size"].(float64) <= 0 {
		t.Fatalf("status = %v", st)
	}
	if body := strings.TrimSpace(string(env.Do("PUT", p+"/disable", apitest.Token(cast.Admin.Token)).Expect(200).Body)); body != "null" {
		t.Fatalf("disable body %q", body)
	}
	if st := env.Do("GET", p+"/status", apitest.Token(cast.Admin.Token)).Expect(200).Map(); st["enabled"] != false {
		t.Fatalf("after disable: %v", st)
	}
	env.Do("PUT", p+"/enable", apitest.Token(cast.Admin.Token)).Expect(200)
	env.Do("DELETE", p, apitest.Token(cast.Admin.Token)).Expect(200)
	if st := env.Do("GET", p+"/status", apitest.Token(cast.Admin.Token)).Expect(200).Map(); st["enabled"] != true || st["size"].(float64) != 0 {
		t.Fatalf("after enable+clear: %v", st)
	}
}

// The script flow of issue 6: install both sd-1 fixtures by local path, poll the jobs, then read, find, edit
// and delete the records, checking the wire shapes of docs/compatibility.md §1.9 (every common config field present, nulls
// included) along the way.
func TestModelInstallFlowShapes(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	tok := apitest.Token(cast.Admin.Token)
	dir := sdTiny(t)
	jobKeys := []string{"id", "status", "error_reason", "config_in", "config_out", "inplace", "source", "local_path",
		"bytes", "total_bytes", "source_metadata", "download_parts", "error", "error_traceback"}
	configKeys := []string{"key", "hash", "path", "file_size", "name", "description", "source", "source_type",
		"source_api_response", "cover_image", "submodels", "usage_info", "base", "type", "format",
		"variant", "prediction_type", "default_settings", "trigger_phrases"}
	hasAll := func(where string, m map[string]any, keys []string) {
		t.Helper()
		for _, k := range keys {
			if _, ok := m[k]; !ok {
				t.Fatalf("%s lacks %q: %v", where, k, m)
			}
		}
	}
	want := map[string]string{"sd15-tiny-pipe": "diffusers", "sd15-tiny-single": "checkpoint"}
	for _, src := range []string{"sd15-tiny-pipe", "sd15-tiny-single.safetensors"} {
		job := env.Do("POST", installPath(filepath.Join(dir, src)), tok, apitest.JSON(map[string]any{})).Expect(201).Map()
		hasAll("job", job, jobKeys)
		if s := job["source"].(map[string]any); s["type"] != "local" || s["path"] != filepath.Join(dir, src) || s["inplace"] != false {
			t.Fatalf("job source = %v", s)
		}
		job = waitJob(t, env, cast.Admin.Token, job["id"].(float64), "completed", "error")
		if job["status"] != "completed" {
			t.Fatalf("install %s: %v", src, job)
		}
		hasAll("config_out", job["config_out"].(map[string]any), configKeys)
	}
	// Reads need a login but not admin (docs/security.md D1).
	var list struct {
		Models []map[string]any `json:"models"`
	}
	env.Do("GET", "/api/v2/models/?model_type=main", apitest.Token(cast.Owner.Token)).Expect(200).Decode(&list)
	if len(list.Models) != 2 {
		t.Fatalf("models = %v", list.Models)
	}
	for _, m := range list.Models {
		hasAll("list item", m, configKeys)
		if m["base"] != "sd-1" || m["type"] != "main" || m["format"] != want[m["name"].(string)] || m["source_type"] != "path" {
			t.Fatalf("model = %v", m)
		}
	}
	env.Do("GET", "/api/v2/models/?model_type=vae", apitest.Token(cast.Owner.Token)).Expect(200).Decode(&list)
	if list.Models == nil || len(list.Models) != 0 {
		t.Fatalf("vae list = %v", list.Models)
	}
	single := env.Do("GET", "/api/v2/models/get_by_attrs?name=sd15-tiny-single&type=main&base=sd-1", apitest.Token(cast.Admin.Token)).Expect(200).Map()
	if single["config_path"] == nil {
		t.Fatalf("checkpoint config lacks config_path: %v", single)
	}
	// A non-admin gets the same record without server paths (docs/security.md "Model sources and paths").
	single = env.Do("GET", "/api/v2/models/get_by_attrs?name=sd15-tiny-single&type=main&base=sd-1", apitest.Token(cast.Owner.Token)).Expect(200).Map()
	if _, present := single["config_path"]; !present || single["config_path"] != nil || single["path"] != "" {
		t.Fatalf("non-admin sees server paths: %v", single)
	}
	if d := env.Do("GET", "/api/v2/models/get_by_attrs?name=nope&type=main&base=sd-1", apitest.Token(cast.Owner.Token)).Expect(404).Detail(); d != "No model found with these attributes" {
		t.Fatalf("detail %q", d)
	}
	key := single["key"].(string)
	env.Do("PATCH", "/api/v2/models/i/"+key, apitest.Token(cast.Owner.Token), apitest.JSON(map[string]any{"name": "x"})).Expect(403)
	patched := env.Do("PATCH", "/api/v2/models/i/"+key, tok, apitest.JSON(map[string]any{"name": "renamed", "description": "d"})).Expect(200).Map()
	if patched["name"] != "renamed" || patched["description"] != "d" || patched["key"] != key {
		t.Fatalf("patched = %v", patched)
	}
	env.Do("GET", "/api/v2/models/get_by_hash?hash="+patched["hash"].(string), tok).Expect(200)
	if body := env.Do("DELETE", "/api/v2/models/i/"+key, tok).Expect(204).Body; len(body) != 0 {
		t.Fatalf("DELETE body %q", body)
	}
	env.Do("GET", "/api/v2/models/i/"+key, tok).Expect(404)
	stats := env.Do("GET", "/api/v2/models/stats", tok).Expect(200).Map()
	hasAll("stats", stats, []string{"hits", "misses", "high_watermark", "in_cache", "cleared", "cache_size", "loaded_model_sizes"})
}

// The model filters are InvokeAI's enums (BaseModelType, ModelType, ModelFormat): an unknown value is a 422,
// as FastAPI answers, rather than an empty list.
func TestModelQueryEnums(t *testing.T) {
	env := apitest.New(t)
	for _, q := range []string{"?base_models=bogus", "?base_models=sd-1&base_models=bogus", "?model_type=bogus", "?model_format=bogus"} {
		res := env.Do("GET", "/api/v2/models/"+q).Expect(422)
		var body struct {
			Detail []struct {
				Type string `json:"type"`
				Loc  []any  `json:"loc"`
			} `json:"detail"`
		}
		res.Decode(&body)
		if len(body.Detail) != 1 || body.Detail[0].Type != "enum" || body.Detail[0].Loc[0] != "query" {
			t.Fatalf("%s: %s", q, res.Body)
		}
	}
	env.Do("GET", "/api/v2/models/get_by_attrs?name=x&type=bogus&base=sd-1").Expect(422)
	env.Do("GET", "/api/v2/models/get_by_attrs?name=x&type=main&base=bogus").Expect(422)
	env.Do("GET", "/api/v2/models/get_by_attrs?name=x&type=main&base=sd-1").Expect(404)
	// Every value of the lists the records use is accepted.
	for _, b := range models.BaseTypes {
		env.Do("GET", "/api/v2/models/?base_models="+b).Expect(200)
		env.Do("GET", "/api/v2/models/get_by_attrs?name=x&type=main&base="+b).Expect(404)
	}
	for _, ty := range models.ModelTypes {
		env.Do("GET", "/api/v2/models/?model_type="+ty).Expect(200)
		env.Do("GET", "/api/v2/models/get_by_attrs?name=x&base=sd-1&type="+ty).Expect(404)
	}
	for _, f := range models.ModelFormats {
		env.Do("GET", "/api/v2/models/?model_format="+f).Expect(200)
	}
}
