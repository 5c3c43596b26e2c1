package api_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
)

func TestStatusSingleUser(t *testing.T) {
	env := apitest.New(t)
	got := env.Do("GET", "/api/v1/auth/status").Expect(200).Map()
	if got["setup_required"] != false || got["multiuser_enabled"] != false || got["admin_email"] != nil {
		t.Fatalf("status = %v", got)
	}
	// Single-user mode: login and setup are refused, token-only routes need a token.
	if d := env.Do("POST", "/api/v1/auth/login", apitest.JSON(map[string]any{"email": "a@example.com", "password": "x"})).Expect(403).Detail(); !strings.HasPrefix(d, "Multiuser mode is disabled") {
		t.Fatalf("login detail %q", d)
	}
	env.Do("POST", "/api/v1/auth/setup", apitest.JSON(map[string]any{"email": "a@example.com", "password": "x"})).Expect(403)
	env.Do("GET", "/api/v1/auth/me").Expect(401)
	env.Do("GET", "/api/v1/auth/users").Expect(401)
	// Everything else acts as the system admin without a token.
	env.Do("GET", "/api/v1/app/runtime_config").Expect(200)
}

func TestSetupOnceAndLogin(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	st := env.Do("GET", "/api/v1/auth/status").Expect(200).Map()
	if st["setup_required"] != true || st["multiuser_enabled"] != true {
		t.Fatalf("status before setup = %v", st)
	}
	admin := env.SetupAdmin()
	if st := env.Do("GET", "/api/v1/auth/status").Expect(200).Map(); st["setup_required"] != false {
		t.Fatalf("status after setup = %v", st)
	}
	if d := env.Do("POST", "/api/v1/auth/setup", apitest.JSON(map[string]any{"email": "second@example.com", "password": "Another1pass"})).Expect(400).Detail(); d != "Administrator account already configured" {
		t.Fatalf("second setup detail %q", d)
	}

	res := env.Do("POST", "/api/v1/auth/login", apitest.JSON(map[string]any{"email": "ADMIN@Example.com", "password": admin.Password, "remember_me": true}))
	// The local part is case-sensitive; the domain is not.
	res.Expect(401)
	res = env.Do("POST", "/api/v1/auth/login", apitest.JSON(map[string]any{"email": "admin@EXAMPLE.com", "password": admin.Password, "remember_me": true})).Expect(200)
	var login struct {
		Token     string         `json:"token"`
		ExpiresIn int            `json:"expires_in"`
		User      map[string]any `json:"user"`
	}
	res.Decode(&login)
	if login.ExpiresIn != 604800 || login.User["is_admin"] != true || login.User["last_login_at"] == nil {
		t.Fatalf("login = %+v", login)
	}
	cookie := res.Header.Get("Set-Cookie")
	for _, want := range []string{"invokeai_media_token=" + login.Token, "HttpOnly", "SameSite=Lax", "Path=/api"} {
		if !strings.Contains(cookie, want) {
			t.Fatalf("Set-Cookie %q lacks %q", cookie, want)
		}
	}
	me := env.Do("GET", "/api/v1/auth/me", apitest.Token(login.Token)).Expect(200).Map()
	if me["email"] != "admin@example.com" || me["display_name"] != "Admin" {
		t.Fatalf("me = %v", me)
	}
	if !strings.Contains(me["created_at"].(string), "T") {
		t.Fatalf("UserDTO timestamps are ISO: %v", me["created_at"])
	}
}

func TestLoginFailures(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()

	res := env.Do("POST", "/api/v1/auth/login", apitest.JSON(map[string]any{"email": cast.Owner.Email, "password": "wrong"})).Expect(401)
	if res.Detail() != "Incorrect email or password" || res.Header.Get("WWW-Authenticate") != "Bearer" {
		t.Fatalf("wrong password: %q %v", res.Detail(), res.Header)
	}
	env.Do("POST", "/api/v1/auth/login", apitest.JSON(map[string]any{"email": "nobody@example.com", "password": "x"})).Expect(401)
	env.Do("POST", "/api/v1/auth/login", apitest.JSON(map[string]any{"email": "not an email", "password": "x"})).Expect(422)

	// A disabled account with the right password is 403.
	env.Do("PATCH", "/api/v1/auth/users/"+cast.Other.ID, apitest.Token(cast.Admin.Token), apitest.JSON(map[string]any{"is_active": false})).Expect(200)
	if d := env.Do("POST", "/api/v1/auth/login", apitest.JSON(map[string]any{"email": cast.Other.Email, "password": cast.Other.Password})).Expect(403).Detail(); d != "User account is disabled" {
		t.Fatalf("disabled detail %q", d)
	}
}

