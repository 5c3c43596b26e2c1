package socketio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/invokego/invokego/internal/auth"
)

// This file is the Engine.IO v4 layer: sessions, the HTTP long-polling and websocket transports, the upgrade
// from one to the other, and the server-driven heartbeat. It knows nothing about Socket.IO; it hands message
// packets to sessionHooks.

// engineConfig bounds the Engine.IO layer.
type engineConfig struct {
	pingInterval time.Duration
	pingTimeout  time.Duration
	// maxPayload bounds one incoming HTTP body or websocket frame; it is announced in the handshake.
	maxPayload int64
	// maxSessions bounds concurrent Engine.IO sessions (authenticated or not).
	maxSessions int
	// maxPendingPerClient bounds the sessions one client address holds that have not connected a socket
	// (authenticated) yet: one client cannot fill the server with handshakes.
	maxPendingPerClient int
	// allowOrigins is the configuration's allow_origins; anonymous refuses other sites (single-user mode,
	// where a socket needs no token, so a page on another site could otherwise read every event).
	allowOrigins []string
	anonymous    bool
	// maxQueuedPackets and maxQueuedBytes bound a session's send buffer: a client that falls this far
	// behind is dropped instead of holding memory.
	maxQueuedPackets int
	maxQueuedBytes   int
	// writeTimeout bounds one websocket frame write.
	writeTimeout time.Duration
	// upgradeTimeout bounds the probe phase of a polling-to-websocket upgrade.
	upgradeTimeout time.Duration
	// closeLinger is how long a closed polling session waits for the poll that carries its last packets.
	closeLinger time.Duration
}

// sessionHooks is how the Socket.IO layer hears about Engine.IO sessions. Implementations must not hold
// their own locks while calling back into a session's send or close.
type sessionHooks interface {
	// opened runs once for a new session, before any of its packets are handled.
	opened(s *session)
	// message runs for each message packet's data, one at a time per session.
	message(s *session, data string)
	// closed runs once when the session ends.
	closed(s *session, reason string)
}

type transportKind int

const (
	pollingTransport transportKind = iota
	websocketTransport
)

// probeFlushDelay is how soon a poll ends after a successful upgrade probe (engine.io re-sends a noop at
// this cadence until the client completes the upgrade).
const probeFlushDelay = 100 * time.Millisecond

// engine serves Engine.IO sessions.
type engine struct {
	cfg    engineConfig
	hooks  sessionHooks
	logger *slog.Logger
	// baseCtx ends at shutdown; websocket reads and writes derive from it.
	baseCtx context.Context
	cancel  context.CancelFunc

	mu       sync.Mutex
	sessions map[string]*session
	// pending counts, per client address, the sessions that have not connected a socket yet.
	pending  map[string]int
	shutdown bool
	// workers counts every goroutine that serves a session (poll requests, websocket readers and writers),
	// so that close can wait for all of them.
	workers sync.WaitGroup
}

func newEngine(cfg engineConfig, hooks sessionHooks, logger *slog.Logger) *engine {
	ctx, cancel := context.WithCancel(context.Background())
	return &engine{cfg: cfg, hooks: hooks, logger: logger, baseCtx: ctx, cancel: cancel, sessions: map[string]*session{},
		pending: map[string]int{}}
}

// session is one Engine.IO connection, whichever transport currently carries it.
type session struct {
	id  string
	eng *engine
	// bearer is the Authorization header token of the request that opened the session.
	bearer string
	// client is the address that opened the session; pending says it still counts against that client's
	// unauthenticated sessions (engine.pending). Both are guarded by the engine's mu.
	client  string
	pending bool
	// inbound serialises incoming packets so that messages are handled in the order they were sent.
	inbound sync.Mutex
	// wake (capacity 1) tells the current writer that packets were queued or the transport changed.
	wake chan struct{}
	// done is closed when the session closes.
	done chan struct{}
	// attachment is the Socket.IO layer's state; set by hooks.opened before the session is reachable.
	attachment any

	mu           sync.Mutex
	queue        [][]byte
	queuedBytes  int
	transport    transportKind
	upgrading    bool
	polling      bool // a long-poll GET is waiting
	probed       bool // a websocket probe succeeded and the upgrade is pending
	flushPoll    bool // end the waiting long-poll now (it was waiting when the probe succeeded)
	closed       bool
	awaitingPong bool
	pingTimer    *time.Timer
	lingerTimer  *time.Timer
}

