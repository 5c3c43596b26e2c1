package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/invokego/invokego/internal/app"
	"github.com/invokego/invokego/internal/config"
	"github.com/invokego/invokego/internal/version"
)

func cmdServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", "", "root folder (default $INVOKEAI_ROOT or ./invokego-root)")
	fs.StringVar(root, "r", "", "shorthand for --root")
	host := fs.String("host", "", "listen address (config: host, default 127.0.0.1)")
	port := fs.Int("port", 0, "listen port (config: port, default 9090)")
	multiuser := fs.Bool("multiuser", false, "enable accounts and per-user data (config: multiuser)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	cfg, err := config.Load(config.ResolveRoot(*root))
	if err != nil {
		return err
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "host":
			cfg.Override("host", func(c *config.Config) { c.Host = *host })
		case "port":
			cfg.Override("port", func(c *config.Config) { c.Port = *port })
		case "multiuser":
			cfg.Override("multiuser", func(c *config.Config) { c.Multiuser = *multiuser })
		}
	})
	if err := cfg.Validate(); err != nil {
		return err
	}
	logger, level := newLogger(cfg, stderr)
	a, err := app.New(ctx, app.Options{Config: cfg, Logger: logger, LogLevel: level})
	if err != nil {
		return err
	}
	defer a.Close()
	ln, err := net.Listen("tcp", cfg.Addr())
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr(), err)
	}
	mode := "single-user"
	if cfg.Multiuser {
		mode = "multi-user"
	}
	logger.Info("invokego is ready", "url", "http://"+ln.Addr().String(), "root", cfg.Root, "mode", mode, "version", version.Full())
	return a.Serve(ctx, ln)
}

// newLogger builds the server's logger; the level can be changed at run time through /api/v1/app/logging.
func newLogger(cfg config.Config, w io.Writer) (*slog.Logger, *slog.LevelVar) {
	level := new(slog.LevelVar)
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(cfg.LogLevel))); err == nil {
		level.Set(l)
	}
	opts := &slog.HandlerOptions{Level: level}
	if w == nil {
		w = os.Stderr
	}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), level
	}
	return slog.New(slog.NewTextHandler(w, opts)), level
}
