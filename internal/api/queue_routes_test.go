package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/config"
	"github.com/invokego/invokego/internal/events"
	"github.com/invokego/invokego/internal/nodes"
)

const queueBase = "/api/v1/queue/default"

// imageGraph is blank_image → img_blur → img_crop: three nodes that save images.
func imageGraph(board string) map[string]any {
	blur := map[string]any{"id": "blur", "type": "img_blur", "radius": 1.5, "is_intermediate": false}
	if board != "" {
		blur["board"] = map[string]any{"board_id": board}
	}
	return map[string]any{
		"id": "g1",
		"nodes": map[string]any{
			"blank": map[string]any{"id": "blank", "type": "blank_image", "width": 32, "height": 24, "mode": "RGB",
				"color": map[string]any{"r": 200, "g": 10, "b": 10, "a": 255}, "is_intermediate": true},
			"blur": blur,
			"crop": map[string]any{"id": "crop", "type": "img_crop", "width": 16, "height": 16, "x": 2, "y": 2},
		},
		"edges": []any{
			map[string]any{"source": map[string]any{"node_id": "blank", "field": "image"}, "destination": map[string]any{"node_id": "blur", "field": "image"}},
			map[string]any{"source": map[string]any{"node_id": "blur", "field": "image"}, "destination": map[string]any{"node_id": "crop", "field": "image"}},
		},
	}
}

// integerGraph is a single trivial node, for queue mechanics.
func integerGraph() map[string]any {
	return map[string]any{"nodes": map[string]any{"n": map[string]any{"id": "n", "type": "integer", "value": 1}}, "edges": []any{}}
}

type enqueueResult struct {
	QueueID   string  `json:"queue_id"`
	Enqueued  int     `json:"enqueued"`
	Requested int     `json:"requested"`
	Priority  int64   `json:"priority"`
	ItemIDs   []int64 `json:"item_ids"`
	Batch     struct {
		BatchID string `json:"batch_id"`
	} `json:"batch"`
}

func enqueue(t *testing.T, env *apitest.Env, token string, batch map[string]any) enqueueResult {
	t.Helper()
	var res enqueueResult
	env.Do("POST", queueBase+"/enqueue_batch", apitest.Token(token), apitest.JSON(map[string]any{"batch": batch})).Expect(200).Decode(&res)
	return res
}

type queueItem struct {
	ItemID         int64           `json:"item_id"`
	Status         string          `json:"status"`
	UserID         string          `json:"user_id"`
	BatchID        string          `json:"batch_id"`
	SessionID      string          `json:"session_id"`
	ErrorType      *string         `json:"error_type"`
	ErrorMessage   *string         `json:"error_message"`
	FieldValues    json.RawMessage `json:"field_values"`
	Session        json.RawMessage `json:"session"`
	RetriedFrom    *int64          `json:"retried_from_item_id"`
	Priority       int64           `json:"priority"`
	ErrorTraceback *string         `json:"error_traceback"`
}

func getItem(t *testing.T, env *apitest.Env, token string, id int64) queueItem {
	t.Helper()
	var it queueItem
	env.Do("GET", fmt.Sprintf("%s/i/%d", queueBase, id), apitest.Token(token)).Expect(200).Decode(&it)
	return it
}