func newSessionID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// engineError answers a request the way engine.io does: 400 with {"code","message"}.
func engineError(w http.ResponseWriter, status, code int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": code, "message": message})
}

// ServeHTTP dispatches one Engine.IO request by transport and session id.
func (e *engine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !e.originAllowed(r) {
		engineError(w, http.StatusForbidden, 4, "Cross-site connections are refused: list the origin in allow_origins")
		return
	}
	if e.allowCrossOrigin(w, r) {
		return
	}
	q := r.URL.Query()
	if q.Get("EIO") != "4" {
		engineError(w, http.StatusBadRequest, 5, "Unsupported protocol version")
		return
	}
	sid := q.Get("sid")
	switch q.Get("transport") {
	case "polling":
		if sid == "" {
			if r.Method != http.MethodGet {
				engineError(w, http.StatusBadRequest, 2, "Bad handshake method")
				return
			}
			e.pollingHandshake(w, r)
			return
		}
		s := e.lookup(sid)
		if s == nil {
			engineError(w, http.StatusBadRequest, 1, "Session ID unknown")
			return
		}
		switch r.Method {
		case http.MethodGet:
			e.poll(w, r, s)
		case http.MethodPost:
			e.receivePost(w, r, s)
		default:
			engineError(w, http.StatusBadRequest, 3, "Bad request")
		}
	case "websocket":
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			engineError(w, http.StatusBadRequest, 3, "Bad request")
			return
		}
		if sid == "" {
			e.websocketHandshake(w, r)
			return
		}
		s := e.lookup(sid)
		if s == nil {
			engineError(w, http.StatusBadRequest, 1, "Session ID unknown")
			return
		}
		e.upgrade(w, r, s)
	default:
		engineError(w, http.StatusBadRequest, 0, "Transport unknown")
	}
}

func (e *engine) lookup(sid string) *session {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sessions[sid]
}

// beginWork counts a goroutine that serves sessions; false once the engine is shutting down.
func (e *engine) beginWork() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.shutdown {
		return false
	}
	e.workers.Add(1)
	return true
}

// errTooManyPending refuses a handshake from a client that holds too many unauthenticated sessions.
var errTooManyPending = errors.New("too many unauthenticated sessions from this client")

// newSession registers a session and tells the Socket.IO layer; nil and an error when the engine is full, the
// client holds too many sessions that have not authenticated, or the engine is shutting down.
func (e *engine) newSession(r *http.Request, transport transportKind) (*session, error) {
	s := &session{
		id: newSessionID(), eng: e, bearer: auth.BearerToken(r), transport: transport, client: clientAddress(r),
		wake: make(chan struct{}, 1), done: make(chan struct{}),
	}
	e.hooks.opened(s)
	e.mu.Lock()
	if e.shutdown || len(e.sessions) >= e.cfg.maxSessions {
		e.mu.Unlock()
		e.hooks.closed(s, "server full")
		return nil, errServerFull
	}
	if e.cfg.maxPendingPerClient > 0 && e.pending[s.client] >= e.cfg.maxPendingPerClient {
		e.mu.Unlock()
		e.hooks.closed(s, "too many pending sessions")
		return nil, errTooManyPending
	}
	e.pending[s.client]++
	s.pending = true
	e.sessions[s.id] = s
	e.mu.Unlock()
	s.schedulePing()
	return s, nil
}

var errServerFull = errors.New("server full")

// authenticated stops counting s against its client's unauthenticated sessions: it connected a socket.
func (e *engine) authenticated(s *session) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.unpendLocked(s)
}

