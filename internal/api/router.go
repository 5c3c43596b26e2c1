// Package api is invokego's HTTP layer: routes registered with their access policy, request binding with
// FastAPI-shaped errors, the OpenAPI document generated from the handlers' Go types, and the middleware
// (request ids, logging, panics, CORS, authentication, sliding token refresh). Handlers parse and respond;
// services decide.
package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"sort"
	"strings"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/auth"
)

// Op describes a route for registration and documentation.
type Op struct {
	Method  string
	Path    string
	Summary string
	Tags    []string
	// ID is the OpenAPI operationId; derived from the summary when empty.
	ID string
	// Policy is mandatory: registration panics without it, so no route can exist without a rule.
	Policy access.Policy
	// Status is the success status (default 200).
	Status int
	// MaxBody bounds the request body in bytes (default 1 MiB).
	MaxBody int64
	// Produces names the media type of raw responses (image/png, application/zip, ...), for the document.
	Produces string
	// Description is longer prose for the document.
	Description string
}

// Call is one request as a handler sees it.
type Call struct {
	W         http.ResponseWriter
	R         *http.Request
	Principal access.Principal
	// Token is the bearer token the caller presented, if any.
	Token string
}

// Context returns the request's context.
func (c *Call) Context() context.Context { return c.R.Context() }

// Route is a registered operation.
type Route struct {
	Op
	in     reflect.Type // input struct (path, query, body fields), or nil
	out    reflect.Type // JSON response type, or nil for raw routes
	handle func(c *Call) error
}

// JSON registers a handler whose input is bound from the request into In and whose result is written as JSON.
func JSON[In, Out any](op Op, fn func(c *Call, in *In) (Out, error)) Route {
	return Route{Op: op, in: typeOf[In](), out: typeOf[Out](), handle: func(c *Call) error {
		in := new(In)
		if err := Bind(c.R, in); err != nil {
			return err
		}
		out, err := fn(c, in)
		if err != nil {
			return err
		}
		status := op.Status
		if status == 0 {
			status = http.StatusOK
		}
		return WriteJSON(c.W, status, out)
	}}
}

// Raw registers a handler that writes its own response (files, archives, HTML).
func Raw[In any](op Op, fn func(c *Call, in *In) error) Route {
	return Route{Op: op, in: typeOf[In](), handle: func(c *Call) error {
		in := new(In)
		if err := Bind(c.R, in); err != nil {
			return err
		}
		return fn(c, in)
	}}
}

// NoInput is the input of routes without parameters.
type NoInput struct{}

func typeOf[T any]() reflect.Type {
	t := reflect.TypeOf((*T)(nil)).Elem()
	if t == reflect.TypeOf(NoInput{}) {
		return nil
	}
	return t
}

// Authenticator resolves bearer tokens; *auth.Service implements it.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (access.Principal, *auth.Claims, error)
	Refresh(ctx context.Context, token string) (string, error)
}

// Router holds every route and serves them.
type Router struct {
	mux       *http.ServeMux
	pathsOnly *http.ServeMux // the same paths without methods, to tell 405 from 404
	routes    []Route
	auth      Authenticator
	multiuser bool
	logger    *slog.Logger
	cors      CORS
	fallback  http.Handler
	schemas   []func(*Schemas)
	mounts    []Mount
	Info      Info
}

// Info is the document's title and version.
type Info struct {
	Title   string
	Version string
}

// NewRouter builds an empty router.
func NewRouter(a Authenticator, multiuser bool, logger *slog.Logger, cors CORS) *Router {
	return &Router{
		mux: http.NewServeMux(), pathsOnly: http.NewServeMux(), auth: a, multiuser: multiuser, logger: logger, cors: cors,
		Info: Info{Title: "invokego", Version: "dev"},
	}
}

// Multiuser reports the server's mode.
func (rt *Router) Multiuser() bool { return rt.multiuser }

// Add registers routes. It panics on a route without a policy or a duplicate, since both are programming errors
// that must fail at start-up, never silently at request time.
func (rt *Router) Add(routes ...Route) {
	for _, r := range routes {
		if !r.Policy.Valid() {
			panic(fmt.Sprintf("api: route %s %s registered without an access policy", r.Method, r.Path))
		}
		if r.Method == "" || !strings.HasPrefix(r.Path, "/") {
			panic(fmt.Sprintf("api: route %q %q is malformed", r.Method, r.Path))
		}
		for _, existing := range rt.routes {
			if existing.Method == r.Method && existing.Path == r.Path {
				panic(fmt.Sprintf("api: route %s %s registered twice", r.Method, r.Path))
			}
		}
		rt.routes = append(rt.routes, r)
		h := rt.wrap(r)
		for _, pattern := range muxPatterns(r.Path) {
			rt.mux.Handle(r.Method+" "+pattern, h) // a GET pattern also answers HEAD
			func() {
				defer func() { _ = recover() }() // several methods share a path: the first registration is enough
				rt.pathsOnly.Handle(pattern, http.NotFoundHandler())
			}()
		}
	}
}

