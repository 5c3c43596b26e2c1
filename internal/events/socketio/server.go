// Package socketio is invokego's Socket.IO server: Engine.IO v4 (HTTP long-polling, websocket and the upgrade
// between them) and Socket.IO v5 on the default namespace, written against the wire protocol so that npm's
// socket.io-client v4 (InvokeAI's frontend) connects to it at /ws/socket.io/. It authenticates sockets on
// connect (docs/compatibility.md §6, docs/security.md D3), keeps the rooms, and delivers bus events by docs/security.md D15 (routing.go).
//
// Everything is bounded: payload size, sessions, sockets per user, rooms per socket and each session's send
// buffer (a client that falls behind is dropped). A websocket session costs two goroutines (reader and
// writer); a polling session costs none between requests. Heartbeats run on timers.
package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/auth"
	"github.com/invokego/invokego/internal/events"
)

// Authenticator resolves a token to a principal from the database; *auth.Service implements it.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (access.Principal, *auth.Claims, error)
}

// Options configure the server. Zero values take the defaults noted.
type Options struct {
	// Bus is where events come from (required).
	Bus *events.Bus
	// Auth verifies tokens (required in multi-user mode).
	Auth Authenticator
	// Multiuser refuses anonymous sockets; single-user mode treats every socket as the system admin.
	Multiuser bool
	// AllowOrigins is allow_origins: the other sites whose pages may open sockets in single-user mode (where
	// sockets need no token) and read polling answers ("*": every site, without credentials).
	AllowOrigins []string
	Logger       *slog.Logger

	PingInterval time.Duration // default 25s (engine.io's)
	PingTimeout  time.Duration // default 20s
	// MaxPayload bounds one incoming message in bytes (default 1 MB, engine.io's maxHttpBufferSize).
	MaxPayload int64
	// MaxSessions bounds concurrent Engine.IO sessions (default 10 000).
	MaxSessions int
	// MaxPendingPerClient bounds the sessions one client address holds before they connect a socket
	// (default 16): handshakes that never authenticate cannot crowd everyone else out.
	MaxPendingPerClient int
	// MaxSocketsPerUser bounds one user's connected sockets (default 32).
	MaxSocketsPerUser int
	// MaxRoomsPerSocket bounds the queue and bulk-download rooms a socket may join (default 16).
	MaxRoomsPerSocket int
	// SendBufferPackets and SendBufferBytes bound a session's outgoing queue (defaults 1024 packets, 8 MiB).
	SendBufferPackets int
	SendBufferBytes   int
	// ConnectTimeout is how long a session may stay without a connected socket (default 20s).
	ConnectTimeout time.Duration
	// AuthTimeout bounds one token check (default 10s).
	AuthTimeout time.Duration
	// BusBuffer is the bus subscription's buffer (default 4096 events).
	BusBuffer int
}