func (e *engine) unpendLocked(s *session) {
	if s.pending {
		s.pending = false
		if e.pending[s.client]--; e.pending[s.client] <= 0 {
			delete(e.pending, s.client)
		}
	}
}

func (e *engine) remove(s *session) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.unpendLocked(s)
	if e.sessions[s.id] == s {
		delete(e.sessions, s.id)
	}
}

// clientAddress is the network address a request came from, without its port.
func clientAddress(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// openPacket is the handshake: `0{"sid",...}`.
func (e *engine) openPacket(s *session, upgrades []string) []byte {
	data, _ := json.Marshal(map[string]any{
		"sid":          s.id,
		"upgrades":     upgrades,
		"pingInterval": e.cfg.pingInterval.Milliseconds(),
		"pingTimeout":  e.cfg.pingTimeout.Milliseconds(),
		"maxPayload":   e.cfg.maxPayload,
	})
	return append([]byte{eioOpen}, data...)
}

func writePollBody(w http.ResponseWriter, packets [][]byte) {
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	var body []byte
	for i, p := range packets {
		if i > 0 {
			body = append(body, recordSeparator)
		}
		body = append(body, p...)
	}
	_, _ = w.Write(body)
}

func (e *engine) pollingHandshake(w http.ResponseWriter, r *http.Request) {
	s, err := e.newSession(r, pollingTransport)
	if errors.Is(err, errTooManyPending) {
		engineError(w, http.StatusTooManyRequests, 3, "Too many sessions from this client")
		return
	}
	if s == nil {
		engineError(w, http.StatusServiceUnavailable, 3, "Server is full")
		return
	}
	writePollBody(w, [][]byte{e.openPacket(s, []string{"websocket"})})
}

// poll answers a long-poll GET with whatever is queued, waiting until something is.
func (e *engine) poll(w http.ResponseWriter, r *http.Request, s *session) {
	if !e.beginWork() {
		engineError(w, http.StatusServiceUnavailable, 3, "Server is shutting down")
		return
	}
	defer e.workers.Done()
	s.mu.Lock()
	if s.transport != pollingTransport {
		s.mu.Unlock()
		engineError(w, http.StatusBadRequest, 3, "Bad request")
		return
	}
	if s.polling {
		// engine.io treats overlapping polls as a broken client.
		s.mu.Unlock()
		engineError(w, http.StatusBadRequest, 3, "Overlapping polls")
		s.close("overlapping polls")
		return
	}
	s.polling = true
	s.mu.Unlock()
	released := false // polling is cleared under the lock before the response goes out, so the next poll never overlaps
	defer func() {
		if !released {
			s.mu.Lock()
			s.polling = false
			s.mu.Unlock()
		}
	}()
	var probeWait <-chan time.Time
	probeExpired := false
	for {
		s.mu.Lock()
		var packets [][]byte
		respond, closed := false, s.closed
		switch {
		case s.transport != pollingTransport:
			// Upgraded while waiting: release the poll without taking the websocket's packets.
			packets, respond = [][]byte{{eioNoop}}, true
		case len(s.queue) > 0 || closed:
			packets, respond = s.takeLocked(), true
		case s.flushPoll:
			packets, respond = [][]byte{{eioNoop}}, true
		case s.probed && probeWait == nil:
			// An upgrade probe succeeded: the client is pausing polling and waits for this poll to end. A poll it
			// sent just before it saw the probe answer must end too, so polls end soon until the upgrade.
			probeWait = time.After(probeFlushDelay)
		case s.probed && probeExpired:
			packets, respond = [][]byte{{eioNoop}}, true
		}
		if respond {
			s.polling, s.flushPoll, released = false, false, true
		}
		s.mu.Unlock()
		if respond {
			if closed {
				packets = append(packets, []byte{eioClose})
				e.remove(s)
			}
			writePollBody(w, packets)
			return
		}
		select {
		case <-s.wake:
		case <-probeWait:
			probeExpired = true
		case <-s.done:
		case <-r.Context().Done():
			return
		}
	}
}

// receivePost handles packets a polling client sends.
func (e *engine) receivePost(w http.ResponseWriter, r *http.Request, s *session) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, e.cfg.maxPayload))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			engineError(w, http.StatusRequestEntityTooLarge, 3, "Payload too large")
			s.close("payload too large")
			return
		}
		engineError(w, http.StatusBadRequest, 3, "Bad request")
		return
	}
	s.mu.Lock()
	isPolling, closed := s.transport == pollingTransport, s.closed
	s.mu.Unlock()
	if !isPolling || closed {
		engineError(w, http.StatusBadRequest, 3, "Bad request")
		return
	}
	s.inbound.Lock()
	for _, p := range splitPayload(string(body)) {
		e.handlePacket(s, p)
	}
	s.inbound.Unlock()
	w.Header().Set("Content-Type", "text/html")
	_, _ = io.WriteString(w, "ok")
}

