package t2iadapter

import (
	"context"
	"fmt"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens/goldtest"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// The adapter states of diffusers 0.25.1 for both adapter types; full_adapter takes the image converted to
// PIL's "L" (its first feature is 8×8, which this UNet cannot take, so it has states only).
func TestAdapterStatesGolden(t *testing.T) {
	in := goldtest.Open(t, "sd-ext", "t2i_adapter", "goldens", "layer_inputs.safetensors")
	for _, c := range []struct{ model, input, golden string }{
		{"t2i-full", "image_gray_L", "t2i-full_states.safetensors"},
		{"t2i-full-xl", "image_rgb", "t2i-full-xl_states.safetensors"},
	} {
		t.Run(c.model, func(t *testing.T) {
			a, err := Load(goldtest.Path(t, "sd-ext", "t2i_adapter", "models", c.model))
			if err != nil {
				t.Fatal(err)
			}
			states, err := a.Forward(in.Tensor(c.input))
			if err != nil {
				t.Fatal(err)
			}
			g := goldtest.Open(t, "sd-ext", "t2i_adapter", "goldens", c.golden)
			if len(states) != 2 {
				t.Fatalf("%d states", len(states))
			}
			for i, s := range states {
				goldtest.Close(t, fmt.Sprintf("state.%d", i), s, g.Tensor(fmt.Sprintf("state.%d", i)), goldtest.LayerTolerance)
			}
		})
	}
}

// The UNet adds scale × state i inside down block i: after the downsampler of the plain first block, after
// the last (resnet, attention) pair of the cross-attention block (diffusers' intra-block residuals; InvokeAI
// passes its adapter states the same way).
func TestAdapterUNetGolden(t *testing.T) {
	in := goldtest.Open(t, "sd-ext", "t2i_adapter", "goldens", "layer_inputs.safetensors")
	g := goldtest.Open(t, "sd-ext", "t2i_adapter", "goldens", "t2i-full-xl_states.safetensors")
	a, err := Load(goldtest.Path(t, "sd-ext", "t2i_adapter", "models", "t2i-full-xl"))
	if err != nil {
		t.Fatal(err)
	}
	if a.TotalDownscale() != 32 {
		t.Errorf("total downscale %d, want 32", a.TotalDownscale())
	}
	states, err := a.Forward(in.Tensor("image_rgb"))
	if err != nil {
		t.Fatal(err)
	}
	var scaled []*tensor.Tensor
	for _, s := range states {
		c := s.Clone()
		for i := range c.Data {
			c.Data[i] *= 0.8
		}
		scaled = append(scaled, c)
	}
	u, err := sd.LoadUNetFolder(goldtest.Path(t, "sd-tiny", "models", "sd15-tiny-pipe", "unet"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := u.ForwardWith(context.Background(), in.Tensor("sample"), []float32{float32(in.Ints("timestep")[0])},
		in.Tensor("encoder_hidden_states"), nil, sd.UNetOptions{AdapterResiduals: scaled})
	if err != nil {
		t.Fatal(err)
	}
	goldtest.Close(t, "unet.out_with_adapter_scale0.8", out, g.Tensor("unet.out_with_adapter_scale0.8"), goldtest.LayerTolerance)
}

func TestAdapterRefusesBadInput(t *testing.T) {
	a, err := Load(goldtest.Path(t, "sd-ext", "t2i_adapter", "models", "t2i-full"))
	if err != nil {
		t.Fatal(err)
	}
	for _, shape := range [][]int{{1, 3, 64, 64}, {1, 1, 60, 64}, {1, 1, 0, 8}} {
		if _, err := a.Forward(tensor.New(shape...)); err == nil {
			t.Errorf("image %v accepted", shape)
		}
	}
	cfg := a.Config
	cfg.AdapterType = "light_adapter"
	if _, err := New(cfg, sd.StateDict{}); err == nil {
		t.Error("an unsupported adapter type was built")
	}
}
