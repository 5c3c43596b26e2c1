package diffusion

import (
	"container/list"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"

	"github.com/invokego/invokego/internal/engine/pipeline"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// ObjectStore keeps the tensors and conditionings nodes pass to each other
// by name, in memory, evicting the least recently used entries beyond a byte
// budget (InvokeAI keeps them on disk; within a session they are consumed
// soon after being made, and node-cache hits re-read them by name). Names
// are random, so one session cannot guess another's objects.
type ObjectStore struct {
	mu      sync.Mutex
	budget  int64
	used    int64
	entries map[string]*list.Element
	order   *list.List // front = most recently used
}

type storeEntry struct {
	name  string
	value any
	size  int64
}

// NewObjectStore makes a store holding at most budget bytes.
func NewObjectStore(budget int64) *ObjectStore {
	return &ObjectStore{budget: budget, entries: map[string]*list.Element{}, order: list.New()}
}

// ErrNotInStore is returned for names the store does not hold (never made,
// or evicted).
type ErrNotInStore struct{ Name string }

func (e ErrNotInStore) Error() string {
	return fmt.Sprintf("object %q not found (it may have been evicted)", e.Name)
}

// SaveTensor stores a tensor and returns its new name.
func (s *ObjectStore) SaveTensor(prefix string, t *tensor.Tensor) string {
	return s.put(prefix, t, int64(len(t.Data))*4)
}

// SaveConditioning stores conditioning and returns its new name.
func (s *ObjectStore) SaveConditioning(c *pipeline.Conditioning) string {
	size := int64(len(c.Embeds.Data)) * 4
	if c.PooledEmbeds != nil {
		size += int64(len(c.PooledEmbeds.Data)) * 4
	}
	return s.put("conditioning", c, size)
}

// Tensor returns a stored tensor.
func (s *ObjectStore) Tensor(name string) (*tensor.Tensor, error) {
	v, err := s.get(name)
	if err != nil {
		return nil, err
	}
	t, ok := v.(*tensor.Tensor)
	if !ok {
		return nil, fmt.Errorf("object %q is not a tensor", name)
	}
	return t, nil
}

// Conditioning returns stored conditioning.
func (s *ObjectStore) Conditioning(name string) (*pipeline.Conditioning, error) {
	v, err := s.get(name)
	if err != nil {
		return nil, err
	}
	c, ok := v.(*pipeline.Conditioning)
	if !ok {
		return nil, fmt.Errorf("object %q is not conditioning", name)
	}
	return c, nil
}

func (s *ObjectStore) put(prefix string, v any, size int64) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	name := prefix + "_" + hex.EncodeToString(b[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries[name] = s.order.PushFront(&storeEntry{name: name, value: v, size: size})
	s.used += size
	// Keep at least the newest entry even when it alone exceeds the budget.
	for s.used > s.budget && s.order.Len() > 1 {
		oldest := s.order.Back()
		e := oldest.Value.(*storeEntry)
		s.order.Remove(oldest)
		delete(s.entries, e.name)
		s.used -= e.size
	}
	return name
}

func (s *ObjectStore) get(name string) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.entries[name]
	if !ok {
		return nil, ErrNotInStore{name}
	}
	s.order.MoveToFront(el)
	return el.Value.(*storeEntry).value, nil
}
