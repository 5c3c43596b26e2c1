package controlnet

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens/goldtest"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/tensor"
)

func cnPath(t testing.TB, elem ...string) string {
	return goldtest.Path(t, append([]string{"sd-ext", "controlnet"}, elem...)...)
}

func loadUNet(t testing.TB, model string) *sd.UNet {
	t.Helper()
	u, err := sd.LoadUNetFolder(goldtest.Path(t, "sd-tiny", "models", model, "unet"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// checkLayer runs one ControlNet on the layer inputs and compares the conditioning embedding, every residual
// and the UNet output with the residuals added (diffusers 0.25.1; InvokeAI computes the same).
func checkLayer(t *testing.T, c *ControlNet, u *sd.UNet, in, g *goldtest.File, prefix string, scale float32, added *sd.AddedCond) {
	t.Helper()
	ctx := context.Background()
	emb, err := c.Embed(in.Tensor(prefix + "controlnet_cond"))
	if err != nil {
		t.Fatal(err)
	}
	goldtest.Close(t, "cond_embedding", emb, g.Tensor("cond_embedding"), goldtest.LayerTolerance)
	sample, states := in.Tensor(prefix+"sample"), in.Tensor(prefix+"encoder_hidden_states")
	ts := []float32{float32(in.Ints(prefix + "timestep")[0])}
	down, mid, err := c.Forward(ctx, Input{Sample: sample, Timesteps: ts, Context: states, Added: added, Embedding: emb, Scale: scale})
	if err != nil {
		t.Fatal(err)
	}
	if len(down) != 6 {
		t.Fatalf("%d down residuals, want 6", len(down))
	}
	for i, d := range down {
		goldtest.Close(t, fmt.Sprintf("down_block_res_samples.%d", i), d, g.Tensor(fmt.Sprintf("down_block_res_samples.%d", i)), goldtest.LayerTolerance)
	}
	goldtest.Close(t, "mid_block_res_sample", mid, g.Tensor("mid_block_res_sample"), goldtest.LayerTolerance)
	out, err := u.ForwardWith(ctx, sample, ts, states, added, sd.UNetOptions{DownResiduals: down, MidResidual: mid})
	if err != nil {
		t.Fatal(err)
	}
	goldtest.Close(t, "unet.out_with_control", out, g.Tensor("unet.out_with_control"), goldtest.LayerTolerance)
}

func TestControlNetSD15Golden(t *testing.T) {
	c, err := Load(cnPath(t, "models", "sd15-controlnet"), sd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	u := loadUNet(t, "sd15-tiny-pipe")
	in := goldtest.Open(t, "sd-ext", "controlnet", "goldens", "layer_inputs.safetensors")
	for _, s := range []float32{0.8, 1.0} {
		t.Run(fmt.Sprint(s), func(t *testing.T) {
			g := goldtest.Open(t, "sd-ext", "controlnet", "goldens", fmt.Sprintf("sd15_layer_scale%.1f.safetensors", s))
			checkLayer(t, c, u, in, g, "", s, nil)
		})
	}
}

// The single file holds the folder's weights in lllyasviel's layout (float16, on the same grid), so the
// converted model computes exactly what the folder's does.
func TestControlNetSingleFileMatchesFolder(t *testing.T) {
	folder, err := Load(cnPath(t, "models", "sd15-controlnet"), sd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	single, err := LoadSingleFile(cnPath(t, "models", "sd15-controlnet-single.safetensors"), cnPath(t, "models", "sd15-controlnet-single.yaml"), sd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := goldtest.Open(t, "sd-ext", "controlnet", "goldens", "layer_inputs.safetensors")
	ctx := context.Background()
	run := func(c *ControlNet) ([]*tensor.Tensor, *tensor.Tensor) {
		emb, err := c.Embed(in.Tensor("controlnet_cond"))
		if err != nil {
			t.Fatal(err)
		}
		down, mid, err := c.Forward(ctx, Input{Sample: in.Tensor("sample"), Timesteps: []float32{500},
			Context: in.Tensor("encoder_hidden_states"), Embedding: emb, Scale: 0.8})
		if err != nil {
			t.Fatal(err)
		}
		return down, mid
	}
	fd, fm := run(folder)
	sdn, sm := run(single)
	for i := range fd {
		goldtest.Exact(t, fmt.Sprintf("single-file down %d", i), sdn[i], fd[i])
	}
	goldtest.Exact(t, "single-file mid", sm, fm)
	// Without the yaml the head rule is SD-1's default (8), the yaml's value too.
	guessed, err := LoadSingleFile(cnPath(t, "models", "sd15-controlnet-single.safetensors"), "", sd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	gd, _ := run(guessed)
	goldtest.Exact(t, "single-file without yaml", gd[5], fd[5])
}

func TestControlNetSDXLGolden(t *testing.T) {
	c, err := Load(cnPath(t, "models", "sdxl-controlnet"), sd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	u := loadUNet(t, "sdxl-tiny")
	g := goldtest.Open(t, "sd-ext", "controlnet", "goldens", "sdxl_layer_scale0.8.safetensors")
	added := &sd.AddedCond{TextEmbeds: g.Tensor("inputs.text_embeds"), TimeIDs: g.Tensor("inputs.time_ids")}
	checkLayer(t, c, u, g, g, "inputs.", 0.8, added)
}

// Guess mode ("more_prompt", "more_control") scales the residuals from 0.1 at the first skip to 1 at the mid
// block, geometrically.
func TestControlNetGuessModeScales(t *testing.T) {
	c, err := Load(cnPath(t, "models", "sd15-controlnet"), sd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := goldtest.Open(t, "sd-ext", "controlnet", "goldens", "layer_inputs.safetensors")
	emb, err := c.Embed(in.Tensor("controlnet_cond"))
	if err != nil {
		t.Fatal(err)
	}
	base := Input{Sample: in.Tensor("sample"), Timesteps: []float32{500}, Context: in.Tensor("encoder_hidden_states"), Embedding: emb, Scale: 1}
	plainDown, plainMid, err := c.Forward(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	base.GuessMode, base.Scale = true, 0.5
	guessDown, guessMid, err := c.Forward(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range guessDown {
		want := 0.5 * float32(pow10(-1+float64(i)/6))
		for j, v := range d.Data {
			if diff := v - plainDown[i].Data[j]*want; diff > 1e-6 || diff < -1e-6 {
				t.Fatalf("down %d: %v, want %v × %v", i, v, plainDown[i].Data[j], want)
			}
		}
	}
	for j, v := range guessMid.Data {
		if diff := v - plainMid.Data[j]*0.5; diff > 1e-6 || diff < -1e-6 {
			t.Fatalf("mid: %v, want half of %v", v, plainMid.Data[j])
		}
	}
}

func pow10(x float64) float64 { return math.Pow(10, x) }
