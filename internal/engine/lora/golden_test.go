package lora_test

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
	"github.com/invokego/invokego/internal/engine/lora"
	"github.com/invokego/invokego/internal/engine/safetensors"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// The layer goldens of testdata/sd-ext/lora (testdata/README.md): diffusers
// 0.25.1 outputs of sd15-tiny-pipe's UNet and text encoder (and sdxl-tiny's)
// with LoRAs merged as W + w·s·ΔW, compared within 1e-4 of the largest
// reference magnitude. These tests merge into a copy of the base state dict
// before building the networks, which checks the parsing, the key mapping
// and ΔW on their own; per-run application is tested where it lives.

const layerTolerance = 1e-4

func fixture(t testing.TB, parts ...string) string {
	t.Helper()
	p, err := goldens.Path(parts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func loraFile(t testing.TB, name string) string {
	return fixture(t, "sd-ext", "lora", "models", name)
}

type goldenFile struct {
	t testing.TB
	f *safetensors.File
}

func openGolden(t testing.TB, path string) *goldenFile {
	t.Helper()
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &goldenFile{t: t, f: f}
}

func (g *goldenFile) tensor(name string) *tensor.Tensor {
	g.t.Helper()
	data, shape, err := g.f.Float32(name)
	if err != nil {
		g.t.Fatal(err)
	}
	return &tensor.Tensor{Shape: shape, Data: data}
}

func (g *goldenFile) ints(name string) []int {
	g.t.Helper()
	v, _, err := g.f.Int64(name)
	if err != nil {
		g.t.Fatal(err)
	}
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

// compare checks got within tol·max|want| and logs the measured error.
func compare(t testing.TB, name string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d", name, len(got), len(want))
		return
	}
	var maxDiff, maxRef float64
	for i := range got {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		maxDiff = max(maxDiff, d)
		maxRef = max(maxRef, math.Abs(float64(want[i])))
	}
	t.Logf("%-70s max abs diff %.3g, max |ref| %.3g", name, maxDiff, maxRef)
	if !(maxDiff <= tol*maxRef) {
		t.Errorf("%s: max abs diff %.3g exceeds %.0e × %.3g", name, maxDiff, tol, maxRef)
	}
}

// modulesOf lists the linear and convolution weights of a state dict, as
// the networks expose them.
func modulesOf(st sd.StateDict) lora.Modules {
	m := lora.Modules{}
	for name, w := range st {
		mod, ok := strings.CutSuffix(name, ".weight")
		if !ok || (len(w.Shape) != 2 && len(w.Shape) != 4) || strings.Contains(mod, "embeddings.") {
			continue
		}
		m[mod] = w.Shape
	}
	return m
}

func loadStateDict(t testing.TB, path string) sd.StateDict {
	t.Helper()
	st, err := sd.LoadStateDict(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// merged returns a copy of st with every LoRA of uses merged for comp.
func merged(t testing.TB, st sd.StateDict, comp lora.Component, uses []use) sd.StateDict {
	t.Helper()
	out := make(sd.StateDict, len(st))
	for k, v := range st {
		out[k] = v
	}
	mods := modulesOf(st)
	for _, u := range uses {
		patches, err := u.file.Resolve(comp, mods)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range patches {
			d, err := p.Layer.Delta(p.Shape)
			if err != nil {
				t.Fatal(err)
			}
			w := out[p.Module+".weight"].Clone()
			for i := range w.Data {
				w.Data[i] += float32(u.weight) * d[i]
			}
			out[p.Module+".weight"] = w
		}
	}
	return out
}

type use struct {
	file   *lora.File
	weight float64
}

func openLoRA(t testing.TB, name string) *lora.File {
	t.Helper()
	f, err := lora.Open(loraFile(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestLayerGoldensSD1(t *testing.T) {
	pipe := fixture(t, "sd-tiny", "models", "sd15-tiny-pipe")
	unetSD := loadStateDict(t, filepath.Join(pipe, "unet", "diffusion_pytorch_model.safetensors"))
	teSD := loadStateDict(t, filepath.Join(pipe, "text_encoder", "model.safetensors"))
	unetCfg, err := sd.LoadUNetConfig(filepath.Join(pipe, "unet", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	teCfg, err := sd.LoadCLIPTextConfig(filepath.Join(pipe, "text_encoder", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	in := openGolden(t, fixture(t, "sd-ext", "lora", "goldens", "inputs.safetensors"))
	sample, ehs := in.tensor("unet.sample"), in.tensor("unet.encoder_hidden_states")
	ts := in.tensor("unet.timestep").Data
	ids := in.ints("te.input_ids")

	type loraUse struct {
		file   string
		weight float64
		format lora.Format
	}
	cases := []struct {
		golden string
		loras  []loraUse
	}{
		{"base", nil},
		{"kohya_locon_w0.75", []loraUse{{"sd15-locon-kohya.safetensors", 0.75, lora.FormatKohya}}},
		{"kohya_locon_w1.0", []loraUse{{"sd15-locon-kohya.safetensors", 1.0, lora.FormatKohya}}},
		{"peft_w0.75", []loraUse{{"sd15-lora-peft.safetensors", 0.75, lora.FormatPEFT}}},
		{"diffusers_old_w0.75", []loraUse{{"sd15-lora-diffusers-old.safetensors", 0.75, lora.FormatDiffusersOld}}},
		{"loha_w0.75", []loraUse{{"sd15-loha.safetensors", 0.75, lora.FormatKohya}}},
		{"lokr_w0.75", []loraUse{{"sd15-lokr.safetensors", 0.75, lora.FormatKohya}}},
		{"stack_kohya0.75_peft0.5", []loraUse{
			{"sd15-locon-kohya.safetensors", 0.75, lora.FormatKohya},
			{"sd15-lora-peft.safetensors", 0.5, lora.FormatPEFT},
		}},
	}
	for _, c := range cases {
		t.Run(c.golden, func(t *testing.T) {
			g := openGolden(t, fixture(t, "sd-ext", "lora", "goldens", c.golden+".safetensors"))
			var uses []use
			for _, l := range c.loras {
				f := openLoRA(t, l.file)
				if f.Format != l.format {
					t.Errorf("%s: format %q, want %q", l.file, f.Format, l.format)
				}
				uses = append(uses, use{f, l.weight})
			}
			// The scaled changes of a few modules, before the user weight.
			if len(uses) == 1 {
				mods := map[lora.Component]lora.Modules{lora.UNet: modulesOf(unetSD), lora.TextEncoder: modulesOf(teSD)}
				found := 0
				for _, name := range g.f.Names() {
					rest, ok := strings.CutPrefix(name, "delta_scaled.")
					if !ok {
						continue
					}
					comp, module, _ := strings.Cut(rest, ".")
					patches, err := uses[0].file.Resolve(lora.Component(comp), mods[lora.Component(comp)])
					if err != nil {
						t.Fatal(err)
					}
					for _, p := range patches {
						if p.Module == module {
							d, err := p.Layer.Delta(p.Shape)
							if err != nil {
								t.Fatal(err)
							}
							compare(t, name, d, g.tensor(name).Data, layerTolerance)
							found++
						}
					}
				}
				if found == 0 {
					t.Error("no delta_scaled golden matched a resolved module")
				}
			}
			u, err := sd.NewUNet(unetCfg, merged(t, unetSD, lora.UNet, uses))
			if err != nil {
				t.Fatal(err)
			}
			out, err := u.Forward(context.Background(), sample, ts, ehs, nil)
			if err != nil {
				t.Fatal(err)
			}
			compare(t, "unet.out", out.Data, g.tensor("unet.out").Data, layerTolerance)
			te, err := sd.NewCLIPTextModel(teCfg, merged(t, teSD, lora.TextEncoder, uses))
			if err != nil {
				t.Fatal(err)
			}
			teOut, err := te.Forward(context.Background(), [][]int{ids})
			if err != nil {
				t.Fatal(err)
			}
			compare(t, "te.last_hidden_state", teOut.LastHiddenState.Data, g.tensor("te.last_hidden_state").Data, layerTolerance)
			compare(t, "te.hidden_states_m2", teOut.HiddenState(-2).Data, g.tensor("te.hidden_states_m2").Data, layerTolerance)
			compare(t, "te.pooler_output", teOut.Pooled.Data, g.tensor("te.pooler_output").Data, layerTolerance)
		})
	}
}

func TestLayerGoldensSDXL(t *testing.T) {
	xl := fixture(t, "sd-tiny", "models", "sdxl-tiny")
	te1Dir := fixture(t, "sd-tiny", "models", "sd15-tiny", "text_encoder")
	unetSD := loadStateDict(t, filepath.Join(xl, "unet", "diffusion_pytorch_model.safetensors"))
	te1SD := loadStateDict(t, filepath.Join(te1Dir, "model.safetensors"))
	te2SD := loadStateDict(t, filepath.Join(xl, "text_encoder_2", "model.safetensors"))
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
	in := openGolden(t, fixture(t, "sd-ext", "lora", "goldens", "sdxl_inputs.safetensors"))
	ids := in.ints("te.input_ids")
	added := &sd.AddedCond{TextEmbeds: in.tensor("unet.text_embeds"), TimeIDs: in.tensor("unet.time_ids")}

	f := openLoRA(t, "sdxl-lora-kohya.safetensors")
	if f.Format != lora.FormatKohya {
		t.Errorf("format %q, want kohya", f.Format)
	}
	for _, c := range []struct {
		golden string
		uses   []use
	}{{"sdxl_base", nil}, {"sdxl_kohya_w0.75", []use{{f, 0.75}}}} {
		t.Run(c.golden, func(t *testing.T) {
			g := openGolden(t, fixture(t, "sd-ext", "lora", "goldens", c.golden+".safetensors"))
			u, err := sd.NewUNet(unetCfg, merged(t, unetSD, lora.UNet, c.uses))
			if err != nil {
				t.Fatal(err)
			}
			out, err := u.Forward(context.Background(), in.tensor("unet.sample"), in.tensor("unet.timestep").Data, in.tensor("unet.encoder_hidden_states"), added)
			if err != nil {
				t.Fatal(err)
			}
			compare(t, "unet.out", out.Data, g.tensor("unet.out").Data, layerTolerance)
			te1, err := sd.NewCLIPTextModel(te1Cfg, merged(t, te1SD, lora.TextEncoder, c.uses))
			if err != nil {
				t.Fatal(err)
			}
			o1, err := te1.Forward(context.Background(), [][]int{ids})
			if err != nil {
				t.Fatal(err)
			}
			compare(t, "te1.last_hidden_state", o1.LastHiddenState.Data, g.tensor("te1.last_hidden_state").Data, layerTolerance)
			compare(t, "te1.hidden_states_m2", o1.HiddenState(-2).Data, g.tensor("te1.hidden_states_m2").Data, layerTolerance)
			compare(t, "te1.pooler_output", o1.Pooled.Data, g.tensor("te1.pooler_output").Data, layerTolerance)
			te2, err := sd.NewCLIPTextModel(te2Cfg, merged(t, te2SD, lora.TextEncoder2, c.uses))
			if err != nil {
				t.Fatal(err)
			}
			o2, err := te2.Forward(context.Background(), [][]int{ids})
			if err != nil {
				t.Fatal(err)
			}
			compare(t, "te2.last_hidden_state", o2.LastHiddenState.Data, g.tensor("te2.last_hidden_state").Data, layerTolerance)
			compare(t, "te2.hidden_states_m2", o2.HiddenState(-2).Data, g.tensor("te2.hidden_states_m2").Data, layerTolerance)
			compare(t, "te2.text_embeds", o2.TextEmbeds.Data, g.tensor("te2.text_embeds").Data, layerTolerance)
		})
	}
}
