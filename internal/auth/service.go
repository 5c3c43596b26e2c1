// Package auth owns accounts, passwords, tokens and login: InvokeAI's /api/v1/auth behaviour with the
// hardening of docs/security.md D1–D6. It answers "who is calling"; the access package answers "may they".
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/store"
)

// UserStore is the part of the store this service needs.
type UserStore interface {
	CreateUser(ctx context.Context, u store.User) (*store.User, error)
	UserByID(ctx context.Context, id string) (*store.User, error)
	UserByEmail(ctx context.Context, email string) (*store.User, error)
	ListUsers(ctx context.Context, includeSystem bool, limit, offset int) ([]store.User, error)
	CountActiveAdmins(ctx context.Context) (int, error)
	UpdateUser(ctx context.Context, id string, ch store.UserChanges, guardLastAdmin bool) (*store.User, error)
	SetLastLogin(ctx context.Context, id, at string) error
	DeleteUser(ctx context.Context, id, reassignTo string, guardLastAdmin bool) (*store.DeletedContent, error)
}

// ContentRemover deletes the files of content removed with a user (image files, workflow thumbnails).
type ContentRemover interface {
	RemoveUserFiles(ctx context.Context, content *store.DeletedContent)
}

// Options configure the service.
type Options struct {
	Multiuser  bool
	Strict     bool
	Secret     string
	BcryptCost int
	Now        func() time.Time
	Logger     *slog.Logger
}

// Service implements accounts and authentication.
type Service struct {
	users    UserStore
	signer   *Signer
	throttle *throttle
	opts     Options
	// dummyHash is compared against for unknown emails, so timing does not reveal which exist. Built on first
	// use: a bcrypt hash at cost 12 takes a quarter of a second, too long for start-up.
	dummyOnce sync.Once
	dummyHash string

	mu        sync.Mutex
	onRevoke  []func(userID string)
	onDisable []func(userID string)
	removers  []ContentRemover
}

// NewService builds the service.
func NewService(users UserStore, opts Options) (*Service, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.BcryptCost == 0 {
		opts.BcryptCost = DefaultBcryptCost
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Service{
		users:    users,
		signer:   NewSigner(opts.Secret, opts.Now),
		throttle: newThrottle(opts.Now),
		opts:     opts,
	}, nil
}

func (s *Service) dummy() string {
	s.dummyOnce.Do(func() { s.dummyHash, _ = HashPassword("invokego-timing-equaliser", s.opts.BcryptCost) })
	return s.dummyHash
}

// Multiuser reports the mode.
func (s *Service) Multiuser() bool { return s.opts.Multiuser }

// OnRevoke registers a callback run after a user's tokens are revoked (sockets disconnect on it).
func (s *Service) OnRevoke(fn func(userID string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onRevoke = append(s.onRevoke, fn)
}

// OnDisable registers a callback run after a user is deleted or deactivated; their queued work has already
// been canceled in the database, and the queue uses this to stop the item of theirs that is running.
func (s *Service) OnDisable(fn func(userID string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onDisable = append(s.onDisable, fn)
}

func (s *Service) disabled(userID string) {
	s.mu.Lock()
	fns := append([]func(string){}, s.onDisable...)
	s.mu.Unlock()
	for _, fn := range fns {
		fn(userID)
	}
}

// AddContentRemover registers a feature that deletes files of deleted users' content (the gallery's images,
// the workflow library's thumbnails).
func (s *Service) AddContentRemover(r ContentRemover) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removers = append(s.removers, r)
}

func (s *Service) revoked(userID string) {
	s.mu.Lock()
	fns := append([]func(string){}, s.onRevoke...)
	s.mu.Unlock()
	for _, fn := range fns {
		fn(userID)
	}
}

// UserDTO is the user as the API shows it.
type UserDTO struct {
	UserID      string  `json:"user_id"`
	Email       string  `json:"email"`
	DisplayName *string `json:"display_name"`
	IsAdmin     bool    `json:"is_admin"`
	IsActive    bool    `json:"is_active"`
	CreatedAt   string  `json:"created_at"`
	UpdatedAt   string  `json:"updated_at"`
	LastLoginAt *string `json:"last_login_at"`
}

// isoTimestamp turns SQLite's "YYYY-MM-DD HH:MM:SS.SSS" into pydantic's "YYYY-MM-DDTHH:MM:SS.ffffff".
// The SQLite driver hands DATETIME columns back as time values, which arrive here in RFC 3339 ("...T...Z"); both
// forms are UTC and are written naive, as pydantic renders the seed's naive datetimes.
func isoTimestamp(s string) string {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999", time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC().Format("2006-01-02T15:04:05.000000")
		}
	}
	return strings.Replace(s, " ", "T", 1)
}