func TestLoginThrottle(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	bad := apitest.JSON(map[string]any{"email": cast.Owner.Email, "password": "wrong"})
	for i := 0; i < 5; i++ {
		env.Do("POST", "/api/v1/auth/login", bad).Expect(401)
	}
	// The sixth attempt is refused even with the right password.
	res := env.Do("POST", "/api/v1/auth/login", apitest.JSON(map[string]any{"email": cast.Owner.Email, "password": cast.Owner.Password})).Expect(429)
	if res.Header.Get("Retry-After") == "" {
		t.Fatalf("429 without Retry-After")
	}
	// Other accounts are unaffected.
	env.Login(cast.Other.Email, cast.Other.Password)
}

// forge builds a token with any header and payload, signed with a wrong key or not at all.
func forge(header, payload map[string]any, sig string) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(header) + "." + enc(payload) + "." + sig
}

func TestForgedTokens(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	claims := map[string]any{"user_id": cast.Admin.ID, "email": cast.Admin.Email, "is_admin": true, "remember_me": false, "exp": 4102444800, "token_epoch": 0}
	forged := map[string]string{
		"alg none":      forge(map[string]any{"alg": "none", "typ": "JWT"}, claims, ""),
		"wrong key":     forge(map[string]any{"alg": "HS256", "typ": "JWT"}, claims, base64.RawURLEncoding.EncodeToString([]byte("not-a-signature-of-32-bytes!!!!!"))),
		"garbage":       "abc.def.ghi",
		"tampered body": tamper(cast.Owner.Token, claims),
	}
	for name, tok := range forged {
		for _, path := range []string{"/api/v1/auth/me", "/api/v1/app/runtime_config"} {
			res := env.Do("GET", path, apitest.Token(tok))
			if res.Status != 401 {
				t.Errorf("%s on %s: status %d, want 401", name, path, res.Status)
			}
		}
	}
}

// tamper swaps the payload of a genuine token, keeping its signature.
func tamper(token string, claims map[string]any) string {
	parts := strings.Split(token, ".")
	b, _ := json.Marshal(claims)
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
}

func TestRevocationTakesEffectAtOnce(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	second := env.CreateUser(cast.Admin, "Second", true)

	// Demotion: the admin-only route refuses the existing token at once.
	env.Do("GET", "/api/v1/app/logging", apitest.Token(second.Token)).Expect(200)
	env.Do("PATCH", "/api/v1/auth/users/"+second.ID, apitest.Token(cast.Admin.Token), apitest.JSON(map[string]any{"is_admin": false})).Expect(200)
	env.Do("GET", "/api/v1/auth/me", apitest.Token(second.Token)).Expect(401)
	fresh := env.Login(second.Email, second.Password)
	env.Do("GET", "/api/v1/app/logging", apitest.Token(fresh)).Expect(403)
	// runtime_config turns into the non-admin view at once.
	if cfg := env.Do("GET", "/api/v1/app/runtime_config", apitest.Token(fresh)).Expect(200).Map()["config"].(map[string]any); cfg["root"] != nil {
		t.Fatalf("a demoted admin still reads the full runtime_config: %v", cfg)
	}

	// Deactivation.
	env.Do("PATCH", "/api/v1/auth/users/"+cast.Owner.ID, apitest.Token(cast.Admin.Token), apitest.JSON(map[string]any{"is_active": false})).Expect(200)
	env.Do("GET", "/api/v1/auth/me", apitest.Token(cast.Owner.Token)).Expect(401)

	// Deletion.
	env.Do("DELETE", "/api/v1/auth/users/"+cast.Other.ID, apitest.Token(cast.Admin.Token)).Expect(200)
	env.Do("GET", "/api/v1/auth/me", apitest.Token(cast.Other.Token)).Expect(401)
	env.Do("GET", "/api/v1/auth/users/"+cast.Other.ID, apitest.Token(cast.Admin.Token)).Expect(404)

	// Password change by an admin.
	env.Do("PATCH", "/api/v1/auth/users/"+fresh2(env, second), apitest.Token(cast.Admin.Token), apitest.JSON(map[string]any{"password": "NewPassw0rd"})).Expect(200)
}

