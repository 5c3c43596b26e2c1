package api_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/config"
	"github.com/invokego/invokego/internal/events"
)

// Graph expansion must not amplify one small request into storage and memory (docs/security.md "Resource limits
// and hostile input"): a session's expanded size and a batch's are capped at enqueue where that can be known,
// and while running otherwise; listings read only what their caller may see.

func edge(sn, sf, dn, df string) map[string]any {
	return map[string]any{"source": map[string]any{"node_id": sn, "field": sf}, "destination": map[string]any{"node_id": dn, "field": df}}
}

// independentIterations multiplies k iterations over literal ranges of n items in one node: n^k prepared copies
// of it, from a graph of a few hundred bytes.
func independentIterations(k, n int) map[string]any {
	nodes := map[string]any{"sum": map[string]any{"id": "sum", "type": "collect"}}
	var edges []any
	for i := 0; i < k; i++ {
		r, it := fmt.Sprintf("r%d", i), fmt.Sprintf("it%d", i)
		nodes[r] = map[string]any{"id": r, "type": "range", "start": 0, "stop": n, "step": 1}
		nodes[it] = map[string]any{"id": it, "type": "iterate"}
		edges = append(edges, edge(r, "collection", it, "collection"))
	}
	// a chain of adds joins every iteration's item, so its last node lives in all their scopes
	prev := "it0"
	prevField := "item"
	for i := 1; i < k; i++ {
		add := fmt.Sprintf("add%d", i)
		nodes[add] = map[string]any{"id": add, "type": "add"}
		edges = append(edges, edge(prev, prevField, add, "a"), edge(fmt.Sprintf("it%d", i), "item", add, "b"))
		prev, prevField = add, "value"
	}
	edges = append(edges, edge(prev, prevField, "sum", "item"))
	return map[string]any{"nodes": nodes, "edges": edges}
}

func enqueueStatus(t *testing.T, env *apitest.Env, token string, batch map[string]any) *apitest.Resp {
	t.Helper()
	return env.Do("POST", queueBase+"/enqueue_batch", apitest.Token(token), apitest.JSON(map[string]any{"batch": batch}))
}

func TestExpansionIsCappedAtEnqueue(t *testing.T) {
	env := apitest.New(t)
	cases := map[string]map[string]any{
		"three iterations of 1000 (10^9 copies)": {"graph": independentIterations(3, 1000)},
		"two iterations of 200 (40 000 copies)":  {"graph": independentIterations(2, 200)},
		"one iteration over a literal collection": {"graph": map[string]any{"nodes": map[string]any{
			"c":  map[string]any{"id": "c", "type": "integer_collection", "collection": make([]int, 20000)},
			"it": map[string]any{"id": "it", "type": "iterate"},
			"n":  map[string]any{"id": "n", "type": "integer"}},
			"edges": []any{edge("c", "collection", "it", "collection"), edge("it", "item", "n", "value")}}},
		"a negative-step range": {"graph": map[string]any{"nodes": map[string]any{
			"r":  map[string]any{"id": "r", "type": "range", "start": 1 << 40, "stop": 0, "step": -1},
			"it": map[string]any{"id": "it", "type": "iterate"},
			"n":  map[string]any{"id": "n", "type": "integer"}},
			"edges": []any{edge("r", "collection", "it", "collection"), edge("it", "item", "n", "value")}}},
	}
	for name, batch := range cases {
		t.Run(name, func(t *testing.T) {
			res := enqueueStatus(t, env, "", batch)
			if res.Status != 422 || !strings.Contains(string(res.Body), "max_session_nodes") {
				t.Fatalf("status %d, want 422 naming max_session_nodes: %.300s", res.Status, res.Body)
			}
		})
	}
	assertQueueEmpty(t, env)
	// Within the limits, iterations and runs still work.
	ok := enqueue(t, env, "", map[string]any{"graph": independentIterations(2, 12), "runs": 2})
	for _, id := range ok.ItemIDs {
		waitStatus(t, env, "", id, "completed")
	}
}

func assertQueueEmpty(t *testing.T, env *apitest.Env) {
	t.Helper()
	var st struct {
		Queue struct {
			Total int `json:"total"`
		} `json:"queue"`
	}
	env.Do("GET", queueBase+"/status").Expect(200).Decode(&st)
	if st.Queue.Total != 0 {
		t.Fatalf("a refused batch stored %d items", st.Queue.Total)
	}
}

func TestSessionBytesAreCappedAtEnqueue(t *testing.T) {
	env := apitest.New(t, apitest.WithConfig(func(c *config.Config) {
		c.MaxSessionBytes = 512 << 10
		c.MaxBatchBytes = 2 << 20
	}))
	big := strings.Repeat("x", 600<<10)
	cases := []struct {
		name  string
		batch map[string]any
		limit string
	}{
		{"one large session", map[string]any{"graph": map[string]any{"nodes": map[string]any{
			"s": map[string]any{"id": "s", "type": "string", "value": big}}, "edges": []any{}}}, "max_session_bytes"},
		{"many runs of a modest session", map[string]any{"runs": 500, "graph": map[string]any{"nodes": map[string]any{
			"s": map[string]any{"id": "s", "type": "string", "value": big[:10<<10]}}, "edges": []any{}}}, "max_batch_bytes"},
		{"batch values that grow one session", map[string]any{"graph": map[string]any{"nodes": map[string]any{
			"s": map[string]any{"id": "s", "type": "string", "value": ""}}, "edges": []any{}},
			"data": []any{[]any{map[string]any{"node_path": "s", "field_name": "value", "items": []string{"a", big}}}}}, "max_session_bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := enqueueStatus(t, env, "", tc.batch).Expect(422)
			if !strings.Contains(string(res.Body), tc.limit) {
				t.Fatalf("422 does not name %s: %s", tc.limit, res.Body)
			}
		})
	}
	assertQueueEmpty(t, env)
}

