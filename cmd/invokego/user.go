package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/invokego/invokego/internal/app"
	"github.com/invokego/invokego/internal/auth"
	"github.com/invokego/invokego/internal/config"
	"github.com/invokego/invokego/internal/store"
)

const userUsage = `Usage:
  invokego user add  [--root DIR] --email E --password P [--name N] [--admin]
  invokego user list [--root DIR] [--json]
  invokego user mod  [--root DIR] --email E [--name N] [--password P] [--admin | --no-admin]
  invokego user del  [--root DIR] --email E [--force]
  invokego user token [--root DIR] --email E [--json]
`

// userFlags registers InvokeAI's long and short flag names.
type userFlags struct {
	fs                             *flag.FlagSet
	root, email, password, name    string
	admin, noAdmin, jsonOut, force bool
}

func newUserFlags(name string, stderr io.Writer) *userFlags {
	f := &userFlags{fs: flag.NewFlagSet("user "+name, flag.ContinueOnError)}
	f.fs.SetOutput(stderr)
	str := func(p *string, long, short, help string) {
		f.fs.StringVar(p, long, "", help)
		if short != "" {
			f.fs.StringVar(p, short, "", "shorthand for --"+long)
		}
	}
	str(&f.root, "root", "r", "root folder (default $INVOKEAI_ROOT or ./invokego-root)")
	str(&f.email, "email", "e", "email address")
	str(&f.password, "password", "p", "password")
	str(&f.name, "name", "n", "display name")
	f.fs.BoolVar(&f.admin, "admin", false, "make the user an administrator")
	f.fs.BoolVar(&f.admin, "a", false, "shorthand for --admin")
	f.fs.BoolVar(&f.noAdmin, "no-admin", false, "remove administrator rights")
	f.fs.BoolVar(&f.jsonOut, "json", false, "print JSON")
	f.fs.BoolVar(&f.force, "force", false, "do not ask for confirmation")
	f.fs.BoolVar(&f.force, "f", false, "shorthand for --force")
	return f
}

func (f *userFlags) set(name string) bool {
	found := false
	f.fs.Visit(func(fl *flag.Flag) {
		if fl.Name == name {
			found = true
		}
	})
	return found
}

func cmdUser(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, userUsage)
		return errUsage
	}
	sub := args[0]
	f := newUserFlags(sub, stderr)
	if err := f.fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	cfg, err := config.Load(config.ResolveRoot(f.root))
	if err != nil {
		return err
	}
	db, err := app.OpenDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	svc, err := app.NewAuthService(ctx, db, cfg, 0, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	in := bufio.NewReader(stdin)
	switch sub {
	case "add":
		return userAdd(ctx, svc, f, in, stdout)
	case "list":
		return userList(ctx, svc, f, stdout)
	case "mod":
		return userMod(ctx, svc, f, in, stdout)
	case "del":
		return userDel(ctx, svc, f, in, stdout)
	case "token":
		return userToken(ctx, svc, f, stdout)
	default:
		fmt.Fprintf(stderr, "unknown user command %q\n\n%s", sub, userUsage)
		return errUsage
	}
}

func prompt(in *bufio.Reader, out io.Writer, label string) (string, error) {
	fmt.Fprint(out, label)
	line, err := in.ReadString('\n')
	if err != nil && (line == "" || !errors.Is(err, io.EOF)) {
		return "", fmt.Errorf("read %s: %w", strings.TrimSuffix(label, ": "), err)
	}
	return strings.TrimSpace(line), nil
}

func userAdd(ctx context.Context, svc *auth.Service, f *userFlags, in *bufio.Reader, out io.Writer) error {
	if f.email == "" && f.password == "" {
		// Interactive mode, as InvokeAI's invoke-useradd without arguments.
		var err error
		if f.email, err = prompt(in, out, "Email: "); err != nil {
			return err
		}
		if f.name, err = prompt(in, out, "Display name (optional): "); err != nil {
			return err
		}
		if f.password, err = prompt(in, out, "Password: "); err != nil {
			return err
		}
		ans, err := prompt(in, out, "Administrator? [y/N]: ")
		if err != nil {
			return err
		}
		f.admin = strings.EqualFold(ans, "y") || strings.EqualFold(ans, "yes")
	}
	if f.email == "" || f.password == "" {
		return errors.New("both --email and --password are required")
	}
	u, err := svc.CreateUserStrict(ctx, f.email, f.name, f.password, f.admin)
	if err != nil {
		return describe(err)
	}
	fmt.Fprintln(out, "User created successfully.")
	printUser(out, u)
	return nil
}