// fresh2 returns the id after logging in again, documenting that the previous token was revoked.
func fresh2(env *apitest.Env, u apitest.User) string {
	tok := env.Login(u.Email, u.Password)
	env.Do("GET", "/api/v1/auth/me", apitest.Token(tok)).Expect(200)
	return u.ID
}

func TestLogoutRevokesToken(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	res := env.Do("POST", "/api/v1/auth/logout", apitest.Token(cast.Owner.Token)).Expect(200)
	if got := res.Map(); got["success"] != true {
		t.Fatalf("logout = %v", got)
	}
	if res.Header.Get("X-Refreshed-Token") != "" {
		t.Fatalf("logout must not hand out a refreshed token")
	}
	if !strings.Contains(res.Header.Get("Set-Cookie"), "invokeai_media_token=;") {
		t.Fatalf("logout should clear the media cookie: %q", res.Header.Get("Set-Cookie"))
	}
	env.Do("GET", "/api/v1/auth/me", apitest.Token(cast.Owner.Token)).Expect(401)
	env.Do("POST", "/api/v1/auth/logout").Expect(401)
}

func TestLastAdminProtected(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	admin := cast.Admin
	for _, body := range []map[string]any{{"is_admin": false}, {"is_active": false}} {
		res := env.Do("PATCH", "/api/v1/auth/users/"+admin.ID, apitest.Token(admin.Token), apitest.JSON(body)).Expect(400)
		if !strings.Contains(res.Detail(), "last administrator") {
			t.Fatalf("detail %q", res.Detail())
		}
	}
	// Another admin cannot delete the last active one either once the first is gone... set up two admins:
	second := env.CreateUser(admin, "Boss", true)
	env.Do("PATCH", "/api/v1/auth/users/"+second.ID, apitest.Token(admin.Token), apitest.JSON(map[string]any{"is_admin": false})).Expect(200)
	second.Token = env.Login(second.Email, second.Password)
	env.Do("DELETE", "/api/v1/auth/users/"+admin.ID, apitest.Token(second.Token)).Expect(403)
	// With two admins, one can be demoted; then the remaining one is protected again.
	third := env.CreateUser(admin, "Third", true)
	env.Do("PATCH", "/api/v1/auth/users/"+third.ID, apitest.Token(admin.Token), apitest.JSON(map[string]any{"is_admin": false})).Expect(200)
	env.Do("PATCH", "/api/v1/auth/users/"+admin.ID, apitest.Token(admin.Token), apitest.JSON(map[string]any{"is_active": false})).Expect(400)
	// The admin still works after every refused attempt.
	env.Do("GET", "/api/v1/auth/users", apitest.Token(admin.Token)).Expect(200)
}

