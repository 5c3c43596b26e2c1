package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/events"
	"github.com/invokego/invokego/internal/graph"
	"github.com/invokego/invokego/internal/nodes"
	"github.com/invokego/invokego/internal/store"
)

var updateEvents = flag.Bool("update-events", false, "rewrite testdata/events.golden from the events published now")

// TestEventJSONPinned pins the JSON of every queue event as the bus carries it: the full payload, the redacted
// copy for the rest of the queue room and the per-viewer fields. The Socket.IO server sends these maps as they
// are, and the acceptance tests compare them to InvokeAI's, so a refactor of how events are built must leave
// every byte as it was. Ids and times that change from run to run are replaced by placeholders.
func TestEventJSONPinned(t *testing.T) {
	bus := events.NewBus()
	ch, unsub := bus.Subscribe(1000)
	defer unsub()
	svc := newTestService(t, Options{Events: bus, Multiuser: true})
	ctx := context.Background()
	alice := access.Principal{UserID: "alice", Authenticated: true}
	admin := access.Principal{UserID: "root", IsAdmin: true, Authenticated: true}
	for _, u := range []access.Principal{alice, admin} {
		if _, err := svc.db.CreateUser(ctx, store.User{UserID: u.UserID, Email: u.UserID + "@example.com", PasswordHash: "x",
			IsAdmin: u.IsAdmin, IsActive: true}); err != nil {
			t.Fatal(err)
		}
	}
	origin, dest := "canvas", "gallery"
	add := Batch{Origin: &origin, Destination: &dest,
		Graph: json.RawMessage(`{"id":"g1","nodes":{"a":{"id":"a","type":"add","a":1,"b":2}},"edges":[]}`)}
	div := Batch{Graph: json.RawMessage(`{"id":"g2","nodes":{"d":{"id":"d","type":"div","a":1,"b":0}},"edges":[]}`)}
	r1, err := svc.Enqueue(ctx, alice, "default", add, false)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := svc.Enqueue(ctx, alice, "default", div, false)
	if err != nil {
		t.Fatal(err)
	}
	var got []events.Event
	waitFor := func(done func(events.Event) bool) {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case e := <-ch:
				got = append(got, e)
				if done(e) {
					return
				}
			case <-timeout:
				names := []string{}
				for _, e := range got {
					names = append(names, e.Name)
				}
				t.Fatalf("the expected event never came; got %v", names)
			}
		}
	}
	stop := svc.Start()
	waitFor(func(e events.Event) bool {
		return e.Name == "queue_item_status_changed" && e.Payload["item_id"] == r2.ItemIDs[0] && e.Payload["status"] == store.QueueFailed
	})
	stop()

	// A progress report with a preview, as a denoising node sends it.
	it, err := svc.db.QueueItemByID(ctx, r1.ItemIDs[0])
	if err != nil {
		t.Fatal(err)
	}
	preview := image.NewNRGBA(image.Rect(0, 0, 2, 2))
	preview.Set(1, 1, color.NRGBA{R: 200, G: 10, B: 30, A: 255})
	nc := &nodeContext{Context: ctx, ss: &session{svc: svc, item: it}, execID: "a", sourceID: "a",
		node: graph.Node{"id": json.RawMessage(`"a"`), "type": json.RawMessage(`"add"`)}}
	nc.ReportProgress(nodes.Progress{Message: "Denoising", Percentage: ptr(0.5), Preview: preview, PreviewSize: image.Pt(16, 16)})
	waitFor(func(e events.Event) bool { return e.Name == "invocation_progress" })

	if _, err := svc.RetryItems(ctx, alice, "default", []int64{r2.ItemIDs[0]}); err != nil {
		t.Fatal(err)
	}
	waitFor(func(e events.Event) bool { return e.Name == "queue_items_retried" })
	if _, err := svc.CancelAllExceptCurrent(ctx, alice, "default"); err != nil {
		t.Fatal(err)
	}
	waitFor(func(e events.Event) bool { return e.Name == "queue_items_canceled" })
	if _, err := svc.Clear(ctx, admin, "default"); err != nil {
		t.Fatal(err)
	}
	waitFor(func(e events.Event) bool { return e.Name == "queue_cleared" })

	rec := &Recall{DB: svc.db, Events: bus}
	if _, err := rec.Update(ctx, alice, "default", RecallParameter{PositivePrompt: ptr("a cat"), Steps: ptr(30)}); err != nil {
		t.Fatal(err)
	}
	waitFor(func(e events.Event) bool { return e.Name == "recall_parameters_updated" })

	var buf bytes.Buffer
	for _, e := range got {
		rec := map[string]any{"name": e.Name, "user_id": e.UserID, "audience": e.Audience, "queue_id": e.QueueID,
			"payload": e.Payload, "sanitized": e.Sanitized}
		if e.PerRecipient != nil {
			rec["per_recipient"] = map[string]any{"owner": e.PerRecipient(alice), "admin": e.PerRecipient(admin),
				"other": e.PerRecipient(access.Principal{UserID: "bob", Authenticated: true})}
		}
		b, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	text := buf.String()
	for name, id := range map[string]string{"BATCH1": r1.Batch.BatchID, "BATCH2": r2.Batch.BatchID} {
		text = strings.ReplaceAll(text, id, name)
	}
	text = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`).ReplaceAllString(text, "UUID")
	text = regexp.MustCompile(`"\d{4}-\d\d-\d\d[ T][0-9:.]+"`).ReplaceAllString(text, `"TIME"`)
	text = regexp.MustCompile(`"timestamp":\d+`).ReplaceAllString(text, `"timestamp":0`)
	text = regexp.MustCompile(`"error_traceback":"[^"]*"`).ReplaceAllString(text, `"error_traceback":"TRACEBACK"`)

	golden := filepath.Join("testdata", "events.golden")
	if *updateEvents {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if text != string(want) {
		gl, wl := strings.Split(text, "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("event %d differs from %s:\n got %s\nwant %s", i, golden, gl[i], wl[i])
			}
		}
		t.Fatalf("%d events, %s has %d", len(gl), golden, len(wl))
	}
}
