package socketio_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/events"
)

// socketIOClientVersion is the npm client the end-to-end test drives (InvokeAI's frontend uses 4.x).
const socketIOClientVersion = "4.8.1"

// nodeClientScript connects like InvokeAI's frontend, subscribes, and prints one JSON line per happening.
// It ends when the sentinel event arrives, on connect_error, or after 30 s.
const nodeClientScript = `
const { io } = require('socket.io-client');
const env = process.env;
const print = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const opts = { path: '/ws/socket.io', reconnection: false, timeout: 10000 };
if (env.SIO_TRANSPORTS) opts.transports = env.SIO_TRANSPORTS.split(',');
if (env.SIO_TOKEN && env.SIO_AUTH !== 'header') opts.auth = { token: env.SIO_TOKEN };
if (env.SIO_TOKEN && env.SIO_AUTH !== 'payload') opts.extraHeaders = { Authorization: 'Bearer ' + env.SIO_TOKEN };
const socket = io(env.SIO_URL, opts);
const timer = setTimeout(() => { print({ type: 'timeout' }); process.exit(2); }, 30000);
const finish = (code) => { clearTimeout(timer); socket.close(); setTimeout(() => process.exit(code), 50); };
socket.on('connect_error', (err) => { print({ type: 'connect_error', message: err.message }); finish(0); });
socket.on('disconnect', (reason) => {
  print({ type: 'disconnect', reason });
  if (reason === 'io server disconnect') finish(0);
});
socket.onAny((name, payload) => {
  print({ type: 'event', name, payload });
  if (env.SIO_SENTINEL && name === env.SIO_SENTINEL) { print({ type: 'done', transport: socket.io.engine.transport.name }); finish(0); }
});
socket.on('connect', () => {
  socket.emit('subscribe_queue', { queue_id: 'default' });
  socket.emit('subscribe_bulk_download', { bulk_download_id: 'default' });
  const ready = () => socket.emit('client_ready', {}, () => print({ type: 'ready', transport: socket.io.engine.transport.name }));
  // With default transports, wait for the websocket upgrade so that both transports carry traffic.
  if (!env.SIO_TRANSPORTS && socket.io.engine.transport.name === 'polling') {
    socket.io.engine.once('upgrade', ready);
  } else {
    ready();
  }
});
`