func TestUserManagement(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	admin := cast.Admin
	var users []map[string]any
	env.Do("GET", "/api/v1/auth/users", apitest.Token(admin.Token)).Expect(200).Decode(&users)
	if len(users) != 3 {
		t.Fatalf("users = %d, want 3 (system excluded)", len(users))
	}
	for _, u := range users {
		if u["user_id"] == "system" || u["password_hash"] != nil {
			t.Fatalf("listing leaks %v", u)
		}
	}
	env.Do("GET", "/api/v1/auth/users", apitest.Token(cast.Owner.Token)).Expect(403)
	if d := env.Do("POST", "/api/v1/auth/users", apitest.Token(admin.Token), apitest.JSON(map[string]any{"email": cast.Owner.Email, "password": "Passw0rd!"})).Expect(400).Detail(); !strings.Contains(d, "already exists") {
		t.Fatalf("duplicate detail %q", d)
	}
	env.Do("POST", "/api/v1/auth/users", apitest.Token(admin.Token), apitest.JSON(map[string]any{"email": "x", "password": "Passw0rd!"})).Expect(422)
	// An explicit null display name is as good as none, as with pydantic's Optional fields.
	if u := env.Do("POST", "/api/v1/auth/users", apitest.Token(admin.Token),
		apitest.JSON(map[string]any{"email": "nulls@example.com", "display_name": nil, "password": "Passw0rd!x"})).Expect(201).Map(); u["email"] != "nulls@example.com" {
		t.Fatalf("created %v", u)
	}
	env.Do("POST", "/api/v1/auth/users", apitest.Token(admin.Token), apitest.JSON(map[string]any{"email": "e@example.com", "password": ""})).Expect(400)
	env.Do("PATCH", "/api/v1/auth/users/nope", apitest.Token(admin.Token), apitest.JSON(map[string]any{"is_admin": true})).Expect(404)
	env.Do("DELETE", "/api/v1/auth/users/nope", apitest.Token(admin.Token)).Expect(404)
	env.Do("DELETE", "/api/v1/auth/users/system", apitest.Token(admin.Token)).Expect(400)
	env.Do("GET", "/api/v1/auth/users/system", apitest.Token(admin.Token)).Expect(200)

	// Profile: display name, and password with the current one.
	env.Do("PATCH", "/api/v1/auth/me", apitest.Token(cast.Owner.Token), apitest.JSON(map[string]any{"new_password": "Xx1xxxxxx"})).Expect(400)
	env.Do("PATCH", "/api/v1/auth/me", apitest.Token(cast.Owner.Token), apitest.JSON(map[string]any{"new_password": "Xx1xxxxxx", "current_password": "bad"})).Expect(400)
	got := env.Do("PATCH", "/api/v1/auth/me", apitest.Token(cast.Owner.Token), apitest.JSON(map[string]any{"display_name": "Renamed"})).Expect(200)
	if got.Map()["display_name"] != "Renamed" {
		t.Fatalf("rename failed: %s", got.Body)
	}
	if got.Header.Get("X-Refreshed-Token") == "" {
		t.Fatalf("mutation with a bearer token should carry X-Refreshed-Token")
	}
	env.Do("GET", "/api/v1/auth/me", apitest.Token(got.Header.Get("X-Refreshed-Token"))).Expect(200)
	env.Do("PATCH", "/api/v1/auth/me", apitest.Token(cast.Owner.Token), apitest.JSON(map[string]any{"new_password": "Xx1xxxxxx", "current_password": cast.Owner.Password})).Expect(200)
	env.Login(cast.Owner.Email, "Xx1xxxxxx")

	pw := env.Do("GET", "/api/v1/auth/generate-password", apitest.Token(cast.Other.Token)).Expect(200).Map()["password"].(string)
	if len(pw) != 16 {
		t.Fatalf("generated %q", pw)
	}
}

func TestDeleteUserContentDecision(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	db := env.App.DB.SQL()
	if _, err := db.Exec(`INSERT INTO boards (board_id, board_name, user_id) VALUES ('b1', 'mine', ?), ('b2', 'also mine', ?)`, cast.Owner.ID, cast.Other.ID); err != nil {
		t.Fatal(err)
	}
	res := env.Do("DELETE", "/api/v1/auth/users/"+cast.Owner.ID, apitest.Token(cast.Admin.Token)).Expect(200).Map()
	if res["content"] != "reassigned" || res["reassigned_to"] != cast.Admin.ID || res["boards"] != float64(1) {
		t.Fatalf("delete result %v", res)
	}
	var owner string
	if err := db.QueryRow(`SELECT user_id FROM boards WHERE board_id = 'b1'`).Scan(&owner); err != nil || owner != cast.Admin.ID {
		t.Fatalf("board b1 owner = %q, %v", owner, err)
	}
	res = env.Do("DELETE", "/api/v1/auth/users/"+cast.Other.ID+"?delete_content=true", apitest.Token(cast.Admin.Token)).Expect(200).Map()
	if res["content"] != "deleted" {
		t.Fatalf("delete result %v", res)
	}
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM boards WHERE board_id = 'b2'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("board b2 still there: %d %v", n, err)
	}
}

