package socketio_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/events"
	"github.com/invokego/invokego/internal/events/socketio"
)

// sentinel is a broadcast event published after the events under test: once a socket has it, everything
// published before it that was going to reach that socket has arrived (delivery is in order).
const sentinel = "workflow_access_revoked"

func publishSentinel(bus *events.Bus) {
	bus.Publish(events.Event{Name: sentinel, Audience: events.Everyone, Payload: map[string]any{"workflow_id": sentinelID, "user_id": sentinelID}})
}

// connectAs opens a socket the way InvokeAI's frontend does: token in the auth payload and the header, then
// subscribe_queue and subscribe_bulk_download with id "default".
func connectAs(t *testing.T, url, token string, mode transportMode) *testClient {
	t.Helper()
	c := newTestClient(t, url, clientOptions{mode: mode, headerToken: token})
	c.mustConnect(token)
	c.emit("subscribe_queue", map[string]any{"queue_id": "default"})
	c.emit("subscribe_bulk_download", map[string]any{"bulk_download_id": "default"})
	return c
}

// secretPayload is what an owner's event carries that nobody else may see.
func secretPayload(owner string) map[string]any {
	return map[string]any{
		"queue_id": "default", "item_id": 7, "batch_id": "batch-secret", "session_id": "session-secret", "user_id": owner,
		"invocation":    map[string]any{"id": "n1", "type": "compel", "prompt": "secret prompt"},
		"error_message": "secret error", "result": map[string]any{"image": map[string]any{"image_name": "secret.png"}},
		"image": map[string]any{"width": 8, "height": 8, "dataURL": "data:image/jpeg;base64,c2VjcmV0"},
	}
}

func names(evs []received) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Name
	}
	return out
}

func assertNames(t *testing.T, who string, got []received, want ...string) {
	t.Helper()
	if strings.Join(names(got), ",") != strings.Join(want, ",") {
		t.Fatalf("%s received %v, want %v", who, names(got), want)
	}
}

// assertNoSecrets fails if anything in the events carries the owner's data.
func assertNoSecrets(t *testing.T, who string, got []received) {
	t.Helper()
	b, _ := json.Marshal(got)
	for _, secret := range []string{"secret", "c2VjcmV0"} {
		if strings.Contains(string(b), secret) {
			t.Fatalf("%s received the owner's data: %s", who, b)
		}
	}
}

type castSockets struct {
	env                 *apitest.Env
	cast                apitest.Users
	owner, admin, other *testClient
	// bystander is another user's socket that never subscribed to the queue.
	bystander *testClient
}

func startCast(t *testing.T, mode transportMode) *castSockets {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	bystanderUser := env.CreateUser(cast.Admin, "Bystander", false)
	cs := &castSockets{env: env, cast: cast,
		owner: connectAs(t, env.URL, cast.Owner.Token, mode),
		admin: connectAs(t, env.URL, cast.Admin.Token, mode),
		other: connectAs(t, env.URL, cast.Other.Token, mode),
	}
	cs.bystander = newTestClient(t, env.URL, clientOptions{mode: mode})
	cs.bystander.mustConnect(bystanderUser.Token)
	return cs
}

// collect publishes the sentinel and returns what each socket received before it.
func (cs *castSockets) collect(t *testing.T) (owner, admin, other, bystander []received) {
	publishSentinel(cs.env.App.Events)
	return cs.owner.eventsUntil(sentinel, 5*time.Second), cs.admin.eventsUntil(sentinel, 5*time.Second),
		cs.other.eventsUntil(sentinel, 5*time.Second), cs.bystander.eventsUntil(sentinel, 5*time.Second)
}

func TestRouting(t *testing.T) {
	for _, mode := range allModes {
		t.Run(string(mode), func(t *testing.T) { testRouting(t, mode) })
	}
}

