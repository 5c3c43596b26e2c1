package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// byteToRune is GPT-2's reversible byte-to-unicode table: printable Latin-1
// bytes map to themselves, the others to U+0100 onwards, so every byte
// string becomes a string of visible characters the vocabulary can hold.
var byteToRune = func() [256]rune {
	var table [256]rune
	next := rune(256)
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff) {
			table[b] = rune(b)
		} else {
			table[b] = next
			next++
		}
	}
	return table
}()

// byteEncode maps each UTF-8 byte of word to its byte-level symbol.
func byteEncode(word string) string {
	var b strings.Builder
	b.Grow(2 * len(word))
	for i := 0; i < len(word); i++ {
		b.WriteRune(byteToRune[word[i]])
	}
	return b.String()
}

// bpe splits a byte-encoded word into vocabulary tokens: start from single
// symbols (the last one carrying "</w>") and repeatedly merge the adjacent
// pair with the lowest merge rank, all occurrences left to right.
func (t *Tokenizer) bpe(word string) []string {
	t.mu.Lock()
	cached, ok := t.cache[word]
	t.mu.Unlock()
	if ok {
		return cached
	}

	symbols := make([]string, 0, utf8.RuneCountInString(word))
	for i, r := range word {
		size := utf8.RuneLen(r)
		symbols = append(symbols, word[i:i+size])
	}
	if len(symbols) == 0 {
		return nil
	}
	symbols[len(symbols)-1] += "</w>"

	for len(symbols) > 1 {
		best, bestRank := [2]string{}, -1
		for i := 0; i+1 < len(symbols); i++ {
			pair := [2]string{symbols[i], symbols[i+1]}
			if r, ok := t.ranks[pair]; ok && (bestRank < 0 || r < bestRank) {
				best, bestRank = pair, r
			}
		}
		if bestRank < 0 {
			break
		}
		merged := symbols[:0:0]
		for i := 0; i < len(symbols); {
			if i+1 < len(symbols) && symbols[i] == best[0] && symbols[i+1] == best[1] {
				merged = append(merged, best[0]+best[1])
				i += 2
			} else {
				merged = append(merged, symbols[i])
				i++
			}
		}
		symbols = merged
	}

	t.mu.Lock()
	if len(t.cache) >= maxCacheEntries {
		clear(t.cache)
	}
	t.cache[word] = symbols
	t.mu.Unlock()
	return symbols
}
