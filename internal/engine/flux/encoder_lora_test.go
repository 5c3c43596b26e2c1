package flux

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/engine/lora"
	"github.com/invokego/invokego/internal/engine/quant"
	"github.com/invokego/invokego/internal/engine/safetensors"
	"github.com/invokego/invokego/internal/engine/t5"
)

// TestT5LoRA: a kohya LoRA on the tiny T5 encoder (lora_te2_ keys on an attention projection and a gated
// FF input), applied per call, gives the encoding of a T5 folder whose weights hold
// weight·(alpha/rank)·up·down merged in; the loaded encoder is unchanged afterwards; the file's transformer
// and CLIP layers are not the T5's business.
func TestT5LoRA(t *testing.T) {
	const rank, alpha, weight = 4, 2, 0.7
	src := fluxTiny(t, "models", "flux-dev-tiny", "text_encoder_2")
	rng := rand.New(rand.NewPCG(5, 5))
	randv := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 0.3)
		}
		return v
	}
	type adapter struct {
		module   string
		out, in  int
		up, down []float32
	}
	ads := []adapter{{module: "encoder.block.0.layer.0.SelfAttention.q", out: 32, in: 32},
		{module: "encoder.block.1.layer.1.DenseReluDense.wi_0", out: 64, in: 32}}
	tensors := map[string]safetensors.WriteTensor{
		// Layers of the other networks a FLUX LoRA carries.
		"lora_unet_double_blocks_0_img_attn_proj.lora_up.weight":        safetensors.F32Tensor([]int{64, rank}, randv(64*rank)),
		"lora_unet_double_blocks_0_img_attn_proj.lora_down.weight":      safetensors.F32Tensor([]int{rank, 64}, randv(rank*64)),
		"lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_up.weight":   safetensors.F32Tensor([]int{37, rank}, randv(37*rank)),
		"lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": safetensors.F32Tensor([]int{rank, 32}, randv(rank*32)),
	}
	for i := range ads {
		a := &ads[i]
		a.up, a.down = randv(a.out*rank), randv(rank*a.in)
		stem := "lora_te2_" + strings.ReplaceAll(a.module, ".", "_")
		tensors[stem+".lora_up.weight"] = safetensors.F32Tensor([]int{a.out, rank}, a.up)
		tensors[stem+".lora_down.weight"] = safetensors.F32Tensor([]int{rank, a.in}, a.down)
		tensors[stem+".alpha"] = safetensors.F32Tensor([]int{}, []float32{alpha})
	}
	var buf bytes.Buffer
	if err := safetensors.Write(&buf, tensors, nil); err != nil {
		t.Fatal(err)
	}
	file, err := lora.ParseBytes(buf.Bytes(), lora.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}

	// The merged folder.
	dir := t.TempDir()
	cfg, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	orig, err := safetensors.Open(filepath.Join(src, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	merged := map[string]safetensors.WriteTensor{}
	for _, name := range orig.Names() {
		v, shape, err := orig.Float32(name)
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
					for r := range rank {
						d += a.up[o*rank+r] * a.down[r*a.in+i]
					}
					v[o*a.in+i] += weight * alpha / rank * d
				}
			}
		}
		merged[name] = safetensors.F32Tensor(shape, v)
	}
	f, err := os.Create(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if err := safetensors.Write(f, merged, nil); err != nil {
		t.Fatal(err)
	}
	f.Close()

	enc, err := t5.LoadFolder(src, quant.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := t5.LoadFolder(dir, quant.Options{})
	if err != nil {
		t.Fatal(err)
	}
	set, err := NewT5LoRA(enc.LayerShapes(), []WeightedLoRA{{File: file, Weight: weight}})
	if err != nil {
		t.Fatal(err)
	}
	if set.Layers() != len(ads) {
		t.Fatalf("%d T5 layers adapted, want %d", set.Layers(), len(ads))
	}
	ids := []int{71, 4, 3500, 19, 1, 0, 0, 0}
	ctx := context.Background()
	plain, err := enc.Forward(ctx, ids, false)
	if err != nil {
		t.Fatal(err)
	}
	got, err := enc.ForwardWith(ctx, ids, false, set.Adapt)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ref.Forward(ctx, ids, false)
	if err != nil {
		t.Fatal(err)
	}
	compareRel(t, "T5 with LoRA vs merged", got.LastHiddenState.Data, want.LastHiddenState.Data, layerTolerance)
	var moved float32
	for i, v := range plain.LastHiddenState.Data {
		moved = max(moved, abs32(v-got.LastHiddenState.Data[i]))
	}
	if moved < 1e-2 {
		t.Errorf("the LoRA moved the encoding by only %.3g", moved)
	}
	after, err := enc.Forward(ctx, ids, false)
	if err != nil {
		t.Fatal(err)
	}
	compareAbs(t, "encoder unchanged", after.LastHiddenState.Data, plain.LastHiddenState.Data, 0)

	// A file without T5 layers gives no set; one made for another T5 is refused.
	if s, err := NewT5LoRA(enc.LayerShapes(), nil); s != nil || err != nil {
		t.Errorf("no LoRA: %v, %v", s, err)
	}
	bad := map[string]safetensors.WriteTensor{
		"lora_te2_encoder_block_0_layer_0_SelfAttention_q.lora_up.weight":   safetensors.F32Tensor([]int{48, rank}, randv(48*rank)),
		"lora_te2_encoder_block_0_layer_0_SelfAttention_q.lora_down.weight": safetensors.F32Tensor([]int{rank, 48}, randv(rank*48)),
	}
	buf.Reset()
	if err := safetensors.Write(&buf, bad, nil); err != nil {
		t.Fatal(err)
	}
	badFile, err := lora.ParseBytes(buf.Bytes(), lora.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewT5LoRA(enc.LayerShapes(), []WeightedLoRA{{File: badFile, Weight: 1}}); err == nil {
		t.Error("a LoRA for a wider T5 was accepted")
	}
}