// waitStatus polls an item until it reaches status.
func waitStatus(t *testing.T, env *apitest.Env, token string, id int64, status string) queueItem {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		it := getItem(t, env, token, id)
		if it.Status == status {
			return it
		}
		if time.Now().After(deadline) {
			t.Fatalf("item %d: status %s, want %s (error %v)", id, it.Status, status, deref(it.ErrorMessage))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func pause(t *testing.T, env *apitest.Env, adminToken string) {
	t.Helper()
	env.Do("PUT", queueBase+"/processor/pause", apitest.Token(adminToken)).Expect(200)
}

func resume(t *testing.T, env *apitest.Env, adminToken string) {
	t.Helper()
	env.Do("PUT", queueBase+"/processor/resume", apitest.Token(adminToken)).Expect(200)
}

// collect drains events until stop says the sequence is complete or the deadline passes.
func collectEvents(t *testing.T, ch <-chan events.Event, stop func(events.Event) bool) []events.Event {
	t.Helper()
	var out []events.Event
	timeout := time.After(20 * time.Second)
	for {
		select {
		case e := <-ch:
			out = append(out, e)
			if stop(e) {
				return out
			}
		case <-timeout:
			t.Fatalf("timed out; events so far: %v", names(out))
		}
	}
}

func names(evs []events.Event) []string {
	var out []string
	for _, e := range evs {
		s := e.Name
		if st, ok := e.Payload["status"].(string); ok {
			s += "(" + st + ")"
		}
		if src, ok := e.Payload["invocation_source_id"].(string); ok {
			s += "[" + src + "]"
		}
		out = append(out, s)
	}
	return out
}

func TestQueueRunsImageBatchWithEventsInOrder(t *testing.T) {
	env := apitest.New(t)
	ch, unsub := env.App.Events.Subscribe(1024)
	defer unsub()
	workflow := map[string]any{"name": "wf", "author": "", "description": "", "version": "1.0.0", "contact": "", "tags": "", "notes": "",
		"exposedFields": []any{}, "meta": map[string]any{"version": "3.0.0", "category": "user"}, "nodes": []any{}, "edges": []any{}}
	batch := map[string]any{"graph": imageGraph(""), "workflow": workflow, "origin": "canvas", "destination": "gallery",
		"data": []any{[]any{map[string]any{"node_path": "blur", "field_name": "radius", "items": []any{0.5, 2}}}}}
	res := enqueue(t, env, "", batch)
	if res.Enqueued != 2 || res.Requested != 2 || len(res.ItemIDs) != 2 || res.ItemIDs[0] < res.ItemIDs[1] {
		t.Fatalf("enqueue result %+v", res)
	}
	for _, id := range res.ItemIDs {
		waitStatus(t, env, "", id, "completed")
	}
	evs := collectEvents(t, ch, func(e events.Event) bool {
		return e.Name == "queue_item_status_changed" && e.Payload["status"] == "completed" && e.Payload["item_id"] == res.ItemIDs[0]
	})
	want := []string{"batch_enqueued"}
	for range 2 {
		want = append(want, "queue_item_status_changed(in_progress)")
		for _, n := range []string{"blank", "blur", "crop"} {
			want = append(want, "invocation_started["+n+"]", "invocation_complete["+n+"]")
		}
		want = append(want, "queue_item_status_changed(completed)")
	}
	if got := names(evs); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("events:\n got %v\nwant %v", got, want)
	}
	// The last node's output names a gallery image carrying the session's graph and workflow.
	var result map[string]any
	for _, e := range evs {
		if e.Name == "invocation_complete" && e.Payload["invocation_source_id"] == "crop" {
			b, _ := json.Marshal(e.Payload["result"])
			_ = json.Unmarshal(b, &result)
		}
		if e.Audience != events.Queue && e.Audience != events.OwnerAndAdmins {
			t.Fatalf("%s has audience %v", e.Name, e.Audience)
		}
	}
	if result["type"] != "image_output" || result["width"] != float64(16) {
		t.Fatalf("crop result %v", result)
	}
	name := result["image"].(map[string]any)["image_name"].(string)
	img := env.Do("GET", "/api/v1/images/i/"+name).Expect(200).Map()
	if img["width"] != float64(16) || img["has_workflow"] != true || img["is_intermediate"] != false || img["node_id"] == nil || img["session_id"] == nil {
		t.Fatalf("image dto %v", img)
	}
	wf := env.Do("GET", "/api/v1/images/i/"+name+"/workflow").Expect(200).Map()
	if g, _ := wf["graph"].(string); !strings.Contains(g, `"img_crop"`) {
		t.Fatalf("graph chunk %v", wf["graph"])
	}
	if w, _ := wf["workflow"].(string); !strings.Contains(w, `"wf"`) {
		t.Fatalf("workflow chunk %v", wf["workflow"])
	}
	// The item's session was written back with results and mappings.
	it := getItem(t, env, "", res.ItemIDs[0])
	var sess struct {
		Results               map[string]map[string]any `json:"results"`
		PreparedSourceMapping map[string]string         `json:"prepared_source_mapping"`
		Executed              []string                  `json:"executed"`
	}
	_ = json.Unmarshal(it.Session, &sess)
	if len(sess.Results) != 3 || len(sess.PreparedSourceMapping) != 3 || len(sess.Executed) != 6 {
		t.Fatalf("session after run: %s", it.Session)
	}
	var fv []map[string]any
	_ = json.Unmarshal(it.FieldValues, &fv)
	if len(fv) != 1 || fv[0]["node_path"] != "blur" {
		t.Fatalf("field values %s", it.FieldValues)
	}
	// Batch status and counts.
	bs := env.Do("GET", queueBase+"/b/"+res.Batch.BatchID+"/status").Expect(200).Map()
	if bs["completed"] != float64(2) || bs["total"] != float64(2) || bs["origin"] != "canvas" || bs["destination"] != "gallery" {
		t.Fatalf("batch status %v", bs)
	}
	cd := env.Do("GET", queueBase+"/counts_by_destination?destination=gallery").Expect(200).Map()
	if cd["completed"] != float64(2) {
		t.Fatalf("counts by destination %v", cd)
	}
}

func TestQueueSingleUserStatusAndNullKeys(t *testing.T) {
	env := apitest.New(t)
	pause(t, env, "")
	res := enqueue(t, env, "", map[string]any{"graph": integerGraph(), "runs": 3})
	st := env.Do("GET", queueBase+"/status").Expect(200).Map()
	q := st["queue"].(map[string]any)
	if q["pending"] != float64(3) || q["user_pending"] != float64(3) || st["processor"].(map[string]any)["is_started"] != false {
		t.Fatalf("status %v", st)
	}
	raw := env.Do("GET", fmt.Sprintf("%s/i/%d", queueBase, res.ItemIDs[0])).Expect(200).Map()
	if _, has := raw["error_type"]; has {
		t.Fatalf("null keys must be omitted: %v", raw)
	}
	if raw["user_id"] != "system" {
		t.Fatalf("owner %v", raw["user_id"])
	}
	env.Do("GET", queueBase+"/i/999999").Expect(404)
	if d := env.Do("GET", "/api/v1/queue/other/i/"+fmt.Sprint(res.ItemIDs[0])).Expect(404).Detail(); d != fmt.Sprintf("Queue item with id %d not found in queue other", res.ItemIDs[0]) {
		t.Fatalf("detail %q", d)
	}
	next := env.Do("GET", queueBase+"/next").Expect(200).Map()
	if next["item_id"] != float64(res.ItemIDs[2]) {
		t.Fatalf("next %v, want the oldest %d", next["item_id"], res.ItemIDs[2])
	}
	if string(env.Do("GET", queueBase+"/current").Expect(200).Body) != "null\n" {
		t.Fatal("current should be null while paused")
	}
	// prepend puts a batch ahead.
	var pre enqueueResult
	env.Do("POST", queueBase+"/enqueue_batch", apitest.JSON(map[string]any{"batch": map[string]any{"graph": integerGraph()}, "prepend": true})).Expect(200).Decode(&pre)
	if pre.Priority != 1 {
		t.Fatalf("prepend priority %d", pre.Priority)
	}
	resume(t, env, "")
	for _, id := range append(res.ItemIDs, pre.ItemIDs...) {
		waitStatus(t, env, "", id, "completed")
	}
}

func TestQueueBadGraphs422(t *testing.T) {
	env := apitest.New(t)
	cases := []struct {
		name      string
		graph     map[string]any
		wantInMsg []string
	}{
		{"unknown type", map[string]any{"nodes": map[string]any{"a": map[string]any{"id": "a", "type": "nope"}}, "edges": []any{}}, []string{"a", "type"}},
		{"unknown field", map[string]any{"nodes": map[string]any{"a": map[string]any{"id": "a", "type": "integer", "bogus": 1}}, "edges": []any{}}, []string{"a", "bogus"}},
		{"wrong type", map[string]any{"nodes": map[string]any{"a": map[string]any{"id": "a", "type": "integer", "value": "x"}}, "edges": []any{}}, []string{"a", "value"}},
		{"id mismatch", map[string]any{"nodes": map[string]any{"a": map[string]any{"id": "b", "type": "integer"}}, "edges": []any{}}, []string{"a", "id"}},
		{"missing required", map[string]any{"nodes": map[string]any{"r": map[string]any{"id": "r", "type": "img_resize"}}, "edges": []any{}}, []string{"r", "image"}},
		{"bad bound", map[string]any{"nodes": map[string]any{"r": map[string]any{"id": "r", "type": "img_resize", "image": map[string]any{"image_name": "x.png"}, "width": 0}}, "edges": []any{}}, []string{"r", "width"}},
		{"edge type", map[string]any{"nodes": map[string]any{
			"s": map[string]any{"id": "s", "type": "string"}, "i": map[string]any{"id": "i", "type": "integer"}},
			"edges": []any{map[string]any{"source": map[string]any{"node_id": "s", "field": "value"}, "destination": map[string]any{"node_id": "i", "field": "value"}}}}, []string{"i", "value"}},
		{"cycle", map[string]any{"nodes": map[string]any{
			"a": map[string]any{"id": "a", "type": "integer"}, "b": map[string]any{"id": "b", "type": "integer"}},
			"edges": []any{
				map[string]any{"source": map[string]any{"node_id": "a", "field": "value"}, "destination": map[string]any{"node_id": "b", "field": "value"}},
				map[string]any{"source": map[string]any{"node_id": "b", "field": "value"}, "destination": map[string]any{"node_id": "a", "field": "value"}}}}, []string{"cycle"}},
		{"duplicate edge", map[string]any{"nodes": map[string]any{
			"a": map[string]any{"id": "a", "type": "integer"}, "b": map[string]any{"id": "b", "type": "integer"}, "c": map[string]any{"id": "c", "type": "integer"}},
			"edges": []any{
				map[string]any{"source": map[string]any{"node_id": "a", "field": "value"}, "destination": map[string]any{"node_id": "c", "field": "value"}},
				map[string]any{"source": map[string]any{"node_id": "b", "field": "value"}, "destination": map[string]any{"node_id": "c", "field": "value"}}}}, []string{"c", "value"}},
		{"missing output field", map[string]any{"nodes": map[string]any{
			"a": map[string]any{"id": "a", "type": "integer"}, "b": map[string]any{"id": "b", "type": "integer"}},
			"edges": []any{map[string]any{"source": map[string]any{"node_id": "a", "field": "nope"}, "destination": map[string]any{"node_id": "b", "field": "value"}}}}, []string{"a", "nope"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := env.Do("POST", queueBase+"/enqueue_batch", apitest.JSON(map[string]any{"batch": map[string]any{"graph": c.graph}})).Expect(422).Body
			for _, w := range c.wantInMsg {
				if !strings.Contains(string(body), w) {
					t.Fatalf("422 body %s lacks %q", body, w)
				}
			}
		})
	}
	// Batch data problems.
	g := integerGraph()
	bad := []map[string]any{
		{"graph": g, "data": []any{[]any{map[string]any{"node_path": "zz", "field_name": "value", "items": []any{1}}}}},
		{"graph": g, "data": []any{[]any{map[string]any{"node_path": "n", "field_name": "zz", "items": []any{1}}}}},
		{"graph": g, "data": []any{[]any{map[string]any{"node_path": "n", "field_name": "value", "items": []any{"a"}}}}},
		{"graph": g, "runs": 0},
		{"graph": map[string]any{"nodes": map[string]any{"n": map[string]any{"id": "n", "type": "string"}, "m": map[string]any{"id": "m", "type": "string"}}, "edges": []any{}},
			"data": []any{[]any{map[string]any{"node_path": "n", "field_name": "value", "items": []any{"a", "b"}}, map[string]any{"node_path": "m", "field_name": "value", "items": []any{"a"}}}}},
	}
	for _, b := range bad {
		env.Do("POST", queueBase+"/enqueue_batch", apitest.JSON(map[string]any{"batch": b})).Expect(422)
	}
}

func TestQueueBatchExpansion(t *testing.T) {
	env := apitest.New(t)
	pause(t, env, "")
	g := map[string]any{"nodes": map[string]any{
		"s": map[string]any{"id": "s", "type": "integer"}, "p": map[string]any{"id": "p", "type": "string"}, "q": map[string]any{"id": "q", "type": "string"}},
		"edges": []any{}}
	res := enqueue(t, env, "", map[string]any{"graph": g, "runs": 2, "data": []any{
		[]any{map[string]any{"node_path": "s", "field_name": "value", "items": []any{1, 2, 3}}},
		[]any{map[string]any{"node_path": "p", "field_name": "value", "items": []any{"a", "b"}}, map[string]any{"node_path": "q", "field_name": "value", "items": []any{"x", "y"}}},
	}})
	if res.Requested != 12 || res.Enqueued != 12 {
		t.Fatalf("requested %d enqueued %d", res.Requested, res.Enqueued)
	}
	// The oldest item holds the first combination: s=1, p=a, q=x.
	it := getItem(t, env, "", res.ItemIDs[len(res.ItemIDs)-1])
	var fvs []struct {
		NodePath string `json:"node_path"`
		Value    any    `json:"value"`
	}
	_ = json.Unmarshal(it.FieldValues, &fvs)
	if len(fvs) != 3 || fvs[0].NodePath != "s" || fvs[0].Value != float64(1) || fvs[1].NodePath != "p" || fvs[1].Value != "a" || fvs[2].Value != "x" {
		t.Fatalf("field values %s", it.FieldValues)
	}
	var sess struct {
		Graph struct {
			Nodes map[string]map[string]any `json:"nodes"`
		} `json:"graph"`
	}
	_ = json.Unmarshal(it.Session, &sess)
	if sess.Graph.Nodes["p"]["value"] != "a" || sess.Graph.Nodes["s"]["value"] != float64(1) {
		t.Fatalf("session graph %v", sess.Graph.Nodes)
	}
	second := getItem(t, env, "", res.ItemIDs[len(res.ItemIDs)-2])
	if !strings.Contains(string(second.FieldValues), `"value":"b"`) || !strings.Contains(string(second.FieldValues), `"value":1`) {
		t.Fatalf("second combination %s", second.FieldValues)
	}
}

func TestQueueCapacityAndPerUserCap(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser(), apitest.WithConfig(func(c *config.Config) {
		c.MaxQueueItemsPerUser = 3
		c.MaxQueueSize = 5
	}))
	cast := env.Cast()
	pause(t, env, cast.Admin.Token)
	env.Do("POST", queueBase+"/enqueue_batch", apitest.Token(cast.Owner.Token),
		apitest.JSON(map[string]any{"batch": map[string]any{"graph": integerGraph(), "runs": 4}})).Expect(429)
	st := env.Do("GET", queueBase+"/status", apitest.Token(cast.Owner.Token)).Expect(200).Map()["queue"].(map[string]any)
	if st["total"] != float64(0) {
		t.Fatalf("a refused enqueue must add nothing: %v", st)
	}
	a := enqueue(t, env, cast.Owner.Token, map[string]any{"graph": integerGraph(), "runs": 3})
	b := enqueue(t, env, cast.Other.Token, map[string]any{"graph": integerGraph(), "runs": 3})
	if a.Enqueued != 3 || b.Enqueued != 2 || b.Requested != 3 {
		t.Fatalf("capacity: owner %d, other %d of %d", a.Enqueued, b.Enqueued, b.Requested)
	}
	env.Do("POST", queueBase+"/enqueue_batch", apitest.Token(cast.Owner.Token),
		apitest.JSON(map[string]any{"batch": map[string]any{"graph": integerGraph()}})).Expect(200)
	st = env.Do("GET", queueBase+"/status", apitest.Token(cast.Other.Token)).Expect(200).Map()["queue"].(map[string]any)
	if st["pending"] != float64(5) || st["user_pending"] != float64(2) {
		t.Fatalf("global counts with the caller's own: %v", st)
	}
	// A retry is held to the cap too: cancel one, fill the freed place, and retrying the canceled one would
	// make four of the owner's items open.
	env.Do("PUT", fmt.Sprintf("%s/i/%d/cancel", queueBase, a.ItemIDs[0]), apitest.Token(cast.Owner.Token)).Expect(200)
	if more := enqueue(t, env, cast.Owner.Token, map[string]any{"graph": integerGraph()}); more.Enqueued != 1 {
		t.Fatalf("refill: %+v", more)
	}
	env.Do("PUT", queueBase+"/retry_items_by_id", apitest.Token(cast.Owner.Token), apitest.JSON([]int64{a.ItemIDs[0]})).Expect(429)
	st = env.Do("GET", queueBase+"/status", apitest.Token(cast.Owner.Token)).Expect(200).Map()["queue"].(map[string]any)
	if st["user_pending"] != float64(3) || st["pending"] != float64(5) {
		t.Fatalf("a refused retry must add nothing: %v", st)
	}
}

