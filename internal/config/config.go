// Package config turns invokeai.yaml, the environment and command-line flags into one validated Config.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// FileName is the configuration file inside the root, named as InvokeAI names it.
const FileName = "invokeai.yaml"

// DefaultRoot is used when neither --root nor $INVOKEAI_ROOT is given.
const DefaultRoot = "invokego-root"

// Config holds every setting of the server. YAML keys follow InvokeAI's where InvokeAI has one.
type Config struct {
	// Root is the folder everything else is relative to. It is not read from the file.
	Root string `yaml:"-"`

	Host             string   `yaml:"host"`
	Port             int      `yaml:"port"`
	AllowOrigins     []string `yaml:"allow_origins"`
	AllowCredentials bool     `yaml:"allow_credentials"`
	AllowMethods     []string `yaml:"allow_methods"`
	AllowHeaders     []string `yaml:"allow_headers"`
	LogLevel         string   `yaml:"log_level"`
	LogFormat        string   `yaml:"log_format"`

	Multiuser              bool `yaml:"multiuser"`
	StrictPasswordChecking bool `yaml:"strict_password_checking"`

	OutputsDir       string `yaml:"outputs_dir"`
	DBDir            string `yaml:"db_dir"`
	ModelsDir        string `yaml:"models_dir"`
	DownloadCacheDir string `yaml:"download_cache_dir"`

	// Queue.
	SessionQueueMode     string `yaml:"session_queue_mode"` // round_robin (default) or fifo
	MaxQueueSize         int    `yaml:"max_queue_size"`
	MaxQueueItemsPerUser int    `yaml:"max_queue_items_per_user"`
	ClearQueueOnStartup  bool   `yaml:"clear_queue_on_startup"`
	NodeCacheSize        int    `yaml:"node_cache_size"`
	// MaxSessionNodes and MaxSessionBytes bound one session once its iterations are expanded (prepared nodes,
	// and the bytes of its stored state); MaxBatchBytes bounds the sessions one enqueue stores together
	// (docs/security.md "Resource limits and hostile input").
	MaxSessionNodes int   `yaml:"max_session_nodes"`
	MaxSessionBytes int64 `yaml:"max_session_bytes"`
	MaxBatchBytes   int64 `yaml:"max_batch_bytes"`
	// MaxItemMemory bounds one allocation of a running queue item, in bytes (a noise tensor, an image, a
	// model's activations); 0 derives it from the machine's memory (ItemMemoryBudget).
	MaxItemMemory int64 `yaml:"max_item_memory"`

	// Images.
	MaxImagePixels   int64 `yaml:"max_image_pixels"`
	MaxUploadBytes   int64 `yaml:"max_upload_bytes"`
	PILCompressLevel int   `yaml:"pil_compress_level"`

	// Engine and models.
	NoiseDType      string           `yaml:"noise_dtype"` // float32 (default) or float16
	RAM             float64          `yaml:"ram"`         // model cache budget in GB
	Precision       string           `yaml:"precision"`   // auto (bf16 where the CPU has a bf16 kernel), float32/fp32, bfloat16/bf16, float16 (= fp32 on a CPU)
	HFEndpoint      string           `yaml:"hf_endpoint"`
	RemoteAPITokens []RemoteAPIToken `yaml:"remote_api_tokens"`

	// setFields lists the keys that came from the file or flags, for runtime_config.
	setFields map[string]bool
}

// RemoteAPIToken attaches a bearer token to downloads whose URL matches a regular expression.
type RemoteAPIToken struct {
	URLRegex string `yaml:"url_regex"`
	Token    string `yaml:"token"`
}

// Default returns the built-in defaults.
func Default() Config {
	return Config{
		Host:                 "127.0.0.1",
		Port:                 9090,
		AllowOrigins:         []string{},
		AllowCredentials:     true,
		AllowMethods:         []string{"*"},
		AllowHeaders:         []string{"*"},
		LogLevel:             "info",
		LogFormat:            "text",
		OutputsDir:           "outputs",
		DBDir:                "databases",
		ModelsDir:            "models",
		DownloadCacheDir:     "models/.download_cache",
		SessionQueueMode:     "round_robin",
		MaxQueueSize:         10000,
		MaxQueueItemsPerUser: 1000,
		NodeCacheSize:        512,
		MaxSessionNodes:      10_000,
		MaxSessionBytes:      16 << 20,
		MaxBatchBytes:        256 << 20,
		MaxImagePixels:       64_000_000, // 64 MP
		MaxUploadBytes:       256 << 20,
		PILCompressLevel:     1,
		NoiseDType:           "float32",
		RAM:                  4,
		Precision:            "auto",
		HFEndpoint:           DefaultHFEndpoint,
		setFields:            map[string]bool{},
	}
}

