package socketio_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// This file is a Socket.IO v5 / Engine.IO v4 test client speaking the real wire protocol over HTTP
// long-polling, websocket, or polling upgraded to websocket, as socket.io-client does.

type transportMode string

const (
	modePolling   transportMode = "polling"
	modeWebsocket transportMode = "websocket"
	// modeUpgrade starts on polling and upgrades to websocket, socket.io-client's default.
	modeUpgrade transportMode = "upgrade"
)

type clientOptions struct {
	mode transportMode
	// headerToken is sent as "Authorization: Bearer" on every HTTP request and the websocket handshake.
	headerToken string
}

// handshake is the Engine.IO open packet.
type handshake struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int      `json:"pingInterval"`
	PingTimeout  int      `json:"pingTimeout"`
	MaxPayload   int      `json:"maxPayload"`
}

type testClient struct {
	t        testing.TB
	endpoint string // http://host/ws/socket.io/
	header   http.Header
	http     *http.Client
	open     handshake

	ctx    context.Context
	cancel context.CancelFunc
	// packets receives every Engine.IO packet except pings and noops, in order.
	packets chan string
	// ended is closed when the transport ends (close packet, HTTP error, websocket closed).
	ended     chan struct{}
	endOnce   sync.Once
	wg        sync.WaitGroup
	ignorePng atomic.Bool // stop answering pings (to test the heartbeat timeout)

	mu          sync.Mutex
	ws          *websocket.Conn
	stopPolling chan struct{}
	ackID       int
}

func newTestClient(t testing.TB, baseURL string, opts clientOptions) *testClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &testClient{
		t: t, endpoint: strings.TrimSuffix(baseURL, "/") + "/ws/socket.io/", header: http.Header{},
		http: &http.Client{Timeout: 60 * time.Second}, ctx: ctx, cancel: cancel,
		packets: make(chan string, 4096), ended: make(chan struct{}), stopPolling: make(chan struct{}),
	}
	if opts.headerToken != "" {
		c.header.Set("Authorization", "Bearer "+opts.headerToken)
	}
	t.Cleanup(c.close)
	var err error
	switch opts.mode {
	case modeWebsocket:
		err = c.openWebsocket()
	case modePolling, modeUpgrade:
		err = c.openPolling()
		if err == nil && opts.mode == modeUpgrade {
			err = c.upgrade()
		}
	default:
		err = fmt.Errorf("unknown mode %q", opts.mode)
	}
	if err != nil {
		t.Fatalf("socket.io client (%s): %v", opts.mode, err)
	}
	return c
}

func (c *testClient) url(transport string, withSID bool) string {
	q := url.Values{"EIO": {"4"}, "transport": {transport}}
	if withSID {
		q.Set("sid", c.open.SID)
	}
	u := c.endpoint + "?" + q.Encode()
	if transport == "websocket" {
		u = "ws" + strings.TrimPrefix(u, "http")
	}
	return u
}

func parseOpen(p string) (handshake, error) {
	var h handshake
	if !strings.HasPrefix(p, "0") {
		return h, fmt.Errorf("expected an open packet, got %q", p)
	}
	if err := json.Unmarshal([]byte(p[1:]), &h); err != nil {
		return h, fmt.Errorf("decode open packet: %w", err)
	}
	return h, nil
}

func (c *testClient) openPolling() error {
	body, status, err := c.httpDo(http.MethodGet, c.url("polling", false), "")
	if err != nil {
		return err
	}
	if status != 200 {
		return fmt.Errorf("handshake status %d: %s", status, body)
	}
	packets := strings.Split(body, "\x1e")
	if c.open, err = parseOpen(packets[0]); err != nil {
		return err
	}
	c.wg.Add(1)
	go c.pollLoop()
	return nil
}

func (c *testClient) httpDo(method, u, body string) (string, int, error) {
	req, err := http.NewRequestWithContext(c.ctx, method, u, strings.NewReader(body))
	if err != nil {
		return "", 0, err
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	res, err := c.http.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return string(b), res.StatusCode, err
}

func (c *testClient) end() { c.endOnce.Do(func() { close(c.ended) }) }

// pollLoop long-polls until the transport ends or an upgrade stops it.
func (c *testClient) pollLoop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.stopPolling:
			return
		default:
		}
		body, status, err := c.httpDo(http.MethodGet, c.url("polling", true), "")
		if err != nil || status != 200 {
			c.end()
			return
		}
		for _, p := range strings.Split(body, "\x1e") {
			if !c.handleIncoming(p) {
				c.end()
				return
			}
		}
	}
}