// ToDTO converts a stored user.
func ToDTO(u *store.User) UserDTO {
	return UserDTO{
		UserID: u.UserID, Email: u.Email, DisplayName: u.DisplayName, IsAdmin: u.IsAdmin, IsActive: u.IsActive,
		CreatedAt: isoTimestamp(u.CreatedAt), UpdatedAt: isoTimestamp(u.UpdatedAt), LastLoginAt: u.LastLoginAt,
	}
}

// SetupStatus is GET /auth/status.
type SetupStatus struct {
	SetupRequired          bool    `json:"setup_required"`
	MultiuserEnabled       bool    `json:"multiuser_enabled"`
	StrictPasswordChecking bool    `json:"strict_password_checking"`
	AdminEmail             *string `json:"admin_email"`
}

// Status reports whether the first admin still has to be created. admin_email is never disclosed.
func (s *Service) Status(ctx context.Context) (SetupStatus, error) {
	st := SetupStatus{MultiuserEnabled: s.opts.Multiuser, StrictPasswordChecking: s.opts.Strict}
	if !s.opts.Multiuser {
		return st, nil
	}
	n, err := s.users.CountActiveAdmins(ctx)
	if err != nil {
		return st, err
	}
	st.SetupRequired = n == 0
	return st, nil
}

var errMultiuserDisabled = apperr.Forbidden("Multiuser mode is disabled. Authentication is not required in single-user mode.")

// Setup creates the first admin while no active admin exists.
func (s *Service) Setup(ctx context.Context, email, displayName, password string) (*UserDTO, error) {
	if !s.opts.Multiuser {
		return nil, errMultiuserDisabled
	}
	n, err := s.users.CountActiveAdmins(ctx)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		return nil, apperr.BadRequest("Administrator account already configured")
	}
	return s.createUser(ctx, email, displayName, password, true, s.opts.Strict)
}

// CreateUser is the admin route POST /auth/users.
func (s *Service) CreateUser(ctx context.Context, email, displayName, password string, isAdmin bool) (*UserDTO, error) {
	return s.createUser(ctx, email, displayName, password, isAdmin, s.opts.Strict)
}

// CreateUserStrict is the CLI's user add: the strict rules always apply.
func (s *Service) CreateUserStrict(ctx context.Context, email, displayName, password string, isAdmin bool) (*UserDTO, error) {
	return s.createUser(ctx, email, displayName, password, isAdmin, true)
}

func (s *Service) createUser(ctx context.Context, email, displayName, password string, isAdmin, strict bool) (*UserDTO, error) {
	norm, err := NormalizeEmail(email)
	if err != nil {
		return nil, invalidEmail(email)
	}
	if err := CheckPassword(password, strict); err != nil {
		return nil, apperr.BadRequest(err.Error())
	}
	hash, err := HashPassword(password, s.opts.BcryptCost)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	var dn *string
	if displayName != "" {
		dn = &displayName
	}
	u, err := s.users.CreateUser(ctx, store.User{UserID: uuid.NewString(), Email: norm, DisplayName: dn, PasswordHash: hash, IsAdmin: isAdmin, IsActive: true})
	if errors.Is(err, store.ErrConflict) {
		return nil, apperr.BadRequest(fmt.Sprintf("User with email %s already exists", norm))
	}
	if err != nil {
		return nil, err
	}
	dto := ToDTO(u)
	return &dto, nil
}

func invalidEmail(email string) error {
	return apperr.InvalidField("value is not a valid email address: The email address is not valid.", email, "body", "email")
}

// LoginResult is POST /auth/login's answer.
type LoginResult struct {
	Token     string  `json:"token"`
	User      UserDTO `json:"user"`
	ExpiresIn int64   `json:"expires_in"`
}