// muxPatterns turns an InvokeAI path into ServeMux patterns: a trailing slash is matched exactly (not as a
// subtree), and the same path without the slash is accepted too, as FastAPI clients expect.
func muxPatterns(path string) []string {
	if path != "/" && strings.HasSuffix(path, "/") {
		return []string{path + "{$}", strings.TrimSuffix(path, "/")}
	}
	return []string{path}
}

// Routes lists the registered routes in a stable order.
func (rt *Router) Routes() []Route {
	out := append([]Route(nil), rt.routes...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Method < out[j].Method
	})
	return out
}

// Mount is a raw handler served under a path prefix, outside the JSON API: the Socket.IO endpoint, whose
// protocol is not request/response. Mounts are not in Routes() or the OpenAPI document; Mounts() lists them.
type Mount struct {
	// Prefix is a subtree ("/ws/socket.io/"): every method and every path below it reaches Handler.
	Prefix string
	// Policy is enforced before Handler runs, as for routes. A Public mount authenticates by itself.
	Policy  access.Policy
	Handler http.Handler
	// Reason documents why the mount exists outside Routes and, when public, how it authenticates; it is
	// mandatory for public mounts so that no anonymous surface appears without an explanation.
	Reason string
}

// Mount registers a raw handler under a prefix. Like Add, it panics on a missing policy, a malformed or
// duplicate prefix, or a public mount without a reason.
func (rt *Router) Mount(m Mount) {
	if !m.Policy.Valid() {
		panic(fmt.Sprintf("api: mount %s registered without an access policy", m.Prefix))
	}
	if !strings.HasPrefix(m.Prefix, "/") || !strings.HasSuffix(m.Prefix, "/") || m.Handler == nil {
		panic(fmt.Sprintf("api: mount %q is malformed (want a /prefix/ and a handler)", m.Prefix))
	}
	if !m.Policy.NeedsLogin() && strings.TrimSpace(m.Reason) == "" {
		panic(fmt.Sprintf("api: public mount %s needs a reason", m.Prefix))
	}
	for _, existing := range rt.mounts {
		if existing.Prefix == m.Prefix {
			panic(fmt.Sprintf("api: mount %s registered twice", m.Prefix))
		}
	}
	rt.mounts = append(rt.mounts, m)
	policy, h := m.Policy, m.Handler
	rt.mux.Handle(m.Prefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if policy.NeedsLogin() {
			if _, _, err := rt.authenticate(r, policy); err != nil {
				writeError(w, r, rt.logger, err)
				return
			}
		}
		h.ServeHTTP(w, r)
	}))
}

// Mounts lists the raw handlers registered with Mount, in registration order.
func (rt *Router) Mounts() []Mount { return append([]Mount(nil), rt.mounts...) }

// SetFallback sets the handler for paths outside the API (the web UI).
func (rt *Router) SetFallback(h http.Handler) { rt.fallback = h }

// AddSchemas registers a callback that adds component schemas (node templates) to the OpenAPI document.
func (rt *Router) AddSchemas(fn func(*Schemas)) { rt.schemas = append(rt.schemas, fn) }

// ServeHTTP dispatches with the outer middleware applied.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt.outer(http.HandlerFunc(rt.dispatch)).ServeHTTP(w, r)
}

func (rt *Router) dispatch(w http.ResponseWriter, r *http.Request) {
	if _, pattern := rt.mux.Handler(r); pattern != "" {
		rt.mux.ServeHTTP(w, r) // ServeHTTP, not the returned handler, so that path values are set
		return
	}
	isAPI := strings.HasPrefix(r.URL.Path, "/api/")
	if !isAPI && rt.fallback != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		rt.fallback.ServeHTTP(w, r)
		return
	}
	if _, pattern := rt.pathsOnly.Handler(r); pattern != "" {
		w.Header().Set("Allow", strings.Join(rt.allowed(r), ", "))
		writeError(w, r, rt.logger, &statusError{http.StatusMethodNotAllowed, "Method Not Allowed"})
		return
	}
	writeError(w, r, rt.logger, &statusError{http.StatusNotFound, "Not Found"})
}

// allowed lists the methods registered for the request's path, for a 405's Allow header.
func (rt *Router) allowed(r *http.Request) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := rt.mux.Handler(probe); pattern != "" {
			out = append(out, m)
		}
	}
	return out
}

// statusError is a plain status with FastAPI's wording.
type statusError struct {
	status int
	detail string
}

func (e *statusError) Error() string { return e.detail }