// Single-user mode keeps the seed's only limit, the queue size (docs/security.md D13's cap is per user of many).
func TestSingleUserHasNoPerUserCap(t *testing.T) {
	env := apitest.New(t, apitest.WithConfig(func(c *config.Config) {
		c.MaxQueueItemsPerUser = 3
		c.MaxQueueSize = 10
	}))
	pause(t, env, "")
	if res := enqueue(t, env, "", map[string]any{"graph": integerGraph(), "runs": 4}); res.Enqueued != 4 {
		t.Fatalf("single-user enqueue of 4 with a per-user cap of 3: %+v", res)
	}
}

func TestQueueMultiuserSanitisesOthersItems(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	pause(t, env, cast.Admin.Token)
	env.Do("PUT", queueBase+"/processor/pause", apitest.Token(cast.Owner.Token)).Expect(403)
	env.Do("PUT", queueBase+"/processor/pause").Expect(401)
	g := map[string]any{"nodes": map[string]any{"p": map[string]any{"id": "p", "type": "string", "value": "secret prompt"}}, "edges": []any{}}
	res := enqueue(t, env, cast.Owner.Token, map[string]any{"graph": g, "origin": "canvas", "destination": "gallery"})
	id := res.ItemIDs[0]

	// The owner and the admin see everything.
	for _, tok := range []string{cast.Owner.Token, cast.Admin.Token} {
		it := getItem(t, env, tok, id)
		if it.UserID != cast.Owner.ID || !strings.Contains(string(it.Session), "secret prompt") {
			t.Fatalf("full view: %+v", it)
		}
	}
	// Another user sees a sanitised copy everywhere.
	check := func(raw []byte) {
		t.Helper()
		s := string(raw)
		if strings.Contains(s, "secret prompt") || strings.Contains(s, cast.Owner.ID) || strings.Contains(s, res.Batch.BatchID) || strings.Contains(s, "canvas") {
			t.Fatalf("leak in %s", s)
		}
	}
	raw := env.Do("GET", fmt.Sprintf("%s/i/%d", queueBase, id), apitest.Token(cast.Other.Token)).Expect(200)
	check(raw.Body)
	m := raw.Map()
	if m["user_id"] != "redacted" || m["batch_id"] != "redacted" || m["session_id"] != "redacted" || m["status"] != "pending" {
		t.Fatalf("sanitised item %v", m)
	}
	if _, has := m["origin"]; has {
		t.Fatal("origin must be omitted (null) for others")
	}
	check(env.Do("GET", queueBase+"/list_all", apitest.Token(cast.Other.Token)).Expect(200).Body)
	check(env.Do("POST", queueBase+"/items_by_ids", apitest.Token(cast.Other.Token), apitest.JSON(map[string]any{"item_ids": []int64{id, 424242}})).Expect(200).Body)
	check(env.Do("GET", queueBase+"/next", apitest.Token(cast.Other.Token)).Expect(200).Body)
	check(env.Do("GET", queueBase+"/status", apitest.Token(cast.Other.Token)).Expect(200).Body)
	// Another user's batch reads as empty (the id is the caller's own input, echoed back).
	if bs := env.Do("GET", queueBase+"/b/"+res.Batch.BatchID+"/status", apitest.Token(cast.Other.Token)).Expect(200).Map(); bs["total"] != float64(0) || bs["origin"] != nil {
		t.Fatalf("batch status for others %v", bs)
	}
	var ids struct {
		ItemIDs []int64 `json:"item_ids"`
	}
	env.Do("GET", queueBase+"/item_ids", apitest.Token(cast.Other.Token)).Expect(200).Decode(&ids)
	if len(ids.ItemIDs) != 0 {
		t.Fatalf("other sees ids %v", ids.ItemIDs)
	}
	env.Do("GET", queueBase+"/item_ids", apitest.Token(cast.Admin.Token)).Expect(200).Decode(&ids)
	if len(ids.ItemIDs) != 1 {
		t.Fatalf("admin sees ids %v", ids.ItemIDs)
	}
	// Others may not cancel, delete or retry it.
	if d := env.Do("PUT", fmt.Sprintf("%s/i/%d/cancel", queueBase, id), apitest.Token(cast.Other.Token)).Expect(403).Detail(); d != "You do not have permission to cancel this queue item" {
		t.Fatalf("detail %q", d)
	}
	env.Do("DELETE", fmt.Sprintf("%s/i/%d", queueBase, id), apitest.Token(cast.Other.Token)).Expect(403)
	env.Do("PUT", queueBase+"/retry_items_by_id", apitest.Token(cast.Other.Token), apitest.JSON([]int64{id})).Expect(403)
	// The owner cancels it; the answer is unsanitised.
	c := env.Do("PUT", fmt.Sprintf("%s/i/%d/cancel", queueBase, id), apitest.Token(cast.Owner.Token)).Expect(200).Map()
	if c["status"] != "canceled" || c["user_id"] != cast.Owner.ID {
		t.Fatalf("cancel answer %v", c)
	}
}