// ResolveRoot picks the root folder: the flag, then $INVOKEAI_ROOT, then ./invokego-root.
func ResolveRoot(flagRoot string) string {
	root := flagRoot
	if root == "" {
		root = os.Getenv("INVOKEAI_ROOT")
	}
	if root == "" {
		root = DefaultRoot
	}
	if abs, err := filepath.Abs(root); err == nil {
		root = abs
	}
	return root
}

// Load reads <root>/invokeai.yaml over the defaults, then the environment where the file is silent. A
// missing file is not an error.
func Load(root string) (Config, error) {
	cfg := Default()
	cfg.Root = root
	data, err := os.ReadFile(filepath.Join(root, FileName))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return cfg, fmt.Errorf("read %s: %w", FileName, err)
	default:
		if err := cfg.apply(data); err != nil {
			return cfg, fmt.Errorf("parse %s: %w", FileName, err)
		}
	}
	cfg.applyEnv()
	return cfg, cfg.Validate()
}

// DefaultHFEndpoint is the Hugging Face hub used when neither invokeai.yaml nor $HF_ENDPOINT names another.
const DefaultHFEndpoint = "https://huggingface.co"

// applyEnv takes values from the environment for keys the file did not set. HF_ENDPOINT is the variable the
// Hugging Face libraries read, so a mirror configured for them serves invokego too; an explicit hf_endpoint
// in invokeai.yaml (or a flag, applied later) wins over it.
func (c *Config) applyEnv() {
	if ep := strings.TrimSpace(os.Getenv("HF_ENDPOINT")); ep != "" && (!c.setFields["hf_endpoint"] || strings.TrimSpace(c.HFEndpoint) == "") {
		c.HFEndpoint = ep
	}
	if strings.TrimSpace(c.HFEndpoint) == "" {
		c.HFEndpoint = DefaultHFEndpoint // an empty value names no hub
	}
}

func (c *Config) apply(data []byte) error {
	var keys map[string]any
	if err := yaml.Unmarshal(data, &keys); err != nil {
		return err
	}
	if err := yaml.Unmarshal(data, c); err != nil {
		return err
	}
	known := yamlKeys()
	for k := range keys {
		if known[k] {
			c.markSet(k)
		} else if k != "schema_version" {
			slog.Warn("unknown configuration key ignored", "key", k)
		}
	}
	return nil
}

func (c *Config) markSet(key string) {
	if c.setFields == nil {
		c.setFields = map[string]bool{}
	}
	c.setFields[key] = true
}

// SetFields returns the keys that were set explicitly (file or flags).
func (c *Config) SetFields() []string {
	out := make([]string, 0, len(c.setFields))
	for k := range c.setFields {
		out = append(out, k)
	}
	return out
}

// Override records a value that came from a command-line flag.
func (c *Config) Override(key string, apply func(*Config)) {
	apply(c)
	c.markSet(key)
}

// Validate checks values that would otherwise fail later in confusing ways.
func (c *Config) Validate() error {
	var errs []string
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, fmt.Sprintf("port %d out of range", c.Port))
	}
	switch c.SessionQueueMode {
	case "round_robin", "fifo":
	default:
		errs = append(errs, fmt.Sprintf("session_queue_mode must be round_robin or fifo, not %q", c.SessionQueueMode))
	}
	switch c.NoiseDType {
	case "float32", "float16":
	default:
		errs = append(errs, fmt.Sprintf("noise_dtype must be float32 or float16, not %q", c.NoiseDType))
	}
	switch c.Precision {
	case "auto", "float32", "float16", "bfloat16", "fp32", "bf16":
		// InvokeAI's names plus the short ones (sd.ResolvePrecision).
	default:
		errs = append(errs, fmt.Sprintf("precision must be auto, float32, float16, bfloat16, fp32 or bf16, not %q", c.Precision))
	}
	if c.MaxQueueItemsPerUser < 1 {
		errs = append(errs, "max_queue_items_per_user must be at least 1")
	}
	if c.MaxQueueSize < 1 {
		errs = append(errs, "max_queue_size must be at least 1")
	}
	if c.MaxImagePixels < 1 {
		errs = append(errs, "max_image_pixels must be at least 1")
	}
	if c.MaxSessionNodes < 1 {
		errs = append(errs, "max_session_nodes must be at least 1")
	}
	if c.MaxSessionBytes < 1<<10 {
		errs = append(errs, "max_session_bytes must be at least 1024")
	}
	if c.MaxItemMemory < 0 {
		errs = append(errs, "max_item_memory must be 0 (derived from the machine's memory) or a number of bytes")
	}
	if c.MaxBatchBytes < c.MaxSessionBytes {
		errs = append(errs, "max_batch_bytes must be at least max_session_bytes")
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// abs resolves a configured path against the root.
func (c *Config) abs(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Root, p)
}

