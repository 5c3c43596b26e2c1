package sd

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/invokego/invokego/internal/engine/safetensors"
	"github.com/invokego/invokego/internal/engine/tokenizer"
)

// FLUX's first text encoder is CLIP-L used for its pooled output only (the
// final-layer-normed state at the first EOS, 77 tokens padded with EOS, no
// mask), which CLIPTextModel computes as it does for SD. These tests run it
// against the flux-tiny goldens (transformers 4.41), from token ids and
// from prompt text through the CLIP tokenizer.

func fluxTiny(t testing.TB, parts ...string) string {
	return filepath.Join(append([]string{fixturesDir(t), "flux-tiny"}, parts...)...)
}

func openFluxGolden(t testing.TB, parts ...string) *golden {
	t.Helper()
	f, err := safetensors.Open(fluxTiny(t, parts...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &golden{t: t, f: f}
}

func TestFluxCLIPGolden(t *testing.T) {
	m, err := LoadCLIPTextFolder(fluxTiny(t, "models", "flux-dev-tiny", "text_encoder"))
	if err != nil {
		t.Fatal(err)
	}
	g := openFluxGolden(t, "goldens", "text_encoders.safetensors")
	for _, p := range []string{"cat", "lighthouse"} {
		out, err := m.Forward(context.Background(), [][]int{g.ints("clip." + p + ".input_ids")})
		if err != nil {
			t.Fatal(err)
		}
		compare(t, "clip."+p+".pooler_output", out.Pooled, g.tensor("clip."+p+".pooler_output"))
		compare(t, "clip."+p+".last_hidden_state", out.LastHiddenState, g.tensor("clip."+p+".last_hidden_state"))
	}
}

func TestFluxCLIPFromText(t *testing.T) {
	m, err := LoadCLIPTextFolder(fluxTiny(t, "models", "flux-dev-tiny", "text_encoder"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(fluxTiny(t, "models", "flux-dev-tiny", "tokenizer"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(fluxTiny(t, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var man struct {
		Files map[string]struct {
			Inputs struct {
				Prompt string `json:"prompt"`
			} `json:"inputs"`
		} `json:"files"`
	}
	if err := json.Unmarshal(b, &man); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"invokeai_text_dev_cat_s0_64x64", "invokeai_text_dev_cafe_s3_64x64"} {
		file := c + ".latents.safetensors"
		prompt := man.Files["pipeline/"+file].Inputs.Prompt
		if prompt == "" {
			t.Fatalf("%s: no prompt in the manifest", file)
		}
		g := openFluxGolden(t, "pipeline", file)
		ids := tok.Encode77(prompt)
		if want := g.ints("clip_input_ids"); !slices.Equal(ids, want) {
			t.Fatalf("%s: CLIP ids %v, want %v", c, ids, want)
		}
		out, err := m.Forward(context.Background(), [][]int{ids})
		if err != nil {
			t.Fatal(err)
		}
		compare(t, c+" pooled_prompt_embeds", out.Pooled, g.tensor("pooled_prompt_embeds"))
	}
}
