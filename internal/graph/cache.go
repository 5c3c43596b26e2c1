package graph

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync"
)

// Cache is the invocation cache: node outputs memoised by the node's type and resolved inputs, least recently
// used first out. Keys include the owner, so one user's cached outputs (image names) never reach another.
type Cache struct {
	mu    sync.Mutex
	size  int
	order *list.List
	byKey map[string]*list.Element
	hits  int
	miss  int
	// disabled is the admin's switch (/api/v1/app/invocation_cache/disable): lookups miss and nothing is stored.
	disabled bool
}

type cacheEntry struct {
	key    string
	result map[string]json.RawMessage
}

// NewCache makes a cache of at most size entries; size ≤ 0 returns nil (caching off).
func NewCache(size int) *Cache {
	if size <= 0 {
		return nil
	}
	return &Cache{size: size, order: list.New(), byKey: map[string]*list.Element{}}
}

// Get returns a cached output or nil.
func (c *Cache) Get(key string) map[string]json.RawMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.disabled {
		return nil
	}
	el, ok := c.byKey[key]
	if !ok {
		c.miss++
		return nil
	}
	c.hits++
	c.order.MoveToFront(el)
	return el.Value.(*cacheEntry).result
}

// Put stores an output.
func (c *Cache) Put(key string, result map[string]json.RawMessage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.disabled {
		return
	}
	if el, ok := c.byKey[key]; ok {
		el.Value.(*cacheEntry).result = result
		c.order.MoveToFront(el)
		return
	}
	c.byKey[key] = c.order.PushFront(&cacheEntry{key: key, result: result})
	for c.order.Len() > c.size {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byKey, last.Value.(*cacheEntry).key)
	}
}

// Clear empties the cache.
func (c *Cache) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.order.Init()
	c.byKey = map[string]*list.Element{}
}

// SetEnabled turns caching on or off; the entries are kept.
func (c *Cache) SetEnabled(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.disabled = !on
}

// Enabled reports whether caching is on.
func (c *Cache) Enabled() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.disabled
}

// Stats reports hits, misses and the current size.
func (c *Cache) Stats() (hits, misses, size int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.miss, c.order.Len()
}

// cacheKey hashes the decoded inputs (a canonical form: defaults applied, key order fixed by the struct).
func cacheKey(owner, typ string, intermediate bool, inv any) string {
	b, _ := json.Marshal(inv)
	h := sha256.New()
	h.Write([]byte(owner))
	h.Write([]byte{0})
	h.Write([]byte(typ))
	if intermediate {
		h.Write([]byte{1})
	} else {
		h.Write([]byte{0})
	}
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}
