package fluxnode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"sync"

	"github.com/invokego/invokego/internal/engine/flux"
	"github.com/invokego/invokego/internal/engine/lora"
	"github.com/invokego/invokego/internal/models"
	"github.com/invokego/invokego/internal/nodes/diffusion"
)

// modelAccess loads the parts nodes ask for through the cache and remembers which text encoders ran, so
// that they can be let go before a transformer that needs their memory.
type modelAccess struct {
	records      diffusion.ModelRecords
	cache        ModelCache
	memAvailable func() (int64, bool)
	pathOf       func(string) string

	mu       sync.Mutex
	encoders map[string]bool // keys of text-encoder models loaded by flux_text_encoder
}

// config returns the record of an identified model.
func (m *modelAccess) config(ctx context.Context, id diffusion.ModelIdentifierField) (*models.Config, error) {
	if m.records == nil || m.cache == nil {
		return nil, errors.New("the model manager is not available")
	}
	cfg, err := m.records.Get(ctx, id.Key)
	if err != nil {
		return nil, fmt.Errorf("unknown model %s: %w", id.Key, err)
	}
	return cfg, nil
}

// load returns the submodel the identifier names (or fallback when it names none).
func load[T any](ctx context.Context, m *modelAccess, id diffusion.ModelIdentifierField, fallback string) (T, error) {
	var zero T
	cfg, err := m.config(ctx, id)
	if err != nil {
		return zero, err
	}
	sub := fallback
	if id.SubmodelType != nil && *id.SubmodelType != "" {
		sub = *id.SubmodelType
	}
	v, err := m.cache.Get(ctx, cfg, sub)
	if err != nil {
		return zero, err
	}
	t, ok := v.(T)
	if !ok || v == nil || (reflect.ValueOf(v).Kind() == reflect.Pointer && reflect.ValueOf(v).IsNil()) {
		return zero, fmt.Errorf("model %s has no usable %s for FLUX (a %s %s model)", cfg.Name, sub, cfg.Base, cfg.Type)
	}
	return t, nil
}

// noteEncoder records text-encoder models that are now in the cache.
func (m *modelAccess) noteEncoder(keys ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.encoders == nil {
		m.encoders = map[string]bool{}
	}
	for _, k := range keys {
		m.encoders[k] = true
	}
}

// makeRoom lets the text encoders go when the transformer about to run would not fit beside them, as
// InvokeAI's partial loading does: they leave the cache, the collector frees what they held on the heap,
// and memory-mapped weights are unmapped so that the page cache can drop them. The next prompt reloads them.
func (m *modelAccess) makeRoom(ctx context.Context, transformer *models.Config) {
	if m.memAvailable == nil {
		return
	}
	avail, ok := m.memAvailable()
	if !ok {
		return
	}
	need := transformerSize(m, transformer)
	if avail > need+minHeadroom {
		return
	}
	m.mu.Lock()
	keys := m.encoders
	m.encoders = nil
	m.mu.Unlock()
	if len(keys) == 0 {
		return
	}
	for k := range keys {
		m.cache.Drop(k)
	}
	runtime.GC()
	debug.FreeOSMemory()
	after, _ := m.memAvailable()
	slog.InfoContext(ctx, "flux: released the text encoders before the transformer", "transformer", transformer.Name,
		"needed_bytes", need, "available_before", avail, "available_after", after)
}

// minHeadroom is memory kept free beyond a transformer's weights for its activations (a 1024² FLUX step
// holds a few hundred MB of them).
const minHeadroom = 2 << 30

// transformerSize is the bytes a transformer's weights take: its file, or its folder's transformer part.
func transformerSize(m *modelAccess, cfg *models.Config) int64 {
	if cfg.FileSize > 0 && cfg.Format != models.FormatDiffusers {
		return cfg.FileSize
	}
	if m.pathOf != nil {
		return dirSize(filepath.Join(m.pathOf(cfg.Path), SubTransformer))
	}
	return cfg.FileSize
}

// loras resolves the LoRAs of a transformer field onto the loaded transformer.
func (m *modelAccess) loras(ctx context.Context, t *flux.Transformer, fields []diffusion.LoRAField) (*flux.LoRA, error) {
	if len(fields) == 0 {
		return nil, nil
	}
	adapters, err := m.loraFiles(ctx, fields)
	if err != nil {
		return nil, err
	}
	set, err := t.NewLoRA(adapters)
	if err != nil {
		return nil, valueError("%v", err)
	}
	return set, nil
}

// loraFiles loads the LoRA files of a model field with their weights.
func (m *modelAccess) loraFiles(ctx context.Context, fields []diffusion.LoRAField) ([]flux.WeightedLoRA, error) {
	adapters := make([]flux.WeightedLoRA, 0, len(fields))
	for _, f := range fields {
		file, err := load[*lora.File](ctx, m, f.LoRA, "")
		if err != nil {
			return nil, nodeError(err)
		}
		adapters = append(adapters, flux.WeightedLoRA{File: file, Weight: float32(f.Weight)})
	}
	return adapters, nil
}
