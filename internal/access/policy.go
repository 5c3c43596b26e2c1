package access

// Policy is the access rule a route is registered with. A route without one cannot be registered.
type Policy struct {
	name string
	// login: the caller must be authenticated (in single-user mode the synthetic admin always is).
	login bool
	// admin: the caller must be an admin.
	admin bool
	// tokenOnly: a real bearer token is required even in single-user mode (InvokeAI's CurrentUser).
	tokenOnly bool
	// media: the HttpOnly media cookie is accepted in place of the bearer header (GET/HEAD binary routes only).
	media bool
}

// The policies. Public routes are the allow-list of docs/security.md D1.
var (
	Public     = Policy{name: "public"}
	LoggedIn   = Policy{name: "user", login: true}
	Admin      = Policy{name: "admin", login: true, admin: true}
	TokenUser  = Policy{name: "token_user", login: true, tokenOnly: true}
	TokenAdmin = Policy{name: "token_admin", login: true, admin: true, tokenOnly: true}
	Media      = Policy{name: "media", login: true, media: true}
)

// Name identifies the policy in the OpenAPI document and logs.
func (p Policy) Name() string { return p.name }

// Valid is false for the zero Policy, which registration refuses.
func (p Policy) Valid() bool { return p.name != "" }

// NeedsLogin reports whether anonymous callers are refused.
func (p Policy) NeedsLogin() bool { return p.login }

// NeedsAdmin reports whether non-admins are refused.
func (p Policy) NeedsAdmin() bool { return p.admin }

// NeedsToken reports whether single-user mode still needs a bearer token.
func (p Policy) NeedsToken() bool { return p.tokenOnly }

// AcceptsMediaCookie reports whether the media cookie authenticates this route.
func (p Policy) AcceptsMediaCookie() bool { return p.media }
