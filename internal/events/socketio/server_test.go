package socketio_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/auth"
	"github.com/invokego/invokego/internal/events"
	"github.com/invokego/invokego/internal/events/socketio"
)

// fakeAuth accepts the tokens it knows.
type fakeAuth map[string]access.Principal

func (f fakeAuth) Authenticate(_ context.Context, token string) (access.Principal, *auth.Claims, error) {
	if p, ok := f[token]; ok {
		return p, &auth.Claims{UserID: p.UserID}, nil
	}
	return access.Anonymous(), nil, auth.ErrInvalidToken
}

var (
	alice = access.Principal{UserID: "alice", Authenticated: true}
	boss  = access.Principal{UserID: "boss", IsAdmin: true, Authenticated: true}
)

type standalone struct {
	srv *socketio.Server
	bus *events.Bus
	url string
}

// startStandalone runs the server alone over httptest, mounted where the app mounts it.
func startStandalone(t testing.TB, opts socketio.Options) *standalone {
	t.Helper()
	if opts.Bus == nil {
		opts.Bus = events.NewBus()
	}
	if opts.Auth == nil {
		opts.Auth = fakeAuth{"alice-token": alice, "boss-token": boss}
	}
	opts.Logger = testLogger(t)
	srv, err := socketio.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws/socket.io/", srv)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
	})
	return &standalone{srv: srv, bus: opts.Bus, url: hs.URL}
}

var allModes = []transportMode{modePolling, modeWebsocket, modeUpgrade}

func TestHandshake(t *testing.T) {
	st := startStandalone(t, socketio.Options{Multiuser: true, PingInterval: 3 * time.Second, PingTimeout: 2 * time.Second})
	res, err := http.Get(st.url + "/ws/socket.io/?EIO=4&transport=polling&t=abc")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	h, err := parseOpen(string(body))
	if err != nil {
		t.Fatal(err)
	}
	if h.SID == "" || len(h.Upgrades) != 1 || h.Upgrades[0] != "websocket" || h.PingInterval != 3000 || h.PingTimeout != 2000 || h.MaxPayload != 1_000_000 {
		t.Fatalf("handshake %+v", h)
	}
	for _, tc := range []struct{ query, want string }{
		{"EIO=3&transport=polling", "Unsupported protocol version"},
		{"EIO=4&transport=carrier-pigeon", "Transport unknown"},
		{"EIO=4&transport=polling&sid=nope", "Session ID unknown"},
	} {
		res, err := http.Get(st.url + "/ws/socket.io/?" + tc.query)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 400 || !strings.Contains(string(b), tc.want) {
			t.Errorf("%s: %d %s", tc.query, res.StatusCode, b)
		}
	}
	// A websocket-only client gets the open packet as its first frame, with no further upgrades.
	c := newTestClient(t, st.url, clientOptions{mode: modeWebsocket})
	if c.open.SID == "" || len(c.open.Upgrades) != 0 {
		t.Fatalf("websocket handshake %+v", c.open)
	}
}

