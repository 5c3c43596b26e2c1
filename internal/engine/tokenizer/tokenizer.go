// Package tokenizer implements the CLIP byte-level BPE tokenizer that Stable
// Diffusion's text encoders use, matching transformers' slow CLIPTokenizer
// when ftfy is not installed: BasicTokenizer clean-up (control characters
// dropped, whitespace normalised, CJK characters spaced out, lower-casing),
// the CLIP pre-tokenizer pattern, GPT-2's byte-to-unicode mapping and BPE
// with "</w>" marking the end of each word.
//
// Differences from the Python reference, all in rare inputs: no NFC
// normalisation (decomposed accents stay decomposed) and Go's Unicode tables
// (version 15) instead of Python 3.11's (14).
package tokenizer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
)

// Well-known CLIP ids and sizes.
const (
	// BOS is <|startoftext|> in the standard CLIP vocabulary.
	BOS = 49406
	// EOS is <|endoftext|>, also SD-1.x's padding token.
	EOS = 49407
	// PadZero is "!" (id 0), the padding SD-2.x and SDXL's tokenizer_2 use.
	PadZero = 0
	// MaxLength is CLIP's context length, BOS and EOS included.
	MaxLength = 77

	startText = "<|startoftext|>"
	endText   = "<|endoftext|>"
	// maxMerges mirrors transformers, which reads only the first
	// 49152-256-2 merges after the version header.
	maxMerges = 49152 - 256 - 2
)

// Tokenizer is a loaded CLIP tokenizer. It is safe for concurrent use.
type Tokenizer struct {
	vocab    map[string]int
	ranks    map[[2]string]int
	bos, eos int
	// PadID is the id used by EncodePadded's default padding; it comes
	// from tokenizer_config.json when loaded from a diffusers folder, else
	// it is EOS.
	PadID int
	// ModelMaxLength is the padded length (77 for every SD tokenizer).
	ModelMaxLength int

	mu    sync.Mutex
	cache map[string][]string
}

// maxCacheEntries bounds the BPE cache so adversarial input cannot grow it
// without limit.
const maxCacheEntries = 1 << 16

// New builds a tokenizer from the contents of vocab.json and merges.txt.
func New(vocabJSON, mergesTxt io.Reader) (*Tokenizer, error) {
	var vocab map[string]int
	if err := json.NewDecoder(vocabJSON).Decode(&vocab); err != nil {
		return nil, fmt.Errorf("tokenizer: vocab.json: %w", err)
	}
	t := &Tokenizer{
		vocab:          vocab,
		ranks:          make(map[[2]string]int, maxMerges),
		PadID:          -1,
		ModelMaxLength: MaxLength,
		cache:          make(map[string][]string),
	}
	var ok bool
	if t.bos, ok = vocab[startText]; !ok {
		return nil, fmt.Errorf("tokenizer: vocab.json has no %s", startText)
	}
	if t.eos, ok = vocab[endText]; !ok {
		return nil, fmt.Errorf("tokenizer: vocab.json has no %s", endText)
	}
	t.PadID = t.eos

	sc := bufio.NewScanner(mergesTxt)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		if line == 1 { // "#version: 0.2" header, skipped unconditionally like transformers
			continue
		}
		if len(t.ranks) >= maxMerges {
			break
		}
		text := strings.TrimRight(sc.Text(), "\r")
		a, b, ok := strings.Cut(text, " ")
		if !ok {
			if strings.TrimSpace(text) == "" {
				continue
			}
			return nil, fmt.Errorf("tokenizer: merges.txt line %d: want two symbols, got %q", line, text)
		}
		pair := [2]string{a, b}
		if _, dup := t.ranks[pair]; !dup {
			t.ranks[pair] = line - 2
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("tokenizer: merges.txt: %w", err)
	}
	return t, nil
}

// Load reads vocab.json and merges.txt (and, if present, tokenizer_config.json
// for the padding token) from a directory such as a diffusers "tokenizer/"
// folder.
func Load(dir string) (*Tokenizer, error) {
	return LoadFS(os.DirFS(dir), ".")
}

// LoadFS is Load on an fs.FS; dir is a slash-separated path inside it.
func LoadFS(fsys fs.FS, dir string) (*Tokenizer, error) {
	read := func(name string) ([]byte, error) {
		return fs.ReadFile(fsys, path.Join(dir, name))
	}
	vocab, err := read("vocab.json")
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	merges, err := read("merges.txt")
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	t, err := New(bytes.NewReader(vocab), bytes.NewReader(merges))
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, dir)
	}
	cfg, err := read("tokenizer_config.json")
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("tokenizer: %w", err)
	default:
		if err := t.applyConfig(cfg); err != nil {
			return nil, fmt.Errorf("tokenizer: %s/tokenizer_config.json: %w", dir, err)
		}
	}
	return t, nil
}

