package auth

import (
	"errors"
	"strings"
)

// ErrInvalidEmail is returned for addresses that are not syntactically valid.
var ErrInvalidEmail = errors.New("value is not a valid email address")

// specialUseTLDs are domains email validators refuse as undeliverable; InvokeAI then falls back to a
// lenient rule so that admin@localhost and user@server.local still work on a LAN.
var specialUseTLDs = []string{"arpa", "invalid", "local", "localhost", "onion", "test"}

// NormalizeEmail validates an address and returns the form that is stored and compared: the domain
// lower-cased, or the whole address lower-cased for special-use domains (InvokeAI's fallback).
func NormalizeEmail(email string) (string, error) {
	email = strings.TrimSpace(email)
	if len(email) > 254 {
		return "", ErrInvalidEmail
	}
	at := strings.LastIndexByte(email, '@')
	if at <= 0 || at == len(email)-1 {
		return "", ErrInvalidEmail
	}
	local, domain := email[:at], strings.ToLower(email[at+1:])
	if !validLocalPart(local) || !validDomain(domain) {
		return "", ErrInvalidEmail
	}
	labels := strings.Split(domain, ".")
	tld := labels[len(labels)-1]
	special := len(labels) == 1
	for _, s := range specialUseTLDs {
		if tld == s {
			special = true
		}
	}
	if special {
		if domain != "localhost" && !strings.Contains(domain, ".") {
			return "", ErrInvalidEmail
		}
		return strings.ToLower(local) + "@" + domain, nil
	}
	if len(tld) < 2 || isAllDigits(tld) {
		return "", ErrInvalidEmail
	}
	return local + "@" + domain, nil
}

func isAllDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

func validLocalPart(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("!#$%&'*+-/=?^_`{|}~.", r):
		case r > 127: // internationalised local parts are allowed
		default:
			return false
		}
	}
	return true
}

func validDomain(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r > 127) {
				return false
			}
		}
	}
	return true
}
