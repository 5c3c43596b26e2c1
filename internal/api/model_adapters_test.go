package api_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/config"
	"github.com/invokego/invokego/internal/engine/goldens"
)

func sdExt(t testing.TB, elem ...string) string {
	t.Helper()
	p, err := goldens.Path(append([]string{"sd-ext"}, elem...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The control and image adapters install by path (folder or file), by URL and by Hugging Face id, with
// the type, format and base of InvokeAI's records, the ControlNet's yaml beside it, and an IP-Adapter
// folder's image encoder.
func TestInstallAdapters(t *testing.T) {
	cnDir := sdExt(t, "controlnet", "models", "sd15-controlnet")
	hub := newFakeHub(t, "tester/cn", cnDir)
	ipFile := sdExt(t, "ip_adapter", "models", "ip-adapter_sd15-tiny.safetensors")
	ipData, err := os.ReadFile(ipFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Disposition", `attachment; filename="ip-adapter_url.safetensors"`)
		http.ServeContent(w, r, "x", time.Time{}, bytes.NewReader(ipData))
	}))
	t.Cleanup(srv.Close)
	ipFolder := t.TempDir()
	if err := os.WriteFile(filepath.Join(ipFolder, "ip_adapter.safetensors"), ipData, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ipFolder, "image_encoder.txt"), []byte("ip_adapter_sd_image_encoder"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := apitest.New(t, apitest.WithConfig(func(c *config.Config) { c.HFEndpoint = hub.URL }))
	cases := []struct {
		source, typ, base, format, path string
		extra                           map[string]any
	}{
		{cnDir, "controlnet", "sd-1", "diffusers", "sd-1/controlnet/sd15-controlnet", map[string]any{"default_settings": nil, "repo_variant": ""}},
		{sdExt(t, "controlnet", "models", "sd15-controlnet-single.safetensors"), "controlnet", "sd-1", "checkpoint",
			"sd-1/controlnet/sd15-controlnet-single.safetensors", map[string]any{"config_path": "sd-1/controlnet/sd15-controlnet-single.yaml"}},
		{sdExt(t, "controlnet", "models", "sdxl-controlnet"), "controlnet", "sdxl", "diffusers", "sdxl/controlnet/sdxl-controlnet", nil},
		{sdExt(t, "t2i_adapter", "models", "t2i-full"), "t2i_adapter", "sd-1", "diffusers", "sd-1/t2i_adapter/t2i-full", nil},
		{sdExt(t, "t2i_adapter", "models", "t2i-full-xl"), "t2i_adapter", "sdxl", "diffusers", "sdxl/t2i_adapter/t2i-full-xl", nil},
		{ipFile, "ip_adapter", "sd-1", "checkpoint", "sd-1/ip_adapter/ip-adapter_sd15-tiny.safetensors", nil},
		{ipFolder, "ip_adapter", "sd-1", "invokeai", "sd-1/ip_adapter/" + filepath.Base(ipFolder), map[string]any{"image_encoder_model_id": "ip_adapter_sd_image_encoder"}},
		{sdExt(t, "ip_adapter", "models", "image_encoder"), "clip_vision", "any", "diffusers", "any/clip_vision/image_encoder", map[string]any{"cpu_only": nil}},
		{srv.URL + "/download/7", "ip_adapter", "sd-1", "checkpoint", "sd-1/ip_adapter/ip-adapter_url.safetensors", map[string]any{"source_type": "url"}},
		{"tester/cn", "controlnet", "sd-1", "diffusers", "sd-1/controlnet/cn", map[string]any{"source_type": "hf_repo_id"}},
	}
	for _, c := range cases {
		job := env.Do("POST", installPath(c.source), apitest.JSON(map[string]any{})).Expect(201).Map()
		job = waitJob(t, env, "", job["id"].(float64), "completed", "error")
		if job["status"] != "completed" {
			t.Errorf("%s: %v", c.source, job)
			continue
		}
		cfg := job["config_out"].(map[string]any)
		if cfg["type"] != c.typ || cfg["base"] != c.base || cfg["format"] != c.format || cfg["path"] != c.path {
			t.Errorf("%s: type %v base %v format %v path %v", c.source, cfg["type"], cfg["base"], cfg["format"], cfg["path"])
		}
		for k, v := range c.extra {
			if got, ok := cfg[k]; !ok || got != v {
				t.Errorf("%s: %s = %v, want %v", c.source, k, got, v)
			}
		}
	}
	// The model list filters by the new types.
	var list struct {
		Models []map[string]any `json:"models"`
	}
	env.Do("GET", "/api/v2/models/?model_type=ip_adapter").Expect(200).Decode(&list)
	if len(list.Models) != 3 {
		t.Errorf("%d IP-Adapters listed, want 3", len(list.Models))
	}
}