func TestBadInput(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cases := []struct {
		name string
		body apitest.ReqOpt
		want int
	}{
		{"malformed json", apitest.RawBody("application/json", []byte(`{"email":`)), 422},
		{"wrong types", apitest.RawBody("application/json", []byte(`{"email": 5, "password": true}`)), 422},
		{"array body", apitest.RawBody("application/json", []byte(`[1,2]`)), 422},
		{"empty body", apitest.RawBody("application/json", nil), 422},
		{"oversized", apitest.RawBody("application/json", []byte(`{"email":"`+strings.Repeat("a", 2<<20)+`"}`)), 413},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := env.Do("POST", "/api/v1/auth/setup", tc.body)
			if res.Status != tc.want {
				t.Fatalf("status %d, want %d: %s", res.Status, tc.want, res.Body)
			}
			var m map[string]any
			if err := json.Unmarshal(res.Body, &m); err != nil || m["detail"] == nil {
				t.Fatalf("error body is not {detail}: %s", res.Body)
			}
		})
	}
	// Unknown routes and methods.
	if env.Do("GET", "/api/v1/does-not-exist").Expect(404).Detail() != "Not Found" {
		t.Fatal("404 detail")
	}
	if allow := env.Do("DELETE", "/api/v1/auth/status").Expect(405).Header.Get("Allow"); allow != "GET" {
		t.Fatalf("405 Allow %q, want GET", allow)
	}
	if allow := env.Do("PUT", "/api/v1/boards/x").Expect(405).Header.Get("Allow"); allow != "GET, PATCH, DELETE" {
		t.Fatalf("405 Allow %q for a board", allow)
	}
	// Bad query types.
	env.Do("DELETE", "/api/v1/auth/users/x?delete_content=maybe", apitest.Token(env.SetupAdmin().Token)).Expect(422)
}

