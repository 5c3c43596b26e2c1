package flux

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/engine/lora"
	"github.com/invokego/invokego/internal/engine/safetensors"
)

// The fixtures hold no FLUX LoRA, so these tests build adapters for the tiny dev model and check the key
// mapping against merged weights: a run with a LoRA must equal a run of the model whose weights were
// changed by weight·(alpha/rank)·up·down, whichever layout (kohya, diffusers/PEFT, BFL/PEFT) names them.

const loraRank = 4

// bflAdapter is one adapted module in BFL naming, with its full factors.
type bflAdapter struct {
	module   string
	up, down []float32 // [out, r], [r, in]
	out, in  int
}

func randFloats(rng *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * scale)
	}
	return v
}

// tinyAdapters makes adapters for a fused qkv, a single block's linear1 and linear2, the final modulation
// and an input projection of the tiny dev model (hidden 64, MLP 256).
func tinyAdapters() []bflAdapter {
	rng := rand.New(rand.NewPCG(7, 7))
	mk := func(module string, out, in int) bflAdapter {
		return bflAdapter{module: module, out: out, in: in, up: randFloats(rng, out*loraRank, 0.2), down: randFloats(rng, loraRank*in, 0.2)}
	}
	return []bflAdapter{
		mk("double_blocks.0.img_attn.qkv", 192, 64),
		mk("double_blocks.1.txt_mlp.2", 64, 256),
		mk("single_blocks.0.linear1", 448, 64),
		mk("single_blocks.1.linear2", 64, 320),
		mk("final_layer.adaLN_modulation.1", 128, 64),
		mk("img_in", 64, 64),
	}
}

// rows returns rows [r0, r1) of an [out, r] factor.
func rows(up []float32, r0, r1 int) []float32 { return up[r0*loraRank : r1*loraRank] }

func scaled(v []float32, s float32) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = x * s
	}
	return out
}

// diffusersParts splits a BFL adapter into the diffusers modules it covers (up rows; down shared).
func diffusersParts(a bflAdapter) map[string][]float32 {
	h := 64
	switch a.module {
	case "double_blocks.0.img_attn.qkv":
		return map[string][]float32{"transformer_blocks.0.attn.to_q": rows(a.up, 0, h),
			"transformer_blocks.0.attn.to_k": rows(a.up, h, 2*h), "transformer_blocks.0.attn.to_v": rows(a.up, 2*h, 3*h)}
	case "double_blocks.1.txt_mlp.2":
		return map[string][]float32{"transformer_blocks.1.ff_context.net.2": a.up}
	case "single_blocks.0.linear1":
		return map[string][]float32{"single_transformer_blocks.0.attn.to_q": rows(a.up, 0, h),
			"single_transformer_blocks.0.attn.to_k": rows(a.up, h, 2*h), "single_transformer_blocks.0.attn.to_v": rows(a.up, 2*h, 3*h),
			"single_transformer_blocks.0.proj_mlp": rows(a.up, 3*h, 448)}
	case "single_blocks.1.linear2":
		return map[string][]float32{"single_transformer_blocks.1.proj_out": a.up}
	case "final_layer.adaLN_modulation.1":
		// diffusers' norm_out.linear holds (scale, shift): the halves swap.
		return map[string][]float32{"norm_out.linear": append(append([]float32{}, rows(a.up, h, 2*h)...), rows(a.up, 0, h)...)}
	case "img_in":
		return map[string][]float32{"x_embedder": a.up}
	}
	panic(a.module)
}

func writeFile(t *testing.T, ts map[string]safetensors.WriteTensor) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "lora.safetensors")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := safetensors.Write(f, ts, nil); err != nil {
		t.Fatal(err)
	}
	return p
}

