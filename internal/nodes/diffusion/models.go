package diffusion

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/invokego/invokego/internal/engine/ldm"
	"github.com/invokego/invokego/internal/engine/lora"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/textinv"
	"github.com/invokego/invokego/internal/engine/tokenizer"
	"github.com/invokego/invokego/internal/models"
)

// Submodel names (InvokeAI's SubModelType values).
const (
	SubUNet         = "unet"
	SubTextEncoder  = "text_encoder"
	SubTextEncoder2 = "text_encoder_2"
	SubTokenizer    = "tokenizer"
	SubTokenizer2   = "tokenizer_2"
	SubVAE          = "vae"
	SubScheduler    = "scheduler"
)

// VariantFP32 marks a submodel built in float32 whatever the precision
// setting ("vae" + VariantFP32): what the VAE nodes' fp32 field asks for.
// The model cache keeps it apart from the plain build (see cache.Loader).
const VariantFP32 = "#fp32"

// ModelRecords looks up installed models (the model manager's records).
type ModelRecords interface {
	Get(ctx context.Context, key string) (*models.Config, error)
}

// ModelCache hands out loaded models, loading them through the loader it
// was given (the model manager's cache with Loader installed).
type ModelCache interface {
	Get(ctx context.Context, cfg *models.Config, submodel string) (any, error)
}

// SchedulerConfig is a model's scheduler/scheduler_config.json, as cached.
type SchedulerConfig []byte

// Loader loads one part of a model for the model cache. PathOf resolves a
// record's path (relative paths are inside the models folder).
type Loader struct {
	PathOf func(p string) string
	// Tokenizers supplies single-file checkpoints' tokenizers; without it
	// they cannot encode prompts.
	Tokenizers TokenizerSource
	// Build is how UNets, VAEs and text encoders are built: the precision
	// setting resolved by sd.ResolvePrecision (the zero value is fp32).
	Build sd.Options
}

// TokenizerSource finds the tokenizer a checkpoint's submodel would have had
// in diffusers layout (see SharedTokenizers).
type TokenizerSource interface {
	Tokenizer(ctx context.Context, cfg *models.Config, submodel string) (*tokenizer.Tokenizer, error)
}