// Login checks a password, applying the throttle, and issues a token. source is the address the attempt came
// from: failures are counted per email and source together, so that nobody can lock an account out by failing
// to log into it from elsewhere (docs/security.md D4).
func (s *Service) Login(ctx context.Context, email, password string, rememberMe bool, source string) (*LoginResult, error) {
	if !s.opts.Multiuser {
		return nil, errMultiuserDisabled
	}
	norm, err := NormalizeEmail(email)
	if err != nil {
		return nil, invalidEmail(email)
	}
	key := norm + "\x00" + source
	if wait := s.throttle.check(key); wait > 0 {
		secs := int(wait.Round(time.Second) / time.Second)
		return nil, apperr.TooMany("Too many failed login attempts. Try again later.").With("Retry-After", fmt.Sprint(secs))
	}
	u, err := s.users.UserByEmail(ctx, norm)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if u == nil || u.UserID == store.SystemUserID {
		VerifyPassword(password, s.dummy())
		s.throttle.fail(key)
		return nil, incorrectLogin()
	}
	if !VerifyPassword(password, u.PasswordHash) {
		s.throttle.fail(key)
		return nil, incorrectLogin()
	}
	if !u.IsActive {
		return nil, apperr.Forbidden("User account is disabled")
	}
	s.throttle.reset(key)
	now := s.opts.Now().UTC().Format("2006-01-02T15:04:05.000000+00:00")
	if err := s.users.SetLastLogin(ctx, u.UserID, now); err != nil {
		return nil, fmt.Errorf("record login: %w", err)
	}
	u.LastLoginAt = &now
	tok, ttl, err := s.issueFor(u, rememberMe)
	if err != nil {
		return nil, err
	}
	return &LoginResult{Token: tok, User: ToDTO(u), ExpiresIn: ttl}, nil
}

func incorrectLogin() error {
	return apperr.Unauthorized("Incorrect email or password").With("WWW-Authenticate", "Bearer")
}

// ErrInactive means the token is valid but its user is gone, inactive or revoked.
var ErrInactive = errors.New("user not found or inactive")

// Authenticate verifies a token and loads the caller from the database: role and active flag come from the
// row, never from the claims, and a token from an older epoch is refused (docs/security.md D3).
func (s *Service) Authenticate(ctx context.Context, token string) (access.Principal, *Claims, error) {
	c, err := s.signer.Verify(token)
	if err != nil {
		return access.Anonymous(), nil, ErrInvalidToken
	}
	u, err := s.users.UserByID(ctx, c.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return access.Anonymous(), nil, ErrInactive
	}
	if err != nil {
		return access.Anonymous(), nil, err
	}
	if !u.IsActive || u.TokenEpoch != c.TokenEpoch || u.UserID == store.SystemUserID {
		return access.Anonymous(), nil, ErrInactive
	}
	p := access.Principal{UserID: u.UserID, Email: u.Email, IsAdmin: u.IsAdmin, Authenticated: true}
	if u.DisplayName != nil {
		p.DisplayName = *u.DisplayName
	}
	return p, c, nil
}

// Refresh re-issues a token for the sliding window, from the database record and only while the old token is
// still valid (so a logout or password change inside the same request is not undone).
func (s *Service) Refresh(ctx context.Context, token string) (string, error) {
	p, c, err := s.Authenticate(ctx, token)
	if err != nil {
		return "", err
	}
	u, err := s.users.UserByID(ctx, p.UserID)
	if err != nil {
		return "", err
	}
	tok, _, err := s.issueFor(u, c.RememberMe)
	return tok, err
}

// IssueTokenFor signs a token for an active account without a password, for the command line, which acts with
// the database's own authority: an admin who is locked out by the login throttle, or who lost a password, gets
// a token there (invokego user token).
func (s *Service) IssueTokenFor(ctx context.Context, email string, rememberMe bool) (*LoginResult, error) {
	norm, err := NormalizeEmail(email)
	if err != nil {
		return nil, invalidEmail(email)
	}
	u, err := s.users.UserByEmail(ctx, norm)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.UserID == store.SystemUserID) {
		return nil, apperr.NotFound("User not found")
	}
	if err != nil {
		return nil, err
	}
	if !u.IsActive {
		return nil, apperr.Forbidden("User account is disabled")
	}
	tok, ttl, err := s.issueFor(u, rememberMe)
	if err != nil {
		return nil, err
	}
	return &LoginResult{Token: tok, User: ToDTO(u), ExpiresIn: ttl}, nil
}

// ReissueToken gives the caller a token of their current epoch after a change of their own revoked the token
// they called with (a password change): the person who made the change stays signed in, every other session of
// theirs ends. oldToken must carry a valid signature and belong to p; the route calls this only after the change
// succeeded within the same request.
func (s *Service) ReissueToken(ctx context.Context, p access.Principal, oldToken string) (string, int64, error) {
	c, err := s.signer.Verify(oldToken)
	if err != nil || c.UserID != p.UserID {
		return "", 0, ErrInvalidToken
	}
	u, err := s.users.UserByID(ctx, p.UserID)
	if err != nil {
		return "", 0, err
	}
	if !u.IsActive {
		return "", 0, ErrInvalidToken
	}
	return s.issueFor(u, c.RememberMe)
}

