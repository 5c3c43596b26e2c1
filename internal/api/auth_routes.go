package api

import (
	"mime"
	"net"
	"net/http"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/auth"
)

var authTags = []string{"authentication"}

type loginRequest struct {
	Email      string `json:"email"`
	Password   string `json:"password"`
	RememberMe bool   `json:"remember_me" default:"false"`
}

type setupRequest struct {
	Email       string  `json:"email"`
	DisplayName *string `json:"display_name,omitempty"` // null as good as absent, as pydantic's Optional
	Password    string  `json:"password"`
}

// SetupResponse is POST /auth/setup's answer.
type SetupResponse struct {
	Success bool         `json:"success"`
	User    auth.UserDTO `json:"user"`
}

// LogoutResponse is POST /auth/logout's answer.
type LogoutResponse struct {
	Success bool `json:"success"`
}

// GeneratedPassword is GET /auth/generate-password's answer.
type GeneratedPassword struct {
	Password string `json:"password"`
}

type createUserRequest struct {
	Email       string  `json:"email"`
	DisplayName *string `json:"display_name,omitempty"`
	Password    string  `json:"password"`
	IsAdmin     bool    `json:"is_admin" default:"false"`
}

// setMediaCookie sets the HttpOnly cookie images load with, scoped to the API and unusable cross-site for writes.
func setMediaCookie(c *Call, token string, maxAge int64) {
	http.SetCookie(c.W, &http.Cookie{
		Name: MediaCookie, Value: token, Path: "/api", MaxAge: int(maxAge),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: c.R.TLS != nil,
	})
}

