package api_test

import (
	"path/filepath"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
)

// modelOp is one row of the model manager's authorisation table (docs/security.md D1): what to do to an
// installed model, and the status each role gets. Models belong to nobody: "owner" and "other" are two
// ordinary users, and only admins change anything.
type modelOp struct {
	name string
	do   func(env *apitest.Env, tok, key string) *apitest.Resp
	want map[apitest.Role]int
}

func TestModelAuthorizationTable(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	u := env.Cast()
	install := func(t *testing.T) string {
		t.Helper()
		// Copied into the server's models folder, so that deleting it touches only the copy.
		src := filepath.Join(sdTiny(t), "sd15-tiny-single.safetensors")
		job := env.Do("POST", installPath(src), apitest.Token(u.Admin.Token), apitest.JSON(map[string]any{})).Expect(201).Map()
		job = waitJob(t, env, u.Admin.Token, job["id"].(float64), "completed", "error")
		cfg, _ := job["config_out"].(map[string]any)
		if job["status"] != "completed" || cfg == nil {
			t.Fatalf("install: %v", job)
		}
		return cfg["key"].(string)
	}
	reads := map[apitest.Role]int{apitest.Anon: 401, apitest.Owner: 200, apitest.Other: 200, apitest.Admin: 200}
	writes := map[apitest.Role]int{apitest.Anon: 401, apitest.Owner: 403, apitest.Other: 403, apitest.Admin: 200}
	ops := []modelOp{
		{"list", func(env *apitest.Env, tok, _ string) *apitest.Resp {
			return env.Do("GET", "/api/v2/models/", apitest.Token(tok))
		}, reads},
		{"get", func(env *apitest.Env, tok, key string) *apitest.Resp {
			return env.Do("GET", "/api/v2/models/i/"+key, apitest.Token(tok))
		}, reads},
		{"get by attrs", func(env *apitest.Env, tok, _ string) *apitest.Resp {
			return env.Do("GET", "/api/v2/models/get_by_attrs?name=sd15-tiny-single&type=main&base=sd-1", apitest.Token(tok))
		}, reads},
		{"rename", func(env *apitest.Env, tok, key string) *apitest.Resp {
			return env.Do("PATCH", "/api/v2/models/i/"+key, apitest.Token(tok), apitest.JSON(map[string]any{"name": "renamed"}))
		}, writes},
		{"reidentify", func(env *apitest.Env, tok, key string) *apitest.Resp {
			return env.Do("POST", "/api/v2/models/i/"+key+"/reidentify", apitest.Token(tok))
		}, writes},
		{"list install jobs", func(env *apitest.Env, tok, _ string) *apitest.Resp {
			return env.Do("GET", "/api/v2/models/install", apitest.Token(tok))
		}, writes},
		{"cache stats", func(env *apitest.Env, tok, _ string) *apitest.Resp {
			return env.Do("GET", "/api/v2/models/stats", apitest.Token(tok))
		}, writes},
		{"delete", func(env *apitest.Env, tok, key string) *apitest.Resp {
			return env.Do("DELETE", "/api/v2/models/i/"+key, apitest.Token(tok))
		}, map[apitest.Role]int{apitest.Anon: 401, apitest.Owner: 403, apitest.Other: 403, apitest.Admin: 204}},
	}
	// Delete is the last row and the admin the last role: it removes the model the others worked on.
	shared := install(t)
	for _, op := range ops {
		for _, role := range apitest.Roles {
			t.Run(op.name+"/"+string(role), func(t *testing.T) {
				key := shared
				before := env.Do("GET", "/api/v2/models/i/"+key, apitest.Token(u.Admin.Token)).Expect(200).Map()
				res := op.do(env, u.Token(role), key)
				if want := op.want[role]; res.Status != want {
					t.Fatalf("status %d, want %d: %s", res.Status, want, res.Body)
				}
				if res.Status == 401 || res.Status == 403 {
					after := env.Do("GET", "/api/v2/models/i/"+key, apitest.Token(u.Admin.Token)).Expect(200).Map()
					if after["name"] != before["name"] || after["hash"] != before["hash"] {
						t.Fatalf("a refused %s changed the model: %v, was %v", op.name, after, before)
					}
				}
				if op.name == "rename" && res.Status == 200 {
					// Put the name back for the rows that follow.
					env.Do("PATCH", "/api/v2/models/i/"+key, apitest.Token(u.Admin.Token), apitest.JSON(map[string]any{"name": before["name"]})).Expect(200)
				}
			})
		}
	}
}