func TestConnectAuthentication(t *testing.T) {
	for _, mode := range allModes {
		t.Run(string(mode), func(t *testing.T) {
			st := startStandalone(t, socketio.Options{Multiuser: true})
			// Anonymous: Engine.IO opens, the namespace connect is refused.
			c := newTestClient(t, st.url, clientOptions{mode: mode})
			if sid, msg := c.connect(nil); sid != "" || msg == "" {
				t.Fatalf("anonymous connect: sid %q, error %q", sid, msg)
			}
			if sid, msg := c.connect(map[string]any{"token": "forged"}); sid != "" || msg == "" {
				t.Fatalf("bad token: sid %q, error %q", sid, msg)
			}
			if sid, msg := c.connect(map[string]any{"token": 42}); sid != "" || msg == "" {
				t.Fatalf("non-string token: sid %q, error %q", sid, msg)
			}
			// Token in the CONNECT payload.
			c = newTestClient(t, st.url, clientOptions{mode: mode})
			c.mustConnect("alice-token")
			// Token in the Authorization header of the handshake.
			c = newTestClient(t, st.url, clientOptions{mode: mode, headerToken: "boss-token"})
			c.mustConnect("")
			// The payload wins over the header, as in InvokeAI.
			c = newTestClient(t, st.url, clientOptions{mode: mode, headerToken: "boss-token"})
			if _, msg := c.connect(map[string]any{"token": "forged"}); msg == "" {
				t.Fatal("a bad payload token was overridden by the header")
			}
			// Only the default namespace exists.
			if err := c.sendEngine("40/admin,"); err != nil {
				t.Fatal(err)
			}
			if p := c.next(5 * time.Second); !strings.HasPrefix(p, "44/admin,") {
				t.Fatalf("namespace refusal %q", p)
			}
		})
	}
}

func TestSingleUserAcceptsAnonymousAsSystem(t *testing.T) {
	st := startStandalone(t, socketio.Options{Multiuser: false})
	for _, mode := range allModes {
		c := newTestClient(t, st.url, clientOptions{mode: mode})
		c.mustConnect("")
		c.emit("subscribe_queue", map[string]any{"queue_id": "default"})
		// The system admin receives system-owned events.
		st.bus.Publish(events.Event{Name: "invocation_started", UserID: access.SystemUserID, Audience: events.OwnerAndAdmins,
			QueueID: "default", Payload: map[string]any{"user_id": "system", "item_id": 1}})
		ev, ok := c.nextEvent(5 * time.Second)
		if !ok || ev.Name != "invocation_started" || ev.Payload["timestamp"] == nil {
			t.Fatalf("%s: got %+v %v", mode, ev, ok)
		}
	}
}

func TestUpgradeKeepsEventsInOrder(t *testing.T) {
	st := startStandalone(t, socketio.Options{Multiuser: true})
	c := newTestClient(t, st.url, clientOptions{mode: modePolling})
	c.mustConnect("alice-token")
	for i := range 5 {
		st.bus.Publish(events.Event{Name: "invocation_progress", UserID: "alice", Audience: events.OwnerAndAdmins,
			Payload: map[string]any{"step": i}})
	}
	if err := c.upgrade(); err != nil {
		t.Fatal(err)
	}
	for i := 5; i < 10; i++ {
		st.bus.Publish(events.Event{Name: "invocation_progress", UserID: "alice", Audience: events.OwnerAndAdmins,
			Payload: map[string]any{"step": i}})
	}
	for i := range 10 {
		ev, ok := c.nextEvent(5 * time.Second)
		if !ok || ev.Payload["step"] != float64(i) {
			t.Fatalf("event %d: %+v %v", i, ev, ok)
		}
	}
	// The polling transport is gone after the upgrade.
	res, err := http.Get(c.url("polling", true))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 400 {
		t.Fatalf("poll after upgrade: %d", res.StatusCode)
	}
}

func TestHeartbeat(t *testing.T) {
	for _, mode := range []transportMode{modePolling, modeWebsocket} {
		t.Run(string(mode), func(t *testing.T) {
			st := startStandalone(t, socketio.Options{Multiuser: true, PingInterval: 100 * time.Millisecond, PingTimeout: 2 * time.Second})
			live := newTestClient(t, st.url, clientOptions{mode: mode})
			live.mustConnect("alice-token")
			silent := newTestClient(t, st.url, clientOptions{mode: mode})
			silent.ignorePng.Store(true)
			silent.mustConnect("alice-token")
			// Many ping rounds later, the answering client is still there and the silent one is gone.
			if _, ended := silent.waitEnded(15 * time.Second); !ended {
				t.Fatal("a client that never answers pings was not dropped")
			}
			time.Sleep(time.Second) // ten more ping rounds
			st.bus.Publish(events.Event{Name: "invocation_started", UserID: "alice", Audience: events.OwnerAndAdmins, Payload: map[string]any{}})
			if ev, ok := live.nextEvent(5 * time.Second); !ok || ev.Name != "invocation_started" {
				t.Fatalf("live client lost: %+v %v", ev, ok)
			}
			if got := st.srv.Stats(); got.Sockets != 1 {
				t.Fatalf("stats %+v, want one socket", got)
			}
		})
	}
}