// handlePacket acts on one incoming Engine.IO packet; the caller holds s.inbound.
func (e *engine) handlePacket(s *session, p string) {
	if s.isClosed() {
		return
	}
	if p == "" {
		s.close("parse error")
		return
	}
	switch p[0] {
	case eioPong:
		s.pong()
	case eioMessage:
		e.hooks.message(s, p[1:])
	case eioClose:
		s.close("client close")
	case eioNoop, eioPing:
		// Pings only travel client to server as upgrade probes, handled by upgrade.
	default:
		s.close("parse error")
	}
}

// allowCrossOrigin answers CORS like python-socketio's cors_allowed_origins="*" (docs/compatibility.md §6): the Origin is echoed,
// with credentials allowed, and a preflight gets 200 with the methods the transports use. It is safe for the same
// reason as InsecureSkipVerify below: sockets never authenticate with cookies. Headers the server's own CORS
// settings already set are kept. It returns true when the request (a preflight) is fully answered.
// sameOrigin reports whether the request's Origin (if any) is the server itself.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// originAllowed: a socket needs a token in multi-user mode, so any site may open one (as python-socketio
// allows); in single-user mode nothing authenticates a socket, so only the server's own pages and the
// origins of allow_origins may.
func (e *engine) originAllowed(r *http.Request) bool {
	if !e.cfg.anonymous || sameOrigin(r) {
		return true
	}
	origin := r.Header.Get("Origin")
	return origin != "null" && (slices.Contains(e.cfg.allowOrigins, origin) || slices.Contains(e.cfg.allowOrigins, "*"))
}

// allowCrossOrigin sets the CORS headers of a polling request and answers preflights. An origin listed in
// allow_origins is echoed with credentials; "*" lets other sites read without credentials; any other site gets
// no CORS headers (its page cannot read the answers), and "null" never does.
func (e *engine) allowCrossOrigin(w http.ResponseWriter, r *http.Request) bool {
	h := w.Header()
	if origin := r.Header.Get("Origin"); origin != "" && origin != "null" && !sameOrigin(r) && h.Get("Access-Control-Allow-Origin") == "" {
		switch {
		case slices.Contains(e.cfg.allowOrigins, origin):
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Add("Vary", "Origin")
		case slices.Contains(e.cfg.allowOrigins, "*"):
			h.Set("Access-Control-Allow-Origin", "*")
		}
	}
	if r.Method != http.MethodOptions {
		return false
	}
	h.Set("Access-Control-Allow-Methods", "OPTIONS, GET, POST")
	if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
		h.Set("Access-Control-Allow-Headers", req)
	}
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("OK"))
	return true
}

var acceptOptions = &websocket.AcceptOptions{
	// Sockets authenticate with a token in the CONNECT packet or the Authorization header, never with
	// cookies, so a cross-site page gains nothing by opening one in multi-user mode; single-user mode, where a
	// socket needs no token, refuses other sites before the upgrade (originAllowed).
	InsecureSkipVerify: true,
	CompressionMode:    websocket.CompressionDisabled,
}

