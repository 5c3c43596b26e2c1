package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/config"
)

func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestUserCommands(t *testing.T) {
	root := t.TempDir()
	if code, _, stderr := runCLI(t, "", "user", "add", "--root", root, "--email", "weak@example.com", "--password", "short"); code == 0 {
		t.Fatalf("weak password accepted: %s", stderr)
	}
	// Strict rules apply in the CLI even though the config does not ask for them.
	if code, _, stderr := runCLI(t, "", "user", "add", "-r", root, "-e", "weak@example.com", "-p", "alllowercase1"); code == 0 || !strings.Contains(stderr, "uppercase") {
		t.Fatalf("password without upper case accepted (%d): %s", code, stderr)
	}
	code, out, stderr := runCLI(t, "", "user", "add", "--root", root, "--email", "Boss@Example.com", "--password", "Sup3rSecret", "--name", "Boss", "--admin")
	if code != 0 || !strings.Contains(out, "Admin:   true") {
		t.Fatalf("add admin: %d %s %s", code, out, stderr)
	}
	if code, _, _ := runCLI(t, "", "user", "add", "--root", root, "-e", "bob@example.com", "-p", "Sup3rSecret", "-n", "Bob"); code != 0 {
		t.Fatal("add bob")
	}
	if code, _, stderr := runCLI(t, "", "user", "add", "--root", root, "-e", "bob@example.com", "-p", "Sup3rSecret"); code == 0 || !strings.Contains(stderr, "already exists") {
		t.Fatalf("duplicate accepted: %s", stderr)
	}

	code, out, _ = runCLI(t, "", "user", "list", "--root", root, "--json")
	var users []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &users) != nil || len(users) != 3 {
		t.Fatalf("list --json (%d): %s", code, out)
	}
	emails := map[string]bool{}
	for _, u := range users {
		emails[u["email"].(string)] = true
	}
	if !emails["Boss@example.com"] || !emails["bob@example.com"] || !emails["system@system.invokeai"] {
		t.Fatalf("emails %v", emails)
	}
	if code, out, _ := runCLI(t, "", "user", "list", "--root", root); code != 0 || !strings.Contains(out, "Display Name") {
		t.Fatalf("list table: %s", out)
	}

	if code, _, stderr := runCLI(t, "", "user", "mod", "--root", root, "-e", "bob@example.com"); code != 1 || !strings.Contains(stderr, "No changes specified") {
		t.Fatalf("mod without changes: %d %s", code, stderr)
	}
	if code, _, _ := runCLI(t, "", "user", "mod", "--root", root, "-e", "bob@example.com", "--admin", "--no-admin"); code == 0 {
		t.Fatal("--admin with --no-admin accepted")
	}
	if code, out, _ := runCLI(t, "", "user", "mod", "--root", root, "-e", "bob@example.com", "--name", "Robert", "--admin"); code != 0 || !strings.Contains(out, "Robert") {
		t.Fatalf("mod: %s", out)
	}
	if code, _, _ := runCLI(t, "", "user", "mod", "--root", root, "-e", "bob@example.com", "--password", "weak"); code == 0 {
		t.Fatal("weak password accepted by mod")
	}
	if code, _, _ := runCLI(t, "", "user", "mod", "--root", root, "-e", "bob@example.com", "--no-admin"); code != 0 {
		t.Fatal("demote bob")
	}
	// The last admin cannot be demoted or deleted.
	if code, _, stderr := runCLI(t, "", "user", "mod", "--root", root, "-e", "Boss@example.com", "--no-admin"); code == 0 || !strings.Contains(stderr, "last administrator") {
		t.Fatalf("last admin demoted: %s", stderr)
	}
	if code, _, _ := runCLI(t, "", "user", "del", "--root", root, "-e", "Boss@example.com", "--force"); code == 0 {
		t.Fatal("last admin deleted")
	}
	// Deleting asks for confirmation without --force.
	if code, out, _ := runCLI(t, "no\n", "user", "del", "--root", root, "-e", "bob@example.com"); code != 0 || !strings.Contains(out, "Cancelled") {
		t.Fatalf("del without confirmation: %s", out)
	}

	// The server on the same root: setup is done and the CLI's admin logs in.
	cfg := config.Default()
	cfg.Root, cfg.Multiuser = root, true
	env := apitest.Start(t, cfg)
	if st := env.Do("GET", "/api/v1/auth/status").Expect(200).Map(); st["setup_required"] != false {
		t.Fatalf("status %v", st)
	}
	tok := env.Login("Boss@example.com", "Sup3rSecret")
	env.Do("GET", "/api/v1/auth/users", apitest.Token(tok)).Expect(200)
	env.Close()

	if code, out, _ := runCLI(t, "", "user", "del", "--root", root, "-e", "bob@example.com", "-f"); code != 0 || !strings.Contains(out, "deleted") {
		t.Fatalf("del: %s", out)
	}
}

