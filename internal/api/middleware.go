package api

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/auth"
)

// MediaCookie is the HttpOnly cookie that authenticates image GETs from <img> tags (docs/security.md D2).
const MediaCookie = "invokeai_media_token"

// DefaultMaxBody bounds JSON request bodies.
const DefaultMaxBody = 1 << 20

type ctxKey int

const requestIDKey ctxKey = iota

// RequestID returns the id the middleware gave the request.
func RequestID(r *http.Request) string {
	id, _ := r.Context().Value(requestIDKey).(string)
	return id
}

// statusWriter records the status and whether headers went out; it also runs a hook just before the headers
// are written (used for the sliding token refresh).
type statusWriter struct {
	http.ResponseWriter
	status      int
	wrote       bool
	beforeWrite func(status int)
}

func (w *statusWriter) WriteHeader(status int) {
	if w.wrote {
		return
	}
	if w.beforeWrite != nil {
		w.beforeWrite(status)
	}
	w.status, w.wrote = status, true
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (websocket upgrades).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func newRequestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-ID"); id != "" && len(id) <= 64 && isToken(id) {
		return id
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func isToken(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// outer applies request ids, logging, panic recovery and CORS to every request.
func (rt *Router) outer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := newRequestID(r)
		r = r.WithContext(contextWithRequestID(r, id))
		sw := &statusWriter{ResponseWriter: w}
		sw.Header().Set("X-Request-ID", id)
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				rt.logger.Error("panic in handler", "request_id", id, "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				if !sw.wrote {
					writeError(sw, r, rt.logger, errors.New("panic"))
				}
			}
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			level := slog.LevelDebug
			if status >= 500 {
				level = slog.LevelError
			} else if strings.HasPrefix(r.URL.Path, "/api/") {
				level = slog.LevelInfo
			}
			rt.logger.Log(r.Context(), level, "request", "request_id", id, "method", r.Method, "path", r.URL.Path,
				"status", status, "duration_ms", time.Since(start).Milliseconds())
		}()
		if rt.cors.handle(sw, r) {
			return
		}
		next.ServeHTTP(sw, r)
	})
}

// crossSiteWrite reports why a request that may change something must be refused as cross-site: it carries
// no bearer token (in single-user mode nothing does; in multi-user mode login and setup), and its Origin, or
// failing that its Sec-Fetch-Site, says a page of another site sent it. Such a request rides on the browser's
// network position (single-user mode has no credentials at all), so a page anywhere could change the server.
// Origins named in allow_origins are trusted; "*" trusts nobody with writes. Requests without either header
// (scripts, curl) are not cross-site.
func (rt *Router) crossSiteWrite(r *http.Request) string {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return ""
	}
	if strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		return "" // a browser never sends a bearer token by itself: the sender holds the token
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		if origin == "null" {
			return "the request comes from an opaque origin"
		}
		u, err := url.Parse(origin)
		if err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host) {
			return ""
		}
		if rt.cors.listed(origin) {
			return ""
		}
		return "the request comes from " + origin
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return "the request comes from another site"
	}
	return ""
}

// wrap enforces a route's policy, bounds its body, refreshes tokens and renders errors.
func (rt *Router) wrap(route Route) http.Handler {
	maxBody := route.MaxBody
	if maxBody == 0 {
		maxBody = DefaultMaxBody
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
		call := &Call{W: w, R: r}
		if why := rt.crossSiteWrite(r); why != "" {
			writeError(w, r, rt.logger, apperr.Forbidden("Cross-site request refused: "+why+
				". Changes need a request from invokego's own pages, a bearer token, or an origin listed in allow_origins."))
			return
		}
		p, token, err := rt.authenticate(r, route.Policy)
		if err != nil {
			writeError(w, r, rt.logger, err)
			return
		}
		call.Principal, call.Token = p, token
		if token != "" && isMutation(r.Method) && rt.multiuser && auth.BearerToken(r) != "" {
			if sw, ok := w.(*statusWriter); ok {
				sw.beforeWrite = func(status int) {
					if status >= 400 {
						return
					}
					if fresh, err := rt.auth.Refresh(r.Context(), token); err == nil {
						sw.Header().Set("X-Refreshed-Token", fresh)
					}
				}
			}
		}
		if err := route.handle(call); err != nil {
			writeError(w, r, rt.logger, err)
		}
	})
}

