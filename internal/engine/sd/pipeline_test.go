package sd

import (
	"context"
	"strings"
	"testing"
)

func TestLoadDiffusersPipelines(t *testing.T) {
	sd15, err := LoadDiffusersPipeline(sdTiny(t, "models", "sd15-tiny"))
	if err != nil {
		t.Fatal(err)
	}
	if sd15.TextEncoder == nil || sd15.VAE == nil || sd15.TextEncoder2 != nil {
		t.Errorf("sd15-tiny components: %+v", sd15)
	}
	if sd15.VAE.Config.ScalingFactor != 0.18215 {
		t.Errorf("scaling factor %v", sd15.VAE.Config.ScalingFactor)
	}
	// sdxl-tiny ships only the UNet and text_encoder_2; the rest is shared.
	sdxl, err := LoadDiffusersPipeline(sdTiny(t, "models", "sdxl-tiny"))
	if err != nil {
		t.Fatal(err)
	}
	if sdxl.TextEncoder2 == nil || !sdxl.TextEncoder2.Config.WithProjection || sdxl.UNet.Config.AdditionEmbedType != "text_time" {
		t.Errorf("sdxl-tiny components: %+v", sdxl)
	}
	if got := sdxl.UNet.Config.Heads; len(got) != 2 || got[0] != 2 || got[1] != 4 {
		t.Errorf("sdxl heads %v", got)
	}
	// SDXL without its added conditioning must fail cleanly.
	g := openGolden(t, "unet_sdxl.safetensors")
	if _, err := sdxl.UNet.Forward(context.Background(), g.tensor("sample"), []float32{10}, g.tensor("encoder_hidden_states"), nil); err == nil {
		t.Error("SDXL forward without added conditioning succeeded")
	}
}

func TestBuildErrors(t *testing.T) {
	te, err := LoadStateDict(sdTiny(t, "models", "sd15-tiny", "text_encoder", "model.safetensors"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadCLIPTextConfig(sdTiny(t, "models", "sd15-tiny", "text_encoder", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	missing := StateDict{}
	for k, v := range te {
		if !strings.Contains(k, "layers.1.mlp.fc2.weight") {
			missing[k] = v
		}
	}
	if _, err := NewCLIPTextModel(cfg, missing); err == nil || !strings.Contains(err.Error(), "layers.1.mlp.fc2.weight") {
		t.Errorf("missing weight: %v", err)
	}
	extra := StateDict{"text_model.surprise": te["text_model.final_layer_norm.weight"]}
	for k, v := range te {
		extra[k] = v
	}
	if _, err := NewCLIPTextModel(cfg, extra); err == nil || !strings.Contains(err.Error(), "surprise") {
		t.Errorf("unexpected weight: %v", err)
	}
	bad := StateDict{}
	for k, v := range te {
		bad[k] = v
	}
	bad["text_model.final_layer_norm.weight"] = te["text_model.encoder.layers.0.mlp.fc1.bias"]
	if _, err := NewCLIPTextModel(cfg, bad); err == nil || !strings.Contains(err.Error(), "shape") {
		t.Errorf("wrong shape: %v", err)
	}
	m, err := NewCLIPTextModel(cfg, te)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Forward(context.Background(), [][]int{{1, 5000}}); err == nil {
		t.Error("out-of-vocabulary id accepted")
	}
}
