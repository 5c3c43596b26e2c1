package ldm

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// The single-file checkpoint holds the folder's weights in LDM layout and
// float16; converted back, every tensor must equal the folder's exactly.
func TestSingleFileMatchesFolder(t *testing.T) {
	models := sdTiny(t, "models")
	comps, ldmCfg, err := ReadSingleFile(filepath.Join(models, "sd15-tiny-single.safetensors"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ldmCfg.Heads.NumHeads != 8 || ldmCfg.ScaleFactor != 0.18215 {
		t.Errorf("yaml settings %+v", ldmCfg)
	}
	for _, c := range []struct {
		name   string
		single sd.StateDict
		file   string
	}{
		{"unet", comps.UNet, "unet/diffusion_pytorch_model.safetensors"},
		{"vae", comps.VAE, "vae/diffusion_pytorch_model.safetensors"},
		{"text_encoder", comps.TextEncoder, "text_encoder/model.safetensors"},
	} {
		folder, err := sd.LoadStateDict(filepath.Join(models, "sd15-tiny-pipe", c.file), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(folder) != len(c.single) {
			t.Errorf("%s: %d tensors from the single file, %d in the folder", c.name, len(c.single), len(folder))
		}
		mismatched := 0
		for _, k := range sortedKeys(folder) {
			want := folder[k]
			got, ok := c.single[k]
			if !ok {
				t.Errorf("%s: %s missing from converted single file", c.name, k)
				continue
			}
			if !slices.Equal(got.Shape, want.Shape) {
				t.Errorf("%s: %s shape %v, want %v", c.name, k, got.Shape, want.Shape)
				continue
			}
			for i := range want.Data {
				if got.Data[i] != want.Data[i] {
					mismatched++
					t.Errorf("%s: %s[%d] = %v, want %v", c.name, k, i, got.Data[i], want.Data[i])
					break
				}
			}
		}
		t.Logf("%s: %d tensors identical: %v", c.name, len(folder), mismatched == 0)
	}
}

func TestSingleFileForwardMatchesFolder(t *testing.T) {
	models := sdTiny(t, "models")
	folder, err := sd.LoadDiffusersPipeline(filepath.Join(models, "sd15-tiny-pipe"))
	if err != nil {
		t.Fatal(err)
	}
	teCfg := folder.TextEncoder.Config
	single, err := LoadSingleFile(filepath.Join(models, "sd15-tiny-single.safetensors"), Options{TextEncoderConfig: &teCfg})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := single.VAE.Config.BlockOutChannels, folder.VAE.Config.BlockOutChannels; !slices.Equal(got, want) {
		t.Errorf("inferred VAE blocks %v, want %v", got, want)
	}
	if got, want := single.UNet.Config.Heads, folder.UNet.Config.Heads; !slices.Equal(got, want) {
		t.Errorf("inferred UNet heads %v, want %v", got, want)
	}
	ctx := context.Background()
	g := openGolden(t, "unet.safetensors")
	sample, states := g.tensor("sample"), g.tensor("encoder_hidden_states")
	a, err := folder.UNet.Forward(ctx, sample, []float32{500.5}, states, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := single.UNet.Forward(ctx, sample, []float32{500.5}, states, nil)
	if err != nil {
		t.Fatal(err)
	}
	compareExact(t, "unet single vs folder", b, a)

	ids := [][]int{{49406, 320, 1125, 539, 320, 2368, 49407}}
	for len(ids[0]) < 77 {
		ids[0] = append(ids[0], 49407)
	}
	ta, err := folder.TextEncoder.Forward(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := single.TextEncoder.Forward(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	compareExact(t, "text encoder single vs folder", tb.LastHiddenState, ta.LastHiddenState)

	latent := tensor.New(1, 4, 8, 8)
	copy(latent.Data, sample.Data)
	da, err := folder.VAE.Decode(ctx, latent)
	if err != nil {
		t.Fatal(err)
	}
	db, err := single.VAE.Decode(ctx, latent)
	if err != nil {
		t.Fatal(err)
	}
	if da.Shape[2] != 64 {
		t.Errorf("decoded shape %v, want 64x64", da.Shape)
	}
	compareExact(t, "vae decode single vs folder", db, da)
}

func compareExact(t *testing.T, name string, got, want *tensor.Tensor) {
	t.Helper()
	if !slices.Equal(got.Shape, want.Shape) {
		t.Fatalf("%s: shape %v, want %v", name, got.Shape, want.Shape)
	}
	for i := range want.Data {
		if got.Data[i] != want.Data[i] {
			t.Fatalf("%s: element %d differs: %v vs %v", name, i, got.Data[i], want.Data[i])
		}
	}
	t.Logf("%s: identical (%d values)", name, len(want.Data))
}

func sortedKeys(m sd.StateDict) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// openCLIPLayout rewrites transformers CLIP weights in OpenCLIP's layout
// (fused q/k/v in-projection, x·P text projection), the inverse of
// convertOpenCLIP, so the conversion can be checked against the goldens.
func openCLIPLayout(t *testing.T, hf sd.StateDict, layers int) sd.StateDict {
	t.Helper()
	out := sd.StateDict{
		"token_embedding.weight": hf["text_model.embeddings.token_embedding.weight"],
		"positional_embedding":   hf["text_model.embeddings.position_embedding.weight"],
		"ln_final.weight":        hf["text_model.final_layer_norm.weight"],
		"ln_final.bias":          hf["text_model.final_layer_norm.bias"],
		"text_projection":        transpose2D(hf["text_projection.weight"]),
		"logit_scale":            tensor.New(),
	}
	for i := 0; i < layers; i++ {
		src := fmt.Sprintf("text_model.encoder.layers.%d.", i)
		dst := fmt.Sprintf("transformer.resblocks.%d.", i)
		for _, suffix := range []string{"weight", "bias"} {
			var fused []float32
			rows := 0
			for _, n := range []string{"q_proj", "k_proj", "v_proj"} {
				w := hf[src+"self_attn."+n+"."+suffix]
				fused = append(fused, w.Data...)
				rows += w.Shape[0]
			}
			shape := []int{rows}
			if suffix == "weight" {
				shape = append(shape, hf[src+"self_attn.q_proj.weight"].Shape[1])
			}
			out[dst+"attn.in_proj_"+suffix] = tensor.FromData(fused, shape...)
			for from, to := range map[string]string{"layer_norm1": "ln_1", "layer_norm2": "ln_2",
				"self_attn.out_proj": "attn.out_proj", "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj"} {
				out[dst+to+"."+suffix] = hf[src+from+"."+suffix]
			}
		}
	}
	return out
}

func TestOpenCLIPConversion(t *testing.T) {
	dir := sdTiny(t, "models", "sdxl-tiny", "text_encoder_2")
	hf, err := sd.LoadStateDict(filepath.Join(dir, "model.safetensors"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := sd.LoadCLIPTextConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	ckpt := sd.StateDict{}
	for k, v := range openCLIPLayout(t, hf, cfg.NumHiddenLayers) {
		ckpt["conditioner.embedders.1.model."+k] = v
	}
	comps, err := Convert(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	if !comps.TextEncoder2OpenCLIP || comps.TextEncoder != nil {
		t.Fatalf("components: %+v", comps)
	}
	m, err := sd.NewCLIPTextModel(cfg, comps.TextEncoder2)
	if err != nil {
		t.Fatal(err)
	}
	g := openGolden(t, "text_encoder_2.safetensors")
	out, err := m.Forward(context.Background(), [][]int{g.ints("prompt.input_ids")})
	if err != nil {
		t.Fatal(err)
	}
	compare(t, "openclip text_embeds", out.TextEmbeds, g.tensor("prompt.text_embeds"))
	compare(t, "openclip hidden_states_m2", out.HiddenState(-2), g.tensor("prompt.hidden_states_m2"))

	// SD-2 style (cond_stage_model.model) drops the unused last layer.
	sd2 := sd.StateDict{}
	for k, v := range openCLIPLayout(t, hf, cfg.NumHiddenLayers) {
		sd2["cond_stage_model.model."+k] = v
	}
	comps, err = Convert(sd2)
	if err != nil {
		t.Fatal(err)
	}
	inferred, err := sd.InferCLIPTextConfig(comps.TextEncoder)
	if err != nil {
		t.Fatal(err)
	}
	if inferred.NumHiddenLayers != cfg.NumHiddenLayers-1 || !inferred.WithProjection {
		t.Errorf("SD-2 text encoder: %+v", inferred)
	}
}

// Loading one part reads and builds only that part, and builds it as a
// whole load does.
func TestSingleFilePartLoads(t *testing.T) {
	path := filepath.Join(sdTiny(t, "models"), "sd15-tiny-single.safetensors")
	whole, err := LoadSingleFile(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	latent := tensor.New(1, 4, 8, 8)
	for i := range latent.Data {
		latent.Data[i] = float32(i%7) / 7
	}
	ids := [][]int{{49406, 320, 2368, 49407}}
	for _, part := range []string{PartUNet, PartVAE, PartTextEncoder, PartTextEncoder2} {
		p, err := LoadSingleFile(path, Options{Part: part})
		if err != nil {
			t.Fatalf("%s: %v", part, err)
		}
		built := map[string]bool{PartUNet: p.UNet != nil, PartVAE: p.VAE != nil, PartTextEncoder: p.TextEncoder != nil, PartTextEncoder2: p.TextEncoder2 != nil}
		for other, ok := range built {
			// SD-1.5 has no second text encoder, so that part is empty.
			if want := other == part && part != PartTextEncoder2; ok != want {
				t.Errorf("loading %s: %s built = %v", part, other, ok)
			}
		}
		switch part {
		case PartVAE:
			a, _ := whole.VAE.Decode(ctx, latent)
			b, _ := p.VAE.Decode(ctx, latent)
			compareExact(t, "vae part", b, a)
		case PartTextEncoder:
			a, _ := whole.TextEncoder.Forward(ctx, ids)
			b, _ := p.TextEncoder.Forward(ctx, ids)
			compareExact(t, "text encoder part", b.LastHiddenState, a.LastHiddenState)
		}
	}
	if _, err := LoadSingleFile(path, Options{Part: "tokenizer"}); err == nil {
		t.Error("an unknown part was accepted")
	}
	// The key layout decides the part.
	for key, want := range map[string]string{
		"model.diffusion_model.input_blocks.0.0.weight":                          PartUNet,
		"first_stage_model.decoder.conv_in.weight":                               PartVAE,
		"cond_stage_model.transformer.text_model.final_layer_norm.weight":        PartTextEncoder,
		"cond_stage_model.model.ln_final.weight":                                 PartTextEncoder,
		"conditioner.embedders.0.transformer.text_model.final_layer_norm.weight": PartTextEncoder,
		"conditioner.embedders.1.model.ln_final.weight":                          PartTextEncoder2,
		"conditioner.embedders.0.model.ln_final.weight":                          PartTextEncoder2, // the refiner
		"model_ema.decay": "",
	} {
		if got := ldmPart(key); got != want {
			t.Errorf("ldmPart(%s) = %q, want %q", key, got, want)
		}
	}
}

func TestConvertRefusesUnknownKeys(t *testing.T) {
	if _, err := Convert(sd.StateDict{"model.diffusion_model.weird.weight": tensor.New(4)}); err == nil {
		t.Error("unknown LDM key accepted")
	}
}

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig([]byte(`
model:
  params:
    scale_factor: 0.13025 # SDXL
    network_config:
      params:
        num_heads: -1
        num_head_channels: 64
        context_dim: 2048
    conditioner_config:
      params:
        emb_models:
          - target: sgm.modules.encoders.modules.FrozenCLIPEmbedder
          - target: sgm.modules.encoders.modules.FrozenOpenCLIPEmbedder2
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Heads.NumHeadChannels != 64 || c.Heads.NumHeads != 0 || c.ScaleFactor != 0.13025 || c.ContextDim != 2048 || c.Base() != "sdxl" {
		t.Errorf("parsed %+v", c)
	}
	c, err = ParseConfig([]byte(`
model:
  params:
    parameterization: "v"
    unet_config:
      params:
        num_heads: 8
        context_dim: 1024
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Heads.NumHeads != 8 || c.Base() != "sd-2" || c.Prediction() != "v_prediction" {
		t.Errorf("parsed %+v", c)
	}
	if _, err := ParseConfig([]byte("model:\n  params:\n    unet_config:\n      params:\n        num_heads: eight\n")); err == nil {
		t.Error("bad integer accepted")
	}
	if _, err := ParseConfig(make([]byte, maxConfigBytes+1)); err == nil {
		t.Error("an oversized yaml was read")
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("model:\n  target: ldm.models.diffusion.ddpm.LatentDiffusion\n  params:\n    scale_factor: 0.18215\n"))
	f.Add([]byte("a: &a [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"))
	// Exponential aliases (each level nine times the one below), deep nesting, and a model block made of them.
	var laughs strings.Builder
	laughs.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 12; i++ {
		fmt.Fprintf(&laughs, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	f.Add([]byte(laughs.String()))
	f.Add([]byte("model: " + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "\n"))
	f.Add([]byte("model:\n  params:\n    unet_config: &u {params: {num_heads: 8}}\n    network_config: *u\n    control_stage_config: *u\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParseConfig(data)
	})
}

func sdTiny(t testing.TB, parts ...string) string {
	t.Helper()
	p, err := goldens.Path(append([]string{"sd-tiny"}, parts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// golden is an sd-tiny goldens file.
type golden struct {
	t  testing.TB
	ts map[string]goldens.Tensor
}

func openGolden(t testing.TB, name string) *golden {
	t.Helper()
	ts, err := goldens.Load(sdTiny(t, "goldens", name))
	if err != nil {
		t.Fatal(err)
	}
	return &golden{t: t, ts: ts}
}

func (g *golden) tensor(name string) *tensor.Tensor {
	g.t.Helper()
	v, ok := g.ts[name]
	if !ok {
		g.t.Fatalf("golden %s missing", name)
	}
	return tensor.FromData(v.Float32(), v.Shape...)
}

func (g *golden) ints(name string) []int {
	g.t.Helper()
	out := make([]int, len(g.ts[name].Ints))
	for i, x := range g.ts[name].Ints {
		out[i] = int(x)
	}
	return out
}

// compare checks got against want within 1e-4·max|want|.
func compare(t testing.TB, name string, got, want *tensor.Tensor) {
	t.Helper()
	if len(got.Data) != len(want.Data) {
		t.Fatalf("%s: shape %v, want %v", name, got.Shape, want.Shape)
	}
	var maxDiff, maxRef float64
	for i := range got.Data {
		maxDiff = max(maxDiff, math.Abs(float64(got.Data[i])-float64(want.Data[i])))
		maxRef = max(maxRef, math.Abs(float64(want.Data[i])))
	}
	if !(maxDiff <= 1e-4*maxRef) {
		t.Errorf("%s: max abs diff %.3g exceeds 1e-4 × %.3g", name, maxDiff, maxRef)
	}
}
