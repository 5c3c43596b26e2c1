package sd

import (
	"context"
	"math"
	"testing"

	"github.com/invokego/invokego/internal/engine/gemm"
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

// TestResolvePrecision: the settings map to fp32 or bf16, auto by the CPU.
func TestResolvePrecision(t *testing.T) {
	auto := "fp32"
	if gemm.HasNativeBF16() {
		auto = "bf16"
	}
	for in, want := range map[string]string{"": auto, "auto": auto, "fp32": "fp32", "float32": "fp32", "float16": "fp32", "bf16": "bf16", "bfloat16": "bf16"} {
		got, err := ResolvePrecision(in)
		if err != nil || got != want {
			t.Errorf("ResolvePrecision(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ResolvePrecision("fp8"); err == nil {
		t.Error("fp8 accepted")
	}
}

// TestCLIPTextBF16: the text encoder builds with bf16 weights and stays
// close to its fp32 golden.
func TestCLIPTextBF16(t *testing.T) {
	dir := sdTiny(t, "models", "sd15-tiny", "text_encoder")
	fp, err := LoadCLIPTextFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	bf, err := LoadCLIPTextFolderWithOptions(dir, Options{Precision: "bf16"})
	if err != nil {
		t.Fatal(err)
	}
	ids := [][]int{{fp.Config.BOSTokenID, 320, 125, 539, fp.Config.EOSTokenID}}
	a, err := fp.Forward(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	b, err := bf.Forward(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	e := relErr(b.LastHiddenState.Data, a.LastHiddenState.Data)
	t.Logf("text encoder bf16 vs fp32: relative error %.3g", e)
	if e == 0 || e > 0.02 {
		t.Errorf("bf16 text encoder relative error %g, want in (0, 0.02]", e)
	}
}