func TestQueueEventsCarrySanitisedCompanions(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	ch, unsub := env.App.Events.Subscribe(1024)
	defer unsub()
	g := map[string]any{"nodes": map[string]any{"p": map[string]any{"id": "p", "type": "string", "value": "secret prompt"}}, "edges": []any{}}
	res := enqueue(t, env, cast.Owner.Token, map[string]any{"graph": g})
	evs := collectEvents(t, ch, func(e events.Event) bool {
		return e.Name == "queue_item_status_changed" && e.Payload["status"] == "completed"
	})
	for _, e := range evs {
		if e.UserID != cast.Owner.ID {
			t.Fatalf("%s owned by %s", e.Name, e.UserID)
		}
		switch e.Audience {
		case events.Queue:
			b, _ := json.Marshal(e.Sanitized)
			if strings.Contains(string(b), cast.Owner.ID) || strings.Contains(string(b), res.Batch.BatchID) || strings.Contains(string(b), "secret") {
				t.Fatalf("%s companion leaks: %s", e.Name, b)
			}
			if e.Sanitized["user_id"] != "redacted" && e.Name != "queue_cleared" {
				t.Fatalf("%s companion user %v", e.Name, e.Sanitized["user_id"])
			}
		case events.OwnerAndAdmins:
			if e.Sanitized != nil {
				t.Fatalf("%s must not reach the queue room", e.Name)
			}
		default:
			t.Fatalf("%s audience %v", e.Name, e.Audience)
		}
	}
}

