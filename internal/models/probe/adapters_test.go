package probe

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

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

// copyFile copies a fixture into dir (the fixtures are read-only).
func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestProbeAdapterFixtures(t *testing.T) {
	cases := []struct {
		path                    []string
		base, typ, format, conf string
	}{
		{[]string{"controlnet", "models", "sd15-controlnet"}, "sd-1", "controlnet", "diffusers", ""},
		{[]string{"controlnet", "models", "sd15-controlnet-single.safetensors"}, "sd-1", "controlnet", "checkpoint", "sd15-controlnet-single.yaml"},
		{[]string{"controlnet", "models", "sdxl-controlnet"}, "sdxl", "controlnet", "diffusers", ""},
		{[]string{"t2i_adapter", "models", "t2i-full"}, "sd-1", "t2i_adapter", "diffusers", ""},
		{[]string{"t2i_adapter", "models", "t2i-full-xl"}, "sdxl", "t2i_adapter", "diffusers", ""},
		{[]string{"ip_adapter", "models", "ip-adapter_sd15-tiny.safetensors"}, "sd-1", "ip_adapter", "checkpoint", ""},
		{[]string{"ip_adapter", "models", "image_encoder"}, "any", "clip_vision", "diffusers", ""},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.path, "/"), func(t *testing.T) {
			r, err := Probe(context.Background(), sdExt(t, c.path...), Hints{})
			if err != nil {
				t.Fatal(err)
			}
			if r.Base != c.base || r.Type != c.typ || r.Format != c.format || filepath.Base(r.ConfigPath) != filepath.Base(c.conf) && c.conf != "" {
				t.Fatalf("got %+v", r)
			}
		})
	}
}

// An IP-Adapter folder in InvokeAI's layout names its image encoder; without the name it is refused.
func TestProbeIPAdapterFolder(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, sdExt(t, "ip_adapter", "models", "ip-adapter_sd15-tiny.safetensors"), filepath.Join(dir, "ip_adapter.safetensors"))
	if _, err := Probe(context.Background(), dir, Hints{}); !errors.Is(err, ErrUnknownModel) {
		t.Fatalf("without image_encoder.txt: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "image_encoder.txt"), []byte("ip_adapter_sd_image_encoder\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Probe(context.Background(), dir, Hints{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Type != "ip_adapter" || r.Format != "invokeai" || r.Base != "sd-1" || r.ImageEncoder != "ip_adapter_sd_image_encoder" {
		t.Fatalf("got %+v", r)
	}
}

// The base follows the width of the text context where it is a real model's.
func TestAdapterBasesByWidth(t *testing.T) {
	for width, want := range map[int64]string{768: "sd-1", 1024: "sd-2", 2048: "sdxl", 32: "sd-1"} {
		sd := &StateDict{Shapes: map[string][]int64{"image_proj.proj.weight": {4 * width, 1024}, "ip_adapter.1.to_k_ip.weight": {320, width}}}
		r, err := ClassifyStateDict(sd, Hints{})
		if err != nil || r.Base != want || r.Type != "ip_adapter" {
			t.Errorf("ip-adapter of width %d: %+v, %v", width, r, err)
		}
		cn := &StateDict{Shapes: map[string][]int64{"input_hint_block.0.weight": {16, 3, 3, 3},
			"input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight": {640, width}}}
		if r, err := ClassifyStateDict(cn, Hints{}); err != nil || r.Base != want || r.Type != "controlnet" {
			t.Errorf("controlnet of width %d: %+v, %v", width, r, err)
		}
	}
	xl := &StateDict{Shapes: map[string][]int64{"input_hint_block.0.weight": {16, 3, 3, 3}, "label_emb.0.0.weight": {1280, 2816}}}
	if r, err := ClassifyStateDict(xl, Hints{}); err != nil || r.Base != "sdxl" {
		t.Errorf("SDXL controlnet: %+v, %v", r, err)
	}
}