// acceptWebsocket completes the websocket handshake with the incoming size bound set; nil when it failed (the
// library has answered the request).
func (e *engine) acceptWebsocket(w http.ResponseWriter, r *http.Request) *websocket.Conn {
	conn, err := websocket.Accept(w, r, acceptOptions)
	if err != nil {
		e.logger.Debug("socket.io: websocket accept failed", "error", err)
		return nil
	}
	conn.SetReadLimit(e.cfg.maxPayload)
	return conn
}

func (e *engine) websocketHandshake(w http.ResponseWriter, r *http.Request) {
	if !e.beginWork() {
		engineError(w, http.StatusServiceUnavailable, 3, "Server is shutting down")
		return
	}
	defer e.workers.Done()
	conn := e.acceptWebsocket(w, r)
	if conn == nil {
		return
	}
	s, err := e.newSession(r, websocketTransport)
	if s == nil {
		_ = conn.Close(websocket.StatusTryAgainLater, err.Error())
		return
	}
	s.mu.Lock()
	// The open packet goes first, ahead of anything queued since.
	s.queue = append([][]byte{e.openPacket(s, []string{})}, s.queue...)
	s.mu.Unlock()
	e.serveWebsocket(s, conn)
}

// upgrade moves a polling session onto a websocket: probe ("2probe" → "3probe"), then "5".
func (e *engine) upgrade(w http.ResponseWriter, r *http.Request, s *session) {
	s.mu.Lock()
	if s.transport != pollingTransport || s.upgrading || s.closed {
		s.mu.Unlock()
		engineError(w, http.StatusBadRequest, 3, "Bad request")
		return
	}
	s.upgrading = true
	s.mu.Unlock()
	upgraded := false
	defer func() {
		if !upgraded {
			s.mu.Lock()
			s.upgrading, s.probed, s.flushPoll = false, false, false
			s.mu.Unlock()
		}
	}()
	if !e.beginWork() {
		engineError(w, http.StatusServiceUnavailable, 3, "Server is shutting down")
		return
	}
	defer e.workers.Done()
	conn := e.acceptWebsocket(w, r)
	if conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(e.baseCtx, e.cfg.upgradeTimeout)
	defer cancel()
	for !upgraded {
		typ, data, err := conn.Read(ctx)
		if err != nil || typ != websocket.MessageText {
			conn.CloseNow()
			return
		}
		switch string(data) {
		case "2probe":
			if err := conn.Write(ctx, websocket.MessageText, []byte("3probe")); err != nil {
				conn.CloseNow()
				return
			}
			// The client pauses polling before it sends "5"; release its waiting poll.
			s.mu.Lock()
			s.probed, s.flushPoll = true, s.polling
			s.mu.Unlock()
			s.signal()
		case string(eioUpgrade):
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				conn.CloseNow()
				return
			}
			s.transport, s.upgrading, s.probed, s.flushPoll = websocketTransport, false, false, false
			s.mu.Unlock()
			upgraded = true
		default:
			conn.CloseNow()
			return
		}
	}
	s.signal()
	e.serveWebsocket(s, conn)
}

// serveWebsocket runs a session's websocket: a writer goroutine, and the reader in the calling goroutine.
func (e *engine) serveWebsocket(s *session, conn *websocket.Conn) {
	if !e.beginWork() {
		conn.CloseNow()
		s.close("server shutdown")
		return
	}
	go s.writeLoop(conn)
	for {
		typ, data, err := conn.Read(e.baseCtx)
		if err != nil {
			s.close("transport close")
			return
		}
		if typ != websocket.MessageText {
			s.close("binary frames are not supported")
			return
		}
		s.inbound.Lock()
		e.handlePacket(s, string(data))
		s.inbound.Unlock()
	}
}

// writeLoop sends queued packets as websocket frames until the session closes, then flushes what was queued
// before the close (a Socket.IO DISCONNECT, say) and ends the connection.
func (s *session) writeLoop(conn *websocket.Conn) {
	defer s.eng.workers.Done()
	write := func(packets [][]byte) error {
		for _, p := range packets {
			ctx, cancel := context.WithTimeout(s.eng.baseCtx, s.eng.cfg.writeTimeout)
			err := conn.Write(ctx, websocket.MessageText, p)
			cancel()
			if err != nil {
				return err
			}
		}
		return nil
	}
	for {
		if err := write(s.take()); err != nil {
			s.close("write error")
			conn.CloseNow()
			return
		}
		select {
		case <-s.wake:
			continue
		case <-s.done:
		}
		if write(s.take()) != nil || s.eng.baseCtx.Err() != nil {
			conn.CloseNow()
			return
		}
		_ = conn.Close(websocket.StatusNormalClosure, "")
		return
	}
}

