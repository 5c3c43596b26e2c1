package lora_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/invokego/invokego/internal/engine/lora"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// The same layer goldens as TestLayerGoldensSD1/SDXL, but applied the way a
// run applies them: the cached, unmerged networks with a Patcher per call
// (the low-rank terms beside the packed weights, LoHa/LoKr as a second
// weight). After every case the plain networks must still give the base
// golden: the patcher never changes the cached layers.
func TestPatcherGoldensSD1(t *testing.T) {
	pipe := fixture(t, "sd-tiny", "models", "sd15-tiny-pipe")
	unetCfg, err := sd.LoadUNetConfig(filepath.Join(pipe, "unet", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	teCfg, err := sd.LoadCLIPTextConfig(filepath.Join(pipe, "text_encoder", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	u, err := sd.NewUNet(unetCfg, loadStateDict(t, filepath.Join(pipe, "unet", "diffusion_pytorch_model.safetensors")))
	if err != nil {
		t.Fatal(err)
	}
	te, err := sd.NewCLIPTextModel(teCfg, loadStateDict(t, filepath.Join(pipe, "text_encoder", "model.safetensors")))
	if err != nil {
		t.Fatal(err)
	}
	in := openGolden(t, fixture(t, "sd-ext", "lora", "goldens", "inputs.safetensors"))
	sample, ehs := in.tensor("unet.sample"), in.tensor("unet.encoder_hidden_states")
	ts := in.tensor("unet.timestep").Data
	ids := in.ints("te.input_ids")

	cases := []struct {
		golden string
		loras  []loraUse
	}{
		{"kohya_locon_w0.75", []loraUse{{"sd15-locon-kohya.safetensors", 0.75}}},
		{"kohya_locon_w1.0", []loraUse{{"sd15-locon-kohya.safetensors", 1.0}}},
		{"peft_w0.75", []loraUse{{"sd15-lora-peft.safetensors", 0.75}}},
		{"diffusers_old_w0.75", []loraUse{{"sd15-lora-diffusers-old.safetensors", 0.75}}},
		{"loha_w0.75", []loraUse{{"sd15-loha.safetensors", 0.75}}},
		{"lokr_w0.75", []loraUse{{"sd15-lokr.safetensors", 0.75}}},
		{"stack_kohya0.75_peft0.5", []loraUse{{"sd15-locon-kohya.safetensors", 0.75}, {"sd15-lora-peft.safetensors", 0.5}}},
	}
	base := openGolden(t, fixture(t, "sd-ext", "lora", "goldens", "base.safetensors"))
	// Each case runs with the patcher's default (layers merged into run copies up to half the network,
	// the rest beside), everything beside the weights (budget 0) and everything merged.
	budgets := []struct {
		name  string
		bytes int64
	}{{"default", -1}, {"beside", 0}, {"merged", 1 << 40}}
	for _, c := range cases {
		for _, b := range budgets {
			t.Run(c.golden+"/"+b.name, func(t *testing.T) { runPatcherCase(t, u, te, base, c.golden, c.loras, b.bytes, sample, ts, ehs, ids) })
		}
	}
}

type loraUse struct {
	file   string
	weight float32
}

func runPatcherCase(t *testing.T, u *sd.UNet, te *sd.CLIPTextModel, base *goldenFile, golden string, loras []loraUse, budget int64,
	sample *tensor.Tensor, ts []float32, ehs *tensor.Tensor, ids []int) {
	t.Helper()
	ctx := context.Background()
	g := openGolden(t, fixture(t, "sd-ext", "lora", "goldens", golden+".safetensors"))
	var ws []lora.Weighted
	for _, l := range loras {
		ws = append(ws, lora.Weighted{File: openLoRA(t, l.file), Weight: l.weight})
	}
	up, err := lora.NewPatcher(lora.UNet, u.LayerShapes(), ws)
	if err != nil || up == nil {
		t.Fatalf("unet patcher: %v (nil %v)", err, up == nil)
	}
	if budget >= 0 {
		up.SetMergeBudget(budget)
	}
	out, err := u.ForwardWith(ctx, sample, ts, ehs, nil, sd.UNetOptions{Layers: up})
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Err(); err != nil {
		t.Fatal(err)
	}
	compare(t, "unet.out", out.Data, g.tensor("unet.out").Data, layerTolerance)
	tp, err := lora.NewPatcher(lora.TextEncoder, te.LayerShapes(), ws)
	if err != nil || tp == nil {
		t.Fatalf("text encoder patcher: %v (nil %v)", err, tp == nil)
	}
	o, err := te.ForwardWith(ctx, [][]int{ids}, sd.ForwardOptions{Layers: tp})
	if err != nil {
		t.Fatal(err)
	}
	compare(t, "te.last_hidden_state", o.LastHiddenState.Data, g.tensor("te.last_hidden_state").Data, layerTolerance)
	compare(t, "te.hidden_states_m2", o.HiddenState(-2).Data, g.tensor("te.hidden_states_m2").Data, layerTolerance)

	plain, err := u.Forward(ctx, sample, ts, ehs, nil)
	if err != nil {
		t.Fatal(err)
	}
	compare(t, "unet.out after the run (base)", plain.Data, base.tensor("unet.out").Data, layerTolerance)
	po, err := te.Forward(ctx, [][]int{ids})
	if err != nil {
		t.Fatal(err)
	}
	compare(t, "te.last_hidden_state after the run (base)", po.LastHiddenState.Data, base.tensor("te.last_hidden_state").Data, layerTolerance)
	t.Logf("merged %d bytes", up.MergedBytes())
}

func TestPatcherGoldenSDXL(t *testing.T) {
	xl := fixture(t, "sd-tiny", "models", "sdxl-tiny")
	te1Dir := fixture(t, "sd-tiny", "models", "sd15-tiny", "text_encoder")
	unetCfg, err := sd.LoadUNetConfig(filepath.Join(xl, "unet", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	te1Cfg, err := sd.LoadCLIPTextConfig(filepath.Join(te1Dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	te2Cfg, err := sd.LoadCLIPTextConfig(filepath.Join(xl, "text_encoder_2", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	u, err := sd.NewUNet(unetCfg, loadStateDict(t, filepath.Join(xl, "unet", "diffusion_pytorch_model.safetensors")))
	if err != nil {
		t.Fatal(err)
	}
	te1, err := sd.NewCLIPTextModel(te1Cfg, loadStateDict(t, filepath.Join(te1Dir, "model.safetensors")))
	if err != nil {
		t.Fatal(err)
	}
	te2, err := sd.NewCLIPTextModel(te2Cfg, loadStateDict(t, filepath.Join(xl, "text_encoder_2", "model.safetensors")))
	if err != nil {
		t.Fatal(err)
	}
	in := openGolden(t, fixture(t, "sd-ext", "lora", "goldens", "sdxl_inputs.safetensors"))
	g := openGolden(t, fixture(t, "sd-ext", "lora", "goldens", "sdxl_kohya_w0.75.safetensors"))
	ids := in.ints("te.input_ids")
	added := &sd.AddedCond{TextEmbeds: in.tensor("unet.text_embeds"), TimeIDs: in.tensor("unet.time_ids")}
	ws := []lora.Weighted{{File: openLoRA(t, "sdxl-lora-kohya.safetensors"), Weight: 0.75}}
	ctx := context.Background()

	up, err := lora.NewPatcher(lora.UNet, u.LayerShapes(), ws)
	if err != nil {
		t.Fatal(err)
	}
	out, err := u.ForwardWith(ctx, in.tensor("unet.sample"), in.tensor("unet.timestep").Data, in.tensor("unet.encoder_hidden_states"), added, sd.UNetOptions{Layers: up})
	if err != nil {
		t.Fatal(err)
	}
	compare(t, "unet.out", out.Data, g.tensor("unet.out").Data, layerTolerance)
	p1, err := lora.NewPatcher(lora.TextEncoder, te1.LayerShapes(), ws)
	if err != nil {
		t.Fatal(err)
	}
	o1, err := te1.ForwardWith(ctx, [][]int{ids}, sd.ForwardOptions{Layers: p1})
	if err != nil {
		t.Fatal(err)
	}
	compare(t, "te1.hidden_states_m2", o1.HiddenState(-2).Data, g.tensor("te1.hidden_states_m2").Data, layerTolerance)
	p2, err := lora.NewPatcher(lora.TextEncoder2, te2.LayerShapes(), ws)
	if err != nil {
		t.Fatal(err)
	}
	o2, err := te2.ForwardWith(ctx, [][]int{ids}, sd.ForwardOptions{Layers: p2})
	if err != nil {
		t.Fatal(err)
	}
	compare(t, "te2.hidden_states_m2", o2.HiddenState(-2).Data, g.tensor("te2.hidden_states_m2").Data, layerTolerance)
	compare(t, "te2.text_embeds", o2.TextEmbeds.Data, g.tensor("te2.text_embeds").Data, layerTolerance)
}