// applyConfig takes pad_token and model_max_length from a transformers
// tokenizer_config.json. Tokens are either strings or AddedToken objects.
func (t *Tokenizer) applyConfig(data []byte) error {
	var cfg struct {
		PadToken       json.RawMessage `json:"pad_token"`
		ModelMaxLength *float64        `json:"model_max_length"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return err
	}
	if len(cfg.PadToken) > 0 && string(cfg.PadToken) != "null" {
		var s string
		if err := json.Unmarshal(cfg.PadToken, &s); err != nil {
			var obj struct {
				Content string `json:"content"`
			}
			if err := json.Unmarshal(cfg.PadToken, &obj); err != nil {
				return fmt.Errorf("pad_token: %w", err)
			}
			s = obj.Content
		}
		id, ok := t.vocab[s]
		if !ok {
			return fmt.Errorf("pad_token %q not in vocabulary", s)
		}
		t.PadID = id
	}
	// Some configs carry a huge sentinel (1e30) meaning "no limit"; keep 77.
	if m := cfg.ModelMaxLength; m != nil && *m >= 2 && *m <= 4096 {
		t.ModelMaxLength = int(*m)
	}
	return nil
}

// BOSID and EOSID return the vocabulary's start and end token ids.
func (t *Tokenizer) BOSID() int { return t.bos }

// EOSID returns the id of <|endoftext|>.
func (t *Tokenizer) EOSID() int { return t.eos }

// VocabSize is the number of vocabulary entries.
func (t *Tokenizer) VocabSize() int { return len(t.vocab) }

// Tokenize returns the BPE tokens of text, without BOS and EOS.
func (t *Tokenizer) Tokenize(text string) []string {
	var out []string
	for _, seg := range splitSpecial(text) {
		if seg == startText || seg == endText {
			out = append(out, seg)
			continue
		}
		for _, word := range preTokenize(basicClean(seg)) {
			if word == startText || word == endText {
				out = append(out, word) // the BPE cache maps these to themselves
				continue
			}
			out = append(out, t.bpe(byteEncode(word))...)
		}
	}
	return out
}

// IDs returns the ids of text's tokens, without BOS and EOS and without
// truncation. Unknown tokens (impossible with a complete byte vocabulary)
// map to EOS, the unk token.
func (t *Tokenizer) IDs(text string) []int {
	toks := t.Tokenize(text)
	ids := make([]int, len(toks))
	for i, tok := range toks {
		id, ok := t.vocab[tok]
		if !ok {
			id = t.eos
		}
		ids[i] = id
	}
	return ids
}

// Encode returns BOS + ids + EOS, untruncated, for prompts longer than 75
// tokens that the caller wants to chunk itself.
func (t *Tokenizer) Encode(text string) []int {
	ids := t.IDs(text)
	out := make([]int, 0, len(ids)+2)
	out = append(out, t.bos)
	out = append(out, ids...)
	return append(out, t.eos)
}

// EncodePadded returns exactly length ids: BOS, at most length-2 content
// ids, EOS, then pad. This is padding="max_length", truncation=True.
func (t *Tokenizer) EncodePadded(text string, length, pad int) []int {
	if length < 2 {
		length = 2
	}
	ids := t.IDs(text)
	if len(ids) > length-2 {
		ids = ids[:length-2]
	}
	out := make([]int, 0, length)
	out = append(out, t.bos)
	out = append(out, ids...)
	out = append(out, t.eos)
	for len(out) < length {
		out = append(out, pad)
	}
	return out
}

// Encode77 is EncodePadded(text, ModelMaxLength, PadID).
func (t *Tokenizer) Encode77(text string) []int {
	return t.EncodePadded(text, t.ModelMaxLength, t.PadID)
}

// splitSpecial cuts text around literal <|startoftext|> and <|endoftext|>,
// as transformers' added-token trie does before the normal tokenization.
func splitSpecial(text string) []string {
	var out []string
	for {
		at, special := -1, ""
		if j := strings.Index(text, startText); j >= 0 {
			at, special = j, startText
		}
		if j := strings.Index(text, endText); j >= 0 && (at < 0 || j < at) {
			at, special = j, endText
		}
		if at < 0 {
			break
		}
		if at > 0 {
			out = append(out, text[:at])
		}
		out = append(out, special)
		text = text[at+len(special):]
	}
	if text != "" {
		out = append(out, text)
	}
	return out
}
