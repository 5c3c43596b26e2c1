package sd

import (
	"context"
	"math"
	"testing"
)

// relErr is max|got-want| / max|want|.
func relErr(got, want []float32) float64 {
	var d, r float64
	for i := range want {
		d = max(d, math.Abs(float64(got[i])-float64(want[i])))
		r = max(r, math.Abs(float64(want[i])))
	}
	return d / r
}

// The bf16 option rounds every linear and convolution weight (and the
// activations entering those products) to bfloat16; this measures how far
// the UNet and VAE outputs move from the fp32 goldens.
func TestBF16AgainstGoldens(t *testing.T) {
	dir := sdTiny(t, "models", "sd15-tiny", "unet")
	cfg, err := LoadUNetConfig(dir + "/config.json")
	if err != nil {
		t.Fatal(err)
	}
	path, err := findWeights(dir)
	if err != nil {
		t.Fatal(err)
	}
	w, err := LoadStateDict(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := NewUNetWithOptions(cfg, w, Options{Precision: "bf16"})
	if err != nil {
		t.Fatal(err)
	}
	g := openGolden(t, "unet.safetensors")
	for _, tag := range []string{"t10", "t999"} {
		out, err := u.Forward(context.Background(), g.tensor("sample"), g.tensor("timestep_"+tag).Data, g.tensor("encoder_hidden_states"), nil)
		if err != nil {
			t.Fatal(err)
		}
		e := relErr(out.Data, g.tensor("out_"+tag).Data)
		t.Logf("bf16 unet out_%s: max abs diff / max |ref| = %.3g", tag, e)
		if e > 5e-2 {
			t.Errorf("bf16 unet out_%s: relative error %.3g", tag, e)
		}
	}
	if _, err := NewUNetWithOptions(cfg, w, Options{Precision: "fp8"}); err == nil {
		t.Error("unknown precision accepted")
	}
}
