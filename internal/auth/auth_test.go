package auth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestBcryptInputTruncatesAt72BytesOnRuneBoundary(t *testing.T) {
	long := strings.Repeat("a", 71) + "é" + "tail" // é is 2 bytes: would straddle byte 72
	if got := bcryptInput(long); len(got) != 71 {
		t.Fatalf("len %d, want 71", len(got))
	}
	h, err := HashPassword(strings.Repeat("x", 100), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	// Everything past byte 72 is ignored, as in InvokeAI.
	if !VerifyPassword(strings.Repeat("x", 72)+"different", h) {
		t.Fatal("bytes past 72 should not matter")
	}
	if VerifyPassword("x", h) || VerifyPassword("x", "not-a-hash") || VerifyPassword("", "") {
		t.Fatal("bad password or hash accepted")
	}
}

func TestCheckPassword(t *testing.T) {
	cases := []struct {
		pw     string
		strict bool
		ok     bool
	}{
		{"", false, false}, {"a", false, true}, {"Short1", true, false}, {"alllower1", true, false},
		{"NoDigitsHere", true, false}, {"G00dEnough", true, true},
	}
	for _, c := range cases {
		if err := CheckPassword(c.pw, c.strict); (err == nil) != c.ok {
			t.Errorf("%q strict=%v: %v", c.pw, c.strict, err)
		}
	}
	for i := 0; i < 20; i++ {
		pw, err := GeneratePassword()
		if err != nil || len(pw) != 16 || CheckPassword(pw, true) != nil {
			t.Fatalf("generated %q: %v", pw, err)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	cases := map[string]string{
		"Alice@Example.COM":   "Alice@example.com",
		" bob@example.org ":   "bob@example.org",
		"Admin@LOCALHOST":     "admin@localhost",
		"User@Server.Local":   "user@server.local",
		"first.last+tag@x.io": "first.last+tag@x.io",
	}
	for in, want := range cases {
		got, err := NormalizeEmail(in)
		if err != nil || got != want {
			t.Errorf("%q -> %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "plain", "@example.com", "a@", "a@@b.com", "a b@example.com", "a@exa mple.com", "a@-bad.com", "a..b@example.com", "a@intranet", "a@example.c"} {
		if got, err := NormalizeEmail(bad); err == nil {
			t.Errorf("%q accepted as %q", bad, got)
		}
	}
}

func TestThrottleWindow(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	th := newThrottle(func() time.Time { return now })
	for i := 0; i < 5; i++ {
		if th.check("k") != 0 {
			t.Fatalf("locked after %d failures", i)
		}
		th.fail("k")
		now = now.Add(time.Second)
	}
	if wait := th.check("k"); wait <= 0 || wait > 5*time.Minute {
		t.Fatalf("not locked after 5 failures: %v", wait)
	}
	now = now.Add(5 * time.Minute)
	if th.check("k") != 0 {
		t.Fatal("still locked after the window passed")
	}
}

func TestSignerRejectsExpiredAndOtherAlgorithms(t *testing.T) {
	now := time.Unix(2_000_000_000, 0)
	s := NewSigner("secret", func() time.Time { return now })
	tok, ttl, err := s.Issue(Claims{UserID: "u", Email: "u@example.com"})
	if err != nil || ttl != 86400 {
		t.Fatalf("issue: %v %d", err, ttl)
	}
	if c, err := s.Verify(tok); err != nil || c.UserID != "u" {
		t.Fatalf("verify: %v", err)
	}
	now = now.Add(24 * time.Hour) // now == exp counts as expired, as in InvokeAI
	if _, err := s.Verify(tok); err == nil {
		t.Fatal("token valid at its expiry second")
	}
	if _, err := NewSigner("other", time.Now).Verify(tok); err == nil {
		t.Fatal("token valid under another secret")
	}
}

func TestBearerToken(t *testing.T) {
	for header, want := range map[string]string{
		"":                 "",
		"Bearer abc":       "abc",
		"bearer abc":       "abc",
		"BEARER  abc ":     "abc",
		"Basic abc":        "",
		"Bearer":           "",
		"Bearerabc":        "",
		"Token Bearer abc": "",
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		if got := BearerToken(r); got != want {
			t.Errorf("%q: %q, want %q", header, got, want)
		}
	}
}