// OutputsPath is the absolute outputs folder.
func (c *Config) OutputsPath() string { return c.abs(c.OutputsDir) }

// DBPath is the absolute path of the SQLite database file.
func (c *Config) DBPath() string { return filepath.Join(c.abs(c.DBDir), "invokeai.db") }

// ModelsPath is the absolute models folder.
func (c *Config) ModelsPath() string { return c.abs(c.ModelsDir) }

// PromptsPath is the folder prompt_from_file reads from (docs/security.md, "Server files").
func (c *Config) PromptsPath() string { return filepath.Join(c.Root, "prompts") }

// Addr is host:port for the HTTP listener.
func (c *Config) Addr() string { return fmt.Sprintf("%s:%d", c.Host, c.Port) }

// EnsureRoot creates the root folders and writes a default invokeai.yaml when none exists.
func (c *Config) EnsureRoot() error {
	for _, dir := range []string{c.Root, c.abs(c.DBDir), c.OutputsPath(), c.ModelsPath(), c.PromptsPath()} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}
	}
	path := filepath.Join(c.Root, FileName)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		const initial = "# invokego configuration (InvokeAI's key names). See README.md for every key.\nschema_version: 4.0.2\n"
		if err := os.WriteFile(path, []byte(initial), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", FileName, err)
		}
	}
	return nil
}

// yamlKeys lists the YAML keys Config understands.
func yamlKeys() map[string]bool {
	out := map[string]bool{}
	var probe map[string]any
	b, _ := yaml.Marshal(Default())
	_ = yaml.Unmarshal(b, &probe)
	for k := range probe {
		out[k] = true
	}
	return out
}

// publicKeys is the allow-list of settings every logged-in user may read through runtime_config: limits and
// behaviour a client adapts to. Anything not named here (paths, the listen address, CORS origins, the Hugging
// Face endpoint, download tokens, and any key added later) stays admin-only until it is added on purpose.
var publicKeys = []string{
	"multiuser", "strict_password_checking",
	"session_queue_mode", "max_queue_size", "max_queue_items_per_user", "node_cache_size",
	"max_image_pixels", "max_upload_bytes", "pil_compress_level",
	"noise_dtype", "precision",
}

// PublicKeys lists the settings PublicMap keeps.
func PublicKeys() []string { return append([]string(nil), publicKeys...) }

// PublicMap is the configuration as non-admins read it: only the allow-listed keys.
func (c *Config) PublicMap() map[string]any {
	all := c.AsMap()
	out := make(map[string]any, len(publicKeys))
	for _, k := range publicKeys {
		if v, ok := all[k]; ok {
			out[k] = v
		}
	}
	return out
}

// PublicSetFields is SetFields restricted to the allow-listed keys.
func (c *Config) PublicSetFields() []string {
	out := []string{}
	for _, k := range publicKeys {
		if c.setFields[k] {
			out = append(out, k)
		}
	}
	return out
}

// AsMap renders the configuration for the runtime_config route, with secrets redacted.
func (c *Config) AsMap() map[string]any {
	var out map[string]any
	b, _ := yaml.Marshal(c)
	_ = yaml.Unmarshal(b, &out)
	if toks, ok := out["remote_api_tokens"].([]any); ok {
		for _, t := range toks {
			if m, ok := t.(map[string]any); ok {
				m["token"] = "REDACTED"
			}
		}
	}
	out["root"] = c.Root
	return out
}
