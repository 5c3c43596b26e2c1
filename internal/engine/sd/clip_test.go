package sd

import (
	"context"
	"testing"
)

func TestCLIPTextGolden(t *testing.T) {
	m, err := LoadCLIPTextFolder(sdTiny(t, "models", "sd15-tiny", "text_encoder"))
	if err != nil {
		t.Fatal(err)
	}
	g := openGolden(t, "text_encoder.safetensors")
	for _, which := range []string{"prompt", "negative"} {
		out, err := m.Forward(context.Background(), [][]int{g.ints(which + ".input_ids")})
		if err != nil {
			t.Fatal(err)
		}
		compare(t, which+".last_hidden_state", out.LastHiddenState, g.tensor(which+".last_hidden_state"))
		compare(t, which+".pooler_output", out.Pooled, g.tensor(which+".pooler_output"))
		for i := 0; i < 3; i++ {
			name := which + ".hidden_states_" + string(rune('0'+i))
			compare(t, name, out.HiddenStates[i], g.tensor(name))
		}
		compare(t, which+".hidden_states_m2", out.HiddenState(-2), g.tensor(which+".hidden_states_m2"))
		skip, err := out.SkipLayers(1, true)
		if err != nil {
			t.Fatal(err)
		}
		compare(t, which+".hidden_states_m2_final_layer_norm", skip, g.tensor(which+".hidden_states_m2_final_layer_norm"))
		if out.TextEmbeds != nil {
			t.Error("CLIPTextModel produced text_embeds")
		}
	}
}

func TestCLIPTextWithProjectionGolden(t *testing.T) {
	m, err := LoadCLIPTextFolder(sdTiny(t, "models", "sdxl-tiny", "text_encoder_2"))
	if err != nil {
		t.Fatal(err)
	}
	g := openGolden(t, "text_encoder_2.safetensors")
	for _, which := range []string{"prompt", "negative"} {
		// Batch both sequences to exercise batched attention and pooling.
		ids := g.ints(which + ".input_ids")
		out, err := m.Forward(context.Background(), [][]int{ids, ids})
		if err != nil {
			t.Fatal(err)
		}
		for b := 0; b < 2; b++ {
			compare(t, which+".text_embeds", batchItem(out.TextEmbeds, b), g.tensor(which+".text_embeds"))
			compare(t, which+".last_hidden_state", batchItem(out.LastHiddenState, b), g.tensor(which+".last_hidden_state"))
			skip, err := out.SkipLayers(1, false)
			if err != nil {
				t.Fatal(err)
			}
			compare(t, which+".hidden_states_m2", batchItem(skip, b), g.tensor(which+".hidden_states_m2"))
		}
	}
}