func printUser(out io.Writer, u *auth.UserDTO) {
	name := ""
	if u.DisplayName != nil {
		name = *u.DisplayName
	}
	fmt.Fprintf(out, "  User ID: %s\n  Email:   %s\n  Name:    %s\n  Admin:   %t\n  Active:  %t\n", u.UserID, u.Email, name, u.IsAdmin, u.IsActive)
}

// describe turns service errors into plain messages for the terminal.
func describe(err error) error {
	if msg, ok := asAppErr(err); ok {
		return errors.New(msg)
	}
	return err
}

type cliUser struct {
	ID      string  `json:"id"`
	Email   string  `json:"email"`
	Name    *string `json:"name"`
	IsAdmin bool    `json:"is_admin"`
	Active  bool    `json:"is_active"`
}

func userList(ctx context.Context, svc *auth.Service, f *userFlags, out io.Writer) error {
	users, err := svc.AllUsers(ctx)
	if err != nil {
		return err
	}
	if f.jsonOut {
		list := make([]cliUser, 0, len(users))
		for _, u := range users {
			list = append(list, cliUser{ID: u.UserID, Email: u.Email, Name: u.DisplayName, IsAdmin: u.IsAdmin, Active: u.IsActive})
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "User ID\tEmail\tDisplay Name\tAdmin\tActive")
	for _, u := range users {
		name := ""
		if u.DisplayName != nil {
			name = *u.DisplayName
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%t\n", u.UserID, u.Email, name, u.IsAdmin, u.IsActive)
	}
	return tw.Flush()
}

func findUser(ctx context.Context, svc *auth.Service, email string) (*store.User, error) {
	if email == "" {
		return nil, errors.New("--email is required")
	}
	u, err := svc.UserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no user with email %s", email)
	}
	if errors.Is(err, auth.ErrInvalidEmail) {
		return nil, fmt.Errorf("invalid email address %q", email)
	}
	return u, err
}

func userMod(ctx context.Context, svc *auth.Service, f *userFlags, in *bufio.Reader, out io.Writer) error {
	if f.admin && f.noAdmin {
		return errors.New("--admin and --no-admin are mutually exclusive")
	}
	u, err := findUser(ctx, svc, f.email)
	if err != nil {
		return err
	}
	var ch auth.UserUpdate
	if f.set("name") || f.set("n") {
		ch.DisplayName = &f.name
	}
	if f.password != "" {
		ch.Password = &f.password
	}
	if f.admin {
		t := true
		ch.IsAdmin = &t
	}
	if f.noAdmin {
		no := false
		ch.IsAdmin = &no
	}
	if ch.DisplayName == nil && ch.Password == nil && ch.IsAdmin == nil {
		return errors.New("No changes specified") //lint:ignore ST1005 InvokeAI's exact message
	}
	dto, err := svc.UpdateUserStrict(ctx, u.UserID, ch)
	if err != nil {
		return describe(err)
	}
	fmt.Fprintln(out, "User updated successfully.")
	printUser(out, dto)
	return nil
}

func userDel(ctx context.Context, svc *auth.Service, f *userFlags, in *bufio.Reader, out io.Writer) error {
	u, err := findUser(ctx, svc, f.email)
	if err != nil {
		return err
	}
	if !f.force {
		ans, err := prompt(in, out, fmt.Sprintf("Delete user %s? Their content will be deleted too. [y/N]: ", u.Email))
		if err != nil {
			return err
		}
		if !strings.EqualFold(ans, "y") && !strings.EqualFold(ans, "yes") {
			fmt.Fprintln(out, "Cancelled.")
			return nil
		}
	}
	// The CLI has no acting admin to hand content to, so the user's content is deleted with them.
	res, err := svc.DeleteUser(ctx, cliActor(), u.UserID, true)
	if err != nil {
		return describe(err)
	}
	fmt.Fprintf(out, "User %s deleted (%d boards, %d images, %d workflows, %d queue items removed).\n",
		u.Email, res.Boards, res.Images, res.Workflows, res.QueueItems)
	return nil
}

// userToken prints a fresh token for an active account. The command line acts with the database's authority, so
// it needs no password: an admin locked out by the login throttle, or who lost a password, signs in with it
// (send it as "Authorization: Bearer <token>", or set a new password with user mod). It revokes nothing.
func userToken(ctx context.Context, svc *auth.Service, f *userFlags, out io.Writer) error {
	if f.email == "" {
		return errors.New("--email is required")
	}
	res, err := svc.IssueTokenFor(ctx, f.email, false)
	if err != nil {
		return describe(err)
	}
	if f.jsonOut {
		return json.NewEncoder(out).Encode(res)
	}
	fmt.Fprintln(out, res.Token)
	return nil
}
