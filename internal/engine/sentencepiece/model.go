package sentencepiece

import (
	"fmt"
	"io"
	"math"
	"os"
	"unicode/utf8"
)

// Model is a SentencePiece unigram model. It is immutable after Parse and
// safe for concurrent use.
type Model struct {
	pieces    []Piece
	ids       map[string]int
	matcher   *trie // NORMAL, USER_DEFINED and UNUSED pieces
	unkID     int
	unkScore  float32
	maxScore  float32 // highest NORMAL score, for USER_DEFINED pieces
	byteIDs   [256]int32
	byteFallb bool
	norm      normalizer
}

// Token is one encoded piece: its id and its text (for an unknown piece,
// the text it covers).
type Token struct {
	Piece string
	ID    int
}

// unkPenalty lowers the score of an unknown character below every piece's,
// as SentencePiece does.
const unkPenalty = 10

// Load reads and parses a model file.
func Load(path string) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sentencepiece: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxModelBytes+1))
	if err != nil {
		return nil, fmt.Errorf("sentencepiece: %w", err)
	}
	m, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return m, nil
}

// Parse decodes and validates a serialized ModelProto.
func Parse(b []byte) (*Model, error) {
	mp, err := parseModelProto(b)
	if err != nil {
		return nil, fmt.Errorf("sentencepiece: %w", err)
	}
	if mp.modelType != 1 {
		return nil, fmt.Errorf("sentencepiece: model type %d is not supported (only unigram, type 1)", mp.modelType)
	}
	if mp.suffixSpace {
		return nil, fmt.Errorf("sentencepiece: models that treat whitespace as a suffix are not supported")
	}
	if len(mp.pieces) == 0 {
		return nil, fmt.Errorf("sentencepiece: the model has no pieces")
	}
	table, err := parseCharsMap(mp.charsmap)
	if err != nil {
		return nil, fmt.Errorf("sentencepiece: %w", err)
	}
	m := &Model{
		pieces: mp.pieces,
		ids:    make(map[string]int, len(mp.pieces)),
		unkID:  -1,
		norm: normalizer{
			table:          table,
			addDummyPrefix: mp.addDummyPrefix,
			removeExtraWS:  mp.removeExtraWS,
			escapeWS:       mp.escapeWS,
		},
		byteFallb: mp.byteFallback,
	}
	for i := range m.byteIDs {
		m.byteIDs[i] = -1
	}
	minScore, maxScore := float32(math.MaxFloat32), float32(-math.MaxFloat32)
	var keys, userDefined []trieKey
	for id, p := range mp.pieces {
		if _, dup := m.ids[p.Text]; dup {
			return nil, fmt.Errorf("sentencepiece: piece %q appears twice", p.Text)
		}
		m.ids[p.Text] = id
		switch p.Type {
		case Normal, UserDefined, Unused:
			if p.Text == "" {
				return nil, fmt.Errorf("sentencepiece: piece %d is empty", id)
			}
			if math.IsNaN(float64(p.Score)) || math.IsInf(float64(p.Score), 0) {
				return nil, fmt.Errorf("sentencepiece: piece %q has score %v", p.Text, p.Score)
			}
			keys = append(keys, trieKey{p.Text, int32(id)})
			if p.Type == Normal {
				minScore, maxScore = min(minScore, p.Score), max(maxScore, p.Score)
			}
			if p.Type == UserDefined {
				userDefined = append(userDefined, trieKey{p.Text, int32(id)})
			}
		case Unknown:
			if m.unkID >= 0 {
				return nil, fmt.Errorf("sentencepiece: more than one unknown piece")
			}
			m.unkID = id
		case Byte:
			var v int
			if _, err := fmt.Sscanf(p.Text, "<0x%02X>", &v); err != nil || len(p.Text) != 6 {
				return nil, fmt.Errorf("sentencepiece: byte piece %q", p.Text)
			}
			m.byteIDs[v] = int32(id)
		}
	}
	if m.unkID < 0 {
		return nil, fmt.Errorf("sentencepiece: the model has no unknown piece")
	}
	if minScore > maxScore { // no NORMAL pieces
		minScore, maxScore = 0, 0
	}
	if m.byteFallb {
		for b, id := range m.byteIDs {
			if id < 0 {
				return nil, fmt.Errorf("sentencepiece: byte fallback without a piece for byte %#02x", b)
			}
		}
	}
	m.unkScore = minScore - unkPenalty
	m.maxScore = maxScore
	m.matcher = newTrie(keys)
	if len(userDefined) > 0 {
		m.norm.userDefined = newTrie(userDefined)
	}
	return m, nil
}

