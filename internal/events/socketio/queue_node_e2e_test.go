package socketio_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/events"
)

// Secrets the owner's items carry; no event that reaches another user may contain any of them.
const (
	e2eSecretPrompt  = "secret-prompt-4711"
	e2eSecretMissing = "secret-missing-4711.png"
)

// e2eImageGraph is blank_image → img_blur → save_image, the blur and the save going to the owner's board and the
// blur carrying metadata with the (secret) prompt.
func e2eImageGraph(board string) map[string]any {
	edge := func(sn, sf, dn, df string) map[string]any {
		return map[string]any{"source": map[string]any{"node_id": sn, "field": sf}, "destination": map[string]any{"node_id": dn, "field": df}}
	}
	return map[string]any{
		"id": "e2e-graph",
		"nodes": map[string]any{
			"blank": map[string]any{"id": "blank", "type": "blank_image", "width": 40, "height": 24, "mode": "RGB",
				"color": map[string]any{"r": 10, "g": 200, "b": 10, "a": 255}, "is_intermediate": true},
			"blur": map[string]any{"id": "blur", "type": "img_blur", "radius": 2, "is_intermediate": false,
				"board":    map[string]any{"board_id": board},
				"metadata": map[string]any{"positive_prompt": e2eSecretPrompt, "seed": 4711}},
			"save": map[string]any{"id": "save", "type": "save_image", "board": map[string]any{"board_id": board}},
		},
		"edges": []any{edge("blank", "image", "blur", "image"), edge("blur", "image", "save", "image")},
	}
}

// busWait drains the bus subscription until stop matches, failing after the timeout.
func busWait(t *testing.T, ch <-chan events.Event, stop func(events.Event) bool) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case e := <-ch:
			if stop(e) {
				return
			}
		case <-timeout:
			t.Fatal("timed out waiting on the event bus")
		}
	}
}

// e2eEventKeys are docs/compatibility.md §6's payload fields (plus timestamp) of the events a queue run emits.
var e2eEventKeys = map[string]string{
	"batch_enqueued":            "batch_id,enqueued,origin,priority,queue_id,requested,timestamp,user_id",
	"invocation_started":        "batch_id,destination,invocation,invocation_source_id,item_id,origin,queue_id,session_id,timestamp,user_id",
	"invocation_complete":       "batch_id,destination,invocation,invocation_source_id,item_id,origin,queue_id,result,session_id,timestamp,user_id",
	"invocation_error":          "batch_id,destination,error_message,error_traceback,error_type,invocation,invocation_source_id,item_id,origin,queue_id,session_id,timestamp,user_id",
	"queue_item_status_changed": "batch_id,batch_status,completed_at,created_at,destination,error_message,error_traceback,error_type,item_id,origin,queue_id,queue_status,session_id,started_at,status,timestamp,updated_at,user_id",
}