func testRouting(t *testing.T, mode transportMode) {
	cs := startCast(t, mode)
	bus := cs.env.App.Events
	ownerID, adminID := cs.cast.Owner.ID, cs.cast.Admin.ID

	t.Run("invocation events reach owner and admins once, nobody else", func(t *testing.T) {
		for _, name := range []string{"invocation_started", "invocation_complete", "invocation_error", "recall_parameters_updated"} {
			bus.Publish(events.Event{Name: name, UserID: ownerID, Audience: events.OwnerAndAdmins, QueueID: "default", Payload: secretPayload(ownerID)})
		}
		owner, admin, other, bystander := cs.collect(t)
		want := []string{"invocation_started", "invocation_complete", "invocation_error", "recall_parameters_updated"}
		assertNames(t, "owner", owner, want...)
		assertNames(t, "admin", admin, want...)
		assertNames(t, "other", other)
		assertNames(t, "bystander", bystander)
		if owner[0].Payload["invocation"].(map[string]any)["prompt"] != "secret prompt" {
			t.Fatalf("owner payload %v", owner[0].Payload)
		}
	})

	t.Run("invocation_progress: the preview is the owner's, admins get image null", func(t *testing.T) {
		bus.Publish(events.Event{Name: "invocation_progress", UserID: ownerID, Audience: events.OwnerAndAdmins, QueueID: "default", Payload: secretPayload(ownerID)})
		owner, admin, other, bystander := cs.collect(t)
		assertNames(t, "owner", owner, "invocation_progress")
		assertNames(t, "admin", admin, "invocation_progress")
		assertNames(t, "other", other)
		assertNames(t, "bystander", bystander)
		if owner[0].Payload["image"] == nil {
			t.Fatal("owner lost the preview")
		}
		if img, present := admin[0].Payload["image"]; !present || img != nil {
			t.Fatalf("admin got image %v", img)
		}
	})

	t.Run("an admin who owns the event gets it once, with the preview", func(t *testing.T) {
		bus.Publish(events.Event{Name: "invocation_progress", UserID: adminID, Audience: events.OwnerAndAdmins, Payload: secretPayload(adminID)})
		bus.Publish(events.Event{Name: "invocation_started", UserID: adminID, Audience: events.OwnerAndAdmins, Payload: secretPayload(adminID)})
		owner, admin, other, _ := cs.collect(t)
		assertNames(t, "admin", admin, "invocation_progress", "invocation_started")
		if admin[0].Payload["image"] == nil {
			t.Fatal("admin owner lost the preview")
		}
		assertNames(t, "owner", owner)
		assertNames(t, "other", other)
	})

	t.Run("queue events: full to owner and admins, sanitised to the rest of the queue room", func(t *testing.T) {
		for _, name := range []string{"queue_item_status_changed", "batch_enqueued", "queue_items_retried", "queue_cleared", "queue_items_canceled"} {
			bus.Publish(events.Event{Name: name, UserID: ownerID, Audience: events.Queue, QueueID: "default",
				Payload:   secretPayload(ownerID),
				Sanitized: map[string]any{"queue_id": "default", "item_id": 7, "user_id": "redacted", "batch_id": "redacted"}})
		}
		owner, admin, other, bystander := cs.collect(t)
		want := []string{"queue_item_status_changed", "batch_enqueued", "queue_items_retried", "queue_cleared", "queue_items_canceled"}
		assertNames(t, "owner", owner, want...)
		assertNames(t, "admin", admin, want...)
		assertNames(t, "other", other, want...)
		assertNames(t, "bystander (not subscribed)", bystander)
		assertNoSecrets(t, "other", other)
		if other[0].Payload["user_id"] != "redacted" || owner[0].Payload["batch_id"] != "batch-secret" || admin[0].Payload["batch_id"] != "batch-secret" {
			t.Fatalf("payloads: owner %v admin %v other %v", owner[0].Payload, admin[0].Payload, other[0].Payload)
		}
		// Another queue's room is not this one.
		bus.Publish(events.Event{Name: "queue_cleared", UserID: ownerID, Audience: events.Queue, QueueID: "elsewhere",
			Payload: map[string]any{"queue_id": "elsewhere"}, Sanitized: map[string]any{"queue_id": "elsewhere"}})
		_, _, other, _ = cs.collect(t)
		assertNames(t, "other", other)
	})

	t.Run("unsubscribe_queue stops the sanitised companions", func(t *testing.T) {
		cs.other.emit("unsubscribe_queue", map[string]any{"queue_id": "default"})
		bus.Publish(events.Event{Name: "queue_item_status_changed", UserID: ownerID, Audience: events.Queue, QueueID: "default",
			Payload: secretPayload(ownerID), Sanitized: map[string]any{"queue_id": "default"}})
		owner, _, other, _ := cs.collect(t)
		assertNames(t, "owner", owner, "queue_item_status_changed")
		assertNames(t, "other", other)
		cs.other.emit("subscribe_queue", map[string]any{"queue_id": "default"})
	})

	t.Run("workflows: owner and admins, everyone when public", func(t *testing.T) {
		bus.Publish(events.Event{Name: "workflow_created", UserID: ownerID, Audience: events.OwnerAdminsAndShared,
			Payload: map[string]any{"workflow_id": "secret-private", "user_id": ownerID, "is_public": false}})
		bus.Publish(events.Event{Name: "workflow_updated", UserID: ownerID, Audience: events.OwnerAdminsAndShared,
			Payload: map[string]any{"workflow_id": "w-public", "user_id": ownerID, "is_public": true}})
		bus.Publish(events.Event{Name: "workflow_access_revoked", UserID: ownerID, Audience: events.Everyone,
			Payload: map[string]any{"workflow_id": "w-public", "user_id": ownerID}})
		owner, admin, other, bystander := cs.collect(t)
		assertNames(t, "owner", owner, "workflow_created", "workflow_updated", "workflow_access_revoked")
		assertNames(t, "admin", admin, "workflow_created", "workflow_updated", "workflow_access_revoked")
		assertNames(t, "other", other, "workflow_updated", "workflow_access_revoked")
		assertNames(t, "bystander", bystander, "workflow_updated", "workflow_access_revoked")
	})

	t.Run("bulk downloads: owner and admins", func(t *testing.T) {
		bus.Publish(events.Event{Name: "bulk_download_complete", UserID: ownerID, Audience: events.OwnerAndAdmins, QueueID: "default",
			Payload: map[string]any{"bulk_download_id": "default", "bulk_download_item_name": "secret.zip", "user_id": ownerID}})
		// The single-user "system goes to the subscribed room" rule does not apply in multi-user mode, where
		// every user is in that room.
		bus.Publish(events.Event{Name: "bulk_download_started", UserID: access.SystemUserID, Audience: events.OwnerAndAdmins, QueueID: "default",
			Payload: map[string]any{"bulk_download_id": "default", "bulk_download_item_name": "secret-system.zip", "user_id": "system"}})
		owner, admin, other, bystander := cs.collect(t)
		assertNames(t, "owner", owner, "bulk_download_complete")
		assertNames(t, "admin", admin, "bulk_download_complete", "bulk_download_started")
		assertNames(t, "other", other)
		assertNames(t, "bystander", bystander)
	})

	t.Run("model events: admins in full, others a sanitised copy at most", func(t *testing.T) {
		bus.Publish(events.Event{Name: "download_progress", Audience: events.Admins, Payload: map[string]any{"source": "https://h/m?token=secret", "current_bytes": 1}})
		bus.Publish(events.Event{Name: "model_load_started", Audience: events.Admins,
			Payload:   map[string]any{"config": map[string]any{"key": "k", "path": "/srv/models/secret"}},
			Sanitized: map[string]any{"config": map[string]any{"key": "k", "path": ""}}})
		// Broadcasting a model event is refused outright: it could carry a source or a path.
		bus.Publish(events.Event{Name: "model_install_started", Audience: events.Everyone, Payload: map[string]any{"source": "https://u:p@h/m"}})
		owner, admin, other, bystander := cs.collect(t)
		assertNames(t, "admin", admin, "download_progress", "model_load_started")
		if admin[1].Payload["config"].(map[string]any)["path"] != "/srv/models/secret" {
			t.Fatalf("admin's copy %v", admin[1].Payload)
		}
		for who, got := range map[string][]received{"owner": owner, "other": other, "bystander": bystander} {
			assertNames(t, who, got, "model_load_started")
			if got[0].Payload["config"].(map[string]any)["path"] != "" {
				t.Fatalf("%s got the server path: %v", who, got[0].Payload)
			}
		}
	})

	t.Run("unknown events and forbidden audiences fail closed", func(t *testing.T) {
		bus.Publish(events.Event{Name: "brand_new_event", UserID: ownerID, Audience: events.OwnerAndAdmins, Payload: map[string]any{}})
		bus.Publish(events.Event{Name: "invocation_progress", UserID: ownerID, Audience: events.Everyone, Payload: secretPayload(ownerID)})
		bus.Publish(events.Event{Name: "queue_item_status_changed", UserID: ownerID, Audience: events.Everyone, Payload: secretPayload(ownerID)})
		owner, admin, other, bystander := cs.collect(t)
		for who, got := range map[string][]received{"owner": owner, "admin": admin, "other": other, "bystander": bystander} {
			assertNames(t, who, got)
		}
	})
}

