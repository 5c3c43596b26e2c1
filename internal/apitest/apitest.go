// Package apitest runs a real invokego (real SQLite file, real HTTP server on loopback) for API tests, with
// helpers to create users, log in and make requests as each role of the authorisation tables. It is the one
// way tests start a server; the HTTP tests themselves live in internal/api (docs/architecture.md).
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/invokego/invokego/internal/app"
	"github.com/invokego/invokego/internal/config"
)

// Env is one running server with its own root folder.
type Env struct {
	T      testing.TB
	App    *app.App
	Server *httptest.Server
	URL    string
	Root   string
	Client *http.Client
}

// Option adjusts the configuration before start.
type Option func(*config.Config)

// Multiuser turns on accounts.
func Multiuser() Option { return func(c *config.Config) { c.Multiuser = true } }

// WithConfig applies any change to the configuration.
func WithConfig(fn func(*config.Config)) Option { return Option(fn) }

// New starts a server in a fresh temporary root; it stops when the test ends.
func New(t testing.TB, opts ...Option) *Env {
	t.Helper()
	root := t.TempDir()
	cfg := config.Default()
	cfg.Root = root
	// The fixtures' goldens are fp32 and tests compare within a level;
	// precision auto would pick bf16 on CPUs with a bf16 kernel (its own
	// tolerance is tested in engine/pipeline). WithConfig may change it.
	cfg.Precision = "float32"
	for _, o := range opts {
		o(&cfg)
	}
	return Start(t, cfg)
}