var sqliteTimestamp = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$`)

// checkKeys reports an event whose payload has other keys than docs/compatibility.md §6 lists.
func checkKeys(t *testing.T, label string, l nodeLine) {
	t.Helper()
	want, ok := e2eEventKeys[l.Name]
	if !ok {
		return
	}
	var got []string
	for k := range l.Payload {
		got = append(got, k)
	}
	sort.Strings(got)
	if strings.Join(got, ",") != want {
		t.Errorf("%s: %s keys\n got %s\nwant %s", label, l.Name, strings.Join(got, ","), want)
	}
	if l.Name == "queue_item_status_changed" {
		// Timestamps are SQLite's stored strings, as in REST responses.
		for _, k := range []string{"created_at", "updated_at", "started_at"} {
			if s, _ := l.Payload[k].(string); !sqliteTimestamp.MatchString(s) {
				t.Errorf("%s: %s %s = %v", label, l.Name, k, l.Payload[k])
			}
		}
		qs, _ := l.Payload["queue_status"].(map[string]any)
		for _, k := range []string{"queue_id", "item_id", "batch_id", "session_id", "pending", "in_progress", "completed", "failed", "canceled", "total", "user_pending", "user_in_progress"} {
			if _, ok := qs[k]; !ok {
				t.Errorf("%s: queue_status lacks %s: %v", label, k, qs)
			}
		}
		bs, _ := l.Payload["batch_status"].(map[string]any)
		for _, k := range []string{"queue_id", "batch_id", "origin", "destination", "pending", "in_progress", "completed", "failed", "canceled", "total"} {
			if _, ok := bs[k]; !ok {
				t.Errorf("%s: batch_status lacks %s: %v", label, k, bs)
			}
		}
	}
}

// describe names an event with its status and source node, for comparing sequences.
func describe(l nodeLine) string {
	s := l.Name
	if st, ok := l.Payload["status"].(string); ok {
		s += "(" + st + ")"
	}
	if src, ok := l.Payload["invocation_source_id"].(string); ok {
		s += "[" + src + "]"
	}
	return s
}

func describeAll(lines []nodeLine) []string {
	var out []string
	for _, l := range lines {
		if l.Type == "event" && l.Name != sentinel {
			out = append(out, describe(l))
		}
	}
	return out
}

// TestNodeClientSeesQueueRunInOrder is issue 5's end-to-end check through npm's socket.io-client: a batch of image
// nodes runs; owner and admin sockets see batch_enqueued, queue_item_status_changed(in_progress), each node's
// invocation_started / invocation_complete, then queue_item_status_changed(completed) (and, for a failing item,
// failed before invocation_error); the images are in the gallery with their metadata and graph chunks; another
// user's socket in the same queue room gets only the sanitised companions and nothing of the owner's prompt,
// graph, image names, ids or error text.
func TestNodeClientSeesQueueRunInOrder(t *testing.T) {
	modules := nodeClientModules(t)
	script := filepath.Join(t.TempDir(), "client.js")
	if err := os.WriteFile(script, []byte(nodeClientScript), 0o644); err != nil {
		t.Fatal(err)
	}
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	board := env.Do("POST", "/api/v1/boards?board_name=e2e", apitest.Token(cast.Owner.Token)).Expect(201).Map()
	boardID, _ := board["board_id"].(string)
	if boardID == "" {
		t.Fatalf("board %v", board)
	}

	owner := startNodeClient(t, modules, script, "owner", env.URL, cast.Owner.Token, "", "both")
	admin := startNodeClient(t, modules, script, "admin", env.URL, cast.Admin.Token, "websocket", "payload")
	other := startNodeClient(t, modules, script, "other", env.URL, cast.Other.Token, "polling", "header")
	for _, nc := range []*nodeClient{owner, admin, other} {
		if l := nc.waitReady(t); l.Type != "ready" {
			t.Fatalf("%s: %+v\n%s", nc.label, l, nc.output())
		}
	}
	bus, unsub := env.App.Events.Subscribe(4096)
	defer unsub()

	// Item 1: the image batch, run to completion.
	var first struct {
		ItemIDs []int64 `json:"item_ids"`
		Batch   struct {
			BatchID string `json:"batch_id"`
		} `json:"batch"`
	}
	env.Do("POST", "/api/v1/queue/default/enqueue_batch", apitest.Token(cast.Owner.Token),
		apitest.JSON(map[string]any{"batch": map[string]any{"graph": e2eImageGraph(boardID), "origin": "e2e", "destination": "gallery"}})).
		Expect(200).Decode(&first)
	if len(first.ItemIDs) != 1 {
		t.Fatalf("enqueue: %+v", first)
	}
	busWait(t, bus, func(e events.Event) bool {
		return e.Name == "queue_item_status_changed" && e.Payload["status"] == "completed"
	})
	// Item 2: a node that fails with an error naming a (secret) image.
	failing := map[string]any{"nodes": map[string]any{"load": map[string]any{"id": "load", "type": "image",
		"image": map[string]any{"image_name": e2eSecretMissing}}}, "edges": []any{}}
	var second struct {
		ItemIDs []int64 `json:"item_ids"`
	}
	env.Do("POST", "/api/v1/queue/default/enqueue_batch", apitest.Token(cast.Owner.Token),
		apitest.JSON(map[string]any{"batch": map[string]any{"graph": failing}})).Expect(200).Decode(&second)
	busWait(t, bus, func(e events.Event) bool { return e.Name == "invocation_error" })
	publishSentinel(env.App.Events)

	want := []string{"batch_enqueued", "queue_item_status_changed(in_progress)",
		"invocation_started[blank]", "invocation_complete[blank]",
		"invocation_started[blur]", "invocation_complete[blur]",
		"invocation_started[save]", "invocation_complete[save]",
		"queue_item_status_changed(completed)",
		"batch_enqueued", "queue_item_status_changed(in_progress)", "invocation_started[load]",
		"queue_item_status_changed(failed)", "invocation_error[load]"}
	wantOther := []string{"batch_enqueued", "queue_item_status_changed(in_progress)", "queue_item_status_changed(completed)",
		"batch_enqueued", "queue_item_status_changed(in_progress)", "queue_item_status_changed(failed)"}

	var imageNames []string
	for _, nc := range []*nodeClient{owner, admin} {
		lines := nc.wait(t)
		if got := describeAll(lines); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("%s: events\n got %v\nwant %v\n%s", nc.label, got, want, nc.output())
		}
		var names []string
		for _, l := range lines {
			if l.Type != "event" {
				continue
			}
			checkKeys(t, nc.label, l)
			if l.Payload["user_id"] != cast.Owner.ID && l.Name != sentinel {
				t.Errorf("%s: %s carries user %v", nc.label, l.Name, l.Payload["user_id"])
			}
			switch l.Name {
			case "invocation_started":
				// The invocation is the prepared node: a fresh id, the source node's type and fields.
				if inv, _ := l.Payload["invocation"].(map[string]any); inv["id"] == nil || inv["type"] == nil || l.Payload["session_id"] == nil {
					t.Errorf("%s: invocation_started %v", nc.label, l.Payload)
				}
			case "invocation_complete":
				res, _ := l.Payload["result"].(map[string]any)
				img, _ := res["image"].(map[string]any)
				name, _ := img["image_name"].(string)
				if res["type"] != "image_output" || name == "" {
					t.Errorf("%s: invocation_complete result %v", nc.label, res)
				}
				names = append(names, name)
			case "queue_item_status_changed":
				if l.Payload["batch_status"] == nil || l.Payload["queue_status"] == nil || l.Payload["batch_id"] == "redacted" {
					t.Errorf("%s: status payload %v", nc.label, l.Payload)
				}
				if l.Payload["status"] == "failed" && !strings.Contains(fmt.Sprint(l.Payload["error_message"]), e2eSecretMissing) {
					t.Errorf("%s: failed status without the error: %v", nc.label, l.Payload)
				}
			case "invocation_error":
				if l.Payload["error_type"] == nil || !strings.Contains(fmt.Sprint(l.Payload["error_message"]), e2eSecretMissing) {
					t.Errorf("%s: invocation_error %v", nc.label, l.Payload)
				}
			case "batch_enqueued":
				if l.Payload["batch_id"] == "redacted" || l.Payload["enqueued"] != float64(1) {
					t.Errorf("%s: batch_enqueued %v", nc.label, l.Payload)
				}
			}
		}
		if nc == owner {
			imageNames = names
		} else if strings.Join(names, ",") != strings.Join(imageNames, ",") {
			t.Errorf("admin saw images %v, owner %v", names, imageNames)
		}
	}

	// The images are in the gallery: the blur and the save on the owner's board with metadata and the graph chunk,
	// the intermediate blank outside it.
	boardNames := env.Do("GET", "/api/v1/boards/"+boardID+"/image_names", apitest.Token(cast.Owner.Token)).Expect(200).Body
	for i, name := range imageNames {
		dto := env.Do("GET", "/api/v1/images/i/"+name, apitest.Token(cast.Owner.Token)).Expect(200).Map()
		onBoard := strings.Contains(string(boardNames), name)
		if i == 0 {
			if dto["is_intermediate"] != true || onBoard {
				t.Errorf("blank image %v (on board: %v)", dto, onBoard)
			}
			continue
		}
		if dto["board_id"] != boardID || !onBoard || dto["has_workflow"] != true || dto["width"] != float64(40) || dto["image_origin"] != "internal" {
			t.Errorf("image %d: %v (on board: %v)", i, dto, onBoard)
		}
		wf := env.Do("GET", "/api/v1/images/i/"+name+"/workflow", apitest.Token(cast.Owner.Token)).Expect(200).Map()
		if g, _ := wf["graph"].(string); !strings.Contains(g, `"save_image"`) || !strings.Contains(g, boardID) {
			t.Errorf("image %d graph chunk %v", i, wf["graph"])
		}
		env.Do("GET", "/api/v1/images/i/"+name+"/full", apitest.Token(cast.Owner.Token)).Expect(200)
		env.Do("GET", "/api/v1/images/i/"+name+"/full", apitest.Token(cast.Other.Token)).Expect(403)
	}
	md := env.Do("GET", "/api/v1/images/i/"+imageNames[1]+"/metadata", apitest.Token(cast.Owner.Token)).Expect(200).Map()
	if md["positive_prompt"] != e2eSecretPrompt {
		t.Errorf("blur metadata %v", md)
	}
	if len(imageNames) != 3 {
		t.Fatalf("images %v", imageNames)
	}

	// The other user saw the sanitised companions, in order, and none of the owner's data.
	lines := other.wait(t)
	if got := describeAll(lines); strings.Join(got, " ") != strings.Join(wantOther, " ") {
		t.Fatalf("other: events\n got %v\nwant %v\n%s", got, wantOther, other.output())
	}
	raw, _ := json.Marshal(lines)
	leaks := append([]string{e2eSecretPrompt, e2eSecretMissing, first.Batch.BatchID, cast.Owner.ID, boardID, "e2e-graph", `"invocation"`}, imageNames...)
	for _, l := range lines {
		if sid, ok := l.Payload["session_id"].(string); ok && sid != "redacted" {
			leaks = append(leaks, sid)
		}
	}
	for _, s := range leaks {
		if strings.Contains(string(raw), s) {
			t.Errorf("the other user's socket received %q:\n%s", s, other.output())
		}
	}
	for _, l := range lines {
		if l.Type != "event" || l.Name == sentinel {
			continue
		}
		checkKeys(t, "other", l)
		if l.Payload["user_id"] != "redacted" || l.Payload["batch_id"] != "redacted" {
			t.Errorf("other: %s not redacted: %v", l.Name, l.Payload)
		}
		if l.Name == "queue_item_status_changed" && (l.Payload["error_message"] != nil || l.Payload["error_traceback"] != nil ||
			l.Payload["session_id"] != "redacted") {
			t.Errorf("other: status companion %v", l.Payload)
		}
	}
	// The owner's failure is also visible over REST to the owner only.
	env.Do("GET", fmt.Sprintf("/api/v1/queue/default/i/%d", second.ItemIDs[0]), apitest.Token(cast.Owner.Token)).Expect(200)
}

// TestNodeClientSingleUserQueueRun: in single-user mode an anonymous npm client (the browser of `invokego serve`)
// gets the whole run in docs/compatibility.md §6's order, owned by "system", and the saved images are in the gallery.
func TestNodeClientSingleUserQueueRun(t *testing.T) {
	modules := nodeClientModules(t)
	script := filepath.Join(t.TempDir(), "client.js")
	if err := os.WriteFile(script, []byte(nodeClientScript), 0o644); err != nil {
		t.Fatal(err)
	}
	env := apitest.New(t)
	boardID, _ := env.Do("POST", "/api/v1/boards/?board_name=single").Expect(201).Map()["board_id"].(string)
	nc := startNodeClient(t, modules, script, "anonymous single-user", env.URL, "", "", "both")
	if l := nc.waitReady(t); l.Type != "ready" {
		t.Fatalf("%+v\n%s", l, nc.output())
	}
	bus, unsub := env.App.Events.Subscribe(4096)
	defer unsub()
	env.Do("POST", "/api/v1/queue/default/enqueue_batch",
		apitest.JSON(map[string]any{"batch": map[string]any{"graph": e2eImageGraph(boardID),
			"data": []any{[]any{map[string]any{"node_path": "blur", "field_name": "radius", "items": []any{1, 3}}}}}})).Expect(200)
	completed := 0
	busWait(t, bus, func(e events.Event) bool {
		if e.Name == "queue_item_status_changed" && e.Payload["status"] == "completed" {
			completed++
		}
		return completed == 2
	})
	publishSentinel(env.App.Events)
	lines := nc.wait(t)
	one := []string{"queue_item_status_changed(in_progress)",
		"invocation_started[blank]", "invocation_complete[blank]",
		"invocation_started[blur]", "invocation_complete[blur]",
		"invocation_started[save]", "invocation_complete[save]",
		"queue_item_status_changed(completed)"}
	want := append(append([]string{"batch_enqueued"}, one...), one...)
	if got := describeAll(lines); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("events\n got %v\nwant %v\n%s", got, want, nc.output())
	}
	for _, l := range lines {
		if l.Type == "event" && l.Name != sentinel {
			checkKeys(t, nc.label, l)
			if l.Payload["user_id"] != "system" {
				t.Errorf("%s user %v", l.Name, l.Payload["user_id"])
			}
		}
	}
	var names []string
	env.Do("GET", "/api/v1/boards/"+boardID+"/image_names").Expect(200).Decode(&names)
	if len(names) != 4 {
		t.Fatalf("board images %v", names)
	}
	// Each image carries the session's graph; the blur's (not save_image's, which has no metadata field set) also
	// its metadata.
	withPrompt := 0
	for _, n := range names {
		md := env.Do("GET", "/api/v1/images/i/"+n+"/metadata").Expect(200).Map()
		if md["positive_prompt"] == e2eSecretPrompt {
			withPrompt++
		}
		wf := env.Do("GET", "/api/v1/images/i/"+n+"/workflow").Expect(200).Map()
		if g, _ := wf["graph"].(string); !strings.Contains(g, `"img_blur"`) {
			t.Errorf("%s: graph %v", n, wf["graph"])
		}
	}
	if withPrompt != 2 {
		t.Errorf("%d images with the blur's metadata, want 2", withPrompt)
	}
}