func TestSingleUserBulkDownloadGoesToItsRoom(t *testing.T) {
	st := startStandalone(t, socketio.Options{Multiuser: false})
	subscribed := newTestClient(t, st.url, clientOptions{mode: modeWebsocket})
	subscribed.mustConnect("")
	subscribed.emit("subscribe_bulk_download", map[string]any{"bulk_download_id": "default"})
	unsubscribed := newTestClient(t, st.url, clientOptions{mode: modeWebsocket})
	unsubscribed.mustConnect("")
	st.bus.Publish(events.Event{Name: "bulk_download_started", UserID: access.SystemUserID, Audience: events.OwnerAndAdmins, QueueID: "default",
		Payload: map[string]any{"bulk_download_id": "default", "user_id": "system"}})
	publishSentinel(st.bus)
	assertNames(t, "subscribed", subscribed.eventsUntil(sentinel, 5*time.Second), "bulk_download_started")
	assertNames(t, "unsubscribed", unsubscribed.eventsUntil(sentinel, 5*time.Second))
}

func TestRevokedAndDisabledUsers(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()

	// Logout revokes the token: the open socket is disconnected (DISCONNECT, then the transport closes),
	// and the token is refused afterwards.
	for _, mode := range allModes {
		token := env.Login(cast.Owner.Email, cast.Owner.Password)
		c := connectAs(t, env.URL, token, mode)
		env.Do("POST", "/api/v1/auth/logout", apitest.Token(token)).Expect(200)
		got, ended := c.waitEnded(5 * time.Second)
		if !ended || len(got) == 0 || got[len(got)-1] != "41" {
			t.Fatalf("%s: after logout: ended %v, packets %q", mode, ended, got)
		}
		again := newTestClient(t, env.URL, clientOptions{mode: mode})
		if _, msg := again.connect(map[string]any{"token": token}); msg == "" {
			t.Fatalf("%s: revoked token accepted", mode)
		}
	}

	// Deactivation: open socket dropped, new connects refused.
	otherToken := env.Login(cast.Other.Email, cast.Other.Password)
	c := connectAs(t, env.URL, otherToken, modeWebsocket)
	env.Do("PATCH", "/api/v1/auth/users/"+cast.Other.ID, apitest.Token(cast.Admin.Token), apitest.JSON(map[string]any{"is_active": false})).Expect(200)
	if _, ended := c.waitEnded(5 * time.Second); !ended {
		t.Fatal("deactivated user's socket kept open")
	}
	if _, msg := newTestClient(t, env.URL, clientOptions{mode: modePolling, headerToken: otherToken}).connect(nil); msg == "" {
		t.Fatal("deactivated user connected")
	}

	// Demotion: the admin room is left with the revoked token; a fresh token connects without admin rights.
	second := env.CreateUser(cast.Admin, "Second", true)
	c = connectAs(t, env.URL, second.Token, modeUpgrade)
	env.Do("PATCH", "/api/v1/auth/users/"+second.ID, apitest.Token(cast.Admin.Token), apitest.JSON(map[string]any{"is_admin": false})).Expect(200)
	if _, ended := c.waitEnded(5 * time.Second); !ended {
		t.Fatal("demoted admin's socket kept open")
	}
	fresh := connectAs(t, env.URL, env.Login(second.Email, second.Password), modeWebsocket)
	env.App.Events.Publish(events.Event{Name: "invocation_started", UserID: cast.Owner.ID, Audience: events.OwnerAndAdmins, Payload: secretPayload(cast.Owner.ID)})
	publishSentinel(env.App.Events)
	assertNames(t, "demoted admin", fresh.eventsUntil(sentinel, 5*time.Second))

	// Deletion: socket dropped and token refused.
	del := env.CreateUser(cast.Admin, "Doomed", false)
	c = connectAs(t, env.URL, del.Token, modePolling)
	env.Do("DELETE", "/api/v1/auth/users/"+del.ID, apitest.Token(cast.Admin.Token)).Expect(200)
	if _, ended := c.waitEnded(5 * time.Second); !ended {
		t.Fatal("deleted user's socket kept open")
	}
	if _, msg := newTestClient(t, env.URL, clientOptions{mode: modeWebsocket}).connect(map[string]any{"token": del.Token}); msg == "" {
		t.Fatal("deleted user connected")
	}
}

