package sd

import (
	"context"
	"testing"
)

func TestUNetGolden(t *testing.T) {
	u, err := LoadUNetFolder(sdTiny(t, "models", "sd15-tiny", "unet"))
	if err != nil {
		t.Fatal(err)
	}
	g := openGolden(t, "unet.safetensors")
	sample := g.tensor("sample")
	ctxStates := g.tensor("encoder_hidden_states")
	for _, tag := range []string{"t10", "t999", "tvec_10_999", "t500_5_float"} {
		ts := g.tensor("timestep_" + tag).Data
		out, err := u.Forward(context.Background(), sample, ts, ctxStates, nil)
		if err != nil {
			t.Fatal(err)
		}
		compare(t, "unet out_"+tag, out, g.tensor("out_"+tag))
		// A second run reuses recycled activation buffers; any read of
		// stale contents would change the result.
		again, err := u.Forward(context.Background(), sample, ts, ctxStates, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range out.Data {
			if out.Data[i] != again.Data[i] {
				t.Fatalf("%s: second run differs at %d", tag, i)
			}
		}
	}
}

func TestUNetSDXLGolden(t *testing.T) {
	u, err := LoadUNetFolder(sdTiny(t, "models", "sdxl-tiny", "unet"))
	if err != nil {
		t.Fatal(err)
	}
	g := openGolden(t, "unet_sdxl.safetensors")
	added := &AddedCond{TextEmbeds: g.tensor("text_embeds"), TimeIDs: g.tensor("time_ids")}
	for _, tag := range []string{"t10", "t999"} {
		out, err := u.Forward(context.Background(), g.tensor("sample"), g.tensor("timestep_"+tag).Data, g.tensor("encoder_hidden_states"), added)
		if err != nil {
			t.Fatal(err)
		}
		compare(t, "unet_sdxl out_"+tag, out, g.tensor("out_"+tag))
	}
}

func TestUNetCancel(t *testing.T) {
	u, err := LoadUNetFolder(sdTiny(t, "models", "sd15-tiny", "unet"))
	if err != nil {
		t.Fatal(err)
	}
	g := openGolden(t, "unet.safetensors")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := u.Forward(ctx, g.tensor("sample"), []float32{10}, g.tensor("encoder_hidden_states"), nil); err == nil {
		t.Fatal("cancelled forward returned no error")
	}
}