// Start runs a server over an existing configuration (used to restart on the same root).
func Start(t testing.TB, cfg config.Config) *Env {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	a, err := app.New(context.Background(), app.Options{Config: cfg, Logger: logger, BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatalf("start app: %v", err)
	}
	srv := httptest.NewServer(a.Handler())
	e := &Env{T: t, App: a, Server: srv, URL: srv.URL, Root: cfg.Root, Client: &http.Client{Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	t.Cleanup(e.Close)
	return e
}

// Close stops the server and closes the database (idempotent).
func (e *Env) Close() {
	if e.Server != nil {
		e.Server.Close()
		e.Server = nil
		e.App.Close()
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// Req is a request under construction.
type Req struct {
	Method  string
	Path    string
	Token   string
	Body    io.Reader
	Headers map[string]string
}

// ReqOpt adjusts a request.
type ReqOpt func(*Req)

// Token sends a bearer token ("" sends none).
func Token(tok string) ReqOpt { return func(r *Req) { r.Token = tok } }

// JSON sends v as the JSON body.
func JSON(v any) ReqOpt {
	return func(r *Req) {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		r.Body = bytes.NewReader(b)
		r.header("Content-Type", "application/json")
	}
}

// RawBody sends bytes as the body with a content type.
func RawBody(contentType string, b []byte) ReqOpt {
	return func(r *Req) {
		r.Body = bytes.NewReader(b)
		r.header("Content-Type", contentType)
	}
}

// Header sets a request header.
func Header(k, v string) ReqOpt { return func(r *Req) { r.header(k, v) } }

func (r *Req) header(k, v string) {
	if r.Headers == nil {
		r.Headers = map[string]string{}
	}
	r.Headers[k] = v
}

// Resp is a response read in full.
type Resp struct {
	T      testing.TB
	Status int
	Header http.Header
	Body   []byte
	desc   string
}

// Do sends a request and reads the whole response.
func (e *Env) Do(method, path string, opts ...ReqOpt) *Resp {
	e.T.Helper()
	r := &Req{Method: method, Path: path}
	for _, o := range opts {
		o(r)
	}
	req, err := http.NewRequest(r.Method, e.URL+r.Path, r.Body)
	if err != nil {
		e.T.Fatalf("build request: %v", err)
	}
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	for k, v := range r.Headers {
		req.Header.Set(k, v)
	}
	res, err := e.Client.Do(req)
	if err != nil {
		e.T.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		e.T.Fatalf("read body: %v", err)
	}
	return &Resp{T: e.T, Status: res.StatusCode, Header: res.Header, Body: body, desc: method + " " + path}
}

// Expect fails the test unless the status matches, and returns the response for chaining.
func (r *Resp) Expect(status int) *Resp {
	r.T.Helper()
	if r.Status != status {
		r.T.Fatalf("%s: status %d, want %d; body: %s", r.desc, r.Status, status, truncate(r.Body))
	}
	return r
}

// Decode unmarshals the body into v.
func (r *Resp) Decode(v any) *Resp {
	r.T.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		r.T.Fatalf("%s: decode %s: %v", r.desc, truncate(r.Body), err)
	}
	return r
}

// Map decodes a JSON object body.
func (r *Resp) Map() map[string]any {
	r.T.Helper()
	var m map[string]any
	r.Decode(&m)
	return m
}

// Detail returns the string detail of an error body ("" if it is not a string).
func (r *Resp) Detail() string {
	var m map[string]any
	_ = json.Unmarshal(r.Body, &m)
	s, _ := m["detail"].(string)
	return s
}

func truncate(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}

// User is an account created for a test.
type User struct {
	ID       string
	Email    string
	Password string
	Token    string
	IsAdmin  bool
}

// DefaultPassword satisfies the strict rules.
const DefaultPassword = "Passw0rd!x"

// SetupAdmin creates the first admin through /auth/setup and logs in.
func (e *Env) SetupAdmin() User {
	e.T.Helper()
	u := User{Email: "admin@example.com", Password: DefaultPassword, IsAdmin: true}
	var res struct {
		User struct {
			UserID string `json:"user_id"`
		} `json:"user"`
	}
	e.Do("POST", "/api/v1/auth/setup", JSON(map[string]any{"email": u.Email, "display_name": "Admin", "password": u.Password})).Expect(200).Decode(&res)
	u.ID = res.User.UserID
	u.Token = e.Login(u.Email, u.Password)
	return u
}

// CreateUser makes an account through the admin API and logs it in.
func (e *Env) CreateUser(admin User, name string, isAdmin bool) User {
	e.T.Helper()
	u := User{Email: strings.ToLower(name) + "@example.com", Password: DefaultPassword, IsAdmin: isAdmin}
	var res struct {
		UserID string `json:"user_id"`
	}
	e.Do("POST", "/api/v1/auth/users", Token(admin.Token), JSON(map[string]any{
		"email": u.Email, "display_name": name, "password": u.Password, "is_admin": isAdmin})).Expect(201).Decode(&res)
	u.ID = res.UserID
	u.Token = e.Login(u.Email, u.Password)
	return u
}

// Login returns a token.
func (e *Env) Login(email, password string) string {
	e.T.Helper()
	var res struct {
		Token string `json:"token"`
	}
	e.Do("POST", "/api/v1/auth/login", JSON(map[string]any{"email": email, "password": password})).Expect(200).Decode(&res)
	if res.Token == "" {
		e.T.Fatalf("login %s: empty token", email)
	}
	return res.Token
}

// Users is the usual cast of a multi-user test: an admin, an owner and another user.
type Users struct {
	Admin, Owner, Other User
}

// Cast sets up an admin and two ordinary users.
func (e *Env) Cast() Users {
	e.T.Helper()
	admin := e.SetupAdmin()
	return Users{Admin: admin, Owner: e.CreateUser(admin, "Owner", false), Other: e.CreateUser(admin, "Other", false)}
}

// Role is who makes a request in the authorisation tables of docs/security.md: nobody logged in, the owner of
// the resource, another ordinary user, or an admin.
type Role string

// The roles of a cast.
const (
	Anon  Role = "anon"
	Owner Role = "owner"
	Other Role = "other"
	Admin Role = "admin"
)

// Roles lists every role, in the order the tables use.
var Roles = []Role{Anon, Owner, Other, Admin}

// Token is the token of the cast's user in role r ("" for Anon, which sends none).
func (u Users) Token(r Role) string {
	switch r {
	case Owner:
		return u.Owner.Token
	case Other:
		return u.Other.Token
	case Admin:
		return u.Admin.Token
	}
	return ""
}

// As sends the request as the cast's user in role r.
func (u Users) As(r Role) ReqOpt { return Token(u.Token(r)) }