func TestQueueScopedBulkOperations(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	pause(t, env, cast.Admin.Token)
	own := enqueue(t, env, cast.Owner.Token, map[string]any{"graph": integerGraph(), "runs": 2, "destination": "d1"})
	other := enqueue(t, env, cast.Other.Token, map[string]any{"graph": integerGraph(), "runs": 2, "destination": "d1"})

	// cancel_by_batch_ids with someone else's batch id touches nothing.
	n := env.Do("PUT", queueBase+"/cancel_by_batch_ids", apitest.Token(cast.Owner.Token),
		apitest.JSON(map[string]any{"batch_ids": []string{other.Batch.BatchID, own.Batch.BatchID}})).Expect(200).Map()
	if n["canceled"] != float64(2) {
		t.Fatalf("canceled %v", n)
	}
	for _, id := range other.ItemIDs {
		if it := getItem(t, env, cast.Other.Token, id); it.Status != "pending" {
			t.Fatalf("other's item %d %s", id, it.Status)
		}
	}
	// cancel_by_destination and counts are scoped too.
	if c := env.Do("PUT", queueBase+"/cancel_by_destination?destination=d1", apitest.Token(cast.Owner.Token)).Expect(200).Map(); c["canceled"] != float64(0) {
		t.Fatalf("cancel_by_destination %v", c)
	}
	if c := env.Do("GET", queueBase+"/counts_by_destination?destination=d1", apitest.Token(cast.Owner.Token)).Expect(200).Map(); c["canceled"] != float64(2) || c["pending"] != float64(0) {
		t.Fatalf("owner counts %v", c)
	}
	// Retry: only the owner's canceled items, cloned with retried_from_item_id.
	var rr struct {
		RetriedItemIDs []int64 `json:"retried_item_ids"`
	}
	env.Do("PUT", queueBase+"/retry_items_by_id", apitest.Token(cast.Owner.Token), apitest.JSON(append(own.ItemIDs, 999999))).Expect(200).Decode(&rr)
	if len(rr.RetriedItemIDs) != 2 {
		t.Fatalf("retried %v", rr.RetriedItemIDs)
	}
	if it := getItem(t, env, cast.Owner.Token, rr.RetriedItemIDs[0]); it.Status != "pending" || it.RetriedFrom == nil || it.BatchID != own.Batch.BatchID {
		t.Fatalf("retried item %+v", it)
	}
	// Prune deletes the owner's finished items only.
	if p := env.Do("PUT", queueBase+"/prune", apitest.Token(cast.Owner.Token)).Expect(200).Map(); p["deleted"] != float64(2) {
		t.Fatalf("prune %v", p)
	}
	// Clear deletes only the caller's items for non-admins.
	if c := env.Do("PUT", queueBase+"/clear", apitest.Token(cast.Owner.Token)).Expect(200).Map(); c["deleted"] != float64(2) {
		t.Fatalf("clear %v", c)
	}
	st := env.Do("GET", queueBase+"/status", apitest.Token(cast.Admin.Token)).Expect(200).Map()["queue"].(map[string]any)
	if st["pending"] != float64(2) || st["total"] != float64(2) {
		t.Fatalf("other's items must survive: %v", st)
	}
	// delete_all_except_current and cancel_all_except_current are scoped as well.
	if d := env.Do("PUT", queueBase+"/delete_all_except_current", apitest.Token(cast.Owner.Token)).Expect(200).Map(); d["deleted"] != float64(0) {
		t.Fatalf("delete_all_except_current %v", d)
	}
	if d := env.Do("PUT", queueBase+"/cancel_all_except_current", apitest.Token(cast.Admin.Token)).Expect(200).Map(); d["canceled"] != float64(2) {
		t.Fatalf("cancel_all_except_current %v", d)
	}
	if d := env.Do("DELETE", queueBase+"/d/d1", apitest.Token(cast.Owner.Token)).Expect(200).Map(); d["deleted"] != float64(0) {
		t.Fatalf("delete by destination %v", d)
	}
	if d := env.Do("DELETE", queueBase+"/d/d1", apitest.Token(cast.Admin.Token)).Expect(200).Map(); d["deleted"] != float64(2) {
		t.Fatalf("admin delete by destination %v", d)
	}
	// Admin clear clears everything.
	enqueue(t, env, cast.Other.Token, map[string]any{"graph": integerGraph()})
	if c := env.Do("PUT", queueBase+"/clear", apitest.Token(cast.Admin.Token)).Expect(200).Map(); c["deleted"] != float64(1) {
		t.Fatalf("admin clear %v", c)
	}
}

func TestQueueRoundRobinAlternatesUsers(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	pause(t, env, cast.Admin.Token)
	enqueue(t, env, cast.Owner.Token, map[string]any{"graph": integerGraph(), "runs": 3})
	b := enqueue(t, env, cast.Other.Token, map[string]any{"graph": integerGraph(), "runs": 3})
	ch, unsub := env.App.Events.Subscribe(1024)
	defer unsub()
	resume(t, env, cast.Admin.Token)
	evs := collectEvents(t, ch, func(e events.Event) bool {
		return e.Name == "queue_item_status_changed" && e.Payload["status"] == "completed" && e.Payload["item_id"] == b.ItemIDs[0]
	})
	var order []string
	for _, e := range evs {
		if e.Name == "queue_item_status_changed" && e.Payload["status"] == "in_progress" {
			order = append(order, e.UserID)
		}
	}
	o, x := cast.Owner.ID, cast.Other.ID
	want := []string{o, x, o, x, o, x}
	if strings.Join(order, ",") != strings.Join(want, ",") {
		t.Fatalf("order %v, want alternating %v", order, want)
	}
}

func TestQueueFIFOMode(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser(), apitest.WithConfig(func(c *config.Config) { c.SessionQueueMode = "fifo" }))
	cast := env.Cast()
	pause(t, env, cast.Admin.Token)
	enqueue(t, env, cast.Owner.Token, map[string]any{"graph": integerGraph(), "runs": 2})
	b := enqueue(t, env, cast.Other.Token, map[string]any{"graph": integerGraph(), "runs": 2})
	ch, unsub := env.App.Events.Subscribe(1024)
	defer unsub()
	resume(t, env, cast.Admin.Token)
	evs := collectEvents(t, ch, func(e events.Event) bool {
		return e.Name == "queue_item_status_changed" && e.Payload["status"] == "completed" && e.Payload["item_id"] == b.ItemIDs[0]
	})
	var order []string
	for _, e := range evs {
		if e.Name == "queue_item_status_changed" && e.Payload["status"] == "in_progress" {
			order = append(order, e.UserID)
		}
	}
	o, x := cast.Owner.ID, cast.Other.ID
	if strings.Join(order, ",") != strings.Join([]string{o, o, x, x}, ",") {
		t.Fatalf("fifo order %v", order)
	}
}

// slowNode is a test-only node that takes Steps steps of 20 ms, checking for cancellation between steps.
type slowNode struct {
	Steps int `json:"steps" default:"100"`
	ran   *atomic.Int64
}

