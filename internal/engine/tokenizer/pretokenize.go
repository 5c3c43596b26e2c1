package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// preTokenize splits cleaned text the way CLIP's pattern does:
//
//	<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
//
// (case-insensitive, tried left to right at each position; whitespace that
// no alternative matches is skipped). Go's regexp cannot express the
// Unicode classes with the required leftmost-first semantics cheaply, so
// this is a hand-written scanner.
func preTokenize(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		if n := matchFixed(s[i:]); n > 0 {
			out = append(out, s[i:i+n])
			i += n
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case unicode.IsLetter(r):
			j := i + size
			for j < len(s) {
				r2, sz := utf8.DecodeRuneInString(s[j:])
				if !unicode.IsLetter(r2) {
					break
				}
				j += sz
			}
			out = append(out, s[i:j])
			i = j
		case unicode.IsNumber(r):
			out = append(out, s[i:i+size])
			i += size
		case isRegexSpace(r):
			i += size
		default:
			j := i + size
			for j < len(s) {
				r2, sz := utf8.DecodeRuneInString(s[j:])
				if unicode.IsLetter(r2) || unicode.IsNumber(r2) || isRegexSpace(r2) {
					break
				}
				j += sz
			}
			out = append(out, s[i:j])
			i = j
		}
	}
	return out
}

// fixedAlternatives are the literal alternatives, in pattern order.
var fixedAlternatives = [...]string{startText, endText, "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"}

// matchFixed returns the length of the first literal alternative that
// matches at the start of s (case-insensitively), or 0.
func matchFixed(s string) int {
	if s == "" || (s[0] != '<' && s[0] != '\'') {
		return 0
	}
	for _, alt := range fixedAlternatives {
		if len(s) >= len(alt) && strings.EqualFold(s[:len(alt)], alt) {
			return len(alt)
		}
	}
	return 0
}

// isRegexSpace is \s in the regex module: the Unicode White_Space property.
func isRegexSpace(r rune) bool {
	return unicode.Is(unicode.White_Space, r)
}
