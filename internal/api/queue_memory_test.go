package api_test

import (
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/config"
)

// One queued item must not be able to take the server down by asking for more memory than the machine has
// (docs/security.md "Resource limits and hostile input"). Allocations whose size the graph decides are refused
// at enqueue; those that only running decides fail their node with MemoryError; sizes that overflow never
// "complete" with an impossible shape.

func noiseGraph(w, h any) map[string]any {
	return map[string]any{"nodes": map[string]any{"n": map[string]any{"id": "n", "type": "noise", "width": w, "height": h}}, "edges": []any{}}
}

func TestHugeAllocationsAreRefusedAtEnqueue(t *testing.T) {
	env := apitest.New(t)
	// Sizes from the issue: a 2097152 px noise asks for 1 TiB; a 2^34 px one wraps its element count.
	for name, batch := range map[string]map[string]any{
		"noise of 2097152 px":        {"graph": noiseGraph(2097152, 2097152)},
		"noise of 2^34 px":           {"graph": noiseGraph(int64(1)<<34, int64(1)<<34)},
		"noise sized by batch data":  {"graph": noiseGraph(512, 512), "data": []any{[]any{map[string]any{"node_path": "n", "field_name": "width", "items": []any{512, 2097152}}, map[string]any{"node_path": "n", "field_name": "height", "items": []any{512, 2097152}}}}},
		"latents resized to 2097152": {"graph": lresizeGraph(2097152)},
	} {
		t.Run(name, func(t *testing.T) {
			res := enqueueStatus(t, env, "", batch)
			if res.Status != 422 {
				t.Fatalf("status %d, want 422: %.300s", res.Status, res.Body)
			}
		})
	}
	assertQueueEmpty(t, env)
}

func lresizeGraph(size int) map[string]any {
	return map[string]any{"nodes": map[string]any{
		"n": map[string]any{"id": "n", "type": "noise", "width": 64, "height": 64},
		"r": map[string]any{"id": "r", "type": "lresize", "width": size, "height": size},
	}, "edges": []any{edge("n", "noise", "r", "latents")}}
}

func TestAllocationsBeyondTheItemBudget(t *testing.T) {
	env := apitest.New(t, apitest.WithConfig(func(c *config.Config) { c.MaxItemMemory = 32 << 20 }))
	// Known at enqueue: 422 naming the limit.
	for name, batch := range map[string]map[string]any{
		"noise":       {"graph": noiseGraph(16384, 16384)},
		"blank image": {"graph": map[string]any{"nodes": map[string]any{"b": map[string]any{"id": "b", "type": "blank_image", "width": 4096, "height": 4096}}, "edges": []any{}}},
		"lresize":     {"graph": lresizeGraph(16384)},
	} {
		t.Run(name, func(t *testing.T) {
			res := enqueueStatus(t, env, "", batch).Expect(422)
			if !strings.Contains(string(res.Body), "max_item_memory") {
				t.Fatalf("422 does not name max_item_memory: %s", res.Body)
			}
		})
	}
	assertQueueEmpty(t, env)
	// Known only while running: the node fails with MemoryError naming the limit, and the server goes on.
	for name, g := range map[string]map[string]any{
		"lscale by 8 of a 2048 px noise": {"nodes": map[string]any{
			"n": map[string]any{"id": "n", "type": "noise", "width": 2048, "height": 2048},
			"s": map[string]any{"id": "s", "type": "lscale", "scale_factor": 8},
		}, "edges": []any{edge("n", "noise", "s", "latents")}},
		"image sized by another node": {"nodes": map[string]any{
			"w": map[string]any{"id": "w", "type": "integer", "value": 4096},
			"b": map[string]any{"id": "b", "type": "blank_image", "height": 4096},
		}, "edges": []any{edge("w", "value", "b", "width")}},
	} {
		t.Run(name, func(t *testing.T) {
			res := enqueue(t, env, "", map[string]any{"graph": g})
			it := waitStatus(t, env, "", res.ItemIDs[0], "failed")
			if deref(it.ErrorType) != "MemoryError" || !strings.Contains(deref(it.ErrorMessage), "max_item_memory") {
				t.Fatalf("failure %s: %s", deref(it.ErrorType), deref(it.ErrorMessage))
			}
		})
	}
	ok := enqueue(t, env, "", map[string]any{"graph": noiseGraph(512, 512)})
	waitStatus(t, env, "", ok.ItemIDs[0], "completed")
}
