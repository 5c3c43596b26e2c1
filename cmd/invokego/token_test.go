package main

import (
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
)

// An admin locked out of the web login (the throttle, a lost password) signs in from the command line, which
// acts with the database's authority: `invokego user token` prints a token the running server accepts.
func TestUserTokenSignsInFromTheCommandLine(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	admin := env.SetupAdmin()
	for i := 0; i < 6; i++ {
		env.Do("POST", "/api/v1/auth/login", apitest.JSON(map[string]any{"email": admin.Email, "password": "wrong"}))
	}
	env.Do("POST", "/api/v1/auth/login", apitest.JSON(map[string]any{"email": admin.Email, "password": admin.Password})).Expect(429)
	code, out, stderr := runCLI(t, "", "user", "token", "--root", env.Root, "--email", admin.Email)
	if code != 0 {
		t.Fatalf("user token: %d %s", code, stderr)
	}
	me := env.Do("GET", "/api/v1/auth/me", apitest.Token(strings.TrimSpace(out))).Expect(200).Map()
	if me["email"] != admin.Email {
		t.Fatalf("me %v", me)
	}
	if code, _, stderr := runCLI(t, "", "user", "token", "--root", env.Root, "--email", "nobody@example.com"); code == 0 || !strings.Contains(stderr, "not found") {
		t.Fatalf("unknown user: %d %s", code, stderr)
	}
}
