package flux

import (
	"context"
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