func TestPayloadLimit(t *testing.T) {
	st := startStandalone(t, socketio.Options{Multiuser: true, MaxPayload: 1000})
	// Polling: an oversized POST is refused and the session ends.
	c := newTestClient(t, st.url, clientOptions{mode: modePolling})
	c.mustConnect("alice-token")
	_, status, err := c.httpDo(http.MethodPost, c.url("polling", true), `42["subscribe_queue",{"queue_id":"`+strings.Repeat("x", 2000)+`"}]`)
	if err != nil || status != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized post: %d %v", status, err)
	}
	if _, ended := c.waitEnded(5 * time.Second); !ended {
		t.Fatal("session survived an oversized post")
	}
	// Websocket: an oversized frame closes the connection.
	w := newTestClient(t, st.url, clientOptions{mode: modeWebsocket})
	w.mustConnect("alice-token")
	_ = w.sendEngine(`42["x","` + strings.Repeat("y", 2000) + `"]`)
	if _, ended := w.waitEnded(5 * time.Second); !ended {
		t.Fatal("websocket survived an oversized frame")
	}
	waitFor(t, "sockets released", func() bool { return st.srv.Stats().Sockets == 0 })
}

func TestSlowClientDropped(t *testing.T) {
	st := startStandalone(t, socketio.Options{Multiuser: true, SendBufferPackets: 16})
	// A polling client that stops polling cannot take what is sent to it.
	res, err := http.Get(st.url + "/ws/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	h, _ := parseOpen(string(body))
	post, err := http.Post(st.url+"/ws/socket.io/?EIO=4&transport=polling&sid="+h.SID, "text/plain", strings.NewReader(`40{"token":"alice-token"}`))
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	waitFor(t, "socket connected", func() bool { return st.srv.Stats().Sockets == 1 })
	for i := range 100 {
		st.bus.Publish(events.Event{Name: "invocation_progress", UserID: "alice", Audience: events.OwnerAndAdmins, Payload: map[string]any{"step": i}})
	}
	waitFor(t, "slow client dropped", func() bool { return st.srv.Stats().Sockets == 0 })
}

func TestSocketsPerUserBound(t *testing.T) {
	st := startStandalone(t, socketio.Options{Multiuser: true, MaxSocketsPerUser: 2})
	for range 2 {
		newTestClient(t, st.url, clientOptions{mode: modeWebsocket}).mustConnect("alice-token")
	}
	c := newTestClient(t, st.url, clientOptions{mode: modeWebsocket})
	if _, msg := c.connect(map[string]any{"token": "alice-token"}); msg == "" {
		t.Fatal("a third socket for one user was accepted")
	}
	newTestClient(t, st.url, clientOptions{mode: modeWebsocket}).mustConnect("boss-token")
}

func TestConnectTimeout(t *testing.T) {
	st := startStandalone(t, socketio.Options{Multiuser: true, ConnectTimeout: 100 * time.Millisecond})
	c := newTestClient(t, st.url, clientOptions{mode: modeWebsocket})
	if _, ended := c.waitEnded(5 * time.Second); !ended {
		t.Fatal("a session that never connected was kept")
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		bus := events.NewBus()
		srv, err := socketio.New(socketio.Options{Bus: bus, Multiuser: true, Auth: fakeAuth{"alice-token": alice},
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(srv)
		var clients []*testClient
		for i := range 30 {
			c := newTestClient(t, hs.URL+"/", clientOptions{mode: allModes[i%3]})
			c.mustConnect("alice-token")
			clients = append(clients, c)
		}
		bus.Publish(events.Event{Name: "invocation_started", UserID: "alice", Audience: events.OwnerAndAdmins, Payload: map[string]any{}})
		for _, c := range clients {
			if _, ok := c.nextEvent(5 * time.Second); !ok {
				t.Fatal("event not delivered")
			}
		}
		// Half the clients leave by themselves, the rest are cut off by the shutdown.
		for _, c := range clients[:15] {
			c.close()
		}
		srv.Close()
		hs.Close()
		for _, c := range clients[15:] {
			c.close()
		}
	}()
	waitFor(t, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= before+2 })
}

// TestWebsocketGoroutines measures what one idle websocket socket costs.
func TestWebsocketGoroutines(t *testing.T) {
	st := startStandalone(t, socketio.Options{Multiuser: true})
	warm := newTestClient(t, st.url, clientOptions{mode: modeWebsocket})
	warm.mustConnect("alice-token")
	before := runtime.NumGoroutine()
	const n = 20
	for range n {
		newTestClient(t, st.url, clientOptions{mode: modeWebsocket}).mustConnect("boss-token")
	}
	// Each test client holds one reader goroutine (plus its connection's); the server's share is the rest.
	perSocket := float64(runtime.NumGoroutine()-before) / n
	t.Logf("goroutines per websocket socket, client and server together: %.1f", perSocket)
	if perSocket > 4 { // 1 client reader + 2 on the server (reader, writer), with slack for timers firing
		t.Fatalf("%.1f goroutines per socket", perSocket)
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBinaryFrameRefused checks that what the server does not support ends the connection instead of
// being misread.
func TestBinaryFrameRefused(t *testing.T) {
	st := startStandalone(t, socketio.Options{Multiuser: true})
	c := newTestClient(t, st.url, clientOptions{mode: modeWebsocket})
	c.mustConnect("alice-token")
	c.mu.Lock()
	ws := c.ws
	c.mu.Unlock()
	if err := ws.Write(context.Background(), websocket.MessageBinary, []byte{1, 2, 3}); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if _, ended := c.waitEnded(5 * time.Second); !ended {
		t.Fatal("binary frame accepted")
	}
}

// testLogger shows the server's debug log in verbose runs.
func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// docs/compatibility.md §6: the socket server allows any origin (python-socketio's cors_allowed_origins="*"), so a page served
// from another origin can use the polling transport; preflights are answered.
func TestPollingCORS(t *testing.T) {
	// A listed origin is echoed with credentials; an unlisted one gets no CORS headers (TestSocketOriginsAndCORS).
	st := startStandalone(t, socketio.Options{Multiuser: true, AllowOrigins: []string{"http://ui.example"}})
	req, _ := http.NewRequest("OPTIONS", st.url+"/ws/socket.io/?EIO=4&transport=polling", nil)
	req.Header.Set("Origin", "http://ui.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	h := res.Header
	if res.StatusCode != 200 || h.Get("Access-Control-Allow-Origin") != "http://ui.example" || h.Get("Access-Control-Allow-Credentials") != "true" ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") || h.Get("Access-Control-Allow-Headers") != "authorization, content-type" {
		t.Fatalf("preflight: %d %v", res.StatusCode, h)
	}
	req, _ = http.NewRequest("GET", st.url+"/ws/socket.io/?EIO=4&transport=polling", nil)
	req.Header.Set("Origin", "http://ui.example")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if _, err := parseOpen(string(body)); err != nil || res.Header.Get("Access-Control-Allow-Origin") != "http://ui.example" {
		t.Fatalf("handshake: %v %v %s", err, res.Header, body)
	}
	// Without an Origin (scripts, same-origin GETs) nothing is added.
	res, err = http.Get(st.url + "/ws/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("no origin: %v", res.Header)
	}
}