type slowOutput struct {
	Value int64 `json:"value"`
}

func (slowOutput) OutputType() string { return "integer_output" }

func (n *slowNode) Invoke(ctx nodes.Context) (nodes.Output, error) {
	for i := 0; i < n.Steps; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if n.ran != nil {
			n.ran.Add(1)
		}
		pct := float64(i) / float64(n.Steps)
		ctx.ReportProgress(nodes.Progress{Message: "step", Percentage: &pct})
		time.Sleep(20 * time.Millisecond)
	}
	return slowOutput{int64(n.Steps)}, nil
}

func (*slowNode) NodeInfo() nodes.Info {
	return nodes.Info{Type: "test_slow", Title: "Slow", Output: slowOutput{}}
}

func registerSlow(env *apitest.Env, ran *atomic.Int64) {
	env.App.NodeRegistry().Register(&slowNode{ran: ran})
}

func slowGraph(steps int) map[string]any {
	return map[string]any{"nodes": map[string]any{
		"slow":  map[string]any{"id": "slow", "type": "test_slow", "steps": steps},
		"after": map[string]any{"id": "after", "type": "integer"}},
		"edges": []any{map[string]any{"source": map[string]any{"node_id": "slow", "field": "value"}, "destination": map[string]any{"node_id": "after", "field": "value"}}}}
}

func TestQueueCancelStopsRunningItemBetweenSteps(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	var ran atomic.Int64
	registerSlow(env, &ran)
	ch, unsub := env.App.Events.Subscribe(4096)
	defer unsub()
	res := enqueue(t, env, cast.Owner.Token, map[string]any{"graph": slowGraph(500)})
	id := res.ItemIDs[0]
	waitStatus(t, env, cast.Owner.Token, id, "in_progress")
	for ran.Load() < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	// Another user cannot cancel it, nor clear the queue while it runs.
	env.Do("PUT", fmt.Sprintf("%s/i/%d/cancel", queueBase, id), apitest.Token(cast.Other.Token)).Expect(403)
	if d := env.Do("PUT", queueBase+"/clear", apitest.Token(cast.Other.Token)).Expect(403).Detail(); d != "You do not have permission to cancel the currently executing queue item" {
		t.Fatalf("clear detail %q", d)
	}
	cur := env.Do("GET", queueBase+"/current", apitest.Token(cast.Other.Token)).Expect(200).Map()
	if cur["user_id"] != "redacted" {
		t.Fatalf("current for others %v", cur)
	}
	st := env.Do("GET", queueBase+"/status", apitest.Token(cast.Other.Token)).Expect(200).Map()["queue"].(map[string]any)
	if st["item_id"] != nil || st["in_progress"] != float64(1) {
		t.Fatalf("status for others %v", st)
	}
	st = env.Do("GET", queueBase+"/status", apitest.Token(cast.Owner.Token)).Expect(200).Map()["queue"].(map[string]any)
	if st["item_id"] != float64(id) || st["user_in_progress"] != float64(1) {
		t.Fatalf("status for the owner %v", st)
	}
	start := time.Now()
	env.Do("PUT", fmt.Sprintf("%s/i/%d/cancel", queueBase, id), apitest.Token(cast.Owner.Token)).Expect(200)
	evs := collectEvents(t, ch, func(e events.Event) bool {
		return e.Name == "queue_item_status_changed" && e.Payload["status"] == "canceled"
	})
	stopped := ran.Load()
	time.Sleep(100 * time.Millisecond)
	if ran.Load() > stopped+1 || time.Since(start) > 10*time.Second {
		t.Fatalf("the node kept running after cancel (%d → %d steps)", stopped, ran.Load())
	}
	if it := getItem(t, env, cast.Owner.Token, id); it.Status != "canceled" {
		t.Fatalf("status %s", it.Status)
	}
	for _, e := range evs {
		if e.Name == "invocation_complete" || (e.Name == "invocation_started" && e.Payload["invocation_source_id"] == "after") {
			t.Fatalf("no node may finish or start after cancel: %v", names(evs))
		}
	}
	var progress int
	for _, e := range evs {
		if e.Name == "invocation_progress" {
			progress++
		}
	}
	if progress == 0 {
		t.Fatal("no invocation_progress events")
	}
	// Terminal statuses never change: canceling again is a no-op that returns the item.
	if c := env.Do("PUT", fmt.Sprintf("%s/i/%d/cancel", queueBase, id), apitest.Token(cast.Owner.Token)).Expect(200).Map(); c["status"] != "canceled" {
		t.Fatalf("re-cancel %v", c)
	}
	// The processor goes on with the next item.
	next := enqueue(t, env, cast.Owner.Token, map[string]any{"graph": integerGraph()})
	waitStatus(t, env, cast.Owner.Token, next.ItemIDs[0], "completed")
}

// panicNode fails by panicking.
type panicNode struct{}

func (panicNode) Invoke(nodes.Context) (nodes.Output, error) { panic("boom") }

func (*panicNode) NodeInfo() nodes.Info { return nodes.Info{Type: "test_panic", Output: slowOutput{}} }

func TestQueueNodeFailuresFailTheItem(t *testing.T) {
	env := apitest.New(t)
	env.App.NodeRegistry().Register(&panicNode{})
	ch, unsub := env.App.Events.Subscribe(1024)
	defer unsub()
	res := enqueue(t, env, "", map[string]any{"graph": map[string]any{"nodes": map[string]any{"p": map[string]any{"id": "p", "type": "test_panic"}}, "edges": []any{}}})
	it := waitStatus(t, env, "", res.ItemIDs[0], "failed")
	if deref(it.ErrorType) != "PanicError" || deref(it.ErrorMessage) != "boom" || it.ErrorTraceback == nil {
		t.Fatalf("failed item %+v", it)
	}
	evs := collectEvents(t, ch, func(e events.Event) bool { return e.Name == "invocation_error" })
	got := names(evs)
	if got[len(got)-2] != "queue_item_status_changed(failed)" {
		t.Fatalf("failed status must precede invocation_error: %v", got)
	}
	// A node error (a missing image) fails with a clear message; the server keeps working.
	res = enqueue(t, env, "", map[string]any{"graph": map[string]any{"nodes": map[string]any{
		"i": map[string]any{"id": "i", "type": "img_blur", "image": map[string]any{"image_name": "missing.png"}}}, "edges": []any{}}})
	it = waitStatus(t, env, "", res.ItemIDs[0], "failed")
	if !strings.Contains(deref(it.ErrorMessage), "missing.png") {
		t.Fatalf("error %q", deref(it.ErrorMessage))
	}
	// Retry in single-user mode clones it.
	var rr struct {
		RetriedItemIDs []int64 `json:"retried_item_ids"`
	}
	env.Do("PUT", queueBase+"/retry_items_by_id", apitest.JSON([]int64{res.ItemIDs[0]})).Expect(200).Decode(&rr)
	if len(rr.RetriedItemIDs) != 1 {
		t.Fatalf("retry %v", rr)
	}
	waitStatus(t, env, "", rr.RetriedItemIDs[0], "failed")
}

