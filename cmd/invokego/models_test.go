package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/engine/goldens"
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
	code, out, _ = runCLI(t, "", "models", "starters", "--root", root)
	if code != 0 || !strings.Contains(out, "stabilityai/stable-diffusion-xl-base-1.0") {
		t.Fatalf("starters: %d %s", code, out)
	}
	if code, _, _ = runCLI(t, "", "models"); code != 2 {
		t.Fatalf("bare models: %d", code)
	}
}