func TestMountedOnTheRouter(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	env.SetupAdmin()
	// The Engine.IO handshake is anonymous by protocol; the namespace connect is what is refused.
	res := env.Do("GET", "/ws/socket.io/?EIO=4&transport=polling")
	if res.Status != 200 || !strings.HasPrefix(string(res.Body), `0{"`) {
		t.Fatalf("handshake through the router: %d %s", res.Status, res.Body)
	}
	c := newTestClient(t, env.URL, clientOptions{mode: modeUpgrade})
	if _, msg := c.connect(nil); msg == "" {
		t.Fatal("anonymous socket connected in multi-user mode")
	}
	mounts := env.App.Router.Mounts()
	if len(mounts) != 1 || mounts[0].Prefix != "/ws/socket.io/" || mounts[0].Reason == "" {
		t.Fatalf("mounts %+v", mounts)
	}
	for _, r := range env.App.Router.Routes() {
		if strings.HasPrefix(r.Path, "/ws/") {
			t.Fatalf("socket endpoint listed as a JSON route: %s", r.Path)
		}
	}
}

// docs/security.md D14 in events: each recipient of a queue_item_status_changed sees its own pending and in-progress
// figures, and the current item's ids only when it may see that item.
func TestQueueStatusInEventsIsPerRecipient(t *testing.T) {
	cs := startCast(t, modePolling)
	env := cs.env
	env.Do("PUT", "/api/v1/queue/default/processor/pause", apitest.Token(cs.cast.Admin.Token)).Expect(200)
	graph := map[string]any{"id": "g", "nodes": map[string]any{"a": map[string]any{"id": "a", "type": "integer", "value": 1}}, "edges": []any{}}
	enqueue := func(tok string, runs int) []any {
		res := env.Do("POST", "/api/v1/queue/default/enqueue_batch", apitest.Token(tok),
			apitest.JSON(map[string]any{"batch": map[string]any{"graph": graph, "runs": runs}})).Expect(200).Map()
		return res["item_ids"].([]any)
	}
	enqueue(cs.cast.Other.Token, 2)
	mine := enqueue(cs.cast.Owner.Token, 1)
	cs.collect(t) // drop the enqueue events
	env.Do("PUT", "/api/v1/queue/default/i/"+jsonNumber(mine[0])+"/cancel", apitest.Token(cs.cast.Owner.Token)).Expect(200)
	owner, admin, other, _ := cs.collect(t)
	status := func(who string, evs []received) map[string]any {
		t.Helper()
		for _, e := range evs {
			if e.Name == "queue_item_status_changed" {
				return e.Payload["queue_status"].(map[string]any)
			}
		}
		t.Fatalf("%s got no queue_item_status_changed: %v", who, names(evs))
		return nil
	}
	for who, c := range map[string]struct {
		evs     []received
		pending float64
	}{"owner": {owner, 0}, "admin": {admin, 0}, "other": {other, 2}} {
		st := status(who, c.evs)
		if st["pending"] != float64(2) || st["user_pending"] != c.pending || st["user_in_progress"] != float64(0) {
			t.Errorf("%s sees queue_status %v, want pending 2 and user_pending %v", who, st, c.pending)
		}
		if st["item_id"] != nil || st["session_id"] != nil {
			t.Errorf("%s sees a current item while none runs: %v", who, st)
		}
	}
}

func jsonNumber(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