func TestQueueGeneratedImagesRespectBoards(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	var board struct {
		BoardID string `json:"board_id"`
	}
	env.Do("POST", "/api/v1/boards/?board_name=private", apitest.Token(cast.Other.Token)).Expect(201).Decode(&board)
	res := enqueue(t, env, cast.Owner.Token, map[string]any{"graph": imageGraph(board.BoardID)})
	it := waitStatus(t, env, cast.Owner.Token, res.ItemIDs[0], "failed")
	if deref(it.ErrorType) != "PermissionError" || !strings.Contains(deref(it.ErrorMessage), "Not authorized to write to this board") {
		t.Fatalf("board refusal: %s: %s", deref(it.ErrorType), deref(it.ErrorMessage))
	}
	// The other user's own board works, and the images are theirs.
	res = enqueue(t, env, cast.Other.Token, map[string]any{"graph": imageGraph(board.BoardID)})
	waitStatus(t, env, cast.Other.Token, res.ItemIDs[0], "completed")
	var names []string
	env.Do("GET", "/api/v1/boards/"+board.BoardID+"/image_names", apitest.Token(cast.Other.Token)).Expect(200).Decode(&names)
	if len(names) != 1 {
		t.Fatalf("board images %v", names)
	}
	env.Do("GET", "/api/v1/images/i/"+names[0], apitest.Token(cast.Owner.Token)).Expect(403)
}

func TestQueueSurvivesRestart(t *testing.T) {
	env := apitest.New(t)
	registerSlow(env, nil)
	slow := enqueue(t, env, "", map[string]any{"graph": slowGraph(1000)})
	waitStatus(t, env, "", slow.ItemIDs[0], "in_progress")
	rest := enqueue(t, env, "", map[string]any{"graph": integerGraph(), "runs": 3})
	cfg := env.App.Config()
	env.Close()

	env2 := apitest.Start(t, cfg)
	if it := getItem(t, env2, "", slow.ItemIDs[0]); it.Status != "canceled" {
		t.Fatalf("interrupted item %s", it.Status)
	}
	for _, id := range rest.ItemIDs {
		waitStatus(t, env2, "", id, "completed")
	}
}

func TestQueueIterateCollect(t *testing.T) {
	env := apitest.New(t)
	e := func(sn, sf, dn, df string) map[string]any {
		return map[string]any{"source": map[string]any{"node_id": sn, "field": sf}, "destination": map[string]any{"node_id": dn, "field": df}}
	}
	g := map[string]any{"nodes": map[string]any{
		"range":   map[string]any{"id": "range", "type": "range", "start": 1, "stop": 4, "step": 1},
		"iter":    map[string]any{"id": "iter", "type": "iterate"},
		"blank":   map[string]any{"id": "blank", "type": "blank_image", "height": 8},
		"collect": map[string]any{"id": "collect", "type": "collect"},
		"iter2":   map[string]any{"id": "iter2", "type": "iterate"},
		"save":    map[string]any{"id": "save", "type": "img_chan", "channel": "R"},
	}, "edges": []any{
		e("range", "collection", "iter", "collection"),
		e("iter", "item", "blank", "width"),
		e("blank", "image", "collect", "item"),
		e("collect", "collection", "iter2", "collection"),
		e("iter2", "item", "save", "image"),
	}}
	res := enqueue(t, env, "", map[string]any{"graph": g})
	it := waitStatus(t, env, "", res.ItemIDs[0], "completed")
	var sess struct {
		SourcePrepared map[string][]string                   `json:"source_prepared_mapping"`
		Results        map[string]map[string]json.RawMessage `json:"results"`
	}
	_ = json.Unmarshal(it.Session, &sess)
	if len(sess.SourcePrepared["blank"]) != 3 || len(sess.SourcePrepared["save"]) != 3 || len(sess.SourcePrepared["collect"]) != 1 {
		t.Fatalf("prepared %v", sess.SourcePrepared)
	}
	var coll []map[string]string
	_ = json.Unmarshal(sess.Results[sess.SourcePrepared["collect"][0]]["collection"], &coll)
	if len(coll) != 3 {
		t.Fatalf("collected %v", coll)
	}
	// Collecting into an iterate of the wrong item type is refused at enqueue.
	g2 := map[string]any{"nodes": map[string]any{
		"range": map[string]any{"id": "range", "type": "range"},
		"iter":  map[string]any{"id": "iter", "type": "iterate"},
		"s":     map[string]any{"id": "s", "type": "string"},
	}, "edges": []any{e("range", "collection", "iter", "collection"), e("iter", "item", "s", "value")}}
	env.Do("POST", queueBase+"/enqueue_batch", apitest.JSON(map[string]any{"batch": map[string]any{"graph": g2}})).Expect(422)
}

func TestNodeSchemasInOpenAPI(t *testing.T) {
	env := apitest.New(t)
	var doc struct {
		Components struct {
			Schemas map[string]map[string]any `json:"schemas"`
		} `json:"components"`
	}
	env.Do("GET", "/openapi.json").Expect(http.StatusOK).Decode(&doc)
	inv := doc.Components.Schemas["ImageResizeInvocation"]
	if inv["class"] != "invocation" || inv["version"] == nil || inv["output"] == nil {
		t.Fatalf("ImageResizeInvocation %v", inv)
	}
	props := inv["properties"].(map[string]any)
	width := props["width"].(map[string]any)
	if width["default"] != float64(512) || width["field_kind"] != "input" || width["input"] != "any" {
		t.Fatalf("width %v", width)
	}
	if props["type"].(map[string]any)["const"] != "img_resize" {
		t.Fatalf("type %v", props["type"])
	}
	if props["board"].(map[string]any)["input"] != "direct" || props["metadata"].(map[string]any)["field_kind"] != "internal" {
		t.Fatalf("board/metadata %v %v", props["board"], props["metadata"])
	}
	out := doc.Components.Schemas["ImageOutput"]
	if out["class"] != "output" || out["properties"].(map[string]any)["type"].(map[string]any)["const"] != "image_output" {
		t.Fatalf("ImageOutput %v", out)
	}
	for _, n := range []string{"IntegerInvocation", "IterateInvocation", "CollectInvocation", "CoreMetadataInvocation", "CannyEdgeDetectionInvocation", "InfillColorInvocation", "ImageField", "BoardField"} {
		if doc.Components.Schemas[n] == nil {
			t.Fatalf("missing schema %s", n)
		}
	}
}

