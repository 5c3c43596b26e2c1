package diffusion

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/invokego/invokego/internal/engine/tokenizer"
	"github.com/invokego/invokego/internal/models"
)

// clipVocabSize is the size of the byte-level BPE vocabulary every Stable
// Diffusion text encoder (SD-1.x, SD-2.x, both of SDXL's) was trained with.
const clipVocabSize = 49408

// SharedTokenizers supplies tokenizers to single-file checkpoints, which
// carry none. All Stable Diffusion tokenizers share one vocabulary and one
// merge list and differ only in their padding token, so any copy of those two
// files serves every checkpoint: first the ones in Dir (where a user may put
// vocab.json and merges.txt from openai/clip-vit-large-patch14), then the
// tokenizer folder of any installed diffusers model.
type SharedTokenizers struct {
	Dir string
	// Installed lists the installed diffusers main models.
	Installed func(ctx context.Context) ([]*models.Config, error)
	PathOf    func(p string) string
}

// Tokenizer returns the tokenizer a checkpoint's submodel ("tokenizer" or
// "tokenizer_2") would have had in diffusers layout.
func (s SharedTokenizers) Tokenizer(ctx context.Context, cfg *models.Config, submodel string) (*tokenizer.Tokenizer, error) {
	var dirs []string
	if s.Dir != "" {
		dirs = append(dirs, s.Dir)
	}
	if s.Installed != nil {
		donors, err := s.Installed(ctx)
		if err != nil {
			return nil, fmt.Errorf("find a tokenizer: %w", err)
		}
		for _, m := range donors {
			p := m.Path
			if s.PathOf != nil {
				p = s.PathOf(p)
			}
			dirs = append(dirs, filepath.Join(p, SubTokenizer), filepath.Join(p, SubTokenizer2))
		}
	}
	for _, dir := range dirs {
		tok, err := loadSharedVocabulary(dir)
		if err != nil {
			continue // not a complete CLIP tokenizer; try the next
		}
		tok.PadID = tokenizerPad(tok, cfg.Base, submodel)
		return tok, nil
	}
	where := s.Dir
	if where == "" {
		where = "the tokenizer folder"
	}
	return nil, fmt.Errorf("single-file checkpoint %s carries no tokenizer: install any Stable Diffusion model in diffusers "+
		"format, or put vocab.json and merges.txt of openai/clip-vit-large-patch14 in %s", cfg.Name, where)
}

// loadSharedVocabulary reads vocab.json and merges.txt from dir, accepting
// only the full CLIP vocabulary (a test model's small one would index past
// a real text encoder's embeddings).
func loadSharedVocabulary(dir string) (*tokenizer.Tokenizer, error) {
	vocab, err := os.Open(filepath.Join(dir, "vocab.json"))
	if err != nil {
		return nil, err
	}
	defer vocab.Close()
	merges, err := os.Open(filepath.Join(dir, "merges.txt"))
	if err != nil {
		return nil, err
	}
	defer merges.Close()
	tok, err := tokenizer.New(vocab, merges)
	if err != nil {
		return nil, err
	}
	if tok.VocabSize() != clipVocabSize {
		return nil, errors.New("not the CLIP vocabulary")
	}
	return tok, nil
}

// tokenizerPad is the padding token of the tokenizer diffusers pairs with a
// checkpoint: SD-2.x's and SDXL's second (OpenCLIP) tokenizers, the
// refiner's only one among them, pad with "!"; SD-1.x's and SDXL's first
// with <|endoftext|>.
func tokenizerPad(tok *tokenizer.Tokenizer, base, submodel string) int {
	if base == models.BaseSD2 || submodel == SubTokenizer2 {
		return tokenizer.PadZero
	}
	return tok.EOSID()
}
