package app

import (
	"context"
	"fmt"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/api"
	"github.com/invokego/invokego/internal/events/socketio"
)

// SocketIOPath is where InvokeAI's frontend connects (docs/compatibility.md §6).
const SocketIOPath = "/ws/socket.io/"

// wireEvents starts the Socket.IO server that delivers bus events to browsers.
func (a *App) wireEvents(ctx context.Context) error {
	srv, err := socketio.New(socketio.Options{
		Bus:          a.Events,
		Auth:         a.Auth,
		Multiuser:    a.cfg.Multiuser,
		AllowOrigins: a.cfg.AllowOrigins,
		Logger:       a.logger,
	})
	if err != nil {
		return fmt.Errorf("start socket.io server: %w", err)
	}
	// Revoked tokens end open sockets too (docs/security.md D3).
	a.Auth.OnRevoke(srv.DisconnectUser)
	a.Router.Mount(api.Mount{
		Prefix:  SocketIOPath,
		Policy:  access.Public,
		Handler: srv,
		Reason: "Engine.IO handshakes are anonymous by protocol; the Socket.IO CONNECT packet carries the token " +
			"and is refused (connect_error) in multi-user mode without a valid one, so no event reaches an anonymous client",
	})
	a.onShutdown(srv.Close) // open long polls would otherwise hold a graceful shutdown until its deadline
	a.onClose(srv.Close)
	return nil
}