func TestRecallAndClientState(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	ch, unsub := env.App.Events.Subscribe(64)
	defer unsub()
	// Client state is per user.
	env.Do("POST", "/api/v1/client_state/default/set_by_key?key=k", apitest.Token(cast.Owner.Token), apitest.JSON(`{"a":1}`)).Expect(200)
	if b := string(env.Do("GET", "/api/v1/client_state/default/get_by_key?key=k", apitest.Token(cast.Owner.Token)).Expect(200).Body); b != "\"{\\\"a\\\":1}\"\n" {
		t.Fatalf("get %s", b)
	}
	if b := string(env.Do("GET", "/api/v1/client_state/x/get_by_key?key=k", apitest.Token(cast.Admin.Token)).Expect(200).Body); b != "null\n" {
		t.Fatalf("admin must not see the owner's state: %s", b)
	}
	env.Do("POST", "/api/v1/client_state/default/delete", apitest.Token(cast.Owner.Token)).Expect(200)
	if b := string(env.Do("GET", "/api/v1/client_state/default/get_by_key?key=k", apitest.Token(cast.Owner.Token)).Expect(200).Body); b != "null\n" {
		t.Fatalf("after delete %s", b)
	}
	env.Do("GET", "/api/v1/client_state/default/get_by_key?key=k").Expect(401)

	// Recall: stored in the caller's client state, announced to them.
	res := env.Do("POST", "/api/v1/recall/default", apitest.Token(cast.Owner.Token), apitest.JSON(map[string]any{"positive_prompt": "a cat", "steps": 20})).Expect(200).Map()
	if res["status"] != "success" || res["updated_count"] != float64(2) {
		t.Fatalf("recall %v", res)
	}
	if b := string(env.Do("GET", "/api/v1/client_state/default/get_by_key?key=recall_steps", apitest.Token(cast.Owner.Token)).Expect(200).Body); b != "\"20\"\n" {
		t.Fatalf("recall_steps %s", b)
	}
	e := collectEvents(t, ch, func(e events.Event) bool { return e.Name == "recall_parameters_updated" })
	last := e[len(e)-1]
	if last.UserID != cast.Owner.ID || last.Audience != events.OwnerAndAdmins {
		t.Fatalf("recall event %+v", last)
	}
	env.Do("POST", "/api/v1/recall/default", apitest.Token(cast.Owner.Token), apitest.JSON(map[string]any{"bogus": 1})).Expect(422)
	env.Do("POST", "/api/v1/recall/default", apitest.Token(cast.Owner.Token), apitest.JSON(map[string]any{"steps": 0})).Expect(422)
	if r := env.Do("POST", "/api/v1/recall/default", apitest.Token(cast.Owner.Token), apitest.JSON(map[string]any{})).Expect(200).Map(); r["status"] != "no_parameters_provided" {
		t.Fatalf("empty recall %v", r)
	}
	// Referencing an image the caller may not read is refused.
	gen := enqueue(t, env, cast.Other.Token, map[string]any{"graph": imageGraph("")})
	waitStatus(t, env, cast.Other.Token, gen.ItemIDs[0], "completed")
	var imgs struct {
		Items []struct {
			ImageName string `json:"image_name"`
		} `json:"items"`
	}
	env.Do("GET", "/api/v1/images/?limit=1", apitest.Token(cast.Other.Token)).Expect(200).Decode(&imgs)
	if len(imgs.Items) == 0 {
		t.Fatal("no image generated")
	}
	name := imgs.Items[0].ImageName
	d := env.Do("POST", "/api/v1/recall/default", apitest.Token(cast.Owner.Token), apitest.JSON(map[string]any{
		"control_layers": []any{map[string]any{"model_name": "x", "image_name": name}}})).Expect(403).Detail()
	if d != "Not authorized to access image "+name {
		t.Fatalf("detail %q", d)
	}
	env.Do("POST", "/api/v1/recall/default", apitest.Token(cast.Other.Token), apitest.JSON(map[string]any{
		"control_layers": []any{map[string]any{"model_name": "x", "image_name": name}}})).Expect(200)
	info := env.Do("GET", "/api/v1/recall/default", apitest.Token(cast.Owner.Token)).Expect(200).Map()
	if info["status"] != "success" {
		t.Fatalf("recall info %v", info)
	}
}

func TestQueuePauseKeepsCurrentAndClearCancelsIt(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	var ran atomic.Int64
	registerSlow(env, &ran)
	ch, unsub := env.App.Events.Subscribe(4096)
	defer unsub()
	short := enqueue(t, env, cast.Owner.Token, map[string]any{"graph": slowGraph(50)})
	waitStatus(t, env, cast.Owner.Token, short.ItemIDs[0], "in_progress")
	pause(t, env, cast.Admin.Token)
	queued := enqueue(t, env, cast.Owner.Token, map[string]any{"graph": integerGraph()})
	// Pausing does not interrupt the running item; the next one waits.
	waitStatus(t, env, cast.Owner.Token, short.ItemIDs[0], "completed")
	time.Sleep(100 * time.Millisecond)
	if it := getItem(t, env, cast.Owner.Token, queued.ItemIDs[0]); it.Status != "pending" {
		t.Fatalf("paused processor ran item: %s", it.Status)
	}
	st := env.Do("GET", queueBase+"/status", apitest.Token(cast.Owner.Token)).Expect(200).Map()["processor"].(map[string]any)
	if st["is_started"] != false || st["is_processing"] != false {
		t.Fatalf("processor %v", st)
	}
	resume(t, env, cast.Admin.Token)
	waitStatus(t, env, cast.Owner.Token, queued.ItemIDs[0], "completed")

	// Deleting a running item stops it; an admin's clear cancels the running item of another user.
	long := enqueue(t, env, cast.Owner.Token, map[string]any{"graph": slowGraph(1000)})
	waitStatus(t, env, cast.Owner.Token, long.ItemIDs[0], "in_progress")
	env.Do("DELETE", fmt.Sprintf("%s/i/%d", queueBase, long.ItemIDs[0]), apitest.Token(cast.Owner.Token)).Expect(200)
	env.Do("GET", fmt.Sprintf("%s/i/%d", queueBase, long.ItemIDs[0]), apitest.Token(cast.Owner.Token)).Expect(404)
	long = enqueue(t, env, cast.Owner.Token, map[string]any{"graph": slowGraph(1000)})
	waitStatus(t, env, cast.Owner.Token, long.ItemIDs[0], "in_progress")
	// Clear deletes every item of the queue, finished ones included: short, queued and long.
	if c := env.Do("PUT", queueBase+"/clear", apitest.Token(cast.Admin.Token)).Expect(200).Map(); c["deleted"] != float64(3) {
		t.Fatalf("clear %v", c)
	}
	evs := collectEvents(t, ch, func(e events.Event) bool { return e.Name == "queue_cleared" })
	var canceled int
	for _, e := range evs {
		if e.Name == "queue_item_status_changed" && e.Payload["status"] == "canceled" {
			canceled++
		}
	}
	if canceled != 2 {
		t.Fatalf("canceled events %d: %v", canceled, names(evs))
	}
	deadline := time.Now().Add(5 * time.Second)
	for env.App.Queue.ProcessorStatus().IsProcessing {
		if time.Now().After(deadline) {
			t.Fatal("the cleared item kept running")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
