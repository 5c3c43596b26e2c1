package probe

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
	"lukechampine.com/blake3"
)

// fixtures is testdata/sd-tiny/models (or under $INVOKEGO_FIXTURES).
func fixtures(t testing.TB) string {
	t.Helper()
	p, err := goldens.Path("sd-tiny", "models")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProbeFixtures(t *testing.T) {
	root := fixtures(t)
	cases := []struct {
		path                               string
		base, typ, format, variant, predic string
	}{
		{"sd15-tiny-pipe", "sd-1", "main", "diffusers", "normal", "epsilon"},
		{"sd15-tiny", "sd-1", "main", "diffusers", "normal", "epsilon"},
		{"sd15-tiny-single.safetensors", "sd-1", "main", "checkpoint", "normal", "epsilon"},
		{"sdxl-tiny", "sdxl", "main", "diffusers", "normal", "epsilon"},
		{"sd15-tiny-pipe/vae", "sd-1", "vae", "diffusers", "", ""},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			r, err := Probe(context.Background(), filepath.Join(root, c.path), Hints{})
			if err != nil {
				t.Fatal(err)
			}
			if r.Base != c.base || r.Type != c.typ || r.Format != c.format || r.Variant != c.variant || r.PredictionType != c.predic {
				t.Fatalf("got %+v", r)
			}
			if r.FileSize <= 0 {
				t.Fatalf("file size %d", r.FileSize)
			}
		})
	}
	r, err := Probe(context.Background(), filepath.Join(root, "sd15-tiny-single.safetensors"), Hints{})
	if err != nil || !strings.HasSuffix(r.ConfigPath, "sd15-tiny-single.yaml") {
		t.Fatalf("config path %q, %v", r.ConfigPath, err)
	}
}

// writeSafetensors writes a header-only-valid safetensors file with zero-filled F16 tensors.
func writeSafetensors(t testing.TB, path string, shapes map[string][]int) {
	t.Helper()
	hdr := map[string]any{}
	var off int64
	for name, shape := range shapes {
		n := int64(2)
		for _, d := range shape {
			n *= int64(d)
		}
		hdr[name] = map[string]any{"dtype": "F16", "shape": shape, "data_offsets": []int64{off, off + n}}
		off += n
	}
	js, _ := json.Marshal(hdr)
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, uint64(len(js)))
	buf.Write(js)
	buf.Write(make([]byte, off))
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestProbeSyntheticFiles(t *testing.T) {
	dir := t.TempDir()
	vae := filepath.Join(dir, "vae-ft-mse.safetensors")
	writeSafetensors(t, vae, map[string][]int{"encoder.conv_in.weight": {8, 3, 3, 3}, "decoder.conv_in.weight": {8, 4, 3, 3}})
	r, err := Probe(context.Background(), vae, Hints{})
	if err != nil || r.Type != "vae" || r.Base != "sd-1" || r.Format != "checkpoint" {
		t.Fatalf("vae: %+v %v", r, err)
	}
	lora := filepath.Join(dir, "style.safetensors")
	writeSafetensors(t, lora, map[string][]int{
		"lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight": {4, 768},
		"lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k.lora_up.weight":   {320, 4},
	})
	r, err = Probe(context.Background(), lora, Hints{})
	if err != nil || r.Type != "lora" || r.Base != "sd-1" {
		t.Fatalf("lora: %+v %v", r, err)
	}
	emb := filepath.Join(dir, "emb.safetensors")
	writeSafetensors(t, emb, map[string][]int{"emb_params": {2, 1024}})
	r, err = Probe(context.Background(), emb, Hints{})
	if err != nil || r.Type != "embedding" || r.Base != "sd-2" {
		t.Fatalf("embedding: %+v %v", r, err)
	}
	sdxl := filepath.Join(dir, "xl.safetensors")
	writeSafetensors(t, sdxl, map[string][]int{
		"model.diffusion_model.input_blocks.0.0.weight": {8, 4, 3, 3},
		"model.diffusion_model.label_emb.0.0.weight":    {8, 16},
		"conditioner.embedders.0.transformer.x":         {1},
		"conditioner.embedders.1.model.x":               {1},
	})
	r, err = Probe(context.Background(), sdxl, Hints{})
	if err != nil || r.Base != "sdxl" || r.Type != "main" {
		t.Fatalf("sdxl: %+v %v", r, err)
	}
	// An ambiguous UNet-only checkpoint needs a base from the request.
	bare := filepath.Join(dir, "bare.safetensors")
	writeSafetensors(t, bare, map[string][]int{"model.diffusion_model.input_blocks.0.0.weight": {8, 9, 3, 3}})
	if _, err := Probe(context.Background(), bare, Hints{}); !errors.Is(err, ErrUnknownModel) {
		t.Fatalf("ambiguous: %v", err)
	}
	r, err = Probe(context.Background(), bare, Hints{Base: "sd-1"})
	if err != nil || r.Base != "sd-1" || r.Variant != "inpaint" {
		t.Fatalf("hinted: %+v %v", r, err)
	}
	// An LDM yaml beside an ambiguous checkpoint settles base and prediction type.
	os.WriteFile(filepath.Join(dir, "bare.yaml"), []byte("model:\n  params:\n    parameterization: v\n    cond_stage_config:\n      target: ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder\n"), 0o644)
	r, err = Probe(context.Background(), bare, Hints{})
	if err != nil || r.Base != "sd-2" || r.PredictionType != "v_prediction" || r.ConfigPath == "" {
		t.Fatalf("yaml: %+v %v", r, err)
	}
	junk := filepath.Join(dir, "junk.safetensors")
	os.WriteFile(junk, []byte("\xff\xff\xff\xff\xff\xff\xff\x7fnot a header"), 0o644)
	if _, err := Probe(context.Background(), junk, Hints{}); !errors.Is(err, ErrInvalidModel) {
		t.Fatalf("junk: %v", err)
	}
	txt := filepath.Join(dir, "notes.txt")
	os.WriteFile(txt, []byte("hello"), 0o644)
	if _, err := Probe(context.Background(), txt, Hints{}); !errors.Is(err, ErrUnknownModel) {
		t.Fatalf("txt: %v", err)
	}
}

