package sentencepiece

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// T5 is T5's tokenizer as transformers' T5Tokenizer (legacy behaviour) and
// FLUX pipelines use it: the SentencePiece model plus the special tokens
// <pad>, </s>, <unk> and the sentinels <extra_id_0> … (numbered down from
// the last id), which are recognised when typed literally in the text; a
// </s> ends every sequence. It is immutable and safe for concurrent use.
type T5 struct {
	model    *Model
	specials []special // longest first
	eosID    int
	padID    int
}

// special is a token matched in raw text before SentencePiece sees it.
type special struct {
	text  string
	id    int
	strip bool // sentinels swallow the whitespace on both sides
}

// DefaultExtraIDs is the number of sentinel tokens T5 vocabularies carry.
const DefaultExtraIDs = 100

// maxExtraIDs bounds the sentinel count read from a tokenizer config.
const maxExtraIDs = 10000

// NewT5 wraps a model whose control pieces "<pad>" and "</s>" and unknown
// piece exist, adding extraIDs sentinels after its pieces.
func NewT5(m *Model, extraIDs int) (*T5, error) {
	if extraIDs < 0 || extraIDs > maxExtraIDs {
		return nil, fmt.Errorf("sentencepiece: %d sentinel tokens", extraIDs)
	}
	t := &T5{model: m}
	var ok bool
	if t.padID, ok = m.ID("<pad>"); !ok {
		return nil, errors.New("sentencepiece: T5 model without <pad>")
	}
	if t.eosID, ok = m.ID("</s>"); !ok {
		return nil, errors.New("sentencepiece: T5 model without </s>")
	}
	t.specials = []special{
		{text: "<pad>", id: t.padID},
		{text: "</s>", id: t.eosID},
		{text: m.Piece(m.UnknownID()).Text, id: m.UnknownID()},
	}
	for i := range extraIDs {
		t.specials = append(t.specials, special{text: "<extra_id_" + strconv.Itoa(i) + ">", id: m.Len() + extraIDs - 1 - i, strip: true})
	}
	sort.SliceStable(t.specials, func(i, j int) bool { return len(t.specials[i].text) > len(t.specials[j].text) })
	return t, nil
}

// LoadT5 loads a tokenizer folder (a diffusers tokenizer_2/): spiece.model,
// and the sentinel count from tokenizer_config.json's extra_ids when present.
func LoadT5(dir string) (*T5, error) {
	m, err := Load(filepath.Join(dir, "spiece.model"))
	if err != nil {
		return nil, err
	}
	extra := DefaultExtraIDs
	if f, err := os.Open(filepath.Join(dir, "tokenizer_config.json")); err == nil {
		var cfg struct {
			ExtraIDs *int `json:"extra_ids"`
		}
		b, rerr := io.ReadAll(io.LimitReader(f, 16<<20))
		f.Close()
		if rerr == nil && json.Unmarshal(b, &cfg) == nil && cfg.ExtraIDs != nil {
			extra = *cfg.ExtraIDs
		}
	}
	return NewT5(m, extra)
}

// Model returns the SentencePiece model.
func (t *T5) Model() *Model { return t.model }

// EOSID and PadID return the ids of </s> and <pad>.
func (t *T5) EOSID() int { return t.eosID }

// PadID returns the id of <pad>.
func (t *T5) PadID() int { return t.padID }

// chunk is a piece of raw text: plain text, or a special token.
type chunk struct {
	text    string
	special *special
}

// split cuts the special tokens typed in text out of it, leftmost first
// and, at one position, longest first; a sentinel also removes the
// whitespace next to it (Python's str.isspace definition).
func (t *T5) split(text string) []chunk {
	var out []chunk
	start := 0
	for i := 0; i < len(text); {
		if text[i] != '<' {
			i++
			continue
		}
		var hit *special
		for k := range t.specials {
			if strings.HasPrefix(text[i:], t.specials[k].text) {
				hit = &t.specials[k]
				break
			}
		}
		if hit == nil {
			i++
			continue
		}
		out = append(out, chunk{text: text[start:i]}, chunk{special: hit})
		i += len(hit.text)
		start = i
	}
	out = append(out, chunk{text: text[start:]})
	for i, c := range out {
		if c.special == nil || !c.special.strip {
			continue
		}
		if i > 0 && out[i-1].special == nil {
			out[i-1].text = strings.TrimRightFunc(out[i-1].text, isPySpace)
		}
		if i+1 < len(out) && out[i+1].special == nil {
			out[i+1].text = strings.TrimLeftFunc(out[i+1].text, isPySpace)
		}
	}
	return out
}

// isPySpace is Python's str.isspace for one character.
func isPySpace(r rune) bool {
	switch r {
	case 0x1c, 0x1d, 0x1e, 0x1f:
		return true
	}
	return unicode.IsSpace(r)
}

// Tokenize returns the pieces of text without </s>, padding or truncation
// (T5Tokenizer.tokenize): special tokens typed in the text, and each plain
// stretch between them encoded on its own.
func (t *T5) Tokenize(text string) []Token {
	var out []Token
	for _, c := range t.split(text) {
		if c.special != nil {
			out = append(out, Token{Piece: c.special.text, ID: c.special.id})
			continue
		}
		if c.text != "" {
			out = append(out, t.model.Encode(c.text)...)
		}
	}
	return out
}

// Encoding is a fixed-length encoding: ids padded with <pad>, and Mask
// 1 on the tokens (</s> included) and 0 on the padding.
type Encoding struct {
	IDs, Mask []int
	// Truncated reports that tokens were dropped to fit.
	Truncated bool
}

// MaxLength bounds Encode's padded length (FLUX uses 256 and 512).
const MaxLength = 1 << 16

// Encode tokenizes text as FLUX pipelines call T5's tokenizer (padding to
// max_length with truncation): the first length−1 ids, then </s> unless
// they already end with it, then <pad> up to length.
func (t *T5) Encode(text string, length int) (Encoding, error) {
	if length < 1 || length > MaxLength {
		return Encoding{}, fmt.Errorf("sentencepiece: sequence length %d (1 to %d)", length, MaxLength)
	}
	toks := t.Tokenize(text)
	ids := make([]int, 0, length)
	truncated := len(toks)+1 > length
	for _, tok := range toks[:min(len(toks), length-1)] {
		ids = append(ids, tok.ID)
	}
	if len(ids) == 0 || ids[len(ids)-1] != t.eosID {
		ids = append(ids, t.eosID)
	}
	enc := Encoding{IDs: make([]int, length), Mask: make([]int, length), Truncated: truncated}
	for i := range enc.IDs {
		if i < len(ids) {
			enc.IDs[i], enc.Mask[i] = ids[i], 1
		} else {
			enc.IDs[i] = t.padID
		}
	}
	return enc, nil
}
