package flux

import (
	"context"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/engine/tensor"
)

func loadFolder(t testing.TB, variant string) *Transformer {
	t.Helper()
	m, err := LoadTransformerFolder(fluxTiny(t, "models", "flux-"+variant+"-tiny", "transformer"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func loadBFL(t testing.TB, variant string) *Transformer {
	t.Helper()
	m, err := LoadTransformerFile(fluxTiny(t, "models", "flux1-"+variant+"-tiny.safetensors"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// caseInputs reads the inputs of transformer golden case c ("a" or "b").
func caseInputs(g *golden, c string, guidance bool) Inputs {
	in := Inputs{
		Img:      g.tensor(c + ".hidden_states"),
		Txt:      g.tensor(c + ".encoder_hidden_states"),
		Pooled:   g.tensor(c + ".pooled_projections"),
		ImgIDs:   g.floats(c + ".img_ids"),
		TxtIDs:   g.floats(c + ".txt_ids"),
		Timestep: g.floats(c + ".timestep"),
	}
	if guidance {
		in.Guidance = g.floats(c + ".guidance")
	}
	return in
}

func TestTransformerGoldens(t *testing.T) {
	for _, variant := range []string{"dev", "schnell"} {
		g := openGolden(t, "goldens", "transformer_"+variant+".safetensors")
		for _, layout := range []string{LayoutDiffusers, LayoutBFL} {
			var m *Transformer
			if layout == LayoutBFL {
				m = loadBFL(t, variant)
			} else {
				m = loadFolder(t, variant)
			}
			if m.Layout != layout || m.Config.GuidanceEmbeds != (variant == "dev") {
				t.Fatalf("%s %s: layout %s, guidance %v", variant, layout, m.Layout, m.Config.GuidanceEmbeds)
			}
			if variant == "dev" && layout == LayoutBFL {
				// The BFL file carries no config: the RoPE split is inferred.
				if got := m.Config.AxesDimsRope; len(got) != 3 || got[0] != 8 || got[1] != 12 || got[2] != 12 {
					t.Errorf("inferred rope axes %v, want [8 12 12]", got)
				}
			}
			for _, c := range []string{"a", "b"} {
				name := variant + "/" + layout + "/" + c
				traced := 0
				opts := CallOptions{Trace: func(n string, x *tensor.Tensor) {
					key := c + ".inter." + n
					if !g.has(key) {
						return
					}
					traced++
					compareRel(t, name+" "+n, x.Data, g.floats(key), layerTolerance)
				}}
				out, err := m.Forward(context.Background(), caseInputs(g, c, variant == "dev"), opts)
				if err != nil {
					t.Fatal(err)
				}
				compareRel(t, name+" out", out.Data, g.floats(c+".out"), layerTolerance)
				if c == "a" && traced < 10 {
					t.Errorf("%s: only %d intermediates compared", name, traced)
				}
				un, err := Unpack(out, g.tensor(c + ".latents").Shape[2], g.tensor(c + ".latents").Shape[3])
				if err != nil {
					t.Fatal(err)
				}
				compareRel(t, name+" out_unpacked", un.Data, g.floats(c+".out_unpacked"), layerTolerance)
			}
		}
	}
}

func TestTransformerInputErrors(t *testing.T) {
	m := loadFolder(t, "dev")
	g := openGolden(t, "goldens", "transformer_dev.safetensors")
	in := caseInputs(g, "a", true)
	bad := in
	bad.Guidance = nil
	if _, err := m.Forward(context.Background(), bad, CallOptions{}); err == nil {
		t.Error("dev model without guidance: no error")
	}
	bad = in
	bad.ImgIDs = bad.ImgIDs[:3]
	if _, err := m.Forward(context.Background(), bad, CallOptions{}); err == nil {
		t.Error("short image ids: no error")
	}
	bad = in
	bad.Txt = tensor.New(1, 4, 7)
	if _, err := m.Forward(context.Background(), bad, CallOptions{}); err == nil {
		t.Error("wrong text width: no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Forward(ctx, in, CallOptions{}); err == nil {
		t.Error("cancelled context: no error")
	}
}

// TestTransformerGGUFGoldens runs case a through every quantized model file;
// the goldens ran the diffusers model on gguf-py's exact dequantization.
func TestTransformerGGUFGoldens(t *testing.T) {
	for _, f := range []string{"dev-tiny-BF16", "dev-tiny-Q8_0", "dev-tiny-Q5_1", "dev-tiny-Q4_0", "dev-tiny-Q6_K",
		"dev-tiny-Q5_K_S", "dev-tiny-Q4_K_S", "schnell-tiny-Q8_0", "schnell-tiny-Q4_K_S"} {
		m, err := LoadTransformerGGUF(fluxTiny(t, "gguf", "flux1-"+f+".gguf"), LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if m.Layout != LayoutBFL || m.Config.GuidanceEmbeds != strings.HasPrefix(f, "dev") {
			t.Errorf("%s: layout %s, guidance %v", f, m.Layout, m.Config.GuidanceEmbeds)
		}
		g := openGolden(t, "gguf", "flux1-"+f+".goldens.safetensors")
		out, err := m.Forward(context.Background(), caseInputs(g, "a", m.Config.GuidanceEmbeds), CallOptions{})
		if err != nil {
			t.Fatal(err)
		}
		compareRel(t, f+" out", out.Data, g.floats("a.out"), layerTolerance)
	}
}
