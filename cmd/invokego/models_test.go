package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/app"
	"github.com/invokego/invokego/internal/config"
	"github.com/invokego/invokego/internal/engine/goldens"
	"github.com/invokego/invokego/internal/models/install"
)

func fixtureModels(t *testing.T) string {
	t.Helper()
	p, err := goldens.Path("sd-tiny", "models")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestModelsCommands(t *testing.T) {
	fx := fixtureModels(t)
	root := t.TempDir()
	data, _ := os.ReadFile(filepath.Join(fx, "sd15-tiny-single.safetensors"))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "tiny.safetensors", time.Time{}, bytes.NewReader(data))
	}))
	defer srv.Close()
	code, out, errOut := runCLI(t, "", "models", "install", "--root", root, filepath.Join(fx, "sd15-tiny-pipe"))
	if code != 0 || !strings.Contains(out, "installed sd15-tiny-pipe (sd-1 main, diffusers)") {
		t.Fatalf("install folder: %d %q %q", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "", "models", "install", srv.URL+"/files/tiny.safetensors", "--root", root, "--name", "downloaded")
	if code != 0 || !strings.Contains(out, "installed downloaded (sd-1 main, checkpoint)") || !strings.Contains(errOut, "100%") {
		t.Fatalf("install url: %d %q %q", code, out, errOut)
	}
	code, out, _ = runCLI(t, "", "models", "list", "--root", root, "--json")
	var list []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 2 {
		t.Fatalf("list: %d %s", code, out)
	}
	code, out, _ = runCLI(t, "", "models", "remove", "--root", root, "downloaded")
	if code != 0 || !strings.HasPrefix(out, "removed ") {
		t.Fatalf("remove: %d %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(root, "models", "sd-1", "main", "tiny.safetensors")); !os.IsNotExist(err) {
		t.Fatalf("files left: %v", err)
	}
	code, _, errOut = runCLI(t, "", "models", "install", "--root", root, filepath.Join(root, "invokeai.yaml"))
	if code != 1 || !strings.Contains(errOut, "Invalid model") {
		t.Fatalf("bad file: %d %q", code, errOut)
	}
	code, _, errOut = runCLI(t, "", "models", "install", "--root", root, "--base", "sd-9", filepath.Join(fx, "sd15-tiny-pipe"))
	if code != 1 || !strings.Contains(errOut, "base: Input should be ") || !strings.Contains(errOut, "sd-9") {
		t.Fatalf("bad base: %d %q", code, errOut)
	}
	code, out, _ = runCLI(t, "", "models", "starters", "--root", root)
	if code != 0 || !strings.Contains(out, "stabilityai/stable-diffusion-xl-base-1.0") {
		t.Fatalf("starters: %d %s", code, out)
	}
	if code, _, _ = runCLI(t, "", "models"); code != 2 {
		t.Fatalf("bare models: %d", code)
	}
}

// A models command runs only the job it was asked for. A job the server persisted, which the running server
// may be downloading right now, is neither resumed nor touched: only serve resumes persisted jobs.
func TestModelsCommandsLeaveServerJobsAlone(t *testing.T) {
	fx := fixtureModels(t)
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select { // a slow transfer, like the one the server would be doing
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer srv.Close()
	cases := []struct {
		name string
		args []string
	}{
		{"install", []string{"models", "install", filepath.Join(fx, "sd15-tiny-pipe")}},
		{"list", []string{"models", "list"}},
		{"starters", []string{"models", "starters"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hits.Store(0)
			root := t.TempDir()
			cfg, err := config.Load(root)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			db, err := app.OpenDB(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			persisted, _ := json.Marshal(&install.Job{Status: install.StatusDownloading, Parts: []*install.Part{},
				Source: install.Source{Type: install.SourceURL, URL: srv.URL + "/server-download.safetensors"}})
			id, err := db.InsertInstallJob(ctx, persisted, install.StatusDownloading)
			db.Close()
			if err != nil {
				t.Fatal(err)
			}
			if code, out, errOut := runCLI(t, "", append(c.args, "--root", root)...); code != 0 {
				t.Fatalf("%v: %d %q %q", c.args, code, out, errOut)
			}
			if n := hits.Load(); n != 0 {
				t.Fatalf("the command downloaded the server's job (%d requests)", n)
			}
			db, err = app.OpenDB(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			rows, err := db.ListInstallJobs(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				if r.ID == id && (r.Status != install.StatusDownloading || !bytes.Equal(r.Job, persisted)) {
					t.Fatalf("the server's job was changed: %s %s", r.Status, r.Job)
				}
			}
		})
	}
}
