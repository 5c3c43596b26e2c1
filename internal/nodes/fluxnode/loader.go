package fluxnode

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/invokego/invokego/internal/engine/flux"
	"github.com/invokego/invokego/internal/engine/lora"
	"github.com/invokego/invokego/internal/engine/quant"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/sentencepiece"
	"github.com/invokego/invokego/internal/engine/t5"
	"github.com/invokego/invokego/internal/engine/tokenizer"
	"github.com/invokego/invokego/internal/models"
)

// LoadFunc is the model cache's loader signature.
type LoadFunc = func(ctx context.Context, cfg *models.Config, submodel string) (any, int64, error)

// Loader loads the FLUX side of the model manager for the model cache: FLUX main models (diffusers folders,
// BFL single files, GGUF), FLUX VAEs, T5 encoders, CLIP embed models and FLUX LoRAs. Everything else goes
// to the loader it wraps.
type Loader struct {
	// PathOf resolves a record's path (relative paths are inside the models folder).
	PathOf func(p string) string
	// T5Tokenizers lists folders that may hold a T5 tokenizer (spiece.model) for T5 encoders stored without
	// one (GGUF files), in order of preference.
	T5Tokenizers func(ctx context.Context) ([]string, error)
	// Compute is the arithmetic of the transformer's and T5's products (quant.ComputeF32 by default).
	Compute quant.Compute
}

// Wrap returns a loader that handles the FLUX side itself and passes other models to next.
func (l Loader) Wrap(next LoadFunc) LoadFunc {
	return func(ctx context.Context, cfg *models.Config, submodel string) (any, int64, error) {
		if !Handles(cfg) {
			return next(ctx, cfg, submodel)
		}
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		path := cfg.Path
		if l.PathOf != nil {
			path = l.PathOf(path)
		}
		v, size, err := l.load(ctx, cfg, path, submodel)
		if err != nil {
			return nil, 0, fmt.Errorf("load %s (%s): %w", cfg.Name, submodel, err)
		}
		return v, size, nil
	}
}

// Handles reports whether the FLUX loader loads this model.
func Handles(cfg *models.Config) bool {
	switch cfg.Type {
	case models.TypeT5Encoder, models.TypeCLIPEmbed:
		return true
	case models.TypeMain, models.TypeVAE, models.TypeLoRA:
		return cfg.Base == models.BaseFlux
	}
	return false
}

func (l Loader) load(ctx context.Context, cfg *models.Config, path, submodel string) (any, int64, error) {
	qopts := quant.Options{Compute: l.Compute}
	switch cfg.Type {
	case models.TypeMain:
		return l.loadMain(cfg, path, submodel)
	case models.TypeVAE:
		if cfg.Format == models.FormatDiffusers {
			v, err := flux.LoadVAEFolder(path, sd.Options{})
			return v, dirSize(path), err
		}
		v, err := flux.LoadVAEFile(path, sd.Options{})
		return v, fileSize(path), err
	case models.TypeCLIPEmbed:
		switch submodel {
		case SubTextEncoder, "":
			m, err := sd.LoadCLIPTextFolder(filepath.Join(path, SubTextEncoder))
			return m, dirSize(filepath.Join(path, SubTextEncoder)), err
		case SubTokenizer:
			tok, err := tokenizer.Load(filepath.Join(path, SubTokenizer))
			return tok, 2 << 20, err
		}
	case models.TypeT5Encoder:
		switch submodel {
		case SubTextEncoder2, SubTextEncoder, "":
			if cfg.Format == models.FormatGGUF {
				e, err := t5.LoadGGUF(path, qopts)
				return e, fileSize(path), err
			}
			e, err := t5.LoadFolder(filepath.Join(path, SubTextEncoder2), qopts)
			return e, dirSize(filepath.Join(path, SubTextEncoder2)), err
		case SubTokenizer2, SubTokenizer:
			if cfg.Format == models.FormatGGUF {
				return l.sharedT5Tokenizer(ctx)
			}
			tok, err := sentencepiece.LoadT5(filepath.Join(path, SubTokenizer2))
			return tok, 1 << 20, err
		}
	case models.TypeLoRA:
		p := path
		if st, err := os.Stat(path); err == nil && st.IsDir() {
			p = filepath.Join(path, "pytorch_lora_weights.safetensors")
		}
		f, err := lora.Open(p)
		return f, fileSize(p), err
	}
	return nil, 0, fmt.Errorf("unknown submodel %q of a %s model", submodel, cfg.Type)
}

func (l Loader) loadMain(cfg *models.Config, path, submodel string) (any, int64, error) {
	opts := flux.LoadOptions{Compute: l.Compute}
	if cfg.Format != models.FormatDiffusers {
		if submodel != SubTransformer && submodel != "" {
			return nil, 0, fmt.Errorf("a FLUX %s file holds only the transformer: pick the VAE, T5 and CLIP models in the FLUX model loader", cfg.Format)
		}
		if cfg.Format == models.FormatGGUF {
			t, err := flux.LoadTransformerGGUF(path, opts)
			return t, fileSize(path), err
		}
		t, err := flux.LoadTransformerFile(path, opts)
		return t, fileSize(path), err
	}
	part := filepath.Join(path, submodel)
	switch submodel {
	case SubTransformer, "":
		part = filepath.Join(path, SubTransformer)
		t, err := flux.LoadTransformerFolder(part, opts)
		return t, dirSize(part), err
	case SubVAE:
		v, err := flux.LoadVAEFolder(part, sd.Options{})
		return v, dirSize(part), err
	case SubTextEncoder:
		m, err := sd.LoadCLIPTextFolder(part)
		return m, dirSize(part), err
	case SubTokenizer:
		tok, err := tokenizer.Load(part)
		return tok, 2 << 20, err
	case SubTextEncoder2:
		e, err := t5.LoadFolder(part, quant.Options{Compute: l.Compute})
		return e, dirSize(part), err
	case SubTokenizer2:
		tok, err := sentencepiece.LoadT5(part)
		return tok, 1 << 20, err
	case SubScheduler:
		b, err := os.ReadFile(filepath.Join(part, "scheduler_config.json"))
		if errors.Is(err, fs.ErrNotExist) {
			return []byte(nil), 0, nil
		}
		return b, int64(len(b)), err
	}
	return nil, 0, fmt.Errorf("unknown submodel %q", submodel)
}

// sharedT5Tokenizer finds T5's tokenizer for a T5 encoder stored without one: every T5 v1.1 encoder uses
// the same SentencePiece vocabulary, so the first folder holding a complete one serves.
func (l Loader) sharedT5Tokenizer(ctx context.Context) (any, int64, error) {
	var dirs []string
	if l.T5Tokenizers != nil {
		var err error
		if dirs, err = l.T5Tokenizers(ctx); err != nil {
			return nil, 0, err
		}
	}
	for _, d := range dirs {
		if tok, err := sentencepiece.LoadT5(d); err == nil {
			return tok, 1 << 20, nil
		}
	}
	return nil, 0, errors.New("a GGUF T5 encoder carries no tokenizer and none was found: install a T5 encoder folder " +
		"(InvokeAI/t5-v1_1-xxl) or a FLUX diffusers model, or put T5's spiece.model in the models folder's .tokenizers/t5")
}

func fileSize(p string) int64 {
	if st, err := os.Stat(p); err == nil {
		return st.Size()
	}
	return 0
}

// dirSize sums the sizes of the files under dir, the cache's size estimate.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