// issueFor signs a token for the user as the database has them now (role and epoch), of the given kind.
func (s *Service) issueFor(u *store.User, rememberMe bool) (string, int64, error) {
	return s.signer.Issue(Claims{UserID: u.UserID, Email: u.Email, IsAdmin: u.IsAdmin, RememberMe: rememberMe, TokenEpoch: u.TokenEpoch})
}

// Logout revokes every token of the caller by bumping the epoch.
func (s *Service) Logout(ctx context.Context, p access.Principal) error {
	if _, err := s.users.UpdateUser(ctx, p.UserID, store.UserChanges{RevokeTokens: true}, false); err != nil {
		return fmt.Errorf("revoke tokens: %w", err)
	}
	s.revoked(p.UserID)
	return nil
}

// Me returns the caller's record.
func (s *Service) Me(ctx context.Context, p access.Principal) (*UserDTO, error) {
	u, err := s.users.UserByID(ctx, p.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apperr.NotFound("User not found")
	}
	if err != nil {
		return nil, err
	}
	dto := ToDTO(u)
	return &dto, nil
}

// ProfileChanges is PATCH /auth/me.
type ProfileChanges struct {
	DisplayName     *string `json:"display_name,omitempty"`
	CurrentPassword *string `json:"current_password,omitempty"`
	NewPassword     *string `json:"new_password,omitempty"`
}

// UpdateMe changes the caller's display name and/or password (which needs the current one).
func (s *Service) UpdateMe(ctx context.Context, p access.Principal, ch ProfileChanges) (*UserDTO, error) {
	u, err := s.users.UserByID(ctx, p.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apperr.NotFound("User not found")
	}
	if err != nil {
		return nil, err
	}
	var uc store.UserChanges
	uc.DisplayName = ch.DisplayName
	if ch.NewPassword != nil {
		if ch.CurrentPassword == nil || *ch.CurrentPassword == "" {
			return nil, apperr.BadRequest("Current password is required to set a new password")
		}
		if !VerifyPassword(*ch.CurrentPassword, u.PasswordHash) {
			return nil, apperr.BadRequest("Current password is incorrect")
		}
		if err := CheckPassword(*ch.NewPassword, s.opts.Strict); err != nil {
			return nil, apperr.BadRequest(err.Error())
		}
		hash, err := HashPassword(*ch.NewPassword, s.opts.BcryptCost)
		if err != nil {
			return nil, err
		}
		uc.PasswordHash, uc.RevokeTokens = &hash, true
	}
	u, err = s.users.UpdateUser(ctx, p.UserID, uc, false)
	if err != nil {
		return nil, err
	}
	if uc.RevokeTokens {
		s.revoked(p.UserID)
	}
	dto := ToDTO(u)
	return &dto, nil
}

// ListUsers returns the accounts, without the system row, newest first (InvokeAI's limit of 100 is lifted to 10000).
func (s *Service) ListUsers(ctx context.Context) ([]UserDTO, error) {
	us, err := s.users.ListUsers(ctx, false, 10000, 0)
	if err != nil {
		return nil, err
	}
	out := make([]UserDTO, 0, len(us))
	for i := range us {
		out = append(out, ToDTO(&us[i]))
	}
	return out, nil
}

// GetUser returns one account.
func (s *Service) GetUser(ctx context.Context, id string) (*UserDTO, error) {
	u, err := s.users.UserByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apperr.NotFound("User not found")
	}
	if err != nil {
		return nil, err
	}
	dto := ToDTO(u)
	return &dto, nil
}

// UserUpdate is PATCH /auth/users/{id}.
type UserUpdate struct {
	DisplayName *string `json:"display_name,omitempty"`
	Password    *string `json:"password,omitempty"`
	IsAdmin     *bool   `json:"is_admin,omitempty"`
	IsActive    *bool   `json:"is_active,omitempty"`
}

// UpdateUser applies an admin's change. Role, activity and password changes revoke the user's tokens; the last
// active admin can be neither demoted nor deactivated (docs/security.md D5).
func (s *Service) UpdateUser(ctx context.Context, id string, ch UserUpdate) (*UserDTO, error) {
	return s.updateUser(ctx, id, ch, s.opts.Strict)
}

// UpdateUserStrict is the CLI's user mod: strict password rules always apply.
func (s *Service) UpdateUserStrict(ctx context.Context, id string, ch UserUpdate) (*UserDTO, error) {
	return s.updateUser(ctx, id, ch, true)
}

