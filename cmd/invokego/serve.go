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
	logger := newLogger(cfg, stderr)
	a, err := app.New(ctx, app.Options{Config: cfg, Logger: logger, Version: version})
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
	logger.Info("invokego is ready", "url", "http://"+ln.Addr().String(), "root", cfg.Root, "mode", mode, "version", version)
	return a.Serve(ctx, ln)
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToUpper(cfg.LogLevel))); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	if w == nil {
		w = os.Stderr
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