// loraFiles writes the adapters in three layouts with the same effect: kohya with alpha 2 (scale 1/2),
// diffusers/PEFT without alpha (up pre-scaled by 1/2), BFL names behind diffusion_model. (PEFT, pre-scaled).
func loraFiles(t *testing.T, ads []bflAdapter) map[string]string {
	kohya := map[string]safetensors.WriteTensor{}
	peft := map[string]safetensors.WriteTensor{}
	bflPEFT := map[string]safetensors.WriteTensor{}
	for _, a := range ads {
		stem := "lora_unet_" + strings.ReplaceAll(a.module, ".", "_")
		kohya[stem+".lora_up.weight"] = safetensors.F32Tensor([]int{a.out, loraRank}, a.up)
		kohya[stem+".lora_down.weight"] = safetensors.F32Tensor([]int{loraRank, a.in}, a.down)
		kohya[stem+".alpha"] = safetensors.F32Tensor([]int{}, []float32{2})
		for mod, up := range diffusersParts(a) {
			peft["transformer."+mod+".lora_B.weight"] = safetensors.F32Tensor([]int{len(up) / loraRank, loraRank}, scaled(up, 0.5))
			peft["transformer."+mod+".lora_A.weight"] = safetensors.F32Tensor([]int{loraRank, a.in}, a.down)
		}
		bflPEFT["diffusion_model."+a.module+".lora_B.weight"] = safetensors.F32Tensor([]int{a.out, loraRank}, scaled(a.up, 0.5))
		bflPEFT["diffusion_model."+a.module+".lora_A.weight"] = safetensors.F32Tensor([]int{loraRank, a.in}, a.down)
	}
	return map[string]string{"kohya": writeFile(t, kohya), "peft": writeFile(t, peft), "bfl-peft": writeFile(t, bflPEFT)}
}

// mergedModel writes the tiny dev BFL weights with weight·0.5·up·down added to each adapted module.
func mergedModel(t *testing.T, ads []bflAdapter, weight float32) *Transformer {
	t.Helper()
	src, err := safetensors.Open(fluxTiny(t, "models", "flux1-dev-tiny.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ts := map[string]safetensors.WriteTensor{}
	for _, name := range src.Names() {
		v, shape, err := src.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range ads {
			if name != a.module+".weight" {
				continue
			}
			for o := range a.out {
				for i := range a.in {
					var d float32
					for r := range loraRank {
						d += a.up[o*loraRank+r] * a.down[r*a.in+i]
					}
					v[o*a.in+i] += weight * 0.5 * d
				}
			}
		}
		ts[name] = safetensors.F32Tensor(shape, v)
	}
	m, err := LoadTransformerFile(writeFile(t, ts), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLoRALayouts(t *testing.T) {
	ads := tinyAdapters()
	const weight = 0.8
	merged := mergedModel(t, ads, weight)
	g := openGolden(t, "goldens", "transformer_dev.safetensors")
	ctx := context.Background()
	want, err := merged.Forward(ctx, caseInputs(g, "a", true), CallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := loadBFL(t, "dev").Forward(ctx, caseInputs(g, "a", true), CallOptions{})
	for _, m := range []*Transformer{loadBFL(t, "dev"), loadFolder(t, "dev")} {
		for layout, path := range loraFiles(t, ads) {
			f, err := lora.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			set, err := m.NewLoRA([]WeightedLoRA{{File: f, Weight: weight}})
			if err != nil {
				t.Fatalf("%s on %s: %v", layout, m.Layout, err)
			}
			if set.Layers() != 12 {
				t.Errorf("%s on %s: %d layers adapted, want 12", layout, m.Layout, set.Layers())
			}
			got, err := m.Forward(ctx, caseInputs(g, "a", true), CallOptions{LoRA: set})
			if err != nil {
				t.Fatal(err)
			}
			compareRel(t, layout+" on "+m.Layout, got.Data, want.Data, layerTolerance)
		}
	}
	// The adapters change the output noticeably, so the comparison above means something.
	var d float64
	for i := range plain.Data {
		d = max(d, float64(abs32(plain.Data[i]-want.Data[i])))
	}
	if d < 0.05 {
		t.Errorf("the LoRA changes the output by only %g", d)
	}
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

func TestLoRAForAnotherModel(t *testing.T) {
	m := loadBFL(t, "dev")
	for name, ts := range map[string]map[string]safetensors.WriteTensor{
		"unknown module": {
			"lora_unet_double_blocks_7_img_attn_qkv.lora_up.weight":   safetensors.F32Tensor([]int{192, 4}, make([]float32, 768)),
			"lora_unet_double_blocks_7_img_attn_qkv.lora_down.weight": safetensors.F32Tensor([]int{4, 64}, make([]float32, 256)),
		},
		"wrong width": {
			"lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight":   safetensors.F32Tensor([]int{9216, 4}, make([]float32, 9216*4)),
			"lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight": safetensors.F32Tensor([]int{4, 3072}, make([]float32, 4*3072)),
		},
	} {
		f, err := lora.Open(writeFile(t, ts))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.NewLoRA([]WeightedLoRA{{File: f, Weight: 1}}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