// What only running can tell is capped while running: the item fails with a message naming the limit, and what
// is stored of it stays within the limit.
func TestExpansionIsCappedWhileRunning(t *testing.T) {
	const maxBytes = 1 << 20
	env := apitest.New(t, apitest.WithConfig(func(c *config.Config) {
		c.MaxSessionNodes = 500
		c.MaxSessionBytes = maxBytes
	}))
	// An iteration over a range whose start comes from another iteration: its length is unknown before it runs.
	nested := map[string]any{"nodes": map[string]any{
		"r1":  map[string]any{"id": "r1", "type": "range", "start": 0, "stop": 40, "step": 1},
		"it1": map[string]any{"id": "it1", "type": "iterate"},
		"r2":  map[string]any{"id": "r2", "type": "range", "stop": 1000, "step": 1},
		"it2": map[string]any{"id": "it2", "type": "iterate"},
		"n":   map[string]any{"id": "n", "type": "integer"},
	}, "edges": []any{edge("r1", "collection", "it1", "collection"), edge("it1", "item", "r2", "start"),
		edge("r2", "collection", "it2", "collection"), edge("it2", "item", "n", "value")}}
	// One node whose result alone is larger than a session may be.
	wide := map[string]any{"nodes": map[string]any{"r": map[string]any{"id": "r", "type": "range", "start": 0, "stop": 1000000, "step": 1}}, "edges": []any{}}
	for name, tc := range map[string]struct {
		graph map[string]any
		limit string
	}{"nested iterations": {nested, "max_session_nodes"}, "a large result": {wide, "max_session_bytes"}} {
		t.Run(name, func(t *testing.T) {
			res := enqueue(t, env, "", map[string]any{"graph": tc.graph})
			it := waitStatus(t, env, "", res.ItemIDs[0], "failed")
			if !strings.Contains(deref(it.ErrorMessage), tc.limit) {
				t.Fatalf("error %s: %s", deref(it.ErrorType), deref(it.ErrorMessage))
			}
			var size int
			if err := env.App.DB.SQL().QueryRow(`SELECT LENGTH(session) FROM session_queue WHERE item_id = ?`, res.ItemIDs[0]).Scan(&size); err != nil {
				t.Fatal(err)
			}
			if size > maxBytes+maxBytes/8 {
				t.Fatalf("stored session of %d bytes", size)
			}
		})
	}
}

// Listings never depend on fields of other users' items that the caller cannot see, and the sanitised copies of
// status events carry no counts of another user's batch.
func TestQueueListingsHideOthersFields(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	ch, unsub := env.App.Events.Subscribe(4096)
	defer unsub()
	pause(t, env, cast.Admin.Token)
	dest := "canvas"
	mine := enqueue(t, env, cast.Owner.Token, map[string]any{"graph": integerGraph(), "destination": dest, "runs": 3})
	// The other user filtering by the owner's destination learns nothing: none of the owner's items are listed.
	var items []queueItem
	env.Do("GET", queueBase+"/list_all?destination="+dest, apitest.Token(cast.Other.Token)).Expect(200).Decode(&items)
	if len(items) != 0 {
		t.Fatalf("another user's destination filtered: %+v", items)
	}
	env.Do("GET", queueBase+"/list_all?destination="+dest, apitest.Token(cast.Owner.Token)).Expect(200).Decode(&items)
	if len(items) != 3 {
		t.Fatalf("owner's own destination: %d items", len(items))
	}
	env.Do("GET", queueBase+"/list_all?destination="+dest, apitest.Token(cast.Admin.Token)).Expect(200).Decode(&items)
	if len(items) != 3 {
		t.Fatalf("admin's view: %d items", len(items))
	}
	// Without a filter, others' items are listed sanitised, their graphs never read.
	env.Do("GET", queueBase+"/list_all", apitest.Token(cast.Other.Token)).Expect(200).Decode(&items)
	for _, it := range items {
		if it.UserID != "redacted" || it.BatchID != "redacted" || strings.Contains(string(it.Session), `"integer"`) {
			t.Fatalf("sanitised item %+v", it)
		}
	}
	resume(t, env, cast.Admin.Token)
	for _, id := range mine.ItemIDs {
		waitStatus(t, env, cast.Owner.Token, id, "completed")
	}
	evs := collectEvents(t, ch, func(e events.Event) bool {
		return e.Name == "queue_item_status_changed" && e.Payload["item_id"] == mine.ItemIDs[0] && e.Payload["status"] == "completed"
	})
	for _, e := range evs {
		if e.Name != "queue_item_status_changed" || e.Sanitized == nil {
			continue
		}
		bs := fmt.Sprintf("%+v", e.Sanitized["batch_status"])
		for _, field := range []string{"Pending:0", "InProgress:0", "Completed:0", "Failed:0", "Canceled:0", "Total:0"} {
			if !strings.Contains(bs, field) {
				t.Fatalf("the sanitised copy counts the owner's batch: %s", bs)
			}
		}
	}
}
