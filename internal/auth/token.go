package auth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// BearerToken is the token of a request's "Authorization: Bearer <token>" header (the scheme in any case),
// or "" when it has none. The HTTP routes and the Socket.IO handshake read it the same way.
func BearerToken(r *http.Request) string {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// Token lifetimes (InvokeAI's).
const (
	TokenTTL         = 24 * time.Hour
	RememberTokenTTL = 7 * 24 * time.Hour
)

// Claims are the JWT payload, InvokeAI's fields plus token_epoch for revocation.
type Claims struct {
	UserID     string `json:"user_id"`
	Email      string `json:"email"`
	IsAdmin    bool   `json:"is_admin"`
	RememberMe bool   `json:"remember_me"`
	TokenEpoch int64  `json:"token_epoch"`
	Exp        int64  `json:"exp"`
}

// GetExpirationTime and the rest satisfy jwt.Claims.
func (c *Claims) GetExpirationTime() (*jwt.NumericDate, error) {
	return jwt.NewNumericDate(time.Unix(c.Exp, 0)), nil
}
func (c *Claims) GetIssuedAt() (*jwt.NumericDate, error)  { return nil, nil }
func (c *Claims) GetNotBefore() (*jwt.NumericDate, error) { return nil, nil }
func (c *Claims) GetIssuer() (string, error)              { return "", nil }
func (c *Claims) GetSubject() (string, error)             { return "", nil }
func (c *Claims) GetAudience() (jwt.ClaimStrings, error)  { return nil, nil }

// Signer issues and verifies HS256 tokens with the database's secret. It accepts no other algorithm.
type Signer struct {
	secret []byte
	now    func() time.Time
}

// NewSigner builds a signer; now is the clock (injected for tests).
func NewSigner(secret string, now func() time.Time) *Signer {
	return &Signer{secret: []byte(secret), now: now}
}

// Issue signs claims with an expiry ttl from now.
func (s *Signer) Issue(c Claims) (string, int64, error) {
	ttl := TokenTTL
	if c.RememberMe {
		ttl = RememberTokenTTL
	}
	c.Exp = s.now().Add(ttl).Unix()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, &c).SignedString(s.secret)
	if err != nil {
		return "", 0, fmt.Errorf("sign token: %w", err)
	}
	return tok, int64(ttl / time.Second), nil
}

// ErrInvalidToken covers bad signatures, other algorithms, expiry and malformed claims.
var ErrInvalidToken = errors.New("invalid or expired token")

// Verify checks signature, algorithm and expiry and returns the claims.
func (s *Signer) Verify(token string) (*Claims, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return s.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(s.now),
	)
	if err != nil {
		return nil, ErrInvalidToken
	}
	// InvokeAI treats now >= exp as expired; jwt's check is now > exp.
	if s.now().Unix() >= c.Exp || c.UserID == "" || c.Email == "" {
		return nil, ErrInvalidToken
	}
	return &c, nil
}