// Len returns the number of pieces (ids are 0 … Len-1).
func (m *Model) Len() int { return len(m.pieces) }

// Piece returns piece id.
func (m *Model) Piece(id int) Piece { return m.pieces[id] }

// ID returns the id of the piece with text s.
func (m *Model) ID(s string) (int, bool) {
	id, ok := m.ids[s]
	return id, ok
}

// UnknownID returns the id of the unknown piece.
func (m *Model) UnknownID() int { return m.unkID }

// Normalize returns s normalized as the model's normalizer spec says.
func (m *Model) Normalize(s string) string { return m.norm.Normalize(s) }

// Encode normalizes s and segments it into the pieces of highest total
// score (Viterbi, scores summed in float32 as SentencePiece does). A
// character no piece covers becomes the unknown piece; consecutive unknown
// characters merge into one, or, with byte fallback, become their UTF-8
// bytes' pieces.
func (m *Model) Encode(s string) []Token {
	return m.encodeNormalized(m.Normalize(s))
}

// encodeNormalized is Encode on already normalized text.
func (m *Model) encodeNormalized(s string) []Token {
	n := len(s)
	if n == 0 {
		return nil
	}
	// best[p] is the best score of a segmentation of s[:p]; from[p] and
	// id[p] describe its last piece. Positions inside a character stay unset.
	best := make([]float32, n+1)
	from := make([]int32, n+1)
	id := make([]int32, n+1)
	reached := make([]bool, n+1)
	reached[0] = true
	for pos := 0; pos < n; {
		_, charLen := utf8.DecodeRuneInString(s[pos:])
		base := best[pos]
		single := false
		m.matcher.prefixes(s[pos:], func(l int, pid int32) {
			p := &m.pieces[pid]
			if p.Type == Unused {
				return
			}
			score := p.Score
			if p.Type == UserDefined {
				score = float32(float64(utf8.RuneCountInString(p.Text))*float64(m.maxScore) - 0.1)
			}
			if l == charLen {
				single = true
			}
			// Candidates for an end are seen by increasing start; a later
			// one wins only when strictly better, as in SentencePiece.
			end := pos + l
			if cand := base + score; !reached[end] || cand > best[end] {
				best[end], from[end], id[end], reached[end] = cand, int32(pos), pid, true
			}
		})
		if !single {
			end := pos + charLen
			if cand := base + m.unkScore; !reached[end] || cand > best[end] {
				best[end], from[end], id[end], reached[end] = cand, int32(pos), int32(m.unkID), true
			}
		}
		pos += charLen
	}
	// Walk back from the end.
	var rev []Token
	for end := n; end > 0; {
		start := int(from[end])
		t := Token{ID: int(id[end]), Piece: s[start:end]}
		rev = append(rev, t)
		end = start
	}
	out := make([]Token, 0, len(rev))
	for i := len(rev) - 1; i >= 0; i-- {
		t := rev[i]
		if t.ID == m.unkID {
			if m.byteFallb {
				for j := 0; j < len(t.Piece); j++ {
					bid := int(m.byteIDs[t.Piece[j]])
					out = append(out, Token{Piece: m.pieces[bid].Text, ID: bid})
				}
				continue
			}
			if k := len(out) - 1; k >= 0 && out[k].ID == m.unkID {
				out[k].Piece += t.Piece
				continue
			}
		}
		out = append(out, t)
	}
	return out
}