func clearMediaCookie(c *Call) {
	http.SetCookie(c.W, &http.Cookie{Name: MediaCookie, Value: "", Path: "/api", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// AuthRoutes are /api/v1/auth/*.
func AuthRoutes(svc *auth.Service) []Route {
	const p = "/api/v1/auth"
	return []Route{
		JSON(Op{Method: http.MethodGet, Path: p + "/status", Summary: "Get Setup Status", Tags: authTags, Policy: access.Public},
			func(c *Call, _ *NoInput) (auth.SetupStatus, error) { return svc.Status(c.Context()) }),
		JSON(Op{Method: http.MethodPost, Path: p + "/login", Summary: "Login", Tags: authTags, Policy: access.Public},
			func(c *Call, in *struct {
				Body loginRequest `body:"json"`
			}) (*auth.LoginResult, error) {
				if err := requireJSON(c); err != nil {
					return nil, err
				}
				res, err := svc.Login(c.Context(), in.Body.Email, in.Body.Password, in.Body.RememberMe, clientAddress(c.R))
				if err != nil {
					return nil, err
				}
				setMediaCookie(c, res.Token, res.ExpiresIn)
				return res, nil
			}),
		JSON(Op{Method: http.MethodPost, Path: p + "/logout", Summary: "Logout", Tags: authTags, Policy: access.TokenUser},
			func(c *Call, _ *NoInput) (LogoutResponse, error) {
				if err := svc.Logout(c.Context(), c.Principal); err != nil {
					return LogoutResponse{}, err
				}
				clearMediaCookie(c)
				return LogoutResponse{Success: true}, nil
			}),
		// In single-user mode media needs no cookie; the call succeeds and sets nothing, as at HEAD.
		JSON(Op{Method: http.MethodPost, Path: p + "/media-cookie", Summary: "Issue Media Cookie", Tags: authTags, Policy: access.LoggedIn},
			func(c *Call, _ *NoInput) (LogoutResponse, error) {
				if c.Token != "" {
					setMediaCookie(c, c.Token, int64(auth.TokenTTL.Seconds()))
				}
				return LogoutResponse{Success: true}, nil
			}),
		JSON(Op{Method: http.MethodGet, Path: p + "/me", Summary: "Get Current User Info", Tags: authTags, Policy: access.TokenUser},
			func(c *Call, _ *NoInput) (*auth.UserDTO, error) { return svc.Me(c.Context(), c.Principal) }),
		JSON(Op{Method: http.MethodPatch, Path: p + "/me", Summary: "Update Current User", Tags: authTags, Policy: access.TokenUser},
			func(c *Call, in *struct {
				Body auth.ProfileChanges `body:"json"`
			}) (*auth.UserDTO, error) {
				u, err := svc.UpdateMe(c.Context(), c.Principal, in.Body)
				if err == nil && in.Body.NewPassword != nil {
					keepSignedIn(c, svc)
				}
				return u, err
			}),
		JSON(Op{Method: http.MethodPost, Path: p + "/setup", Summary: "Setup Admin", Tags: authTags, Policy: access.Public},
			func(c *Call, in *struct {
				Body setupRequest `body:"json"`
			}) (*SetupResponse, error) {
				if err := requireJSON(c); err != nil {
					return nil, err
				}
				u, err := svc.Setup(c.Context(), in.Body.Email, strValue(in.Body.DisplayName), in.Body.Password)
				if err != nil {
					return nil, err
				}
				return &SetupResponse{Success: true, User: *u}, nil
			}),
		JSON(Op{Method: http.MethodGet, Path: p + "/generate-password", Summary: "Generate Password", Tags: authTags, Policy: access.TokenUser},
			func(c *Call, _ *NoInput) (GeneratedPassword, error) {
				pw, err := auth.GeneratePassword()
				return GeneratedPassword{Password: pw}, err
			}),
		JSON(Op{Method: http.MethodGet, Path: p + "/users", Summary: "List Users", Tags: authTags, Policy: access.TokenAdmin},
			func(c *Call, _ *NoInput) ([]auth.UserDTO, error) { return svc.ListUsers(c.Context()) }),
		JSON(Op{Method: http.MethodPost, Path: p + "/users", Summary: "Create User", Tags: authTags, Policy: access.TokenAdmin, Status: http.StatusCreated},
			func(c *Call, in *struct {
				Body createUserRequest `body:"json"`
			}) (*auth.UserDTO, error) {
				return svc.CreateUser(c.Context(), in.Body.Email, strValue(in.Body.DisplayName), in.Body.Password, in.Body.IsAdmin)
			}),
		JSON(Op{Method: http.MethodGet, Path: p + "/users/{user_id}", Summary: "Get User", Tags: authTags, Policy: access.TokenAdmin},
			func(c *Call, in *struct {
				UserID string `path:"user_id"`
			}) (*auth.UserDTO, error) {
				return svc.GetUser(c.Context(), in.UserID)
			}),
		JSON(Op{Method: http.MethodPatch, Path: p + "/users/{user_id}", Summary: "Update User", Tags: authTags, Policy: access.TokenAdmin},
			func(c *Call, in *struct {
				UserID string          `path:"user_id"`
				Body   auth.UserUpdate `body:"json"`
			}) (*auth.UserDTO, error) {
				u, err := svc.UpdateUser(c.Context(), in.UserID, in.Body)
				if err == nil && in.Body.Password != nil && in.UserID == c.Principal.UserID {
					keepSignedIn(c, svc)
				}
				return u, err
			}),
		JSON(Op{Method: http.MethodDelete, Path: p + "/users/{user_id}", Summary: "Delete User", Tags: authTags, Policy: access.TokenAdmin,
			Description: "Deletes the account. Its boards, images, workflows and queue items become the deleting admin's, or are deleted with delete_content=true."},
			func(c *Call, in *struct {
				UserID        string `path:"user_id"`
				DeleteContent bool   `query:"delete_content" default:"false"`
			}) (*auth.DeleteResult, error) {
				return svc.DeleteUser(c.Context(), c.Principal, in.UserID, in.DeleteContent)
			}),
	}
}

// keepSignedIn answers a caller whose own password change just revoked their token with a replacement, in
// X-Refreshed-Token and the media cookie, as InvokeAI does; their other sessions stay revoked.
func keepSignedIn(c *Call, svc *auth.Service) {
	fresh, ttl, err := svc.ReissueToken(c.Context(), c.Principal, c.Token)
	if err != nil {
		return // signed out like every other session; the change itself stands
	}
	c.W.Header().Set("X-Refreshed-Token", fresh)
	setMediaCookie(c, fresh, ttl)
}

// strValue is *s, or "" for nil.
func strValue(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// requireJSON refuses a body that does not say it is JSON. Login and setup take no credentials, so a page on
// another site could submit them as a form (text/plain, urlencoded, multipart) without a preflight; a JSON
// content type from another origin needs one, which CORS refuses (docs/security.md "Cross-site requests").
func requireJSON(c *Call) error {
	mt, _, err := mime.ParseMediaType(c.R.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return apperr.New(http.StatusUnsupportedMediaType, "The body must be application/json")
	}
	return nil
}

// clientAddress is the network address a request came from, without its port (no forwarding header is
// trusted: a proxy in front of invokego is one client).
func clientAddress(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}