func (o *Options) applyDefaults() {
	setDefault(&o.PingInterval, 25*time.Second)
	setDefault(&o.PingTimeout, 20*time.Second)
	setDefault(&o.MaxPayload, 1_000_000)
	setDefault(&o.MaxSessions, 10_000)
	setDefault(&o.MaxPendingPerClient, 16)
	setDefault(&o.MaxSocketsPerUser, 32)
	setDefault(&o.MaxRoomsPerSocket, 16)
	setDefault(&o.SendBufferPackets, 1024)
	setDefault(&o.SendBufferBytes, 8<<20)
	setDefault(&o.ConnectTimeout, 20*time.Second)
	setDefault(&o.AuthTimeout, 10*time.Second)
	setDefault(&o.BusBuffer, 4096)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Room names. Queue and bulk-download rooms are prefixed internally because InvokeAI's clients use the same id
// ("default") for both; rooms never appear on the wire.
const (
	adminRoom           = "admin"
	sharedWorkflowsRoom = "workflows:shared"
)

func userRoom(userID string) string     { return "user:" + userID }
func queueRoom(queueID string) string   { return "queue:" + queueID }
func bulkDownloadRoom(id string) string { return "bulk_download:" + id }

// maxRoomIDLength bounds the queue and bulk-download ids a client may subscribe to.
const maxRoomIDLength = 256

// Server is the Socket.IO endpoint. Create it with New, serve it as an http.Handler at /ws/socket.io/, and
// Close it at shutdown.
type Server struct {
	opts   Options
	logger *slog.Logger
	eng    *engine

	mu      sync.RWMutex
	sockets map[*socket]struct{}
	rooms   map[string]map[*socket]struct{}
	byUser  map[string]map[*socket]struct{}
	// revocationEpoch counts revocations; revokedAt records the epoch of each user's latest one, so that a
	// connect which authenticated just before a revocation cannot register just after it.
	revocationEpoch uint64
	revokedAt       map[string]uint64

	stopBus    func()
	routerDone chan struct{}
	closeOnce  sync.Once
}

// socket is one connected Socket.IO socket on the default namespace. Its rooms are guarded by Server.mu.
type socket struct {
	id        string
	sess      *session
	principal access.Principal
	rooms     map[string]struct{}
}

// sessionState is the Socket.IO layer's view of an Engine.IO session.
type sessionState struct {
	mu           sync.Mutex
	sock         *socket // nil until the namespace is connected
	connectTries int
	connectTimer *time.Timer
}

// maxConnectTries bounds CONNECT attempts on one session (clients retry after a refusal).
const maxConnectTries = 5

// New builds the server and starts delivering events from the bus.
func New(opts Options) (*Server, error) {
	opts.applyDefaults()
	if opts.Bus == nil {
		return nil, errors.New("socketio: an event bus is required")
	}
	if opts.Multiuser && opts.Auth == nil {
		return nil, errors.New("socketio: multi-user mode needs an authenticator")
	}
	s := &Server{
		opts: opts, logger: opts.Logger,
		sockets: map[*socket]struct{}{}, rooms: map[string]map[*socket]struct{}{},
		byUser: map[string]map[*socket]struct{}{}, revokedAt: map[string]uint64{},
		routerDone: make(chan struct{}),
	}
	s.eng = newEngine(engineConfig{
		pingInterval:        opts.PingInterval,
		pingTimeout:         opts.PingTimeout,
		maxPayload:          opts.MaxPayload,
		maxSessions:         opts.MaxSessions,
		maxPendingPerClient: opts.MaxPendingPerClient,
		allowOrigins:        opts.AllowOrigins,
		anonymous:           !opts.Multiuser,
		maxQueuedPackets:    opts.SendBufferPackets,
		maxQueuedBytes:      opts.SendBufferBytes,
		writeTimeout:        10 * time.Second,
		upgradeTimeout:      10 * time.Second,
		closeLinger:         opts.PingTimeout,
	}, s, opts.Logger)
	ch, unsubscribe := opts.Bus.Subscribe(opts.BusBuffer)
	s.stopBus = unsubscribe
	go s.route(ch)
	return s, nil
}

// ServeHTTP serves the Engine.IO endpoint (mount it at /ws/socket.io/).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.eng.ServeHTTP(w, r) }

// Close stops event delivery, disconnects every client and waits for the goroutines serving them.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.stopBus() // closes the channel, which ends route
		<-s.routerDone
		s.eng.close()
	})
}

// Stats is a snapshot for tests and metrics.
type Stats struct {
	Sessions int
	Sockets  int
}

// Stats reports live sessions and connected sockets.
func (s *Server) Stats() Stats {
	s.mu.RLock()
	n := len(s.sockets)
	s.mu.RUnlock()
	return Stats{Sessions: s.eng.sessionCount(), Sockets: n}
}

// DisconnectUser ends every socket of a user; auth.Service.OnRevoke calls it when the user's tokens are
// revoked (docs/security.md D3). It does not block on the network.
func (s *Server) DisconnectUser(userID string) {
	s.mu.Lock()
	s.revocationEpoch++
	s.revokedAt[userID] = s.revocationEpoch
	var victims []*socket
	for sock := range s.byUser[userID] {
		victims = append(victims, sock)
	}
	s.mu.Unlock()
	for _, sock := range victims {
		// DISCONNECT first, so that the client knows the server ended it and does not reconnect by itself.
		sock.sess.send(messagePacket(sioDisconnect, nil))
		sock.sess.close("credentials revoked")
	}
	if len(victims) > 0 {
		s.logger.Info("socket.io: disconnected a revoked user's sockets", "user_id", userID, "sockets", len(victims))
	}
}

// opened implements sessionHooks: a session has a limited time to connect the namespace.
func (s *Server) opened(sess *session) {
	st := &sessionState{}
	sess.attachment = st
	st.connectTimer = time.AfterFunc(s.opts.ConnectTimeout, func() {
		st.mu.Lock()
		connected := st.sock != nil
		st.mu.Unlock()
		if !connected {
			sess.close("connect timeout")
		}
	})
}

