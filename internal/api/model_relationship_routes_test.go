package api_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
)

func TestModelRelationships(t *testing.T) {
	fx := sdTiny(t)
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	admin, user := cast.Admin.Token, cast.Owner.Token
	a := installInPlace(t, env, admin, filepath.Join(fx, "sd15-tiny-pipe"))["key"].(string)
	b := installInPlace(t, env, admin, filepath.Join(fx, "sd15-tiny-single.safetensors"))["key"].(string)
	c := installInPlace(t, env, admin, filepath.Join(fx, "sdxl-tiny"))["key"].(string)
	const base = "/api/v1/model_relationships"
	pair := func(k1, k2 string) apitest.ReqOpt {
		return apitest.JSON(map[string]any{"model_key_1": k1, "model_key_2": k2})
	}
	related := func(tok, key string) []string {
		var out []string
		env.Do("GET", base+"/i/"+key, apitest.Token(tok)).Expect(200).Decode(&out)
		return out
	}
	batch := func(tok string, keys ...string) []string {
		var out []string
		env.Do("POST", base+"/batch", apitest.Token(tok), apitest.JSON(map[string]any{"model_keys": keys})).Expect(200).Decode(&out)
		return out
	}
	sorted := func(keys ...string) []string {
		out := slices.Clone(keys)
		slices.Sort(out)
		return out
	}

	// Writes are admin-only; relating twice, or in the other order, changes nothing.
	for _, p := range [][2]string{{a, b}, {c, a}, {a, b}, {b, a}} {
		if res := env.Do("POST", base+"/", apitest.Token(admin), pair(p[0], p[1])).Expect(204); len(res.Body) != 0 {
			t.Fatalf("204 with a body: %s", res.Body)
		}
	}
	rows, err := env.App.DB.SQL().Query(`SELECT model_key_1, model_key_2 FROM model_relationships`)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var k1, k2 string
		rows.Scan(&k1, &k2)
		if k1 >= k2 {
			t.Errorf("pair stored as (%s, %s), want key_1 < key_2", k1, k2)
		}
		n++
	}
	rows.Close()
	if n != 2 {
		t.Fatalf("%d rows, want 2", n)
	}

	// Reads need a login, not admin.
	for _, cs := range []struct {
		name string
		got  []string
		want []string
	}{
		{"a", related(user, a), sorted(b, c)},
		{"b", related(user, b), []string{a}},
		{"c as admin", related(admin, c), []string{a}},
		{"batch b, c", batch(user, b, c), []string{a}},
		{"batch a, b", batch(user, a, b), sorted(a, b, c)},
		{"batch with an unknown key", batch(user, b, "no-such-model"), []string{a}},
		{"empty batch", batch(user), []string{}},
	} {
		if !reflectDeepEqual(cs.got, cs.want) {
			t.Errorf("%s: %v, want %v", cs.name, cs.got, cs.want)
		}
	}

	// Access: anonymous callers get 401 everywhere, non-admins 403 on writes.
	for _, r := range []struct{ method, path string }{{"GET", base + "/i/" + a}, {"POST", base + "/batch"}, {"POST", base + "/"}, {"DELETE", base + "/"}} {
		env.Do(r.method, r.path, pair(a, b)).Expect(401)
	}
	env.Do("POST", base+"/", apitest.Token(user), pair(a, c)).Expect(403)
	env.Do("DELETE", base+"/", apitest.Token(user), pair(a, c)).Expect(403)

	// Unknown models are 404, a model related to itself 400, a body without keys 422.
	for _, r := range []struct {
		method, path string
		body         apitest.ReqOpt
		status       int
	}{
		{"GET", base + "/i/no-such-model", nil, 404},
		{"POST", base + "/", pair(a, "no-such-model"), 404},
		{"POST", base + "/", pair("no-such-model", a), 404},
		{"DELETE", base + "/", pair("no-such-model", b), 404},
		{"POST", base + "/", pair(a, a), 400},
		{"DELETE", base + "/", pair(b, b), 400},
		{"POST", base + "/", apitest.JSON(map[string]any{"model_key_1": a}), 422},
		{"POST", base + "/batch", apitest.JSON(map[string]any{}), 422},
	} {
		opts := []apitest.ReqOpt{apitest.Token(admin)}
		if r.body != nil {
			opts = append(opts, r.body)
		}
		env.Do(r.method, r.path, opts...).Expect(r.status)
	}

	// Unlinking works in either order and is idempotent; deleting a model drops its links.
	env.Do("DELETE", base+"/", apitest.Token(admin), pair(b, a)).Expect(204)
	env.Do("DELETE", base+"/", apitest.Token(admin), pair(a, b)).Expect(204)
	if got := related(user, a); !reflectDeepEqual(got, []string{c}) {
		t.Fatalf("after unlink: %v", got)
	}
	env.Do("DELETE", "/api/v2/models/i/"+c, apitest.Token(admin)).Expect(204)
	if got := related(user, a); len(got) != 0 {
		t.Fatalf("links of a deleted model remain: %v", got)
	}
}