func TestHashFolderMatchesInvokeAIMethod(t *testing.T) {
	dir := t.TempDir()
	// Component order is by path parts, so "a/x.bin" sorts before "a.b/y.bin" although '.' < '/' in bytes.
	os.MkdirAll(filepath.Join(dir, "a"), 0o755)
	os.MkdirAll(filepath.Join(dir, "a.b"), 0o755)
	os.WriteFile(filepath.Join(dir, "a", "x.bin"), []byte("first"), 0o644)
	os.WriteFile(filepath.Join(dir, "a.b", "y.bin"), []byte("second"), 0o644)
	os.WriteFile(filepath.Join(dir, "config.json"), []byte("{}"), 0o644) // not a weights file
	got, err := Hash(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	hexOf := func(b []byte) string {
		s := blake3.Sum256(b)
		return strings.ToLower(hexString(s[:]))
	}
	want := "blake3:" + hexOf([]byte(hexOf([]byte("first"))+hexOf([]byte("second"))))
	if got != want {
		t.Fatalf("hash %s, want %s", got, want)
	}
	fileHash, _ := Hash(context.Background(), filepath.Join(dir, "a", "x.bin"), nil)
	if fileHash != "blake3:"+hexOf([]byte("first")) {
		t.Fatalf("file hash %s", fileHash)
	}
	// The BLAKE3 test vector for the empty input.
	if hexOf(nil) != "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262" {
		t.Fatal("blake3 empty-input vector mismatch")
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

// BenchmarkHash measures InvokeAI-compatible BLAKE3 hashing of a file (page cache warm).
func BenchmarkHash(b *testing.B) {
	p := filepath.Join(b.TempDir(), "w.safetensors")
	data := make([]byte, 256<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	os.WriteFile(p, data, 0o644)
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		if _, err := Hash(context.Background(), p, nil); err != nil {
			b.Fatal(err)
		}
	}
}
