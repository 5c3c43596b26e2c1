package download

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestParseHFSourceForms(t *testing.T) {
	cases := []struct {
		source             string
		repo, variant, sub string
		ok                 bool
	}{
		{source: "owner/repo", repo: "owner/repo", ok: true},
		{source: "owner/repo:fp16", repo: "owner/repo", variant: "fp16", ok: true},
		{source: "owner/repo:fp32", repo: "owner/repo", variant: "fp32", ok: true},
		{source: "owner/repo:onnx", repo: "owner/repo", variant: "onnx", ok: true},
		{source: "owner/repo:openvino", repo: "owner/repo", variant: "openvino", ok: true},
		{source: "owner/repo:flax", repo: "owner/repo", variant: "flax", ok: true},
		{source: "owner/repo::vae", repo: "owner/repo", sub: "vae", ok: true},
		{source: "owner/repo::/vae", repo: "owner/repo", sub: "vae", ok: true},
		{source: "owner/repo::text_encoder/sub", repo: "owner/repo", sub: "text_encoder/sub", ok: true},
		{source: "black-forest-labs/FLUX.1-schnell::ae.safetensors", repo: "black-forest-labs/FLUX.1-schnell", sub: "ae.safetensors", ok: true},
		{source: "owner/repo:fp16:vae", repo: "owner/repo", variant: "fp16", sub: "vae", ok: true},
		{source: "owner/repo:fp16:/vae", repo: "owner/repo", variant: "fp16", sub: "vae", ok: true},
		// InvokeAI writes a source with both parts back as repo:variant::subfolder; it must read back.
		{source: "owner/repo:fp16::vae", repo: "owner/repo", variant: "fp16", sub: "vae", ok: true},
		{source: "owner/repo:", repo: "owner/repo", ok: true},
		// Not sources.
		{source: "owner/repo:fp8"},
		{source: "owner/repo:vae"},
		{source: "owner/repo:bf16:vae"},
		{source: "owner/repo::"},
		{source: "owner/repo:::vae"},
		{source: "owner/repo::../../etc"},
		{source: "owner/repo::vae/../.."},
		{source: "owner/repo::a:b"},
		{source: "owner"},
		{source: "owner/repo/extra"},
		{source: "/abs/path.safetensors"},
		{source: ""},
	}
	for _, c := range cases {
		t.Run(c.source, func(t *testing.T) {
			repo, variant, sub, ok := ParseHFSource(c.source)
			if ok != c.ok || repo != c.repo || variant != c.variant || sub != c.sub {
				t.Fatalf("ParseHFSource(%q) = %q %q %q %v, want %q %q %q %v", c.source, repo, variant, sub, ok,
					c.repo, c.variant, c.sub, c.ok)
			}
		})
	}
}

func TestSelectFilesSubfolderNamingAFile(t *testing.T) {
	files := []HFFile{
		{Path: "model_index.json"},
		{Path: "ae.safetensors", Size: 10},
		{Path: "flux1-schnell.safetensors", Size: 20},
		{Path: "vae/config.json"},
		{Path: "vae/diffusion_pytorch_model.safetensors", Size: 5},
		{Path: "vae/diffusion_pytorch_model.fp16.safetensors", Size: 3},
	}
	cases := []struct {
		name, variant, subfolder string
		want                     []string
	}{
		{"single file", "", "ae.safetensors", []string{"ae.safetensors"}},
		{"single file, leading slash", "", "/ae.safetensors", []string{"ae.safetensors"}},
		{"single file ignores the variant", "fp16", "ae.safetensors", []string{"ae.safetensors"}},
		{"folder", "", "vae", []string{"vae/config.json", "vae/diffusion_pytorch_model.safetensors"}},
		{"folder in a variant", "fp16", "vae", []string{"vae/config.json", "vae/diffusion_pytorch_model.fp16.safetensors"}},
		{"no such file", "", "nothing.safetensors", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, f := range SelectFiles(files, c.variant, c.subfolder) {
				got = append(got, f.Path)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("SelectFiles(%q, %q) = %v, want %v", c.variant, c.subfolder, got, c.want)
			}
		})
	}
}

// source_metadata.files entries use InvokeAI's snake_case keys.
func TestHFFileJSONKeys(t *testing.T) {
	b, err := json.Marshal(HFFile{Path: "unet/model.safetensors", Size: 12, SHA256: "ab"})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"path": "unet/model.safetensors", "size": float64(12), "sha256": "ab"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("HFFile JSON = %s, want keys path, size, sha256", b)
	}
}
