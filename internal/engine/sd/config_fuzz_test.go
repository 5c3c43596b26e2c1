package sd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Model configs are untrusted JSON: they are read within a size bound and parsed without panics, whatever they
// hold (docs/security.md "Model files are untrusted input").
func FuzzConfigJSON(f *testing.F) {
	f.Add([]byte(`{"in_channels":4,"block_out_channels":[320,640,1280,1280],"attention_head_dim":8,"cross_attention_dim":768}`))
	f.Add([]byte(`{"block_out_channels":[128,256,512,512],"latent_channels":4,"scaling_factor":0.18215}`))
	f.Add([]byte(`{"hidden_size":768,"num_hidden_layers":12,"num_attention_heads":12}`))
	f.Add([]byte(`{"attention_head_dim":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`))
	f.Add([]byte(`{"block_out_channels":[-1,0,9223372036854775807],"layers_per_block":-5,"attention_head_dim":[0]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "config.json")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if c, err := LoadUNetConfig(path); err == nil {
			_ = c.Normalize()
		}
		_, _ = LoadVAEConfig(path)
		_, _ = LoadCLIPTextConfig(path)
	})
}

func TestConfigSizeBound(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	big := make([]byte, maxConfigBytes+1)
	big[0] = '{'
	if err := os.WriteFile(path, big, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadUNetConfig(path); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("oversized config: %v", err)
	}
}
