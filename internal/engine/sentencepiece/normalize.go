package sentencepiece

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// spaceSymbol is U+2581 LOWER ONE EIGHTH BLOCK, SentencePiece's visible
// space ("▁").
const spaceSymbol = "\u2581"

// charsMap is a precompiled normalization table: a double-array trie
// (darts-clone layout) over UTF-8 byte strings whose leaves point into a
// blob of NUL-terminated replacements. Every rule maps a key to its
// replacement; at each position the longest matching key wins.
type charsMap struct {
	units []uint32
	blob  []byte
}

// parseCharsMap splits the serialized table: a little-endian uint32 trie
// size in bytes, the trie's units, then the replacement blob.
func parseCharsMap(b []byte) (*charsMap, error) {
	if len(b) == 0 {
		return nil, nil // no table: identity normalization
	}
	if len(b) < 4 {
		return nil, errors.New("precompiled_charsmap shorter than its size field")
	}
	size := binary.LittleEndian.Uint32(b)
	if uint64(size) > uint64(len(b)-4) || size%4 != 0 || size == 0 {
		return nil, fmt.Errorf("precompiled_charsmap trie size %d does not fit the %d-byte table", size, len(b))
	}
	units := make([]uint32, size/4)
	for i := range units {
		units[i] = binary.LittleEndian.Uint32(b[4+4*i:])
	}
	return &charsMap{units: units, blob: b[4+size:]}, nil
}

// Darts-clone unit fields.
func unitOffset(u uint32) uint32 { return (u >> 10) << ((u & (1 << 9)) >> 6) }
func unitLabel(u uint32) uint32  { return u & (1<<31 | 0xff) }
func unitHasLeaf(u uint32) bool  { return (u>>8)&1 == 1 }
func unitValue(u uint32) uint32  { return u & 0x7fffffff }

// longest returns the length of the longest key that prefixes s and its
// replacement; n == 0 when no key matches. Out-of-range trie references
// (a corrupt table) end the search rather than panic.
func (c *charsMap) longest(s string) (n int, repl string) {
	units := c.units
	pos := unitOffset(units[0])
	for i := 0; i < len(s); i++ {
		pos ^= uint32(s[i])
		if int(pos) >= len(units) {
			return n, repl
		}
		u := units[pos]
		if unitLabel(u) != uint32(s[i]) {
			return n, repl
		}
		pos ^= unitOffset(u)
		if unitHasLeaf(u) {
			if int(pos) >= len(units) {
				return n, repl
			}
			v := unitValue(units[pos])
			if int(v) >= len(c.blob) {
				return n, repl
			}
			end := bytes.IndexByte(c.blob[v:], 0)
			if end < 0 {
				return n, repl
			}
			n, repl = i+1, string(c.blob[v:int(v)+end])
		}
	}
	return n, repl
}

// normalizer applies a model's normalization: the table, then its
// whitespace rules.
type normalizer struct {
	table          *charsMap
	addDummyPrefix bool
	removeExtraWS  bool
	escapeWS       bool
	userDefined    *trie // pieces passed through untouched
}

// prefix normalizes the start of s: it returns the replacement for the
// longest table key (or user-defined piece) at the start, or the first
// character unchanged, and how many bytes of s that consumed. A malformed
// UTF-8 byte becomes U+FFFD and consumes one byte.
func (nz *normalizer) prefix(s string) (string, int) {
	if nz.userDefined != nil {
		if n := nz.userDefined.longestMatch(s); n > 0 {
			return s[:n], n
		}
	}
	if nz.table != nil {
		if n, repl := nz.table.longest(s); n > 0 {
			return repl, n
		}
	}
	r, size := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && size <= 1 {
		return "\uFFFD", 1
	}
	return s[:size], size
}

// Normalize returns s as the model sees it: table-normalized, leading,
// trailing and repeated whitespace removed, a dummy space prefix added and
// spaces written as "▁" (each as the model's flags say). Whitespace-only
// input normalizes to "".
func (nz *normalizer) Normalize(s string) string {
	if nz.removeExtraWS {
		for s != "" {
			p, n := nz.prefix(s)
			if p != " " {
				break
			}
			s = s[n:]
		}
	}
	if s == "" {
		return ""
	}
	space := " "
	if nz.escapeWS {
		space = spaceSymbol
	}
	var out strings.Builder
	out.Grow(len(s) + len(s)/2 + 3)
	if nz.addDummyPrefix {
		out.WriteString(space)
	}
	prevSpace := nz.removeExtraWS
	for s != "" {
		p, n := nz.prefix(s)
		s = s[n:]
		if prevSpace && nz.removeExtraWS {
			p = strings.TrimLeft(p, " ")
		}
		if p == "" {
			continue
		}
		if nz.escapeWS {
			out.WriteString(strings.ReplaceAll(p, " ", spaceSymbol))
		} else {
			out.WriteString(p)
		}
		prevSpace = strings.HasSuffix(p, " ")
	}
	res := out.String()
	if nz.removeExtraWS {
		for strings.HasSuffix(res, space) {
			res = res[:len(res)-len(space)]
		}
	}
	return res
}