// nodeClientModules installs socket.io-client once into a cache outside the repository and returns its
// node_modules folder. Without node and npm the test fails, unless INVOKEGO_SKIP_NODE=1.
func nodeClientModules(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("INVOKEGO_SKIP_NODE") == "1" {
				t.Skipf("%s not installed and INVOKEGO_SKIP_NODE=1", tool)
			}
			t.Fatalf("%s is needed for the end-to-end test with npm's socket.io-client (install Node.js, or set INVOKEGO_SKIP_NODE=1 to skip): %v", tool, err)
		}
	}
	cache := filepath.Join(os.TempDir(), "invokego-test-cache", "socket.io-client-"+socketIOClientVersion)
	modules := filepath.Join(cache, "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "socket.io-client", "package.json")); err == nil {
		return modules
	}
	// Install into a fresh folder and rename it into place, so that concurrent test runs never see half an install.
	if err := os.MkdirAll(filepath.Dir(cache), 0o755); err != nil {
		t.Fatal(err)
	}
	staging, err := os.MkdirTemp(filepath.Dir(cache), "install-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(staging)
	if err := os.WriteFile(filepath.Join(staging, "package.json"), []byte(`{"private":true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--loglevel=error", "socket.io-client@"+socketIOClientVersion)
	cmd.Dir = staging
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install socket.io-client@%s: %v\n%s", socketIOClientVersion, err, out)
	}
	if err := os.Rename(staging, cache); err != nil && !os.IsExist(err) {
		if _, statErr := os.Stat(filepath.Join(modules, "socket.io-client", "package.json")); statErr != nil {
			t.Fatalf("move the installed client into the cache: %v", err)
		}
	}
	return modules
}

// nodeLine is one line the script printed.
type nodeLine struct {
	Type      string         `json:"type"`
	Name      string         `json:"name"`
	Payload   map[string]any `json:"payload"`
	Message   string         `json:"message"`
	Transport string         `json:"transport"`
	Reason    string         `json:"reason"`
}

// nodeClient is one running script.
type nodeClient struct {
	label string
	cmd   *exec.Cmd
	ready chan nodeLine
	done  chan struct{}
	mu    sync.Mutex
	lines []nodeLine
	raw   strings.Builder
}

func startNodeClient(t *testing.T, modules, script, label, url, token, transports, authMode string, extraEnv ...string) *nodeClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, "node", script)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules, "SIO_URL="+url, "SIO_TOKEN="+token,
		"SIO_TRANSPORTS="+transports, "SIO_AUTH="+authMode, "SIO_SENTINEL="+sentinel)
	cmd.Env = append(cmd.Env, extraEnv...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	nc := &nodeClient{label: label, cmd: cmd, ready: make(chan nodeLine, 1), done: make(chan struct{})}
	cmd.Stderr = &lockedWriter{nc: nc}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node: %v", err)
	}
	go func() {
		defer close(nc.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var l nodeLine
			nc.mu.Lock()
			nc.raw.WriteString(sc.Text() + "\n")
			if json.Unmarshal(sc.Bytes(), &l) == nil {
				nc.lines = append(nc.lines, l)
			}
			nc.mu.Unlock()
			if l.Type == "ready" || l.Type == "connect_error" || l.Type == "timeout" {
				select {
				case nc.ready <- l:
				default:
				}
			}
		}
		_ = cmd.Wait()
	}()
	return nc
}

type lockedWriter struct{ nc *nodeClient }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.nc.mu.Lock()
	defer w.nc.mu.Unlock()
	w.nc.raw.WriteString("stderr: " + string(p))
	return len(p), nil
}

func (nc *nodeClient) output() string {
	nc.mu.Lock()
	defer nc.mu.Unlock()
	return nc.raw.String()
}

func (nc *nodeClient) waitReady(t *testing.T) nodeLine {
	t.Helper()
	select {
	case l := <-nc.ready:
		return l
	case <-nc.done:
		select {
		case l := <-nc.ready:
			return l
		default:
		}
		t.Fatalf("%s: node exited before it was ready:\n%s", nc.label, nc.output())
	case <-time.After(45 * time.Second):
		t.Fatalf("%s: node not ready:\n%s", nc.label, nc.output())
	}
	return nodeLine{}
}

func (nc *nodeClient) wait(t *testing.T) []nodeLine {
	t.Helper()
	select {
	case <-nc.done:
	case <-time.After(45 * time.Second):
		t.Fatalf("%s: node did not finish:\n%s", nc.label, nc.output())
	}
	nc.mu.Lock()
	defer nc.mu.Unlock()
	return append([]nodeLine(nil), nc.lines...)
}

// eventNames lists the events before the sentinel.
func eventNames(lines []nodeLine) []string {
	var out []string
	for _, l := range lines {
		if l.Type == "event" && l.Name != sentinel {
			out = append(out, l.Name)
		}
	}
	return out
}

func findLine(lines []nodeLine, typ string) *nodeLine {
	for i := range lines {
		if lines[i].Type == typ {
			return &lines[i]
		}
	}
	return nil
}

func findEvent(lines []nodeLine, name string) map[string]any {
	for _, l := range lines {
		if l.Type == "event" && l.Name == name {
			return l.Payload
		}
	}
	return nil
}

// TestNodeSocketIOClient drives npm's socket.io-client against the real server, as InvokeAI's frontend
// connects: default transports (polling, then the websocket upgrade), websocket only and polling only; token
// in the auth payload and the header, or the header alone; anonymous and forged tokens are refused.
func TestNodeSocketIOClient(t *testing.T) {
	modules := nodeClientModules(t)
	script := filepath.Join(t.TempDir(), "client.js")
	if err := os.WriteFile(script, []byte(nodeClientScript), 0o644); err != nil {
		t.Fatal(err)
	}
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()

	type variant struct {
		label, token, transports, auth, wantTransport string
		wantEvents                                    []string
	}
	ownerSees := []string{"invocation_started", "invocation_progress", "queue_item_status_changed"}
	adminSees := ownerSees
	otherSees := []string{"queue_item_status_changed"}
	variants := []variant{
		{"owner default transports", cast.Owner.Token, "", "both", "websocket", ownerSees},
		{"owner websocket only", cast.Owner.Token, "websocket", "payload", "websocket", ownerSees},
		{"owner polling only, header token", cast.Owner.Token, "polling", "header", "polling", ownerSees},
		{"admin default transports", cast.Admin.Token, "", "both", "websocket", adminSees},
		{"other user default transports", cast.Other.Token, "", "both", "websocket", otherSees},
		{"other user websocket only", cast.Other.Token, "websocket", "both", "websocket", otherSees},
	}
	clients := make([]*nodeClient, len(variants))
	for i, v := range variants {
		clients[i] = startNodeClient(t, modules, script, v.label, env.URL, v.token, v.transports, v.auth)
	}
	leaver := env.CreateUser(cast.Admin, "Leaver", false)
	revoked := startNodeClient(t, modules, script, "revoked on logout", env.URL, leaver.Token, "", "both", "SIO_SENTINEL=")
	refused := []*nodeClient{
		startNodeClient(t, modules, script, "anonymous", env.URL, "", "", "both"),
		startNodeClient(t, modules, script, "forged token, websocket", env.URL, "forged.token.value", "websocket", "both"),
	}
	for i, nc := range clients {
		l := nc.waitReady(t)
		if l.Type != "ready" || l.Transport != variants[i].wantTransport {
			t.Fatalf("%s: %+v, want ready on %s\n%s", nc.label, l, variants[i].wantTransport, nc.output())
		}
	}
	if l := revoked.waitReady(t); l.Type != "ready" {
		t.Fatalf("%s: %+v\n%s", revoked.label, l, revoked.output())
	}
	for _, nc := range refused {
		if l := nc.waitReady(t); l.Type != "connect_error" || l.Message == "" {
			t.Fatalf("%s: %+v, want connect_error\n%s", nc.label, l, nc.output())
		}
	}

	bus := env.App.Events
	owner := cast.Owner.ID
	bus.Publish(events.Event{Name: "invocation_started", UserID: owner, Audience: events.OwnerAndAdmins, QueueID: "default", Payload: secretPayload(owner)})
	bus.Publish(events.Event{Name: "invocation_progress", UserID: owner, Audience: events.OwnerAndAdmins, QueueID: "default", Payload: secretPayload(owner)})
	bus.Publish(events.Event{Name: "queue_item_status_changed", UserID: owner, Audience: events.Queue, QueueID: "default",
		Payload: secretPayload(owner), Sanitized: map[string]any{"queue_id": "default", "item_id": 7, "user_id": "redacted", "status": "in_progress"}})
	publishSentinel(bus)

	for i, nc := range clients {
		v := variants[i]
		lines := nc.wait(t)
		if got := strings.Join(eventNames(lines), ","); got != strings.Join(v.wantEvents, ",") {
			t.Errorf("%s: events %s, want %v\n%s", v.label, got, v.wantEvents, nc.output())
			continue
		}
		status := findEvent(lines, "queue_item_status_changed")
		switch v.token {
		case cast.Other.Token:
			if b, _ := json.Marshal(lines); strings.Contains(string(b), "secret") {
				t.Errorf("%s received the owner's data:\n%s", v.label, nc.output())
			}
			if status["user_id"] != "redacted" {
				t.Errorf("%s: status payload %v", v.label, status)
			}
		case cast.Admin.Token:
			if img, present := findEvent(lines, "invocation_progress")["image"]; !present || img != nil {
				t.Errorf("%s: admin progress image %v", v.label, img)
			}
		default:
			if findEvent(lines, "invocation_progress")["image"] == nil || status["batch_id"] != "batch-secret" {
				t.Errorf("%s: owner payloads incomplete:\n%s", v.label, nc.output())
			}
		}
		if done := findLine(lines, "done"); done == nil || done.Transport != v.wantTransport {
			t.Errorf("%s: ended with %+v", v.label, done)
		}
	}
	for _, nc := range refused {
		nc.wait(t)
		if names := eventNames(nc.lines); len(names) > 0 {
			t.Errorf("%s received events %v", nc.label, names)
		}
	}
	// Logout revokes the token: the real client sees a server-side disconnect (and does not reconnect).
	env.Do("POST", "/api/v1/auth/logout", apitest.Token(leaver.Token)).Expect(200)
	lines := revoked.wait(t)
	if d := findLine(lines, "disconnect"); d == nil || d.Reason != "io server disconnect" {
		t.Errorf("%s: %+v\n%s", revoked.label, d, revoked.output())
	}
}