// handleIncoming answers pings and queues everything else; false when the server closed the session.
func (c *testClient) handleIncoming(p string) bool {
	switch p {
	case "2":
		if !c.ignorePng.Load() {
			_ = c.sendEngine("3")
		}
		return true
	case "6":
		return true
	case "1":
		return false
	}
	c.packets <- p
	return true
}

func (c *testClient) openWebsocket() error {
	conn, _, err := websocket.Dial(c.ctx, c.url("websocket", false), &websocket.DialOptions{HTTPHeader: c.header})
	if err != nil {
		return fmt.Errorf("dial websocket: %w", err)
	}
	conn.SetReadLimit(64 << 20)
	_, data, err := conn.Read(c.ctx)
	if err != nil {
		return fmt.Errorf("read open packet: %w", err)
	}
	if c.open, err = parseOpen(string(data)); err != nil {
		return err
	}
	c.mu.Lock()
	c.ws = conn
	c.mu.Unlock()
	c.wg.Add(1)
	go c.wsLoop(conn)
	return nil
}

func (c *testClient) wsLoop(conn *websocket.Conn) {
	defer c.wg.Done()
	for {
		_, data, err := conn.Read(c.ctx)
		if err != nil || !c.handleIncoming(string(data)) {
			c.end()
			return
		}
	}
}

// upgrade probes a websocket, pauses polling, and switches, as socket.io-client does.
func (c *testClient) upgrade() error {
	conn, _, err := websocket.Dial(c.ctx, c.url("websocket", true), &websocket.DialOptions{HTTPHeader: c.header})
	if err != nil {
		return fmt.Errorf("dial upgrade websocket: %w", err)
	}
	conn.SetReadLimit(64 << 20)
	if err := conn.Write(c.ctx, websocket.MessageText, []byte("2probe")); err != nil {
		return err
	}
	_, data, err := conn.Read(c.ctx)
	if err != nil || string(data) != "3probe" {
		return fmt.Errorf("probe answer %q: %v", data, err)
	}
	close(c.stopPolling)
	c.wg.Wait() // the server releases the waiting poll with a noop
	c.mu.Lock()
	c.ws = conn
	c.mu.Unlock()
	if err := conn.Write(c.ctx, websocket.MessageText, []byte("5")); err != nil {
		return err
	}
	c.wg.Add(1)
	go c.wsLoop(conn)
	return nil
}

// sendEngine sends one Engine.IO packet on the current transport.
func (c *testClient) sendEngine(p string) error {
	c.mu.Lock()
	ws := c.ws
	c.mu.Unlock()
	if ws != nil {
		return ws.Write(c.ctx, websocket.MessageText, []byte(p))
	}
	body, status, err := c.httpDo(http.MethodPost, c.url("polling", true), p)
	if err != nil {
		return err
	}
	if status != 200 || body != "ok" {
		return fmt.Errorf("post status %d: %s", status, body)
	}
	return nil
}

// next returns the next packet, or "" after the timeout or when the transport ended with nothing queued.
func (c *testClient) next(timeout time.Duration) string {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case p := <-c.packets:
		return p
	case <-timer.C:
		return ""
	case <-c.ended:
		select {
		case p := <-c.packets:
			return p
		default:
			return ""
		}
	}
}

