package probe

import (
	"context"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
)

// Every LoRA and embedding file of testdata/sd-ext is identified with its
// type, InvokeAI's format and its base, decided from structure (the tiny
// files have 32-wide text states, so no width settles them).
func TestProbeLoRAAndEmbeddingFixtures(t *testing.T) {
	cases := []struct {
		path              []string
		typ, format, base string
	}{
		{[]string{"lora", "models", "sd15-locon-kohya.safetensors"}, "lora", "lycoris", "sd-1"},
		{[]string{"lora", "models", "sd15-lora-peft.safetensors"}, "lora", "lycoris", "sd-1"},
		{[]string{"lora", "models", "sd15-lora-diffusers-old.safetensors"}, "lora", "lycoris", "sd-1"},
		{[]string{"lora", "models", "sd15-loha.safetensors"}, "lora", "lycoris", "sd-1"},
		{[]string{"lora", "models", "sd15-lokr.safetensors"}, "lora", "lycoris", "sd-1"},
		{[]string{"lora", "models", "sdxl-lora-kohya.safetensors"}, "lora", "lycoris", "sdxl"},
		{[]string{"textual_inversion", "models", "tiny-ti.safetensors"}, "embedding", "embedding_file", "sd-1"},
		{[]string{"textual_inversion", "models", "tiny-ti-diffusers"}, "embedding", "embedding_folder", "sd-1"},
		{[]string{"textual_inversion", "models", "tiny-ti-diffusers", "learned_embeds.safetensors"}, "embedding", "embedding_file", "sd-1"},
		{[]string{"textual_inversion", "torch", "tiny-ti-a1111.pt"}, "embedding", "embedding_file", "sd-1"},
		{[]string{"textual_inversion", "torch", "learned_embeds.bin"}, "embedding", "embedding_file", "sd-1"},
	}
	for _, c := range cases {
		p, err := goldens.Path(append([]string{"sd-ext"}, c.path...)...)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Probe(context.Background(), p, Hints{})
		if err != nil {
			t.Errorf("%v: %v", c.path, err)
			continue
		}
		if res.Type != c.typ || res.Format != c.format || res.Base != c.base {
			t.Errorf("%v: %s/%s/%s, want %s/%s/%s", c.path, res.Type, res.Format, res.Base, c.typ, c.format, c.base)
		}
	}
}