// Load implements the model cache's loader: diffusers folders component by
// component, original-layout checkpoints converted whole (the wanted part
// is returned), standalone VAE folders.
func (l Loader) Load(ctx context.Context, cfg *models.Config, submodel string) (any, int64, error) {
	if base, ok := strings.CutSuffix(submodel, VariantFP32); ok {
		if base != SubVAE {
			return nil, 0, fmt.Errorf("load %s: no float32 variant of %q", cfg.Name, base)
		}
		submodel = base
		l.Build.Precision = "fp32"
	}
	path := cfg.Path
	if l.PathOf != nil {
		path = l.PathOf(path)
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	switch {
	case cfg.Type == models.TypeVAE && cfg.Format == models.FormatDiffusers:
		v, err := sd.LoadVAEFolderWithOptions(path, l.Build)
		return v, dirSize(path), wrapLoad(cfg, submodel, err)
	case isAdapterType(cfg.Type):
		return l.loadAdapter(ctx, cfg, path)
	case cfg.Type == models.TypeLoRA:
		return loadLoRA(cfg, path)
	case cfg.Type == models.TypeEmbedding:
		e, err := textinv.Load(path)
		if err != nil {
			return nil, 0, wrapLoad(cfg, cfg.Type, err)
		}
		return e, embeddingSize(e), nil
	case cfg.Type != models.TypeMain:
		return nil, 0, fmt.Errorf("load %s: model type %q is not supported by the engine", cfg.Name, cfg.Type)
	case cfg.Format == models.FormatDiffusers:
		return l.loadDiffusersPart(cfg, path, submodel)
	case cfg.Format == models.FormatCheckpoint:
		return l.loadCheckpointPart(ctx, cfg, path, submodel)
	}
	return nil, 0, fmt.Errorf("load %s: format %q is not supported by the engine", cfg.Name, cfg.Format)
}

func wrapLoad(cfg *models.Config, submodel string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("load %s (%s): %w", cfg.Name, submodel, err)
}

func (l Loader) loadDiffusersPart(cfg *models.Config, dir, submodel string) (any, int64, error) {
	part := filepath.Join(dir, submodel)
	var v any
	var err error
	switch submodel {
	case SubUNet:
		v, err = sd.LoadUNetFolderWithOptions(part, l.Build)
	case SubVAE:
		v, err = sd.LoadVAEFolderWithOptions(part, l.Build)
	case SubTextEncoder, SubTextEncoder2:
		v, err = sd.LoadCLIPTextFolderWithOptions(part, l.Build)
	case SubTokenizer, SubTokenizer2:
		v, err = tokenizer.Load(part)
	case SubScheduler:
		var b []byte
		b, err = os.ReadFile(filepath.Join(part, "scheduler_config.json"))
		if errors.Is(err, fs.ErrNotExist) {
			b, err = nil, nil // class defaults
		}
		return SchedulerConfig(b), int64(len(b)), wrapLoad(cfg, submodel, err)
	default:
		return nil, 0, fmt.Errorf("load %s: unknown submodel %q", cfg.Name, submodel)
	}
	if err != nil {
		return nil, 0, wrapLoad(cfg, submodel, err)
	}
	return v, dirSize(part), nil
}

func (l Loader) loadCheckpointPart(ctx context.Context, cfg *models.Config, path, submodel string) (any, int64, error) {
	switch submodel {
	case SubScheduler:
		b, err := checkpointSchedulerConfig(cfg)
		return SchedulerConfig(b), int64(len(b)), wrapLoad(cfg, submodel, err)
	case SubTokenizer, SubTokenizer2:
		if l.Tokenizers == nil {
			return nil, 0, fmt.Errorf("load %s: single-file checkpoints carry no tokenizer and none was found", cfg.Name)
		}
		tok, err := l.Tokenizers.Tokenizer(ctx, cfg, submodel)
		if err != nil {
			return nil, 0, wrapLoad(cfg, submodel, err)
		}
		return tok, 2 << 20, nil // about what the vocabulary and merges take in memory
	}
	switch submodel {
	case SubUNet, SubVAE, SubTextEncoder, SubTextEncoder2:
	default:
		return nil, 0, fmt.Errorf("load %s: unknown submodel %q", cfg.Name, submodel)
	}
	p, err := ldm.LoadSingleFile(path, ldm.Options{Part: submodel, Build: l.Build})
	if err != nil {
		return nil, 0, wrapLoad(cfg, submodel, err)
	}
	var v any
	switch submodel {
	case SubUNet:
		v = p.UNet
	case SubVAE:
		v = p.VAE
	case SubTextEncoder:
		v = p.TextEncoder
	case SubTextEncoder2:
		v = p.TextEncoder2
	}
	size := int64(0)
	if st, err := os.Stat(path); err == nil {
		size = st.Size() / 3 // one of roughly three parts
	}
	return v, size, nil
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

// modelAccess loads the parts nodes ask for through the cache.
type modelAccess struct {
	records ModelRecords
	cache   ModelCache
	// precision is the one the loader builds networks in (Deps.Precision):
	// an fp32 VAE request needs a build of its own only when it is not fp32.
	precision string
}

// config returns the record of an identified model.
func (m modelAccess) config(ctx context.Context, id ModelIdentifierField) (*models.Config, error) {
	if m.records == nil || m.cache == nil {
		return nil, errors.New("the model manager is not available")
	}
	cfg, err := m.records.Get(ctx, id.Key)
	if err != nil {
		return nil, fmt.Errorf("unknown model %s: %w", id.Key, err)
	}
	return cfg, nil
}

// load returns the submodel the identifier names (or fallback when it
// names none).
func load[T any](ctx context.Context, m modelAccess, id ModelIdentifierField, fallback string) (T, error) {
	var zero T
	cfg, err := m.config(ctx, id)
	if err != nil {
		return zero, err
	}
	sub := fallback
	if id.SubmodelType != nil && *id.SubmodelType != "" {
		sub = *id.SubmodelType
	}
	if cfg.Type == models.TypeVAE {
		variant := ""
		if strings.HasSuffix(sub, VariantFP32) {
			variant = VariantFP32
		}
		sub = SubVAE + variant
	}
	v, err := m.cache.Get(ctx, cfg, sub)
	if err != nil {
		return zero, err
	}
	t, ok := v.(T)
	if !ok || v == nil || (reflect.ValueOf(v).Kind() == reflect.Pointer && reflect.ValueOf(v).IsNil()) {
		return zero, fmt.Errorf("model %s has no usable %s", cfg.Name, sub)
	}
	return t, nil
}

// checkpointSchedulerConfig stands in for the scheduler_config.json a
// single-file checkpoint lacks: the Stable Diffusion training schedule
// (SD-1.5's PNDM config; SDXL's Euler config, with its leading spacing) and
// the record's prediction type (v_prediction for SD-2 768 models).
func checkpointSchedulerConfig(cfg *models.Config) ([]byte, error) {
	c := map[string]any{
		"_class_name": "PNDMScheduler", "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
		"num_train_timesteps": 1000, "set_alpha_to_one": false, "skip_prk_steps": true, "steps_offset": 1,
		"clip_sample": false,
	}
	if cfg.Base == models.BaseSDXL || cfg.Base == models.BaseSDXLRefiner {
		c["_class_name"] = "EulerDiscreteScheduler"
		c["interpolation_type"] = "linear"
		c["timestep_spacing"] = "leading"
	}
	if cfg.PredictionType != nil && *cfg.PredictionType != "" {
		c["prediction_type"] = *cfg.PredictionType
	}
	return json.Marshal(c)
}

// loadLoRA parses an SD LoRA: a single .safetensors file (kohya, LyCORIS,
// PEFT or diffusers keys) or a diffusers folder's pytorch_lora_weights.
// The parsed layers are float32, so the cache counts them as such.
func loadLoRA(cfg *models.Config, path string) (any, int64, error) {
	p := path
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		p = filepath.Join(path, "pytorch_lora_weights.safetensors")
	}
	if filepath.Ext(p) != ".safetensors" {
		return nil, 0, fmt.Errorf("load %s: LoRA weights in %s files are not supported; use a .safetensors file", cfg.Name, filepath.Ext(p))
	}
	f, err := lora.Open(p)
	if err != nil {
		return nil, 0, wrapLoad(cfg, cfg.Type, err)
	}
	return f, f.Bytes(), nil
}

// embeddingSize is the memory an embedding's vectors take.
func embeddingSize(e *textinv.Embedding) int64 {
	var n int64
	for _, v := range []*textinv.Vectors{e.First, e.Second} {
		if v != nil {
			n += int64(len(v.Data)) * 4
		}
	}
	return n
}