func (s *Service) updateUser(ctx context.Context, id string, ch UserUpdate, strict bool) (*UserDTO, error) {
	if id == store.SystemUserID {
		return nil, apperr.BadRequest("The system user cannot be modified")
	}
	before, err := s.users.UserByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apperr.NotFound("User not found")
	}
	if err != nil {
		return nil, err
	}
	uc := store.UserChanges{DisplayName: ch.DisplayName, IsAdmin: ch.IsAdmin, IsActive: ch.IsActive}
	if ch.Password != nil {
		if err := CheckPassword(*ch.Password, strict); err != nil {
			return nil, apperr.BadRequest(err.Error())
		}
		hash, err := HashPassword(*ch.Password, s.opts.BcryptCost)
		if err != nil {
			return nil, err
		}
		uc.PasswordHash = &hash
	}
	roleChanged := ch.IsAdmin != nil && *ch.IsAdmin != before.IsAdmin
	activeChanged := ch.IsActive != nil && *ch.IsActive != before.IsActive
	uc.RevokeTokens = ch.Password != nil || roleChanged || activeChanged
	u, err := s.users.UpdateUser(ctx, id, uc, true)
	if errors.Is(err, store.ErrLastAdmin) {
		if activeChanged && !*ch.IsActive {
			return nil, apperr.BadRequest("Cannot deactivate the last administrator")
		}
		return nil, apperr.BadRequest("Cannot demote the last administrator")
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, apperr.NotFound("User not found")
	}
	if err != nil {
		return nil, err
	}
	if uc.RevokeTokens {
		s.revoked(id)
	}
	if activeChanged && !*ch.IsActive {
		s.disabled(id)
	}
	dto := ToDTO(u)
	return &dto, nil
}

// DeleteResult says what happened to a deleted user's content (docs/security.md D12).
type DeleteResult struct {
	Success      bool    `json:"success"`
	UserID       string  `json:"user_id"`
	Content      string  `json:"content"` // "reassigned" or "deleted"
	ReassignedTo *string `json:"reassigned_to"`
	Boards       int     `json:"boards"`
	Images       int     `json:"images"`
	Workflows    int     `json:"workflows"`
	QueueItems   int     `json:"queue_items"`
	// QueueItemsCanceled: the user's pending and running items, canceled and never run, whatever happens to the
	// rest of the content (never handed to the admin to run with the admin's rights).
	QueueItemsCanceled int `json:"queue_items_canceled"`
}

// DeleteUser removes an account. Its content goes to the acting admin unless deleteContent is set.
func (s *Service) DeleteUser(ctx context.Context, actor access.Principal, id string, deleteContent bool) (*DeleteResult, error) {
	if id == store.SystemUserID {
		return nil, apperr.BadRequest("The system user cannot be deleted")
	}
	if id == actor.UserID {
		// The sole active admin deleting themself is the last-admin case of the spec, and says so.
		if actor.IsAdmin {
			if n, err := s.users.CountActiveAdmins(ctx); err == nil && n <= 1 {
				return nil, apperr.BadRequest("Cannot delete the last administrator")
			}
		}
		return nil, apperr.BadRequest("You cannot delete your own account")
	}
	reassignTo := actor.UserID
	if deleteContent {
		reassignTo = ""
	}
	content, err := s.users.DeleteUser(ctx, id, reassignTo, true)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apperr.NotFound("User not found")
	}
	if errors.Is(err, store.ErrLastAdmin) {
		return nil, apperr.BadRequest("Cannot delete the last administrator")
	}
	if err != nil {
		return nil, err
	}
	s.revoked(id)
	s.disabled(id)
	res := &DeleteResult{Success: true, UserID: id, Boards: content.Boards, Images: content.Images, Workflows: content.Workflows,
		QueueItems: content.QueueItems, QueueItemsCanceled: content.QueueItemsCanceled}
	if deleteContent {
		res.Content = "deleted"
		s.mu.Lock()
		removers := append([]ContentRemover(nil), s.removers...)
		s.mu.Unlock()
		for _, r := range removers {
			r.RemoveUserFiles(ctx, content)
		}
	} else {
		res.Content = "reassigned"
		res.ReassignedTo = &reassignTo
	}
	return res, nil
}

// UserByEmail finds an account for the CLI.
func (s *Service) UserByEmail(ctx context.Context, email string) (*store.User, error) {
	norm, err := NormalizeEmail(email)
	if err != nil {
		return nil, ErrInvalidEmail
	}
	return s.users.UserByEmail(ctx, norm)
}

// AllUsers lists every row for the CLI, the system row included.
func (s *Service) AllUsers(ctx context.Context) ([]store.User, error) {
	return s.users.ListUsers(ctx, true, 1<<30, 0)
}
