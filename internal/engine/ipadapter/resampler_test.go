package ipadapter

import (
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens/goldtest"
	"github.com/invokego/invokego/internal/engine/sd"
)

// The Plus image projection (the Perceiver resampler) against a float64 numpy evaluation of the published
// architecture (testdata/ip_adapter_plus/make_resampler.py): two images' hidden states to their tokens,
// laid out one image after another; the adapter fits the tiny SD-1 UNet.
func TestResamplerGolden(t *testing.T) {
	w, err := sd.LoadStateDict(goldtest.Path(t, "ip_adapter_plus", "ip-adapter-plus_tiny.safetensors"), nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(w)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Plus || a.Tokens != 4 || a.CrossAttentionDim != 32 || a.ImageEmbedDim != 32 || a.resampler.heads != 2 || len(a.resampler.layers) != 2 {
		t.Fatalf("adapter %+v", a)
	}
	g := goldtest.Open(t, "ip_adapter_plus", "resampler.safetensors")
	want := g.Tensor("tokens")
	got := a.Project(g.Tensor("hidden_states"))
	if got.Shape[0] != 1 || got.Shape[1] != 8 || got.Shape[2] != 32 {
		t.Fatalf("tokens shape %v", got.Shape)
	}
	goldtest.Close(t, "tokens", got, want.Reshape(1, 8, 32), goldtest.LayerTolerance)

	u, err := sd.LoadUNetFolder(goldtest.Path(t, "sd-tiny", "models", "sd15-tiny-pipe", "unet"))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Fits(u); err != nil {
		t.Fatal(err)
	}
	// A resampler whose layers do not fit its latents is refused.
	c := sd.StateDict{}
	for k, v := range w {
		c[k] = v
	}
	delete(c, "image_proj.layers.1.0.to_out.weight")
	if _, err := New(c); err == nil {
		t.Error("built a resampler with a missing projection")
	}
}
