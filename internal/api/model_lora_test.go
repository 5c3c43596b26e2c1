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
)

// LoRAs and textual-inversion embeddings install by path (file or folder), by URL and by Hugging Face id,
// with InvokeAI's type, format and base: every LoRA layout as a `lycoris` file, a diffusers LoRA folder as
// `diffusers`, embeddings as `embedding_file` / `embedding_folder`; bases from structure (SDXL's two text
// encoders), else SD-1 for these small files.
func TestInstallLoRAsAndEmbeddings(t *testing.T) {
	kohya := sdExt(t, "lora", "models", "sd15-locon-kohya.safetensors")
	data, err := os.ReadFile(sdExt(t, "lora", "models", "sd15-lora-peft.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	// A diffusers LoRA folder (pytorch_lora_weights.safetensors), served as a Hugging Face repository too.
	folder := filepath.Join(t.TempDir(), "peft-folder")
	if err := os.MkdirAll(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(folder, "pytorch_lora_weights.safetensors"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	hub := newFakeHub(t, "tester/lora", folder)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Disposition", `attachment; filename="style_url.safetensors"`)
		http.ServeContent(w, r, "x", time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(srv.Close)
	env := apitest.New(t, apitest.WithConfig(func(c *config.Config) { c.HFEndpoint = hub.URL }))
	ti := func(elem ...string) string { return sdExt(t, append([]string{"textual_inversion"}, elem...)...) }
	cases := []struct {
		source, typ, base, format, path string
	}{
		{kohya, "lora", "sd-1", "lycoris", "sd-1/lora/sd15-locon-kohya.safetensors"},
		{sdExt(t, "lora", "models", "sd15-lora-peft.safetensors"), "lora", "sd-1", "lycoris", "sd-1/lora/sd15-lora-peft.safetensors"},
		{sdExt(t, "lora", "models", "sd15-lora-diffusers-old.safetensors"), "lora", "sd-1", "lycoris", "sd-1/lora/sd15-lora-diffusers-old.safetensors"},
		{sdExt(t, "lora", "models", "sd15-loha.safetensors"), "lora", "sd-1", "lycoris", "sd-1/lora/sd15-loha.safetensors"},
		{sdExt(t, "lora", "models", "sd15-lokr.safetensors"), "lora", "sd-1", "lycoris", "sd-1/lora/sd15-lokr.safetensors"},
		{sdExt(t, "lora", "models", "sdxl-lora-kohya.safetensors"), "lora", "sdxl", "lycoris", "sdxl/lora/sdxl-lora-kohya.safetensors"},
		{folder, "lora", "sd-1", "diffusers", "sd-1/lora/peft-folder"},
		{srv.URL + "/download/3", "lora", "sd-1", "lycoris", "sd-1/lora/style_url.safetensors"},
		{"tester/lora", "lora", "sd-1", "diffusers", "sd-1/lora/lora"},
		{ti("models", "tiny-ti.safetensors"), "embedding", "sd-1", "embedding_file", "sd-1/embedding/tiny-ti.safetensors"},
		{ti("models", "tiny-ti-diffusers"), "embedding", "sd-1", "embedding_folder", "sd-1/embedding/tiny-ti-diffusers"},
		{ti("torch", "tiny-ti-a1111.pt"), "embedding", "sd-1", "embedding_file", "sd-1/embedding/tiny-ti-a1111.pt"},
		{ti("torch", "learned_embeds.bin"), "embedding", "sd-1", "embedding_file", "sd-1/embedding/learned_embeds.bin"},
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
		if _, ok := cfg["trigger_phrases"]; ok != (c.typ == "lora") {
			t.Errorf("%s: trigger_phrases present %v", c.source, ok)
		}
	}
	var list struct {
		Models []map[string]any `json:"models"`
	}
	env.Do("GET", "/api/v2/models/?model_type=lora").Expect(200).Decode(&list)
	if len(list.Models) != 9 {
		t.Errorf("%d LoRAs listed, want 9", len(list.Models))
	}
	env.Do("GET", "/api/v2/models/?model_type=embedding").Expect(200).Decode(&list)
	if len(list.Models) != 4 {
		t.Errorf("%d embeddings listed, want 4", len(list.Models))
	}
}