// closed implements sessionHooks.
func (s *Server) closed(sess *session, reason string) {
	st := sess.attachment.(*sessionState)
	st.mu.Lock()
	st.connectTimer.Stop()
	sock := st.sock
	st.sock = nil
	st.mu.Unlock()
	if sock != nil {
		s.unregister(sock)
		s.logger.Debug("socket.io: socket disconnected", "sid", sock.id, "user_id", sock.principal.UserID, "reason", reason)
	}
}

// message implements sessionHooks: one Socket.IO packet.
func (s *Server) message(sess *session, data string) {
	p, err := decodeSocketPacket(data)
	if err != nil {
		s.logger.Debug("socket.io: bad packet", "error", err)
		sess.close("parse error")
		return
	}
	st := sess.attachment.(*sessionState)
	if p.Namespace != "/" {
		if p.Type == sioConnect {
			sess.send(connectErrorPacket(p.Namespace, "Invalid namespace"))
		}
		return
	}
	switch p.Type {
	case sioConnect:
		s.connect(sess, st, p.Data)
	case sioDisconnect:
		st.mu.Lock()
		sock := st.sock
		st.sock = nil
		st.mu.Unlock()
		if sock != nil {
			s.unregister(sock)
		}
		// Without a socket the session has nothing to do; close it as socket.io does when no namespace is left.
		sess.close("client namespace disconnect")
	case sioEvent:
		st.mu.Lock()
		sock := st.sock
		st.mu.Unlock()
		if sock == nil {
			return // events before CONNECT are ignored, as socket.io does
		}
		s.handleEvent(sock, p)
	case sioAck, sioConnectError:
		// The server asks for no acknowledgements; clients do not send errors.
	}
}

// connect authenticates a CONNECT packet and registers the socket, or answers CONNECT_ERROR.
func (s *Server) connect(sess *session, st *sessionState, authData json.RawMessage) {
	st.mu.Lock()
	already := st.sock != nil
	st.connectTries++
	tries := st.connectTries
	st.mu.Unlock()
	if already {
		return
	}
	if tries > maxConnectTries {
		sess.close("too many connect attempts")
		return
	}
	p, gen, err := s.authenticate(sess, authData)
	if err != nil {
		s.logger.Debug("socket.io: connect refused", "error", err)
		// python-socketio's wording when the connect handler refuses.
		sess.send(connectErrorPacket("/", "Connection rejected by server"))
		return
	}
	sock := &socket{id: newSessionID(), sess: sess, principal: p, rooms: map[string]struct{}{}}
	if msg := s.register(sock, gen); msg != "" {
		sess.send(connectErrorPacket("/", msg))
		return
	}
	st.mu.Lock()
	st.sock = sock
	st.mu.Unlock()
	s.eng.authenticated(sess)
	if sess.isClosed() {
		// The session ended while connecting; closed() may have run before st.sock was set.
		s.unregister(sock)
		return
	}
	s.logger.Debug("socket.io: socket connected", "sid", sock.id, "user_id", p.UserID, "admin", p.IsAdmin)
}

// authenticate resolves the socket's principal (docs/compatibility.md §6): the token from the CONNECT payload, else the
// Authorization header of the request that opened the session. Multi-user mode refuses anonymous, invalid,
// deleted and inactive callers, with role and status read from the database. It also returns the revocation
// epoch as seen before the check, for register.
func (s *Server) authenticate(sess *session, authData json.RawMessage) (access.Principal, uint64, error) {
	// The revocation epoch is read before the database check, so that a revocation landing during the check
	// is noticed by register.
	s.mu.RLock()
	epoch := s.revocationEpoch
	s.mu.RUnlock()
	if !s.opts.Multiuser {
		// Single-user mode: every socket is the system admin, as every REST call is (docs/security.md D16).
		return access.System(), epoch, nil
	}
	var payload struct {
		Token any `json:"token"`
	}
	if len(authData) > 0 {
		if err := json.Unmarshal(authData, &payload); err != nil {
			return access.Anonymous(), 0, errors.New("connect payload is not an object")
		}
	}
	token, _ := payload.Token.(string)
	if token == "" {
		token = sess.bearer
	}
	if token == "" {
		return access.Anonymous(), 0, errors.New("no token")
	}
	ctx, cancel := context.WithTimeout(s.eng.baseCtx, s.opts.AuthTimeout)
	defer cancel()
	p, _, err := s.opts.Auth.Authenticate(ctx, token)
	if err != nil {
		return access.Anonymous(), 0, err
	}
	if !p.Authenticated || p.UserID == "" {
		return access.Anonymous(), 0, errors.New("token names no user")
	}
	return p, epoch, nil
}