// signal wakes the session's writer without blocking.
func (s *session) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// send queues one Engine.IO packet. A session whose buffer is full is closed: a browser that cannot keep up
// must not hold memory or delay anyone else. The packet must not be modified afterwards. Callers must not
// hold Socket.IO-layer locks (closing runs hooks.closed).
func (s *session) send(p []byte) bool {
	if s.enqueue(p) {
		return true
	}
	if !s.isClosed() {
		s.close("slow client: send buffer full")
	}
	return false
}

// enqueue queues a packet if the session is open and its buffer has room; it never closes the session, so
// it is safe under any lock.
func (s *session) enqueue(p []byte) bool {
	s.mu.Lock()
	if s.closed || len(s.queue) >= s.eng.cfg.maxQueuedPackets || s.queuedBytes+len(p) > s.eng.cfg.maxQueuedBytes {
		s.mu.Unlock()
		return false
	}
	s.queue = append(s.queue, p)
	s.queuedBytes += len(p)
	s.mu.Unlock()
	s.signal()
	return true
}

func (s *session) take() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.takeLocked()
}

func (s *session) takeLocked() [][]byte {
	q := s.queue
	s.queue, s.queuedBytes = nil, 0
	return q
}

func (s *session) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// close ends the session once. Packets queued before still go out: a websocket's writer flushes them, and a
// polling session lingers briefly so that its next poll can carry them with the close packet.
func (s *session) close(reason string) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.awaitingPong = false
	if s.pingTimer != nil {
		s.pingTimer.Stop()
	}
	lingers := s.transport == pollingTransport && !s.polling
	if lingers {
		s.lingerTimer = time.AfterFunc(s.eng.cfg.closeLinger, func() { s.eng.remove(s) })
	}
	s.mu.Unlock()
	close(s.done)
	if !lingers {
		s.eng.remove(s)
	}
	s.eng.hooks.closed(s, reason)
}

// schedulePing arms the next server ping.
func (s *session) schedulePing() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.pingTimer = time.AfterFunc(s.eng.cfg.pingInterval, s.ping)
	}
}

// ping sends "2" and gives the client pingTimeout to answer.
func (s *session) ping() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.awaitingPong = true
	s.pingTimer = time.AfterFunc(s.eng.cfg.pingTimeout, s.pongMissed)
	s.mu.Unlock()
	s.send([]byte{eioPing})
}

func (s *session) pongMissed() {
	s.mu.Lock()
	missed := s.awaitingPong && !s.closed
	s.mu.Unlock()
	if missed {
		s.close("ping timeout")
	}
}

func (s *session) pong() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.awaitingPong || s.closed {
		return
	}
	s.awaitingPong = false
	s.pingTimer.Stop()
	s.pingTimer = time.AfterFunc(s.eng.cfg.pingInterval, s.ping)
}

// sessionCount reports the live sessions (for tests and metrics).
func (e *engine) sessionCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.sessions)
}

// close ends every session and waits for the goroutines that serve them.
func (e *engine) close() {
	e.mu.Lock()
	e.shutdown = true
	all := make([]*session, 0, len(e.sessions))
	for _, s := range e.sessions {
		all = append(all, s)
	}
	e.mu.Unlock()
	for _, s := range all {
		s.close("server shutdown")
		s.mu.Lock()
		if s.lingerTimer != nil {
			s.lingerTimer.Stop()
		}
		s.mu.Unlock()
	}
	e.cancel()
	e.workers.Wait()
	e.mu.Lock()
	clear(e.sessions)
	e.mu.Unlock()
}