func TestOpenAPIAndDocs(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	doc := env.Do("GET", "/openapi.json").Expect(200).Map()
	paths := doc["paths"].(map[string]any)
	login := paths["/api/v1/auth/login"].(map[string]any)["post"].(map[string]any)
	if login["x-access-policy"] != "public" || login["requestBody"] == nil {
		t.Fatalf("login operation = %v", login)
	}
	if _, ok := paths["/api/v1/auth/users/{user_id}"].(map[string]any)["delete"]; !ok {
		t.Fatal("users delete missing")
	}
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	if _, ok := schemas["UserDTO"]; !ok {
		t.Fatalf("UserDTO schema missing: %v", keys(schemas))
	}
	page := env.Do("GET", "/docs").Expect(200)
	if !strings.Contains(page.Header.Get("Content-Type"), "text/html") || strings.Contains(string(page.Body), "cdn.") {
		t.Fatal("/docs must be self-contained HTML")
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestRequestIDAndCORS(t *testing.T) {
	env := apitest.New(t, apitest.WithConfig(func(c *configT) { c.AllowOrigins = []string{"http://ui.example"} }))
	res := env.Do("GET", "/api/v1/app/version", apitest.Header("Origin", "http://ui.example"))
	if res.Header.Get("X-Request-ID") == "" || res.Header.Get("Access-Control-Allow-Origin") != "http://ui.example" {
		t.Fatalf("headers %v", res.Header)
	}
	if !strings.Contains(res.Header.Get("Access-Control-Expose-Headers"), "X-Refreshed-Token") {
		t.Fatalf("expose headers %q", res.Header.Get("Access-Control-Expose-Headers"))
	}
	pre := env.Do("OPTIONS", "/api/v1/boards/", apitest.Header("Origin", "http://ui.example"), apitest.Header("Access-Control-Request-Method", "POST"))
	if pre.Status != http.StatusOK || pre.Header.Get("Access-Control-Allow-Methods") == "" {
		t.Fatalf("preflight %d %v", pre.Status, pre.Header)
	}
	other := env.Do("GET", "/api/v1/app/version", apitest.Header("Origin", "http://evil.example"))
	if other.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("foreign origin allowed")
	}
}

func TestLoggingLevelAdminOnly(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	env.Do("GET", "/api/v1/app/logging", apitest.Token(cast.Owner.Token)).Expect(403)
	env.Do("POST", "/api/v1/app/logging", apitest.Token(cast.Admin.Token), apitest.RawBody("application/json", []byte("10"))).Expect(200)
	var lvl int
	env.Do("GET", "/api/v1/app/logging", apitest.Token(cast.Admin.Token)).Expect(200).Decode(&lvl)
	if lvl != 10 {
		t.Fatalf("level %d", lvl)
	}
	if env.Do("GET", "/api/v1/app/version").Expect(200).Map()["version"] == nil {
		t.Fatal("version")
	}
}

func TestSetupAcceptsNullDisplayName(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	res := env.Do("POST", "/api/v1/auth/setup", apitest.JSON(map[string]any{"email": "admin@example.com", "display_name": nil, "password": "Adm1nPassw0rd"})).Expect(200).Map()
	if u := res["user"].(map[string]any); u["is_admin"] != true || u["email"] != "admin@example.com" {
		t.Fatalf("setup %v", res)
	}
}

// Changing your own password ends every other session of yours but keeps the one that made the change: its
// answer carries a replacement token (and media cookie).
func TestOwnPasswordChangeKeepsCallerSignedIn(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	elsewhere := env.Login(cast.Owner.Email, cast.Owner.Password)
	res := env.Do("PATCH", "/api/v1/auth/me", apitest.Token(cast.Owner.Token),
		apitest.JSON(map[string]any{"current_password": cast.Owner.Password, "new_password": "Brand1NewPass"})).Expect(200)
	fresh := res.Header.Get("X-Refreshed-Token")
	if fresh == "" || fresh == cast.Owner.Token {
		t.Fatalf("no replacement token: %q", fresh)
	}
	if !strings.Contains(strings.Join(res.Header.Values("Set-Cookie"), ";"), "invokeai_media_token="+fresh) {
		t.Errorf("media cookie not renewed: %v", res.Header.Values("Set-Cookie"))
	}
	env.Do("GET", "/api/v1/auth/me", apitest.Token(cast.Owner.Token)).Expect(401)
	env.Do("GET", "/api/v1/auth/me", apitest.Token(elsewhere)).Expect(401)
	env.Do("GET", "/api/v1/auth/me", apitest.Token(fresh)).Expect(200)
	env.Login(cast.Owner.Email, "Brand1NewPass")

	// A wrong current password changes nothing and issues nothing.
	bad := env.Do("PATCH", "/api/v1/auth/me", apitest.Token(fresh),
		apitest.JSON(map[string]any{"current_password": "nope", "new_password": "Other1NewPass"})).Expect(400)
	if bad.Header.Get("X-Refreshed-Token") != "" {
		t.Error("a refused change issued a token")
	}
	env.Do("GET", "/api/v1/auth/me", apitest.Token(fresh)).Expect(200)

	// An admin resetting their own password through the users route stays signed in the same way.
	res = env.Do("PATCH", "/api/v1/auth/users/"+cast.Admin.ID, apitest.Token(cast.Admin.Token),
		apitest.JSON(map[string]any{"password": "Admin2NewPass"})).Expect(200)
	env.Do("GET", "/api/v1/auth/me", apitest.Token(cast.Admin.Token)).Expect(401)
	env.Do("GET", "/api/v1/auth/users", apitest.Token(res.Header.Get("X-Refreshed-Token"))).Expect(200)
}

func TestMediaCookieRoute(t *testing.T) {
	single := apitest.New(t)
	res := single.Do("POST", "/api/v1/auth/media-cookie").Expect(200)
	if res.Map()["success"] != true || len(res.Header.Values("Set-Cookie")) != 0 {
		t.Fatalf("single-user media cookie: %s %v", res.Body, res.Header.Values("Set-Cookie"))
	}
	multi := apitest.New(t, apitest.Multiuser())
	cast := multi.Cast()
	multi.Do("POST", "/api/v1/auth/media-cookie").Expect(401)
	res = multi.Do("POST", "/api/v1/auth/media-cookie", apitest.Token(cast.Owner.Token)).Expect(200)
	if !strings.Contains(strings.Join(res.Header.Values("Set-Cookie"), ";"), "invokeai_media_token=") {
		t.Fatalf("no cookie: %v", res.Header.Values("Set-Cookie"))
	}
}