// register adds a connected socket and joins the rooms every socket has (HEAD): its user's room, the shared
// workflows room, and the admin room for admins. It returns a refusal message, or "".
func (s *Server) register(sock *socket, epoch uint64) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	uid := sock.principal.UserID
	if s.revokedAt[uid] > epoch {
		return "Connection rejected by server"
	}
	if len(s.byUser[uid]) >= s.opts.MaxSocketsPerUser {
		return "Too many connections for this user"
	}
	// The CONNECT answer is queued under the lock, so that it precedes every event the socket can receive
	// (deliveries pick their recipients under the read lock).
	ack, _ := json.Marshal(map[string]string{"sid": sock.id})
	if !sock.sess.enqueue(messagePacket(sioConnect, ack)) {
		return "Connection closed"
	}
	s.sockets[sock] = struct{}{}
	if s.byUser[uid] == nil {
		s.byUser[uid] = map[*socket]struct{}{}
	}
	s.byUser[uid][sock] = struct{}{}
	s.joinLocked(sock, userRoom(uid))
	s.joinLocked(sock, sharedWorkflowsRoom)
	if sock.principal.IsAdmin {
		s.joinLocked(sock, adminRoom)
	}
	return ""
}

// unregister removes a socket from every room; it is idempotent.
func (s *Server) unregister(sock *socket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sockets[sock]; !ok {
		return
	}
	delete(s.sockets, sock)
	for room := range sock.rooms {
		s.leaveLocked(sock, room)
	}
	uid := sock.principal.UserID
	delete(s.byUser[uid], sock)
	if len(s.byUser[uid]) == 0 {
		delete(s.byUser, uid)
	}
}

func (s *Server) joinLocked(sock *socket, room string) {
	members := s.rooms[room]
	if members == nil {
		members = map[*socket]struct{}{}
		s.rooms[room] = members
	}
	members[sock] = struct{}{}
	sock.rooms[room] = struct{}{}
}

func (s *Server) leaveLocked(sock *socket, room string) {
	delete(sock.rooms, room)
	if members := s.rooms[room]; members != nil {
		delete(members, sock)
		if len(members) == 0 {
			delete(s.rooms, room)
		}
	}
}

// subscribe joins a queue or bulk-download room, within the per-socket bound.
func (s *Server) subscribe(sock *socket, room string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sockets[sock]; !ok {
		return
	}
	if _, ok := sock.rooms[room]; ok {
		return
	}
	// Each socket always has its user room and the shared room (and admin); the rest are subscriptions.
	fixed := 2
	if sock.principal.IsAdmin {
		fixed = 3
	}
	if len(sock.rooms)-fixed >= s.opts.MaxRoomsPerSocket {
		s.logger.Debug("socket.io: room limit reached", "sid", sock.id, "room", room)
		return
	}
	s.joinLocked(sock, room)
}

func (s *Server) unsubscribe(sock *socket, room string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sockets[sock]; ok {
		s.leaveLocked(sock, room)
	}
}

// handleEvent acts on the client's messages (docs/compatibility.md §6): queue and bulk-download subscriptions.
func (s *Server) handleEvent(sock *socket, p sioPacket) {
	var args []json.RawMessage
	if err := json.Unmarshal(p.Data, &args); err != nil || len(args) == 0 {
		s.logger.Debug("socket.io: malformed event", "sid", sock.id)
		return
	}
	var name string
	if err := json.Unmarshal(args[0], &name); err != nil {
		return
	}
	var body struct {
		QueueID        string `json:"queue_id"`
		BulkDownloadID string `json:"bulk_download_id"`
	}
	if len(args) > 1 {
		_ = json.Unmarshal(args[1], &body) // a malformed body leaves the ids empty, which is refused below
	}
	validID := func(id string) bool { return id != "" && len(id) <= maxRoomIDLength }
	switch name {
	case "subscribe_queue":
		if validID(body.QueueID) {
			s.subscribe(sock, queueRoom(body.QueueID))
		}
	case "unsubscribe_queue":
		s.unsubscribe(sock, queueRoom(body.QueueID))
	case "subscribe_bulk_download":
		if validID(body.BulkDownloadID) {
			s.subscribe(sock, bulkDownloadRoom(body.BulkDownloadID))
		}
	case "unsubscribe_bulk_download":
		s.unsubscribe(sock, bulkDownloadRoom(body.BulkDownloadID))
	default:
		s.logger.Debug("socket.io: ignored client event", "sid", sock.id, "event", name)
	}
	if p.AckID >= 0 {
		sock.sess.send(messagePacket(sioAck, append([]byte(strconv.FormatInt(p.AckID, 10)), "[]"...)))
	}
}
