// Package cache keeps loaded models in memory for the engine: loaded on demand through an injected loader,
// kept by recency within a RAM budget, with InvokeAI's cache statistics and model_load_* events.
package cache

import (
	"container/list"
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/invokego/invokego/internal/events"
	"github.com/invokego/invokego/internal/models"
)

// Loader loads one model (or one submodel of a pipeline: "unet", "vae", "text_encoder", ...; "" for the
// whole model) and reports its size in bytes. A submodel may name a build variant after '#' ("vae#fp32":
// the VAE built in float32 where the precision setting builds bf16, for the nodes' fp32 field): the
// variant is cached apart from the plain build and reported in events as the submodel alone.
type Loader func(ctx context.Context, cfg *models.Config, submodel string) (value any, size int64, err error)

// Stats is InvokeAI's CacheStats.
type Stats struct {
	Hits             int64            `json:"hits"`
	Misses           int64            `json:"misses"`
	HighWatermark    int64            `json:"high_watermark"`
	InCache          int              `json:"in_cache"`
	Cleared          int64            `json:"cleared"`
	CacheSize        int64            `json:"cache_size"`
	LoadedModelSizes map[string]int64 `json:"loaded_model_sizes"`
}

type entry struct {
	id    string
	key   string // model key
	value any
	size  int64
	elem  *list.Element
}

type call struct {
	done  chan struct{}
	value any
	err   error
}

// Cache is safe for concurrent use. Concurrent requests for the same model share one load.
type Cache struct {
	mu       sync.Mutex
	budget   int64
	used     int64
	entries  map[string]*entry
	lru      *list.List // front = most recently used
	inflight map[string]*call
	loader   Loader
	events   events.Publisher
	stats    Stats
}

// New makes a cache with a budget in bytes.
func New(budget int64, pub events.Publisher) *Cache {
	return &Cache{budget: budget, entries: map[string]*entry{}, lru: list.New(), inflight: map[string]*call{}, events: pub}
}

// SetLoader installs the engine's loader.
func (c *Cache) SetLoader(l Loader) {
	c.mu.Lock()
	c.loader = l
	c.mu.Unlock()
}

// ErrNoLoader means the engine has not installed a loader.
var ErrNoLoader = errors.New("model cache: no loader installed")

func cacheID(key, submodel string) string { return key + ":" + submodel }

// Get returns a loaded model, loading it if needed.
func (c *Cache) Get(ctx context.Context, cfg *models.Config, submodel string) (any, error) {
	id := cacheID(cfg.Key, submodel)
	c.mu.Lock()
	if e, ok := c.entries[id]; ok {
		c.stats.Hits++
		c.lru.MoveToFront(e.elem)
		c.mu.Unlock()
		return e.value, nil
	}
	if cl, ok := c.inflight[id]; ok {
		// Sharing another caller's load costs no load of its own, so it counts as a hit; otherwise the
		// counters would depend on how the callers happened to interleave.
		c.stats.Hits++
		c.mu.Unlock()
		select {
		case <-cl.done:
			return cl.value, cl.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	loader := c.loader
	if loader == nil {
		c.mu.Unlock()
		return nil, ErrNoLoader
	}
	c.stats.Misses++
	cl := &call{done: make(chan struct{})}
	c.inflight[id] = cl
	c.mu.Unlock()

	c.publish("model_load_started", cfg, submodel)
	value, size, err := loader(ctx, cfg, submodel)
	c.mu.Lock()
	delete(c.inflight, id)
	if err == nil {
		e := &entry{id: id, key: cfg.Key, value: value, size: size}
		e.elem = c.lru.PushFront(e)
		c.entries[id] = e
		c.used += size
		if c.used > c.stats.HighWatermark {
			c.stats.HighWatermark = c.used
		}
		c.evictLocked(e)
	}
	c.mu.Unlock()
	cl.value, cl.err = value, err
	close(cl.done)
	if err != nil {
		return nil, err
	}
	c.publish("model_load_complete", cfg, submodel)
	return value, nil
}

// LoadEvent is model_load_started and model_load_complete.
type LoadEvent struct {
	Config *models.Config `json:"config"`
	// SubmodelType is null for a whole model.
	SubmodelType *string `json:"submodel_type"`
}

func (c *Cache) publish(name string, cfg *models.Config, submodel string) {
	if c.events == nil {
		return
	}
	ev := LoadEvent{Config: cfg}
	submodel, _, _ = strings.Cut(submodel, "#") // a build variant is not a submodel type
	if submodel != "" {
		ev.SubmodelType = &submodel
	}
	// Admins get the record in full; everyone else the record without its source and server paths.
	others := ev
	others.Config = cfg.ForNonAdmin()
	c.events.Publish(events.Event{Name: name, UserID: "system", Audience: events.Admins,
		Payload: events.Fields(ev), Sanitized: events.Fields(others)})
}

// evictLocked drops least recently used entries until the budget holds, never the one just loaded.
func (c *Cache) evictLocked(keep *entry) {
	for c.used > c.budget {
		back := c.lru.Back()
		if back == nil {
			return
		}
		e := back.Value.(*entry)
		if e == keep {
			return
		}
		c.removeLocked(e)
		c.stats.Cleared++
	}
}

func (c *Cache) removeLocked(e *entry) {
	c.lru.Remove(e.elem)
	delete(c.entries, e.id)
	c.used -= e.size
}

// Drop removes every cached part of a model (its record or files changed).
func (c *Cache) Drop(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.entries {
		if e.key == key {
			c.removeLocked(e)
		}
	}
}

// Clear empties the cache (empty_model_cache).
func (c *Cache) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.entries {
		c.removeLocked(e)
		c.stats.Cleared++
	}
}

// Stats reports the cache's counters and what it holds.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.InCache = len(c.entries)
	s.CacheSize = c.budget
	s.LoadedModelSizes = map[string]int64{}
	for _, e := range c.entries {
		s.LoadedModelSizes[e.id] = e.size
	}
	return s
}
