package auth

import (
	"crypto/rand"
	"errors"
	"math/big"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// DefaultBcryptCost matches InvokeAI's passlib default ($2b$12$...).
const DefaultBcryptCost = 12

// bcryptInput truncates a password to bcrypt's 72-byte limit the way InvokeAI does: by UTF-8 bytes,
// dropping a trailing incomplete sequence.
func bcryptInput(password string) []byte {
	b := []byte(password)
	if len(b) <= 72 {
		return b
	}
	b = b[:72]
	for len(b) > 0 && !utf8.Valid(b) {
		b = b[:len(b)-1]
	}
	return b
}

// HashPassword hashes with bcrypt at the given cost.
func HashPassword(password string, cost int) (string, error) {
	h, err := bcrypt.GenerateFromPassword(bcryptInput(password), cost)
	if err != nil {
		return "", err
	}
	return string(h), nil
}

// VerifyPassword reports whether password matches hash; a malformed hash never matches.
func VerifyPassword(password, hash string) bool {
	if hash == "" {
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), bcryptInput(password)) == nil
}

// ErrWeakPassword carries InvokeAI's message for a rejected password.
type ErrWeakPassword struct{ Msg string }

func (e *ErrWeakPassword) Error() string { return e.Msg }

// CheckPassword applies InvokeAI's rules: strict needs 8+ characters with upper, lower and a digit;
// otherwise any non-empty password is accepted.
func CheckPassword(password string, strict bool) error {
	if password == "" {
		return &ErrWeakPassword{"Password cannot be empty"}
	}
	if !strict {
		return nil
	}
	if utf8.RuneCountInString(password) < 8 {
		return &ErrWeakPassword{"Password must be at least 8 characters long"}
	}
	var upper, lower, digit bool
	for _, r := range password {
		switch {
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		case unicode.IsDigit(r):
			digit = true
		}
	}
	if !upper || !lower || !digit {
		return &ErrWeakPassword{"Password must contain uppercase, lowercase, and numbers"}
	}
	return nil
}

// IsWeakPassword reports whether err is a password rule failure.
func IsWeakPassword(err error) bool {
	var w *ErrWeakPassword
	return errors.As(err, &w)
}

const (
	lowerChars = "abcdefghijklmnopqrstuvwxyz"
	upperChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	digitChars = "0123456789"
	punctChars = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
)

// GeneratePassword returns 16 random characters from letters, digits and punctuation, always with at least
// one upper-case letter, one lower-case letter and one digit.
func GeneratePassword() (string, error) {
	all := lowerChars + upperChars + digitChars + punctChars
	for {
		out := make([]byte, 16)
		for i := range out {
			n, err := rand.Int(rand.Reader, big.NewInt(int64(len(all))))
			if err != nil {
				return "", err
			}
			out[i] = all[n.Int64()]
		}
		if CheckPassword(string(out), true) == nil {
			return string(out), nil
		}
	}
}