func TestUnknownCommands(t *testing.T) {
	if code, _, _ := runCLI(t, "", "frobnicate"); code != 2 {
		t.Fatalf("unknown command exit %d", code)
	}
	if code, out, _ := runCLI(t, "", "version"); code != 0 || !strings.HasPrefix(out, "invokego ") {
		t.Fatalf("version: %s", out)
	}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds cmd/invokego once per test process.
func binary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "invokego-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "invokego")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binPath
}

func freePort(tb testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startServer runs the real binary and waits for its first answer; it returns the process and the time taken.
func startServer(tb testing.TB, root string, extra ...string) (*exec.Cmd, string, time.Duration) {
	tb.Helper()
	port := freePort(tb)
	args := append([]string{"serve", "--root", root, "--port", strconv.Itoa(port)}, extra...)
	cmd := exec.Command(binary(tb), args...)
	cmd.Env = append(os.Environ(), "INVOKEAI_ROOT=")
	start := time.Now()
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	client := &http.Client{Timeout: time.Second}
	for time.Since(start) < 20*time.Second {
		res, err := client.Get(url + "/api/v1/auth/status")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return cmd, url, time.Since(start)
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	tb.Fatal("server did not answer within 20 s")
	return nil, "", 0
}

func TestServeGracefulShutdown(t *testing.T) {
	root := t.TempDir()
	cmd, url, _ := startServer(t, root, "--multiuser")
	res, err := http.Get(url + "/api/v1/auth/status")
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	_ = json.NewDecoder(res.Body).Decode(&st)
	res.Body.Close()
	if st["multiuser_enabled"] != true {
		t.Fatalf("--multiuser not applied: %v", st)
	}
	if _, err := os.Stat(filepath.Join(root, "databases", "invokeai.db")); err != nil {
		t.Fatalf("database not created: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "invokeai.yaml")); err != nil {
		t.Fatalf("invokeai.yaml not created: %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("no exit within 15 s of SIGTERM")
	}
}

func TestConfigFileAndNewerDatabase(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "invokeai.yaml"), []byte("multiuser: true\nstrict_password_checking: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd, url, _ := startServer(t, root)
	res, err := http.Get(url + "/api/v1/auth/status")
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	_ = json.NewDecoder(res.Body).Decode(&st)
	res.Body.Close()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	if st["multiuser_enabled"] != true || st["strict_password_checking"] != true {
		t.Fatalf("config file not applied: %v", st)
	}

	// A database from a newer invokego is refused with a clear message.
	db := filepath.Join(root, "databases", "invokeai.db")
	if out, err := exec.Command("go", "run", "./testdata/bumpversion.go", db).CombinedOutput(); err != nil {
		t.Fatalf("bump version: %v %s", err, out)
	}
	out, err := exec.Command(binary(t), "serve", "--root", root, "--port", strconv.Itoa(freePort(t))).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "newer than this binary") {
		t.Fatalf("newer database accepted: %v %s", err, out)
	}
}