func isMutation(method string) bool {
	return method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch || method == http.MethodDelete
}

// authenticate resolves the caller for a route's policy. Single-user mode acts as the system admin, except on
// routes that need a real token (InvokeAI's CurrentUser).
func (rt *Router) authenticate(r *http.Request, policy access.Policy) (access.Principal, string, error) {
	if !rt.multiuser && !policy.NeedsToken() {
		return access.System(), "", nil
	}
	strictMsgs := policy.NeedsToken()
	token := auth.BearerToken(r)
	if token == "" && policy.AcceptsMediaCookie() && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		if c, err := r.Cookie(MediaCookie); err == nil {
			token = c.Value
		}
	}
	if token == "" {
		if !policy.NeedsLogin() {
			return access.Anonymous(), "", nil
		}
		if strictMsgs {
			return access.Anonymous(), "", unauthorized("Missing authentication credentials")
		}
		return access.Anonymous(), "", unauthorized("Authentication required")
	}
	p, _, err := rt.auth.Authenticate(r.Context(), token)
	if err != nil {
		if !policy.NeedsLogin() {
			return access.Anonymous(), "", nil
		}
		switch {
		case errors.Is(err, auth.ErrInvalidToken):
			if strictMsgs {
				return p, "", unauthorized("Invalid or expired authentication token")
			}
			return p, "", unauthorized("Invalid or expired token")
		case errors.Is(err, auth.ErrInactive):
			if strictMsgs {
				return p, "", unauthorized("User account is inactive or does not exist")
			}
			return p, "", unauthorized("User not found or inactive")
		default:
			return p, "", err
		}
	}
	if policy.NeedsAdmin() {
		if err := access.RequireAdmin(p); err != nil {
			return p, "", err
		}
	}
	return p, token, nil
}

// CORS is the cross-origin policy from the configuration.
type CORS struct {
	Origins     []string
	Credentials bool
	Methods     []string
	Headers     []string
}

// listed reports whether origin is named in allow_origins (not merely matched by "*").
func (c CORS) listed(origin string) bool {
	return origin != "null" && slices.Contains(c.Origins, origin)
}

// handle adds CORS headers and answers preflights; it returns true when the request is fully handled. An
// origin named in allow_origins is echoed, with credentials when allow_credentials says so; "*" lets every other
// origin read without credentials ("Access-Control-Allow-Origin: *", which browsers never combine with
// cookies), so it never lends the user's credentials to an arbitrary site. The "null" origin (sandboxed frames,
// local files) is never allowed (docs/security.md "Cross-site requests").
func (c CORS) handle(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" || len(c.Origins) == 0 {
		return false
	}
	listed := c.listed(origin)
	if !listed && !slices.Contains(c.Origins, "*") {
		return false
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	if listed {
		h.Set("Access-Control-Allow-Origin", origin)
		if c.Credentials {
			h.Set("Access-Control-Allow-Credentials", "true")
		}
	} else {
		h.Set("Access-Control-Allow-Origin", "*")
	}
	h.Set("Access-Control-Expose-Headers", "X-Refreshed-Token, X-Request-ID")
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		methods := strings.Join(c.Methods, ", ")
		if len(c.Methods) == 0 || slices.Contains(c.Methods, "*") {
			methods = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
		}
		h.Set("Access-Control-Allow-Methods", methods)
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" && (len(c.Headers) == 0 || slices.Contains(c.Headers, "*")) {
			h.Set("Access-Control-Allow-Headers", req)
		} else if len(c.Headers) > 0 {
			h.Set("Access-Control-Allow-Headers", strings.Join(c.Headers, ", "))
		}
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusOK)
		return true
	}
	return false
}
