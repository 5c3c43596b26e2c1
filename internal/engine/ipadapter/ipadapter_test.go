package ipadapter

import (
	"context"
	"image"
	_ "image/png"
	"os"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens/goldtest"
	"github.com/invokego/invokego/internal/engine/imaging"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/tensor"
)

func ipPath(t testing.TB, elem ...string) string {
	return goldtest.Path(t, append([]string{"sd-ext", "ip_adapter"}, elem...)...)
}

func loadPNG(t testing.TB, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func loadAdapter(t testing.TB) *Adapter {
	t.Helper()
	w, err := sd.LoadStateDict(ipPath(t, "models", "ip-adapter_sd15-tiny.safetensors"), nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(w)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// CLIPImageProcessor's preprocessing and the image encoder (transformers 4.36); the 120×160 input goes
// through the bicubic resize to 224×298 and the center crop.
func TestImageEncoderGolden(t *testing.T) {
	enc, err := sd.LoadCLIPVisionFolder(ipPath(t, "models", "image_encoder"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ip_in224", "ip_in120x160"} {
		t.Run(name, func(t *testing.T) {
			g := goldtest.Open(t, "sd-ext", "ip_adapter", "goldens", name+"_embeds.safetensors")
			pixels, err := imaging.CLIPPixels(loadPNG(t, ipPath(t, "inputs", name+".png")), enc.Config.ImageSize)
			if err != nil {
				t.Fatal(err)
			}
			goldtest.Within(t, "pixel_values", pixels, g.Tensor("pixel_values"), 1e-6)
			out, err := enc.Forward(context.Background(), g.Tensor("pixel_values"))
			if err != nil {
				t.Fatal(err)
			}
			goldtest.Close(t, "last_hidden_state", out.HiddenStates[len(out.HiddenStates)-1], g.Tensor("last_hidden_state"), goldtest.LayerTolerance)
			goldtest.Close(t, "hidden_states_m2", out.HiddenStates[len(out.HiddenStates)-2], g.Tensor("hidden_states_m2"), goldtest.LayerTolerance)
			goldtest.Close(t, "image_embeds", out.ImageEmbeds, g.Tensor("image_embeds"), goldtest.LayerTolerance)
		})
	}
}

// The image tokens and the UNet with decoupled cross-attention at two scales. The processor ids of the
// file's ip_adapter.<id> weights are diffusers' attn_processors order (down blocks, up blocks, mid block;
// cross-attention ids odd), which InvokeAI's UNetAttentionPatcher enumerates the same way: the golden pins
// both.
func TestUNetWithIPAdapterGolden(t *testing.T) {
	a := loadAdapter(t)
	if a.Plus || a.Tokens != 4 || a.CrossAttentionDim != 32 {
		t.Fatalf("adapter %+v", a)
	}
	g := goldtest.Open(t, "sd-ext", "ip_adapter", "goldens", "unet_ip.safetensors")
	cond := a.Project(g.Tensor("inputs.image_embeds"))
	goldtest.Close(t, "ip_tokens", cond, g.Tensor("ip_tokens"), goldtest.LayerTolerance)
	uncond := a.Project(tensor.New(1, 32))
	goldtest.Close(t, "ip_tokens_of_zero_embeds", uncond, g.Tensor("ip_tokens_of_zero_embeds"), goldtest.LayerTolerance)

	u, err := sd.LoadUNetFolder(goldtest.Path(t, "sd-tiny", "models", "sd15-tiny-pipe", "unet"))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Fits(u); err != nil {
		t.Fatal(err)
	}
	ids := []int{}
	for _, l := range u.CrossAttentions() {
		ids = append(ids, l.ID)
	}
	if want := a.LayerIDs(); len(ids) != len(want) || ids[0] != 1 || ids[len(ids)-1] != 11 {
		t.Fatalf("unet cross-attention ids %v, adapter %v", ids, want)
	}
	if u.CrossAttentions()[5].Name != "mid_block.attentions.0.transformer_blocks.0.attn2.processor" {
		t.Errorf("id 11 is %s", u.CrossAttentions()[5].Name)
	}
	kv := a.KV(cond)
	ctx := context.Background()
	sample, states := g.Tensor("inputs.sample"), g.Tensor("inputs.encoder_hidden_states")
	ts := []float32{float32(g.Ints("inputs.timestep")[0])}
	for _, c := range []struct {
		scale float32
		name  string
	}{{0.6, "unet.out_scale0.6"}, {1.0, "unet.out_scale1.0"}} {
		opts := sd.UNetOptions{ImageAttention: []sd.ImageAttention{{Scale: c.scale, KV: func(id int, _ string, _ int) (*tensor.Tensor, *tensor.Tensor) {
			return kv[id][0], kv[id][1]
		}}}}
		out, err := u.ForwardWith(ctx, sample, ts, states, nil, opts)
		if err != nil {
			t.Fatal(err)
		}
		goldtest.Close(t, c.name, out, g.Tensor(c.name), goldtest.LayerTolerance)
	}
	plain, err := u.Forward(ctx, sample, ts, states, nil)
	if err != nil {
		t.Fatal(err)
	}
	goldtest.Close(t, "unet.out_no_ip", plain, g.Tensor("unet.out_no_ip"), goldtest.LayerTolerance)
	// An adapter for another UNet is refused.
	sdxl, err := sd.LoadUNetFolder(goldtest.Path(t, "sd-tiny", "models", "sdxl-tiny", "unet"))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Fits(sdxl); err == nil {
		t.Error("an SD-1 adapter fits the SDXL unet")
	}
}

func TestNewRefusesBadWeights(t *testing.T) {
	w, err := sd.LoadStateDict(ipPath(t, "models", "ip-adapter_sd15-tiny.safetensors"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(sd.StateDict){
		"no projection": func(s sd.StateDict) { delete(s, "image_proj.proj.weight") },
		"stray key":     func(s sd.StateDict) { s["ip_adapter.3.surprise"] = tensor.New(2) },
		"huge id":       func(s sd.StateDict) { s["ip_adapter.99999999.to_k_ip.weight"] = tensor.New(64, 32) },
		"wrong width":   func(s sd.StateDict) { s["ip_adapter.1.to_k_ip.weight"] = tensor.New(64, 31) },
		"no layers": func(s sd.StateDict) {
			for k := range s {
				if len(k) > 10 && k[:10] == "ip_adapter" {
					delete(s, k)
				}
			}
		},
	} {
		c := sd.StateDict{}
		for k, v := range w {
			c[k] = v
		}
		mutate(c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: built", name)
		}
	}
}
