package probe

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
)

// fluxFixtures is testdata/flux-tiny (or under $INVOKEGO_FIXTURES).
func fluxFixtures(t testing.TB, elem ...string) string {
	t.Helper()
	p, err := goldens.Path(append([]string{"flux-tiny"}, elem...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProbeFluxFixtures(t *testing.T) {
	cases := []struct {
		path                       []string
		hint                       string
		base, typ, format, variant string
	}{
		{[]string{"models", "flux-dev-tiny"}, "", "flux", "main", "diffusers", "dev"},
		{[]string{"models", "flux-schnell-tiny"}, "", "flux", "main", "diffusers", "schnell"},
		{[]string{"models", "flux1-dev-tiny.safetensors"}, "", "flux", "main", "checkpoint", "dev"},
		{[]string{"models", "flux1-schnell-tiny.safetensors"}, "", "flux", "main", "checkpoint", "schnell"},
		{[]string{"models", "ae-tiny.safetensors"}, "", "flux", "vae", "checkpoint", ""},
		{[]string{"models", "flux-dev-tiny", "vae"}, "", "flux", "vae", "diffusers", ""},
		{[]string{"gguf", "flux1-dev-tiny-Q8_0.gguf"}, "", "flux", "main", "gguf_quantized", "dev"},
		{[]string{"gguf", "flux1-dev-tiny-Q4_K_S.gguf"}, "", "flux", "main", "gguf_quantized", "dev"},
		{[]string{"gguf", "flux1-schnell-tiny-Q8_0.gguf"}, "", "flux", "main", "gguf_quantized", "schnell"},
		// A FLUX pipeline folder also holds InvokeAI's T5 and CLIP encoder layouts; a type hint picks them.
		{[]string{"models", "flux-dev-tiny"}, "t5_encoder", "any", "t5_encoder", "t5_encoder", ""},
		{[]string{"models", "flux-dev-tiny"}, "clip_embed", "any", "clip_embed", "diffusers", "large"},
	}
	for _, c := range cases {
		res, err := Probe(context.Background(), fluxFixtures(t, c.path...), Hints{Type: c.hint})
		if err != nil {
			t.Errorf("%v (%s): %v", c.path, c.hint, err)
			continue
		}
		if res.Base != c.base || res.Type != c.typ || res.Format != c.format || res.Variant != c.variant {
			t.Errorf("%v (%s): base %q type %q format %q variant %q; want %q %q %q %q", c.path, c.hint,
				res.Base, res.Type, res.Format, res.Variant, c.base, c.typ, c.format, c.variant)
		}
	}
	res, err := Probe(context.Background(), fluxFixtures(t, "models", "flux-dev-tiny"), Hints{})
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"transformer": "main", "vae": "vae", "text_encoder": "clip_embed", "text_encoder_2": "t5_encoder"} {
		if got := res.Submodels[k].ModelType; got != want {
			t.Errorf("submodel %s: %q, want %q", k, got, want)
		}
	}
}

// copyDir copies a fixture folder for tests that rearrange it.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestProbeFluxEncoderFolders(t *testing.T) {
	dev := fluxFixtures(t, "models", "flux-dev-tiny")
	t5 := filepath.Join(t.TempDir(), "t5")
	copyDir(t, filepath.Join(dev, "text_encoder_2"), filepath.Join(t5, "text_encoder_2"))
	copyDir(t, filepath.Join(dev, "tokenizer_2"), filepath.Join(t5, "tokenizer_2"))
	res, err := Probe(context.Background(), t5, Hints{})
	if err != nil || res.Type != "t5_encoder" || res.Format != "t5_encoder" || res.Base != "any" {
		t.Errorf("T5 folder: %+v, %v", res, err)
	}
	clip := filepath.Join(t.TempDir(), "clip")
	copyDir(t, filepath.Join(dev, "text_encoder"), filepath.Join(clip, "text_encoder"))
	copyDir(t, filepath.Join(dev, "tokenizer"), filepath.Join(clip, "tokenizer"))
	res, err = Probe(context.Background(), clip, Hints{})
	if err != nil || res.Type != "clip_embed" || res.Variant != "large" || res.Base != "any" {
		t.Errorf("CLIP folder: %+v, %v", res, err)
	}
	// A T5 folder whose encoder is something else is refused.
	os.WriteFile(filepath.Join(t5, "text_encoder_2", "config.json"), []byte(`{"architectures": ["BertModel"], "model_type": "bert"}`), 0o644)
	if _, err := Probe(context.Background(), t5, Hints{}); err == nil {
		t.Error("a BERT text_encoder_2 was accepted as T5")
	}
}

// ggufFile writes a GGUF v3 file with an architecture and tensors of the given names (F32, 2×32 each).
func ggufFile(t *testing.T, arch string, names ...string) string {
	t.Helper()
	var b bytes.Buffer
	w := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	str := func(s string) { w(uint64(len(s))); b.WriteString(s) }
	w(uint32(0x46554747))
	w(uint32(3))
	w(uint64(len(names)))
	w(uint64(1))
	str("general.architecture")
	w(uint32(8)) // string
	str(arch)
	for i, n := range names {
		str(n)
		w(uint32(2))
		w(uint64(32))
		w(uint64(2))
		w(uint32(0)) // F32
		w(uint64(i * 256))
	}
	for b.Len()%32 != 0 {
		b.WriteByte(0)
	}
	b.Write(make([]byte, 256*len(names)))
	p := filepath.Join(t.TempDir(), "m.gguf")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProbeGGUF(t *testing.T) {
	for _, c := range []struct {
		arch  string
		names []string
		typ   string
	}{
		{"t5encoder", []string{"enc.blk.0.attn_q.weight", "token_embd.weight"}, "t5_encoder"},
		{"", []string{"encoder.block.0.layer.0.SelfAttention.q.weight", "shared.weight"}, "t5_encoder"},
		{"llama", []string{"blk.0.attn_q.weight"}, ""},
		{"flux", []string{"img_in.weight"}, ""},
	} {
		res, err := Probe(context.Background(), ggufFile(t, c.arch, c.names...), Hints{})
		switch {
		case c.typ == "" && err == nil:
			t.Errorf("%s %v: accepted as %+v", c.arch, c.names, res)
		case c.typ != "" && err != nil:
			t.Errorf("%s %v: %v", c.arch, c.names, err)
		case c.typ != "" && (res.Type != c.typ || res.Format != "gguf_quantized" || res.Base != "any"):
			t.Errorf("%s %v: %+v", c.arch, c.names, res)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.gguf")
	os.WriteFile(bad, []byte("GGUF\x03\x00\x00\x00garbage"), 0o644)
	if _, err := Probe(context.Background(), bad, Hints{}); err == nil {
		t.Error("a truncated GGUF file was accepted")
	}
}

func TestFluxVariant(t *testing.T) {
	for _, c := range []struct {
		guidance bool
		in       int64
		want     string
	}{{true, 64, "dev"}, {false, 64, "schnell"}, {true, 384, "dev_fill"}, {false, 384, "schnell"}} {
		if got := fluxVariant(c.guidance, c.in); got != c.want {
			t.Errorf("fluxVariant(%v, %d) = %q, want %q", c.guidance, c.in, got, c.want)
		}
	}
}

func TestProbeFluxLoRA(t *testing.T) {
	write := func(names ...string) string {
		var b bytes.Buffer
		hdr := "{"
		off := 0
		for i, n := range names {
			if i > 0 {
				hdr += ","
			}
			hdr += `"` + n + `":{"dtype":"F32","shape":[2,2],"data_offsets":[` + strconv.Itoa(off) + `,` + strconv.Itoa(off+16) + `]}`
			off += 16
		}
		hdr += "}"
		binary.Write(&b, binary.LittleEndian, uint64(len(hdr)))
		b.WriteString(hdr)
		b.Write(make([]byte, off))
		p := filepath.Join(t.TempDir(), "l.safetensors")
		os.WriteFile(p, b.Bytes(), 0o644)
		return p
	}
	for _, names := range [][]string{
		{"lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight", "lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight"},
		{"transformer.single_transformer_blocks.0.attn.to_q.lora_A.weight", "transformer.single_transformer_blocks.0.attn.to_q.lora_B.weight"},
		{"diffusion_model.single_blocks.3.linear1.lora_A.weight", "diffusion_model.single_blocks.3.linear1.lora_B.weight"},
	} {
		res, err := Probe(context.Background(), write(names...), Hints{})
		if err != nil || res.Type != "lora" || res.Base != "flux" {
			t.Errorf("%v: %+v, %v", names[0], res, err)
		}
	}
}
