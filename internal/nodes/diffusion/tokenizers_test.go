package diffusion

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
	"github.com/invokego/invokego/internal/engine/tokenizer"
	"github.com/invokego/invokego/internal/models"
)

func TestSharedTokenizersPadAndSources(t *testing.T) {
	pipe, err := goldens.Path("sd-tiny", "models", "sd15-tiny-pipe")
	if err != nil {
		t.Fatal(err)
	}
	// A donor with a toy vocabulary comes first and must be passed over.
	toy := t.TempDir()
	os.MkdirAll(filepath.Join(toy, "tokenizer"), 0o755)
	os.WriteFile(filepath.Join(toy, "tokenizer", "vocab.json"), []byte(`{"<|startoftext|>":0,"<|endoftext|>":1,"a</w>":2}`), 0o644)
	os.WriteFile(filepath.Join(toy, "tokenizer", "merges.txt"), []byte("#version: 0.2\n"), 0o644)
	src := SharedTokenizers{
		Dir: filepath.Join(t.TempDir(), "missing"),
		Installed: func(context.Context) ([]*models.Config, error) {
			return []*models.Config{{Name: "toy", Path: toy}, {Name: "pipe", Path: pipe}}, nil
		},
	}
	cases := []struct {
		base, sub string
		pad       int
	}{
		{models.BaseSD1, SubTokenizer, 49407},
		{models.BaseSD2, SubTokenizer, tokenizer.PadZero},
		{models.BaseSDXL, SubTokenizer, 49407},
		{models.BaseSDXL, SubTokenizer2, tokenizer.PadZero},
		{models.BaseSDXLRefiner, SubTokenizer2, tokenizer.PadZero}, // the refiner has only the OpenCLIP one
	}
	for _, c := range cases {
		tok, err := src.Tokenizer(context.Background(), &models.Config{Name: "ckpt", Base: c.base}, c.sub)
		if err != nil {
			t.Fatalf("%s %s: %v", c.base, c.sub, err)
		}
		if tok.VocabSize() != clipVocabSize {
			t.Errorf("%s %s: vocabulary of %d", c.base, c.sub, tok.VocabSize())
		}
		if tok.PadID != c.pad {
			t.Errorf("%s %s: pad %d, want %d", c.base, c.sub, tok.PadID, c.pad)
		}
		if ids := tok.IDs("a photo of a cat"); len(ids) != 5 || ids[4] != 2368 {
			t.Errorf("%s %s: ids %v", c.base, c.sub, ids)
		}
	}
	// Nothing usable anywhere: the error names the folder to fill.
	none := SharedTokenizers{Dir: "/nowhere/clip", Installed: func(context.Context) ([]*models.Config, error) {
		return []*models.Config{{Name: "toy", Path: toy}}, nil
	}}
	if _, err := none.Tokenizer(context.Background(), &models.Config{Name: "ckpt", Base: models.BaseSD1}, SubTokenizer); err == nil ||
		!strings.Contains(err.Error(), "/nowhere/clip") {
		t.Fatalf("error %v", err)
	}
}