// connect sends CONNECT with an optional auth object and returns the socket id, or the connect_error message.
func (c *testClient) connect(auth map[string]any) (sid, errMessage string) {
	c.t.Helper()
	packet := "40"
	if auth != nil {
		b, _ := json.Marshal(auth)
		packet += string(b)
	}
	if err := c.sendEngine(packet); err != nil {
		c.t.Fatalf("send CONNECT: %v", err)
	}
	p := c.next(5 * time.Second)
	var body struct {
		SID     string `json:"sid"`
		Message string `json:"message"`
	}
	switch {
	case strings.HasPrefix(p, "40"):
		if err := json.Unmarshal([]byte(p[2:]), &body); err != nil || body.SID == "" {
			c.t.Fatalf("bad CONNECT answer %q", p)
		}
		return body.SID, ""
	case strings.HasPrefix(p, "44"):
		if err := json.Unmarshal([]byte(p[2:]), &body); err != nil || body.Message == "" {
			c.t.Fatalf("bad CONNECT_ERROR %q", p)
		}
		return "", body.Message
	default:
		c.t.Fatalf("no answer to CONNECT (got %q)", p)
		return "", ""
	}
}

// mustConnect connects with a token in the auth payload ("" sends no auth object) or fails the test.
func (c *testClient) mustConnect(token string) string {
	c.t.Helper()
	var auth map[string]any
	if token != "" {
		auth = map[string]any{"token": token}
	}
	sid, msg := c.connect(auth)
	if sid == "" {
		c.t.Fatalf("connect refused: %s", msg)
	}
	return sid
}

// emit sends an event and waits for the server's acknowledgement, so that it has been handled on return.
func (c *testClient) emit(name string, data any) {
	c.t.Helper()
	c.mu.Lock()
	c.ackID++
	id := c.ackID
	c.mu.Unlock()
	b, _ := json.Marshal([]any{name, data})
	if err := c.sendEngine("42" + strconv.Itoa(id) + string(b)); err != nil {
		c.t.Fatalf("emit %s: %v", name, err)
	}
	want := "43" + strconv.Itoa(id) + "[]"
	for {
		p := c.next(5 * time.Second)
		if p == want {
			return
		}
		if p == "" {
			c.t.Fatalf("emit %s: no acknowledgement", name)
		}
		c.packets <- p // not ours: keep it for later readers (order among events is preserved for them)
	}
}

// received is one event a client got.
type received struct {
	Name    string
	Payload map[string]any
}

// nextEvent returns the next EVENT, skipping nothing else silently: a non-event packet fails the test.
func (c *testClient) nextEvent(timeout time.Duration) (received, bool) {
	c.t.Helper()
	p := c.next(timeout)
	if p == "" {
		return received{}, false
	}
	if !strings.HasPrefix(p, "42") {
		c.t.Fatalf("expected an event, got %q", p)
	}
	var arr []json.RawMessage
	if err := json.Unmarshal([]byte(p[2:]), &arr); err != nil || len(arr) != 2 {
		c.t.Fatalf("bad event %q", p)
	}
	var ev received
	if err := json.Unmarshal(arr[0], &ev.Name); err != nil {
		c.t.Fatalf("bad event name in %q", p)
	}
	if err := json.Unmarshal(arr[1], &ev.Payload); err != nil {
		c.t.Fatalf("bad event payload in %q", p)
	}
	return ev, true
}

// eventsUntil collects events until one named sentinel arrives (excluded), failing after the timeout.
// sentinelID marks the sentinel event apart from real events of the same name.
const sentinelID = "sentinel-of-the-test"

func (c *testClient) eventsUntil(sentinel string, timeout time.Duration) []received {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var out []received
	for {
		ev, ok := c.nextEvent(time.Until(deadline))
		if !ok {
			c.t.Fatalf("sentinel %s not received; got %v", sentinel, out)
		}
		if ev.Name == sentinel && ev.Payload["workflow_id"] == sentinelID {
			return out
		}
		out = append(out, ev)
	}
}

// waitEnded waits for the server to end the connection, returning the packets received meanwhile.
func (c *testClient) waitEnded(timeout time.Duration) ([]string, bool) {
	deadline := time.After(timeout)
	var got []string
	for {
		select {
		case p := <-c.packets:
			got = append(got, p)
		case <-c.ended:
			for {
				select {
				case p := <-c.packets:
					got = append(got, p)
				default:
					return got, true
				}
			}
		case <-deadline:
			return got, false
		}
	}
}

// close ends the client and waits for its goroutines.
func (c *testClient) close() {
	c.mu.Lock()
	ws := c.ws
	c.mu.Unlock()
	if ws != nil {
		ws.CloseNow()
	}
	c.cancel()
	c.wg.Wait()
	c.http.CloseIdleConnections()
}
