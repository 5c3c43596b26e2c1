package graph

import (
	"encoding/json"
	"testing"
)

func TestCacheDisableStopsLookupsAndStores(t *testing.T) {
	c := NewCache(2)
	out := map[string]json.RawMessage{"value": json.RawMessage("1")}
	c.Put("a", out)
	if c.Get("a") == nil {
		t.Fatal("stored entry not found")
	}
	c.SetEnabled(false)
	if c.Enabled() || c.Get("a") != nil {
		t.Fatal("disabled cache still answers")
	}
	c.Put("b", out)
	c.SetEnabled(true)
	if c.Get("b") != nil {
		t.Fatal("disabled cache stored an entry")
	}
	if c.Get("a") == nil {
		t.Fatal("entries from before disabling were lost")
	}
	// Least recently used goes first.
	c.Put("b", out)
	c.Put("c", out)
	if c.Get("a") != nil || c.Get("c") == nil {
		t.Fatal("eviction order")
	}
}
