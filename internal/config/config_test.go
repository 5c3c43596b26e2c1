package config

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestLoadFileOverDefaults(t *testing.T) {
	root := t.TempDir()
	yaml := "schema_version: 4.0.2\nhost: 0.0.0.0\nport: 9999\nmultiuser: true\nsession_queue_mode: fifo\nremote_api_tokens:\n  - url_regex: civitai\n    token: s3cret\nsomething_unknown: 1\n"
	if err := os.WriteFile(filepath.Join(root, FileName), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "0.0.0.0" || cfg.Port != 9999 || !cfg.Multiuser || cfg.SessionQueueMode != "fifo" || cfg.MaxQueueItemsPerUser != 1000 {
		t.Fatalf("cfg %+v", cfg)
	}
	if !slices.Contains(cfg.SetFields(), "port") || slices.Contains(cfg.SetFields(), "something_unknown") {
		t.Fatalf("set fields %v", cfg.SetFields())
	}
	if m := cfg.AsMap(); m["remote_api_tokens"].([]any)[0].(map[string]any)["token"] != "REDACTED" {
		t.Fatalf("secret not redacted: %v", m["remote_api_tokens"])
	}
	if cfg.DBPath() != filepath.Join(root, "databases", "invokeai.db") {
		t.Fatalf("db path %s", cfg.DBPath())
	}
}

func TestInvalidValuesRefused(t *testing.T) {
	for _, yaml := range []string{"port: 70000\n", "session_queue_mode: lifo\n", "noise_dtype: float8\n", "precision: fp8\n", "port: [1]\n"} {
		root := t.TempDir()
		if err := os.WriteFile(filepath.Join(root, FileName), []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(root); err == nil {
			t.Errorf("%q accepted", yaml)
		}
	}
}

func TestResolveRoot(t *testing.T) {
	t.Setenv("INVOKEAI_ROOT", "/tmp/from-env")
	if got := ResolveRoot(""); got != "/tmp/from-env" {
		t.Fatalf("env root %s", got)
	}
	if got := ResolveRoot("/tmp/flag"); got != "/tmp/flag" {
		t.Fatalf("flag root %s", got)
	}
	t.Setenv("INVOKEAI_ROOT", "")
	if got := ResolveRoot(""); filepath.Base(got) != DefaultRoot {
		t.Fatalf("default root %s", got)
	}
}

func TestEnsureRootWritesConfig(t *testing.T) {
	cfg := Default()
	cfg.Root = filepath.Join(t.TempDir(), "new-root")
	if err := cfg.EnsureRoot(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{FileName, "databases", "outputs", "models", "prompts"} {
		if _, err := os.Stat(filepath.Join(cfg.Root, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if _, err := Load(cfg.Root); err != nil {
		t.Fatalf("the written file does not load: %v", err)
	}
}

func TestHFEndpointFromFileThenEnvThenDefault(t *testing.T) {
	cases := []struct {
		name, yaml, env, want string
	}{
		{name: "default", want: "https://huggingface.co"},
		{name: "env", env: "http://mirror.local", want: "http://mirror.local"},
		{name: "file wins over env", yaml: "hf_endpoint: http://from-file\n", env: "http://mirror.local", want: "http://from-file"},
		{name: "file without env", yaml: "hf_endpoint: http://from-file\n", want: "http://from-file"},
		{name: "other keys leave env in charge", yaml: "port: 9999\n", env: "http://mirror.local", want: "http://mirror.local"},
		{name: "empty file value falls back to env", yaml: "hf_endpoint: ''\n", env: "http://mirror.local", want: "http://mirror.local"},
		{name: "empty everywhere is the default", yaml: "hf_endpoint: ''\n", want: "https://huggingface.co"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("HF_ENDPOINT", c.env)
			root := t.TempDir()
			if c.yaml != "" {
				if err := os.WriteFile(filepath.Join(root, FileName), []byte(c.yaml), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := Load(root)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.HFEndpoint != c.want {
				t.Fatalf("hf_endpoint %q, want %q", cfg.HFEndpoint, c.want)
			}
		})
	}
	// A flag applied after Load wins over the environment too.
	t.Setenv("HF_ENDPOINT", "http://mirror.local")
	cfg, err := Load(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Override("hf_endpoint", func(c *Config) { c.HFEndpoint = "http://from-flag" })
	if cfg.HFEndpoint != "http://from-flag" {
		t.Fatalf("flag: %q", cfg.HFEndpoint)
	}
}

// TestPrecisionValues: InvokeAI's precision names and the short ones load.
func TestPrecisionValues(t *testing.T) {
	for _, p := range []string{"auto", "float32", "float16", "bfloat16", "fp32", "bf16"} {
		root := t.TempDir()
		if err := os.WriteFile(filepath.Join(root, FileName), []byte("precision: "+p+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(root)
		if err != nil {
			t.Errorf("precision %s refused: %v", p, err)
		} else if cfg.Precision != p {
			t.Errorf("precision %s loaded as %q", p, cfg.Precision)
		}
	}
}
